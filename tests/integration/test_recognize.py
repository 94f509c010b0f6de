"""Recognition end to end on the real demo photos with the real dlib models."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from facetui.core.base.events import FileDone, RunFinished, RunStarted
from facetui.core.base.fsutil import file_sha256
from facetui.core.base.settings import load_settings
from facetui.core.run.recognize import SetupError, recognize
from facetui.core.stores.report import COLUMNS, read_results
from support.helpers import REPO, read_truth, run_all


def _filed(out):
    """{file name: set of folders it was filed under} from the output folder on disk."""
    got: dict[str, set[str]] = {}
    for person in os.listdir(out):
        if (out / person).is_dir():
            for f in os.listdir(out / person):
                got.setdefault(f, set()).add(person)
    return got


def test_recognize_files_every_demo_photo_as_truth_says(settings, workspace):
    hashes = {p.name: file_sha256(p) for p in (workspace / "query").iterdir()}
    events = run_all(recognize(settings))
    assert isinstance(events[0], RunStarted) and events[0].total == 9
    done = [e for e in events if isinstance(e, FileDone)]
    assert [e.index for e in done] == list(range(1, 10))
    out = workspace / "out"
    filed = _filed(out)
    for name, people in read_truth().items():
        assert filed[name] == (people or {"Unknown"}), name
    summary = events[-1].summary
    assert isinstance(events[-1], RunFinished) and not summary.aborted
    assert (summary.done, summary.unknown, summary.errors) == (9, 4, 0)
    assert summary.unknown_pct == 44.44
    # originals untouched, copies identical
    assert {p.name: file_sha256(p) for p in (workspace / "query").iterdir()} == hashes
    assert file_sha256(out / "Barack_Obama" / "q05.jpg") == hashes["q05.jpg"]


def test_report_has_a_row_per_face_and_reads_back(settings, workspace):
    run_all(recognize(settings))
    report = workspace / "out" / "report.csv"
    with open(report, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == COLUMNS
    by_file: dict[str, list] = {}
    for r in rows:
        by_file.setdefault(r["file"], []).append(r)
    assert set(by_file) == set(read_truth())
    assert len(by_file["q07.jpg"]) == 1 and by_file["q07.jpg"][0]["box"] == ""  # the coffee cup: no face
    assert len(by_file["q05.jpg"]) >= 2  # group photo: one row per face
    assert by_file["q01.jpg"][0]["face_1"] == "Barack_Obama"
    assert float(by_file["q01.jpg"][0]["face_1_dist"]) < settings.face_tol
    results = {r.rel: r for r in read_results(report)}
    assert results["q05.jpg"].people == ("Barack_Obama", "Joe_Biden")
    assert results["q09.jpg"].is_unknown and len(results["q09.jpg"].faces) >= 4


def test_rerun_is_a_no_op_on_disk(settings, workspace):
    run_all(recognize(settings))
    out = workspace / "out"
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*.jpg"))
    run_all(recognize(settings))
    after = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*.jpg"))
    assert before == after  # identical files already there are left alone, nothing duplicated
    assert (out / "report-previous.csv").exists()


def test_a_stricter_tolerance_sends_known_people_to_unknown(settings, workspace):
    events = run_all(recognize(settings.replace(face_tol=0.2)))
    s = events[-1].summary
    # only q02 (a near-copy of a KB photo, distance ~0.08) stays known at 0.2
    assert s.unknown == 8 and s.per_person == {"Barack_Obama": 1}


def test_largest_face_policy_files_the_group_photo_once(settings, workspace):
    events = run_all(recognize(settings.replace(multi_face="largest")))
    q05 = next(e.result for e in events if isinstance(e, FileDone) and e.result.rel == "q05.jpg")
    assert len(q05.people) == 1


def test_cancel_stops_after_the_current_file(settings, workspace):
    import threading

    cancel = threading.Event()

    def hook(i):
        if i == 3:
            cancel.set()

    events = run_all(recognize(settings, cancel=cancel, on_file=hook))
    s = events[-1].summary
    assert s.aborted and s.done == 3
    rows = {r.rel for r in read_results(workspace / "out" / "report.csv")}
    assert rows == {"q01.jpg", "q02.jpg", "q03.jpg"}
    filed = sum(1 for _ in (workspace / "out").rglob("*.jpg"))
    assert filed == 3  # q01, q02, q03 are single-person photos: one copy each, nothing more
    # a rerun completes the job
    events = run_all(recognize(settings))
    assert events[-1].summary.done == 9


def test_setup_errors_are_clear(settings, workspace, tmp_path):
    import pytest

    with pytest.raises(SetupError, match="input folder does not exist"):
        run_all(recognize(settings, input_dir=tmp_path / "nope"))
    with pytest.raises(SetupError, match="is the input folder"):
        run_all(recognize(settings, input_dir=workspace / "query", output_dir=workspace / "query"))
    (workspace / "kb" / "encodings.npz").write_bytes(b"not a KB")  # none at all is fine (test_no_kb.py)
    with pytest.raises(SetupError, match="not a facetui KB or is damaged"):
        run_all(recognize(settings))


def test_empty_folder_finishes_early(settings, tmp_path):
    (tmp_path / "empty").mkdir()
    events = run_all(recognize(settings, input_dir=tmp_path / "empty", output_dir=tmp_path / "o"))
    assert events[-1].summary.total == 0
    assert any("no images found" in getattr(e, "text", "") for e in events)


def test_cli_prints_seed_lines_and_summary(workspace):
    sp = workspace / "settings.json"
    r = subprocess.run(
        [sys.executable, "-m", "facetui.cli", "recognize", "--settings", str(sp)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("q01.jpg → Barack_Obama | Face: [Barack_Obama:0.") for line in lines)
    assert any(line.startswith("q07.jpg → Unknown | Face: [] | Body: []") for line in lines)
    assert "Batch done. 9 files, Unknown = 4 (44.44%)." in r.stdout
    assert "body recognition off" in r.stdout  # said once, clearly
    assert r.stdout.count("body recognition off") == 1


def test_cli_setup_error_exit_status(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "facetui.cli", "recognize", "--settings", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "settings file not found" in r.stderr and "Traceback" not in r.stderr


def test_parallel_workers_give_the_same_filing(settings, workspace):
    run_all(recognize(settings.replace(workers=2, cache_dir=workspace / "cold-cache")))
    assert {k: v for k, v in _filed(workspace / "out").items()} == {
        k: (v or {"Unknown"}) for k, v in read_truth().items()
    }


def test_settings_file_loads(workspace):
    s = load_settings(workspace / "settings.json")
    assert s.dataset_dir == workspace / "kb"


def test_hostile_person_names_stay_inside_the_output(settings, workspace):
    from facetui.core.stores.kb import load_kb, save_kb

    kb = load_kb(settings.kb_path)
    kb.face_names = [
        "../../escaped" if n == "Barack_Obama" else ("/tmp/abs" if n == "Joe_Biden" else n) for n in kb.face_names
    ]
    save_kb(kb, settings.kb_path)
    run_all(recognize(settings))
    out = (workspace / "out").resolve()
    for p in workspace.rglob("*.jpg"):
        rp = p.resolve()
        if (
            rp.is_relative_to(workspace / "query")
            or rp.is_relative_to(workspace / "kb")
            or rp.is_relative_to(workspace / "bodies")
            or rp.is_relative_to(workspace / "scenes")
        ):
            continue
        assert rp.is_relative_to(out), p
    assert not (workspace.parent / "escaped").exists() and not (workspace / "escaped").exists()
    inside = [p.parent.name for p in out.rglob("q01.jpg")]
    assert len(inside) == 1 and "escaped" in inside[0] and (out / inside[0]).parent == out


def test_rerun_that_now_recognises_a_photo_removes_only_our_unknown_copy(settings, workspace):
    out = workspace / "out"
    run_all(recognize(settings.replace(face_tol=0.2)))  # strict: q01 lands in Unknown
    assert (out / "Unknown" / "q01.jpg").exists()
    (out / "Unknown" / "q03.jpg").unlink()
    (out / "Unknown" / "q03.jpg").write_bytes(b"a different file the user put here")
    events = run_all(recognize(settings))
    q01 = next(e.result for e in events if isinstance(e, FileDone) and e.result.rel == "q01.jpg")
    assert not (out / "Unknown" / "q01.jpg").exists() and (out / "Barack_Obama" / "q01.jpg").exists()
    assert any("removed the earlier copy" in n for n in q01.notes)
    assert (out / "Unknown" / "q03.jpg").read_bytes() == b"a different file the user put here"
    assert (workspace / "query" / "q01.jpg").exists()
    assert _filed(out)["q06.jpg"] == {"Unknown"}  # still unknown: its copy stays


def test_resorting_the_unknown_folder_never_touches_its_inputs(settings, workspace):
    out = workspace / "out"
    run_all(recognize(settings.replace(face_tol=0.2)))
    before = {p.name: file_sha256(p) for p in (out / "Unknown").iterdir()}
    run_all(recognize(settings, input_dir=out / "Unknown", output_dir=out))
    assert {p.name: file_sha256(p) for p in (out / "Unknown").iterdir()} == before
    assert (out / "Barack_Obama" / "q01.jpg").exists()


def test_missing_face_models_give_a_clear_setup_error(settings, monkeypatch, tmp_path):
    import pytest

    from facetui.core.models.face import files as face_files
    from facetui.core.run.kbbuild import build_kb

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "shape_predictor_5_face_landmarks.dat").write_bytes(b"x")
    monkeypatch.setattr(face_files, "models_dir", lambda: tmp_path / "models")
    for gen in (recognize(settings), build_kb(settings)):
        with pytest.raises(SetupError, match="face model file.* missing .*dlib_face_recognition_resnet_model_v1"):
            run_all(gen)
    monkeypatch.setattr(face_files, "models_dir", lambda: None)
    with pytest.raises(SetupError, match="install the 'face-recognition-models' package"):
        run_all(recognize(settings))


def test_a_second_run_into_the_same_output_is_refused_while_the_first_runs(settings, workspace):
    import pytest

    first = recognize(settings)
    next(first)  # the first run has started and holds the output folder
    with pytest.raises(SetupError, match="another facetui run is writing to"):
        run_all(recognize(settings))
    rest = run_all(first)
    assert rest[-1].summary.done == 9  # the first run is unharmed
    assert run_all(recognize(settings))[-1].summary.done == 9  # and the lock is gone once it ends
