"""Clusters of unknown faces: average linkage on real demo encodings, naming a whole cluster at once (faces left
out, one undo), splits that stick, and the CLI."""

from __future__ import annotations

import re

import pytest

from facetui.cli import main as cli_main
from facetui.core.models.compare import linkage
from facetui.core.review.clusters import cluster_lines, find_clusters
from facetui.core.review.session import REVIEW_PREFIX, ReviewSession
from facetui.core.stores.kb import load_kb
from support.helpers import LEFT_OUT


@pytest.fixture
def settings(no_obama_settings):
    return no_obama_settings


def test_clustering_groups_each_known_person_apart(built_workspace):
    kb = load_kb(built_workspace / "kb" / "encodings.npz")
    names = kb.face_names
    for tol in (0.45, 0.5, 0.6):
        groups = linkage.cluster(kb.face_enc, tol)
        assert sorted(i for g in groups for i in g) == list(range(len(names)))
        for g in groups:
            assert len({names[i] for i in g}) == 1, f"cluster_tol {tol}: mixed cluster {[names[i] for i in g]}"
        sizes = [len(g) for g in groups]
        assert sizes == sorted(sizes, reverse=True)  # biggest first
    # at 0.6 every person of the demo KB is exactly one cluster
    assert sorted(tuple(sorted({names[i] for i in g})) for g in linkage.cluster(kb.face_enc, 0.6)) == [
        (p,) for p in sorted(set(names))
    ]


def test_same_unknown_person_falls_in_one_cluster_others_do_not(settings):
    session = ReviewSession(settings)
    clusters = find_clusters(session)
    first = clusters[0]
    members = {(it.rel, it.face) for it in first.items}
    # the two photos of Obama (and his face in q05, filed under Joe_Biden) form the biggest cluster
    assert members == {("q01.jpg", 0), ("q02.jpg", 0), ("q05.jpg", 1)}
    # every other unknown face (different people) stands alone
    assert all(len(c.items) == 1 for c in clusters[1:])
    others = {(it.rel, it.face) for c in clusters[1:] for it in c.items}
    assert ("q08.jpg", 0) in others and ("q06.jpg", 0) in others
    assert len([k for k in others if k[0] == "q09.jpg"]) == 6
    assert first.candidates and first.candidates[0][0] != LEFT_OUT
    lines = cluster_lines(clusters)
    assert lines[0].startswith(f"Cluster 1: 3 faces in 3 photos (cluster_tol {settings.cluster_tol:g})")
    assert first.spread == tuple(sorted(first.spread)) and first.outliers == ()  # the most central first


def test_naming_a_cluster_files_every_photo_and_one_undo_takes_it_back(settings, monkeypatch):
    from facetui.core.review import report_rows as review

    out = settings.processed_dir
    session = ReviewSession(settings)
    first = find_clusters(session)[0]
    writes = []
    real = review.atomic_write_bytes
    monkeypatch.setattr(review, "atomic_write_bytes", lambda p, d: (writes.append(p), real(p, d))[1])
    outcome = session.assign_many(list(first.items), LEFT_OUT)
    assert writes.count(session.report_path) == 1  # one report rewrite for the whole decision
    assert outcome.message == "3 faces in 3 photos → Barack_Obama"
    for name in ("q01.jpg", "q02.jpg", "q05.jpg"):
        assert (out / LEFT_OUT / name).is_file()
    assert not (out / "Unknown" / "q01.jpg").exists() and not (out / "Unknown" / "q02.jpg").exists()
    assert (out / "Joe_Biden" / "q05.jpg").is_file()  # q05 keeps its other person
    kb = load_kb(settings.kb_path)
    assert sum(s.startswith(REVIEW_PREFIX) for s in kb.face_sources) == 3
    assert [c for c in find_clusters(ReviewSession(settings)) if len(c.items) > 1] == []
    writes.clear()
    session.undo()
    assert writes.count(session.report_path) == 1
    assert not (out / LEFT_OUT).exists()
    assert (out / "Unknown" / "q01.jpg").is_file() and (out / "Unknown" / "q02.jpg").is_file()
    assert (out / "Joe_Biden" / "q05.jpg").is_file() and not (out / "Unknown" / "q05.jpg").exists()
    assert not any(s.startswith(REVIEW_PREFIX) for s in load_kb(settings.kb_path).face_sources)
    assert len(find_clusters(ReviewSession(settings))[0].items) == 3


