"""Run manifests: TOML written at the start of every run and rewritten at its end, readable with tomllib."""

from __future__ import annotations

import subprocess
import threading
import tomllib

import pytest

from facetui.cli import main
from facetui.core.base.events import KbImageDone
from facetui.core.base.settings import SPECS, from_dict
from facetui.core.run.kbbuild import build_kb
from facetui.core.run.recognize import recognize
from facetui.core.stores.kb import load_kb
from facetui.core.stores.manifest import (
    KB_MANIFEST_NAME,
    MANIFEST_NAME,
    ManifestError,
    describe_run,
    last_run,
    read_manifest,
)
from support.helpers import run_all


def _load(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


def test_recognize_manifest_parses_and_round_trips_the_settings(settings, workspace):
    run_all(recognize(settings))
    m = _load(workspace / "out" / MANIFEST_NAME)
    run = m["run"]
    assert run["kind"] == "recognize" and run["status"] == "completed"
    assert run["finished"] >= run["started"] and run["report"] == str(workspace / "out" / "report.csv")
    assert (
        m["counts"]["total"],
        m["counts"]["done"],
        m["counts"]["known"],
        m["counts"]["unknown"],
        m["counts"]["errors"],
    ) == (9, 9, 5, 4, 0)
    assert m["counts"]["per_person"]["Barack_Obama"] == 3
    again = from_dict(m["settings"], settings.source)
    for spec in SPECS:
        assert getattr(again, spec.key) == getattr(settings, spec.key), spec.key
    kb = load_kb(settings.kb_path)
    assert m["kb"]["fingerprint"] == kb.fingerprint() and m["kb"]["people"] == kb.people
    assert m["kb"]["counts"]["Barack_Obama"]["faces"] == 3
    assert m["versions"]["facetui"] and m["versions"]["numpy"] and m["versions"]["dlib"]
    assert run["device"] == "cpu"


def test_manifest_says_running_during_the_run_and_aborted_after_a_cancel(settings, workspace):
    cancel = threading.Event()
    seen = []

    def hook(i):
        seen.append(read_manifest(workspace / "out" / MANIFEST_NAME)["run"]["state"])
        if i == 2:
            cancel.set()

    events = run_all(recognize(settings, cancel=cancel, on_file=hook))
    assert events[-1].summary.aborted
    assert seen[0] == "running"  # written before the first photo
    m = read_manifest(workspace / "out" / MANIFEST_NAME)
    assert m["run"]["status"] == "aborted" and m["run"]["state"] == "aborted"
    assert m["counts"]["done"] == 2 and m["counts"]["total"] == 9
    assert "aborted" in describe_run(m)


def test_a_crash_leaves_the_run_marked_interrupted(settings, workspace):
    def boom(i):
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        run_all(recognize(settings, on_file=boom))
    path = workspace / "out" / MANIFEST_NAME
    m = read_manifest(path)
    assert m["run"]["status"] == "running" and m["run"]["state"] == "running"  # this process is still alive
    dead = subprocess.Popen(["true"])
    dead.wait()
    path.write_text(path.read_text().replace(f"pid = {m['run']['pid']}", f"pid = {dead.pid}"))
    assert read_manifest(path)["run"]["state"] == "interrupted"


def test_kb_build_manifest_sits_next_to_the_kb(settings, workspace):
    before = load_kb(settings.kb_path).fingerprint()
    run_all(build_kb(settings))
    path = settings.kb_path.parent / KB_MANIFEST_NAME
    m = read_manifest(path)
    assert m["run"]["kind"] == "kb" and m["run"]["status"] == "completed"
    assert m["counts"]["faces"] == 11 and m["counts"]["people"] == 5 and m["counts"]["skipped"] == 0
    assert m["kb"]["fingerprint"] == load_kb(settings.kb_path).fingerprint() == before
    assert m["settings"]["dataset_dir"] == str(settings.dataset_dir)


def test_aborted_kb_build_says_aborted_and_keeps_the_old_identity(settings, workspace):
    (workspace / "kb" / "Barack_Obama" / "obama3.jpg").unlink()  # the new KB would differ
    old = load_kb(settings.kb_path).fingerprint()
    cancel = threading.Event()
    for ev in build_kb(settings, cancel):
        if isinstance(ev, KbImageDone):
            cancel.set()
    m = read_manifest(settings.kb_path.parent / KB_MANIFEST_NAME)
    assert m["run"]["status"] == "aborted" and m["counts"]["done"] == 1
    assert m["kb"]["fingerprint"] == old


def test_last_run_is_the_newest_and_status_shows_it(settings, workspace, capsys):
    path, m = last_run(settings)  # the session's KB build
    assert path == settings.kb_path.parent / KB_MANIFEST_NAME and m["run"]["kind"] == "kb"
    run_all(recognize(settings))
    path, m = last_run(settings)
    assert path == workspace / "out" / MANIFEST_NAME and m["run"]["kind"] == "recognize"
    assert main(["status", "--settings", str(workspace / "settings.json")]) == 0
    out = capsys.readouterr().out
    assert "face_tol" in out and "5 people, 11 faces" in out
    assert "Last run: Recognition" in out and "completed, 9/9 files, 5 known, 4 unknown" in out
    assert "Earlier: KB build" in out


def test_read_manifest_refuses_what_is_not_one(tmp_path):
    with pytest.raises(ManifestError, match="no run manifest"):
        read_manifest(tmp_path / "run.toml")
    (tmp_path / "bad.toml").write_text("this is = = not toml")
    with pytest.raises(ManifestError, match="not a readable"):
        read_manifest(tmp_path / "bad.toml")
    (tmp_path / "other.toml").write_text("[tool]\nname = 'x'\n")
    with pytest.raises(ManifestError, match="not a facetui run manifest"):
        read_manifest(tmp_path / "other.toml")


def test_an_unwritable_place_does_not_stop_the_run(settings, workspace):
    out = workspace / "out"
    out.mkdir()
    (out / MANIFEST_NAME).mkdir()  # a folder where the manifest should go: the rename fails
    events = run_all(recognize(settings))
    assert not events[-1].summary.aborted and events[-1].summary.done == 9
    assert any("run manifest not written" in n for n in events[0].notices)
