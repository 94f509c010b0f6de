"""Starting with no KB (issue 22, item 4): recognize files every photo under Unknown/ and says why, review names two
people on two photos each and so writes the first KB, and a rerun files their other photos from the cache while the
third person and the strangers stay Unknown. Real LFW photos (demo/lfw-calib) and the real face models."""

from __future__ import annotations

import subprocess
import sys

import pytest

from facetui.core.base.events import FileDone, RunFinished, RunStarted
from facetui.core.base.settings import load_settings
from facetui.core.review.session import ReviewSession
from facetui.core.run.recognize import recognize
from facetui.core.run.render import NO_KB_PEOPLE, summary_lines
from facetui.core.stores.kb import KnowledgeBase, load_kb, save_kb
from facetui.core.stores.manifest import manifest_path, read_manifest
from facetui.core.stores.report import REPORT_NAME, read_results
from support.helpers import folders_by_file, make_no_kb_workspace, run_all

# 5 photos each (3 from lfw-calib's kb/, 2 from its query/); the first two are named in review, the third is not.
# Their faces are far apart: once two photos each are named, every other photo of theirs scores under 0.45 against
# its person with a margin over 0.2, and the third person's and the strangers' stay over 0.65 (shipped settings)
PEOPLE = ["Roger_Federer", "Yoko_Ono", "Richard_Gere"]
NAMED = PEOPLE[:2]
STRANGERS = 4


@pytest.fixture
def no_kb(tmp_path):
    """(settings, truth) of a fresh no-KB workspace: an empty dataset_dir, no KB file, 19 photos to sort."""
    sp, truth = make_no_kb_workspace(tmp_path / "ws", PEOPLE, strangers=STRANGERS)
    return load_settings(sp), truth


def sort(settings) -> list:
    events = run_all(recognize(settings))
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    return events


def name_in_review(settings, truth: dict[str, str], people: list[str], per_person: int = 2) -> dict[str, list[str]]:
    """Name ``people`` in review, each on the faces of their first ``per_person`` photos in one group decision (as
    naming a cluster does); returns {person: the files named}."""
    named: dict[str, list[str]] = {}
    session = ReviewSession(settings)
    try:
        for person in people:
            files = sorted(f for f, p in truth.items() if p == person)[:per_person]
            session.assign_many([session.item_for(f) for f in files], person)
            named[person] = files
    finally:
        session.close()
    return named


@pytest.mark.parametrize("kb_file", ["missing", "empty"])
def test_with_no_kb_every_photo_goes_to_unknown_with_a_note(no_kb, kb_file):
    settings, truth = no_kb
    assert not any(settings.dataset_dir.iterdir())  # nobody has ever built a KB here
    if kb_file == "empty":
        save_kb(KnowledgeBase(), settings.kb_path)
    else:
        assert not settings.kb_path.exists()
    events = sort(settings)
    why = f"the KB at {settings.kb_path} is empty" if kb_file == "empty" else f"no KB at {settings.kb_path}"
    notes = [n for n in events[0].notices if n.startswith(NO_KB_PEOPLE)]
    assert len(notes) == 1 and why in notes[0] and "Unknown/" in notes[0] and "review --clusters" in notes[0]
    s = events[-1].summary
    assert (s.total, s.done, s.unknown, s.known, s.errors, s.per_person) == (19, 19, 19, 0, 0, {})
    assert notes[0] in s.notices and f"Note: {notes[0]}" in summary_lines(s)

    out = settings.processed_dir
    assert folders_by_file(out) == {f: {"Unknown"} for f in truth}
    # the report keeps every face with its box, for review to cluster and name
    results = {r.rel: r for r in read_results(out / REPORT_NAME)}
    assert set(results) == set(truth)
    for r in results.values():
        assert r.faces and all(f.box is not None and f.name == "Unknown" and not f.face for f in r.faces), r.rel
    m = read_manifest(manifest_path(settings, "recognize", out))
    assert m["run"]["state"] == "completed" and m["counts"]["unknown"] == 19
    assert m["kb"]["people"] == [] and m["kb"]["faces"] == 0 and m["kb"]["fingerprint"]
    assert any(n.startswith(NO_KB_PEOPLE) for n in m["run"]["notices"])
    assert settings.kb_path.exists() == (kb_file == "empty")  # recognize never writes a KB


