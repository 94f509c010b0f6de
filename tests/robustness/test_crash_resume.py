"""Crash and resume: `facetui recognize` and `facetui kb build` killed (SIGKILL) or interrupted (Ctrl-C) part way.

A run killed at any point and then rerun must end exactly like a run that was never interrupted: the same files in the
same folders, no temp or partial files, inputs byte-identical, a complete report without duplicate rows. Deterministic
crash points come from the FACETUI_TEST_CRASH_AT hook in core/base/fsutil.py (inert unless set); the rest kill from outside.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections import Counter
from pathlib import Path

import pytest

from facetui.core.base.fsutil import TEMP_PREFIX
from facetui.core.base.settings import load_settings
from facetui.core.run.kbbuild import build_kb
from facetui.core.run.recognize import recognize
from facetui.core.stores.kb import load_kb
from facetui.core.stores.report import split_list
from support.cli_runs import (
    comparable,
    contents,
    copy_workspace,
    data_rows,
    kill_and_reap,
    report_rows,
    run_cli,
    start_cli,
    temps,
    tree,
    wait_for,
)
from support.helpers import run_all

SKIP_OUT = (
    "report.csv",
    "report-previous.csv",
    "recognize-run.toml",
    "run.toml",
    ".facetui.lock",
)  # per-run records, compared apart; the lock file is empty


def _add_inputs(ws: Path) -> None:
    """Ten inputs: the nine demo photos plus sub/q02.jpg, another photo under a name already used (a collision)."""
    (ws / "query" / "sub").mkdir()
    shutil.copy2(ws / "query" / "q01.jpg", ws / "query" / "sub" / "q02.jpg")


@pytest.fixture(scope="module")
def baseline(built_workspace, tmp_path_factory):
    """An uninterrupted run (in-process: the core the CLI drives): the output every resumed run must end with.

    It also leaves a warm cache with all ten inputs for the copies below; a test that needs slow, killable runs points
    its killed run at an empty cache ("cold.json") and resumes with the warm one.
    """
    root = tmp_path_factory.mktemp("baseline")
    ws = root / "ws"
    copy_workspace(built_workspace, ws, recursive=True, workers=1)
    _add_inputs(ws)
    events = run_all(recognize(load_settings(ws / "settings.json")))
    assert events[-1].summary.done == 10 and not events[-1].summary.aborted
    out = ws / "out"
    rows = report_rows(out / "report.csv")
    assert len({r["file"] for r in rows}) == 10
    raw = json.loads((ws / "settings.json").read_text())
    (ws / "cold.json").write_text(json.dumps({**raw, "cache_dir": "cold-cache"}))
    return {"ws": ws, "tree": contents(tree(out, skip=SKIP_OUT)), "rows": comparable(rows)}


def _fresh(baseline, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(baseline["ws"], ws, symlinks=True)
    shutil.rmtree(ws / "out")
    return ws


def _check_consistent_after_crash(ws: Path, inputs_before: dict, baseline) -> None:
    """What a crash may leave: fewer files, temp files, a shorter report; never a wrong, partial or changed file."""
    assert tree(ws / "query") == inputs_before, "an input changed"
    out = ws / "out"
    input_hashes = {v[1] for v in inputs_before.values() if v[0] == "file"}
    wanted = baseline["tree"]
    for rel, what in contents(tree(out, skip=SKIP_OUT)).items():
        name = Path(rel.decode()).name
        if what[0] == "file" and not name.startswith(TEMP_PREFIX):
            assert what[1] in input_hashes, f"{rel!r} is not a whole copy of an input"
            assert wanted.get(rel) == what, f"{rel!r} is not where an uninterrupted run puts it"
    if (out / "report.csv").exists():
        rows = comparable([r for r in report_rows(out / "report.csv") if r["end"] == "1"])
        assert set(rows) <= set(baseline["rows"]), "the partial report says something the full run does not"


def _check_resumed(ws: Path, inputs_before: dict, baseline, cli: bool = False) -> None:
    """Rerun (the CLI, or the core it drives: the same code without 2 s of start-up) and compare with the baseline."""
    if cli:
        r = run_cli("recognize", settings=ws / "settings.json")
        assert r.returncode == 0, r.stderr
        assert "Batch done. 10 files" in r.stdout
    else:
        s = run_all(recognize(load_settings(ws / "settings.json")))[-1].summary
        assert (s.done, s.aborted) == (10, False)
    out = ws / "out"
    assert tree(ws / "query") == inputs_before, "an input changed"
    assert temps(ws) == []
    assert contents(tree(out, skip=SKIP_OUT)) == baseline["tree"]
    rows = report_rows(out / "report.csv")
    assert comparable(rows) == baseline["rows"]
    dup = [k for k, n in Counter((r["file"], r["face_index"]) for r in rows).items() if n > 1]
    assert not dup, dup


# Where the hook kills: before any photo (the report header's temp file), in the middle of filing a photo (its temp copy
# written, or the copy under its real name with the temp name still there), and right after a report row.
CRASH_POINTS = ["copy@1", "link@4", "row@7"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_at_a_point_then_rerun_equals_an_uninterrupted_run(baseline, tmp_path, point):
    ws = _fresh(baseline, tmp_path)
    inputs = tree(ws / "query")
    r = run_cli("recognize", settings=ws / "settings.json", env={"FACETUI_TEST_CRASH_AT": point})
    assert r.returncode == -signal.SIGKILL, (point, r.returncode, r.stdout, r.stderr)
    _check_consistent_after_crash(ws, inputs, baseline)
    if point.startswith(("copy", "link")):
        assert temps(ws / "out"), "the hook should have left a temp file behind"
    _check_resumed(ws, inputs, baseline, cli=point == "link@4")


def test_sigkill_from_outside_part_way(baseline, tmp_path):
    """A real kill at an unplanned moment: a cold cache makes each photo slow enough to land mid-run."""
    ws = _fresh(baseline, tmp_path)
    inputs = tree(ws / "query")
    p = start_cli("recognize", settings=ws / "cold.json")
    reached = wait_for(lambda: data_rows(ws / "out") >= 3, proc=p)
    rc, out, err = kill_and_reap(p)
    assert reached and rc == -signal.SIGKILL, (rc, out, err)
    _check_consistent_after_crash(ws, inputs, baseline)
    assert 3 <= len({r["file"] for r in report_rows(ws / "out" / "report.csv")}) < 10
    _check_resumed(ws, inputs, baseline)


def test_two_crashes_in_a_row_then_rerun(baseline, tmp_path):
    ws = _fresh(baseline, tmp_path)
    inputs = tree(ws / "query")
    for point in ("write:report.csv@1", "copy@3"):  # each run dies; the next tidies up after the last
        r = run_cli("recognize", settings=ws / "settings.json", env={"FACETUI_TEST_CRASH_AT": point})
        assert r.returncode == -signal.SIGKILL
        _check_consistent_after_crash(ws, inputs, baseline)
    _check_resumed(ws, inputs, baseline)


# --- Ctrl-C ---------------------------------------------------------------------------------------------------------


def _check_clean_stop(ws: Path, rc: int, out: str, err: str, inputs: dict, baseline) -> int:
    """Exit 130, the summary printed, and the output says exactly what the report says; returns files done."""
    assert rc == 130, (rc, out, err)
    assert "Traceback" not in err
    assert tree(ws / "query") == inputs
    assert temps(ws) == []
    rows = report_rows(ws / "out" / "report.csv")
    assert all(r["end"] == "1" for r in rows)
    files = {r["file"] for r in rows}
    listed = {d for r in rows for d in split_list(r["destinations"])}
    on_disk = {rel.decode() for rel, v in tree(ws / "out", skip=SKIP_OUT).items() if v[0] == "file"}
    assert on_disk == listed, "the output and its report disagree"
    _check_consistent_after_crash(ws, inputs, baseline)
    return len(files)


def test_ctrl_c_stops_after_the_current_file_with_summary_and_130(baseline, tmp_path):
    ws = _fresh(baseline, tmp_path)
    inputs = tree(ws / "query")
    # the hook presses Ctrl-C (SIGINT to itself) right after the 3rd report row: deterministic
    r = run_cli(
        "recognize",
        settings=ws / "settings.json",
        env={"FACETUI_TEST_CRASH_AT": "row@3", "FACETUI_TEST_CRASH_SIGNAL": "SIGINT"},
    )
    done = _check_clean_stop(ws, r.returncode, r.stdout, r.stderr, inputs, baseline)
    assert done == 3
    assert "Aborted after 3 of 10 files." in r.stdout
    assert "stopping after the current file" in r.stderr
    _check_resumed(ws, inputs, baseline)


def test_ctrl_c_from_outside(baseline, tmp_path):
    """A real SIGINT at an unplanned moment (cold cache: slow photos) stops cleanly after the file in hand."""
    ws = _fresh(baseline, tmp_path)
    inputs = tree(ws / "query")
    p = start_cli("recognize", settings=ws / "cold.json")
    assert wait_for(lambda: data_rows(ws / "out") >= 2, proc=p)
    rc, out, err = kill_and_reap(p, signal.SIGINT)
    done = _check_clean_stop(ws, rc, out, err, inputs, baseline)
    assert 2 <= done < 10 and f"Aborted after {done} of 10 files." in out
    _check_resumed(ws, inputs, baseline)


def test_second_ctrl_c_quits_at_once_without_traceback_or_temp_files(baseline, tmp_path):
    """Ctrl-C while the 3rd photo is being copied, again the moment its copy has its name (temp name not yet gone)."""
    ws = _fresh(baseline, tmp_path)
    inputs = tree(ws / "query")
    r = run_cli(
        "recognize",
        settings=ws / "settings.json",
        env={"FACETUI_TEST_CRASH_AT": "copy@3,link@3", "FACETUI_TEST_CRASH_SIGNAL": "SIGINT"},
    )
    assert r.returncode == 130 and "Traceback" not in r.stderr, r.stderr
    assert "facetui: interrupted after 2 of 10 files" in r.stderr
    assert temps(ws) == [] and tree(ws / "query") == inputs
    assert {x["file"] for x in report_rows(ws / "out" / "report.csv")} == {"q01.jpg", "q02.jpg"}
    _check_consistent_after_crash(ws, inputs, baseline)
    _check_resumed(ws, inputs, baseline)


# --- KB build -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kb_versions(built_workspace, tmp_path_factory):
    """A workspace whose dataset changed since its KB was built (one photo added, one removed): old and new KB."""
    root = tmp_path_factory.mktemp("kbv")
    ws = root / "ws"
    copy_workspace(built_workspace, ws, workers=1)
    shutil.copy2(ws / "query" / "q02.jpg", ws / "kb" / "Barack_Obama" / "extra.jpg")
    (ws / "kb" / "Rose_Leslie" / "img2.jpg").unlink()
    raw = json.loads((ws / "settings.json").read_text())
    (ws / "cold.json").write_text(json.dumps({**raw, "cache_dir": "cold-cache"}))
    old = load_kb(ws / "kb" / "encodings.npz").fingerprint()
    done = root / "done"
    shutil.copytree(ws, done, symlinks=True)
    run_all(build_kb(load_settings(done / "settings.json")))
    new = load_kb(done / "kb" / "encodings.npz").fingerprint()
    assert new != old
    shutil.copytree(done / "cache", ws / "cache", dirs_exist_ok=True)  # warm for the new photo too
    return ws, old, new


def _kb_copy(kb_versions, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(kb_versions[0], ws, symlinks=True)
    return ws


def _kb_fingerprint(ws: Path) -> str:
    return load_kb(ws / "kb" / "encodings.npz").fingerprint()  # raises if damaged: a mix never loads


def _dataset(ws: Path) -> dict:
    return tree(ws / "kb", skip=("encodings.npz", "kb-run.toml"))


@pytest.mark.parametrize("point,expect", [("write:encodings.npz@1", "old"), ("replaced:encodings.npz@1", "new")])
def test_kb_build_killed_while_saving_is_old_or_new_and_rerun_completes(kb_versions, tmp_path, point, expect):
    _, old, new = kb_versions
    ws = _kb_copy(kb_versions, tmp_path)
    photos = _dataset(ws)
    r = run_cli("kb", "build", settings=ws / "settings.json", env={"FACETUI_TEST_CRASH_AT": point})
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    assert _kb_fingerprint(ws) == {"old": old, "new": new}[expect]
    assert bool(temps(ws / "kb")) == (expect == "old"), "only an unfinished save leaves its temp file"
    events = run_all(build_kb(load_settings(ws / "settings.json")))
    assert not events[-1].summary.aborted
    assert _kb_fingerprint(ws) == new
    assert temps(ws / "kb") == []
    assert _dataset(ws) == photos, "the dataset photos changed"
    assert any("removed temp file" in n for n in events[0].notices) == (expect == "old")


def test_kb_build_killed_from_outside_is_old_or_new(kb_versions, tmp_path):
    _, old, new = kb_versions
    ws = _kb_copy(kb_versions, tmp_path)
    photos = _dataset(ws)
    p = start_cli("kb", "build", settings=ws / "cold.json")  # cold: each photo analysed again, slow enough to kill
    lines: list[str] = []
    assert wait_for(lambda: len(_read_lines(p, lines)) >= 3, proc=p)
    rc, _, err = kill_and_reap(p)
    assert rc == -signal.SIGKILL, err
    assert _kb_fingerprint(ws) in (old, new)
    run_all(build_kb(load_settings(ws / "settings.json")))
    assert _kb_fingerprint(ws) == new and temps(ws / "kb") == [] and _dataset(ws) == photos


def _read_lines(p, lines: list[str]) -> list[str]:
    line = p.stdout.readline()  # blocks until a line: the build prints one per photo, flushed
    if line:
        lines.append(line)
    return [x for x in lines if ": " in x and ("face" in x)]


def test_kb_build_ctrl_c_keeps_the_old_kb_and_exits_130(kb_versions, tmp_path):
    _, old, new = kb_versions
    ws = _kb_copy(kb_versions, tmp_path)
    p = start_cli("kb", "build", settings=ws / "cold.json")
    lines: list[str] = []
    assert wait_for(lambda: len(_read_lines(p, lines)) >= 2, proc=p)
    rc, out, err = kill_and_reap(p, signal.SIGINT)
    assert rc == 130, (rc, out, err)
    assert "KB build aborted" in out and "Traceback" not in err
    assert _kb_fingerprint(ws) == old
    assert temps(ws / "kb") == []
    run_all(build_kb(load_settings(ws / "settings.json")))
    assert _kb_fingerprint(ws) == new


@pytest.mark.ray
def test_ray_engine_driver_killed_then_rerun_equals_an_uninterrupted_run(baseline, tmp_path):
    """The Ray engine changes where photos are analysed, not who writes: a driver killed mid-run resumes exactly."""
    pytest.importorskip("ray", reason="needs the ray extra")
    ws = _fresh(baseline, tmp_path)
    inputs = tree(ws / "query")
    raw = json.loads((ws / "cold.json").read_text())
    (ws / "ray.json").write_text(json.dumps({**raw, "engine": "ray", "workers": 2}))  # cold: Ray analyses them
    r = run_cli("recognize", settings=ws / "ray.json", env={"FACETUI_TEST_CRASH_AT": "row@4"})
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stdout, r.stderr)
    _check_consistent_after_crash(ws, inputs, baseline)
    r = run_cli("recognize", settings=ws / "ray.json")
    assert r.returncode == 0, r.stderr
    assert "Batch done. 10 files" in r.stdout
    assert temps(ws) == []
    assert contents(tree(ws / "out", skip=SKIP_OUT)) == baseline["tree"]
    assert comparable(report_rows(ws / "out" / "report.csv")) == baseline["rows"]
