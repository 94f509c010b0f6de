"""Clusters of unknown faces: dlib's Chinese whispers on real demo encodings, and naming a whole cluster at once."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import LEFT_OUT

from facetui.cli import main as cli_main
from facetui.core.review.clusters import cluster_encodings, cluster_lines, find_clusters
from facetui.core.review.session import REVIEW_PREFIX, ReviewSession
from facetui.core.stores.kb import load_kb


@pytest.fixture
def settings(no_obama_settings):
    return no_obama_settings


def test_cluster_encodings_groups_each_known_person_apart(built_workspace):
    kb = load_kb(built_workspace / "kb" / "encodings.npz")
    names = kb.face_names
    for thr in (0.5, 0.6):
        groups = cluster_encodings(kb.face_enc, thr)
        assert sorted(i for g in groups for i in g) == list(range(len(names)))
        for g in groups:
            assert len({names[i] for i in g}) == 1, f"threshold {thr}: mixed cluster {[names[i] for i in g]}"
        sizes = [len(g) for g in groups]
        assert sizes == sorted(sizes, reverse=True)  # biggest first
        assert [names[i] for i in groups[0]] == ["Barack_Obama"] * 3
    # at dlib's usual 0.6 every person of the demo KB is exactly one cluster
    assert sorted(tuple(sorted({names[i] for i in g})) for g in cluster_encodings(kb.face_enc, 0.6)) == [
        (p,) for p in sorted(set(names))
    ]


def test_cluster_encodings_edge_cases():
    assert cluster_encodings(np.zeros((0, 128)), 0.5) == []
    assert cluster_encodings(np.ones((1, 128)), 0.5) == [[0]]
    far = np.vstack([np.zeros(128), np.full(128, 1.0)])
    assert cluster_encodings(far, 0.5) == [[0], [1]]
    near = np.vstack([np.zeros(128), np.full(128, 0.001)])
    assert cluster_encodings(near, 0.5) == [[0, 1]]


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
    lines = cluster_lines(clusters, settings.face_tol)
    assert lines[0].startswith(f"Cluster 1: 3 faces in 3 photos (threshold {settings.face_tol:.2f})")


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
    assert out[1:4] == ["  q01.jpg face 0", "  q02.jpg face 0", "  q05.jpg face 1"]
    assert out[4].startswith("Cluster 2: 1 face in 1 photo")