def test_review_grows_the_first_kb_and_a_rerun_files_the_rest_from_the_cache(no_kb):
    settings, truth = no_kb
    first = sort(settings)
    assert first[-1].summary.unknown == 19
    assert not any(ev.result.cached for ev in first if isinstance(ev, FileDone))  # a fresh cache: all analysed

    named = name_in_review(settings, truth, NAMED)
    kb = load_kb(settings.kb_path)  # written by the first decision (atomically, as every KB save)
    assert sorted(kb.face_names) == sorted(p for p in NAMED for _ in range(2))
    assert all(src.startswith("review:") for src in kb.face_sources)

    again = sort(settings)
    assert not any(n.startswith(NO_KB_PEOPLE) for n in again[0].notices)  # there are people to recognise now
    done = [ev.result for ev in again if isinstance(ev, FileDone)]
    assert len(done) == 19 and all(r.cached for r in done)  # nothing analysed again: all from the cache
    expected = {f: {p} if p in NAMED else {"Unknown"} for f, p in truth.items()}
    assert folders_by_file(settings.processed_dir) == expected
    by_rule = {r.rel: r.faces[0].rule for r in done}
    for person, files in named.items():  # the photos named in review are kept, the rest found by their faces
        others = sorted(f for f, p in truth.items() if p == person and f not in files)
        assert len(others) == 3
        assert all(by_rule[f] == "assigned in review" for f in files)
        assert all(by_rule[f].startswith("face ") for f in others), {f: by_rule[f] for f in others}
    s = again[-1].summary
    assert s.per_person == {"Roger_Federer": 5, "Yoko_Ono": 5} and s.unknown == 9


def test_the_cli_sorts_with_no_kb_and_says_why(no_kb):
    settings, truth = no_kb
    r = subprocess.run(
        [sys.executable, "-m", "facetui.cli", "recognize", "--settings", str(settings.source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert f"[Note] {NO_KB_PEOPLE} (no KB at {settings.kb_path})" in r.stdout
    assert "Batch done. 19 files, Unknown = 19 (100.0%)." in r.stdout
    assert f"Note: {NO_KB_PEOPLE}" in r.stdout
    assert folders_by_file(settings.processed_dir) == {f: {"Unknown"} for f in truth}


def test_with_body_weights_the_first_run_embeds_the_bodies_the_rerun_needs(tmp_path):
    """Body recognition stays on with no KB (the bodies are embedded and cached, though there is nobody to match), so
    that once review has added face and body rows the rerun takes everything from the cache. A random OSNet: the
    mechanics only; body_tol 1.0 never files by body."""
    from facetui.core.models.body.osnet import save_random_weights

    w = save_random_weights(tmp_path / "osnet_random.pth", "osnet_x0_25")
    sp, truth = make_no_kb_workspace(
        tmp_path / "ws", PEOPLE, STRANGERS, reid_weights=str(w), reid_model="osnet_x0_25", device="cpu", body_tol=1.0
    )
    settings = load_settings(sp)
    first = sort(settings)
    assert first[0].body_enabled and first[-1].summary.unknown == 19
    name_in_review(settings, truth, NAMED)
    kb = load_kb(settings.kb_path)
    assert len(kb.face_names) == 4 and kb.body_enc.shape == (4, 512) and kb.body_names == kb.face_names
    again = sort(settings)
    assert again[0].body_enabled
    done = [ev.result for ev in again if isinstance(ev, FileDone)]
    assert len(done) == 19 and all(r.cached for r in done)
    assert all(f.body for r in done for f in r.faces)  # every face has its body top-3, from the cached embeddings
    expected = {f: {p} if p in NAMED else {"Unknown"} for f, p in truth.items()}
    assert folders_by_file(settings.processed_dir) == expected


def test_the_whole_path_on_the_cli_names_two_clusters_and_the_rerun_files_their_other_photos(tmp_path, capsys):
    """Empty KB, sort, name two clusters with `review --name-cluster`, sort again: those people's photos that were in
    no named cluster are filed too (a tight cluster_tol, so each person's group holds only some of their photos)."""
    from facetui.cli import main

    sp, truth = make_no_kb_workspace(tmp_path / "ws", PEOPLE, strangers=STRANGERS, cluster_tol=0.4)
    args = ["--settings", str(sp)]
    assert main(["recognize", *args]) == 0
    named: dict[str, list[str]] = {}
    for person in NAMED:  # each person's biggest cluster, named by the number the listing gives it now
        capsys.readouterr()
        assert main(["review", "--clusters", *args]) == 0
        clusters: list[list[str]] = []
        for line in capsys.readouterr().out.splitlines():
            if line.startswith("Cluster "):
                clusters.append([])
            elif line.startswith("  "):
                clusters[-1].append(line.split()[0])
        n, files = max(
            ((i, c) for i, c in enumerate(clusters, 1) if all(truth[f] == person for f in c)),
            key=lambda ic: len(ic[1]),
        )
        assert 2 <= len(files) < 5, f"{person}: a cluster of {len(files)}; the test needs some photos left over"
        assert main(["review", "--name-cluster", str(n), person, *args]) == 0
        named[person] = files
    settings = load_settings(sp)
    for person, files in named.items():
        assert {f for f, where in folders_by_file(settings.processed_dir).items() if person in where} == set(files)
    assert sorted(load_kb(settings.kb_path).people) == sorted(NAMED)

    assert main(["recognize", *args]) == 0
    expected = {f: {p} if p in NAMED else {"Unknown"} for f, p in truth.items()}
    assert folders_by_file(settings.processed_dir) == expected