def test_cli_review_clusters(settings, capsys):
    assert cli_main(["review", "--clusters", "--settings", str(settings.source)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Cluster 1: 3 faces in 3 photos")
    faces = sorted(re.match(r"  (\S+ face \d+) \(0\.\d\d\)$", line).group(1) for line in out[1:4])
    assert faces == ["q01.jpg face 0", "q02.jpg face 0", "q05.jpg face 1"]
    assert out[4].startswith("Cluster 2: 1 face in 1 photo")


def test_cli_names_a_cluster_but_the_faces_left_out_and_one_undo_takes_it_back(settings, capsys):
    out = settings.processed_dir
    args = ["--settings", str(settings.source)]
    code = cli_main(["review", "--name-cluster", "1", LEFT_OUT, "--exclude", "q02.jpg", *args])
    assert code == 0
    assert f"2 faces in 2 photos → {LEFT_OUT}; 1 left out (not {LEFT_OUT})" in capsys.readouterr().out
    assert (out / LEFT_OUT / "q01.jpg").is_file() and (out / LEFT_OUT / "q05.jpg").is_file()
    assert not (out / LEFT_OUT / "q02.jpg").exists() and (out / "Unknown" / "q02.jpg").is_file()
    session = ReviewSession(settings)
    q02 = session.item_for("q02.jpg")
    assert LEFT_OUT in session.rejected(q02)  # never joins that name
    assert all(len(c.items) == 1 for c in find_clusters(session))
    # naming q02's cluster (now q02 alone) the name it was left out of is refused for it
    again = session.assign_many([q02], LEFT_OUT)
    assert "not named: you said before they are not" in again.message and not (out / LEFT_OUT / "q02.jpg").exists()
    session.close()
    assert cli_main(["review", "--undo", *args]) == 0
    assert "undone: 2 faces → Barack_Obama (1 left out)" in capsys.readouterr().out
    assert not (out / LEFT_OUT).exists()
    session = ReviewSession(settings)
    assert LEFT_OUT not in session.rejected(session.item_for("q02.jpg"))
    assert len(find_clusters(session)[0].items) == 3


def test_cli_name_cluster_errors(settings, capsys):
    args = ["--settings", str(settings.source)]
    assert cli_main(["review", "--name-cluster", "99", "X", *args]) != 0
    assert "there is no cluster 99" in capsys.readouterr().err
    assert cli_main(["review", "--name-cluster", "1", "X", "--exclude", "q08.jpg", *args]) != 0
    assert "q08.jpg is not in cluster 1" in capsys.readouterr().err
    assert not (settings.processed_dir / "X").exists()


def test_a_split_keeps_faces_apart_until_undone(settings):
    session = ReviewSession(settings)
    first = find_clusters(session)[0]
    q05 = next(it for it in first.items if it.rel == "q05.jpg")
    rest = [it for it in first.items if it is not q05]
    session.split([q05], rest)
    session.close()
    session = ReviewSession(settings)  # a new session (a rerun of review) reads the split from the log
    groups = [{it.rel for it in c.items} for c in find_clusters(session)]
    assert {"q01.jpg", "q02.jpg"} in groups and {"q05.jpg"} in groups
    assert "split" in session.undo().message
    assert {it.rel for it in find_clusters(session)[0].items} == {"q01.jpg", "q02.jpg", "q05.jpg"}
