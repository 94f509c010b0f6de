"""Start fast: a run whose photos all come from the cache imports no torch, loads no model and starts no worker pool;
the first photo that misses the cache loads them, and gets what a run with everything loaded up front gets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from facetui.core.base.events import FileDone, Notice, RunFinished, RunStarted
from facetui.core.base.fsutil import TEMP_PREFIX
from facetui.core.base.settings import load_settings
from facetui.core.models.body.setup import CHECKED_DIR, setup_body
from facetui.core.run.kbbuild import build_kb
from facetui.core.run.recognize import recognize
from facetui.core.stores.report import read_rows
from support.helpers import REPO, make_workspace, run_all

MODEL = "osnet_x0_25"

# Runs one core command in a fresh interpreter and says what it loaded: torch, dlib, the face net, a worker pool.
PROBE = textwrap.dedent("""
    import json, sys
    from multiprocessing import forkserver
    from pathlib import Path
    import concurrent.futures as cf
    pools = []
    class CountingPool(cf.ProcessPoolExecutor):
        def __init__(self, *a, **k):
            pools.append(1)
            super().__init__(*a, **k)
    from facetui.core.run.engines import local
    local.cf.ProcessPoolExecutor = CountingPool
    from facetui.core.base.settings import load_settings
    s = load_settings(Path(sys.argv[2]))
    if len(sys.argv) > 4:
        s = s.replace(face_tol=float(sys.argv[4]))
    if sys.argv[1] == "recognize":
        from facetui.core.run.recognize import recognize
        events = list(recognize(s, output_dir=Path(sys.argv[3])))
        cached = sum(e.result.cached for e in events if type(e).__name__ == "FileDone")
    elif sys.argv[1] == "eval":
        from facetui.core.evaluation.evaluate import evaluate
        rep = evaluate(s, Path(sys.argv[3]), input_dir=s.process_dir, record=False)
        cached, notices, body = rep.cached, rep.notices, rep.body is not None
    else:
        from facetui.core.run.kbbuild import build_kb
        events = list(build_kb(s))
        cached = -1
    if sys.argv[1] != "eval":
        notices, body = list(events[0].notices), events[0].body_enabled
    print(json.dumps({"torch": "torch" in sys.modules, "dlib": "dlib" in sys.modules,
                      "face_net": "facetui.core.models.face.resnet" in sys.modules, "pools": len(pools),
                      "forkserver": forkserver._forkserver._forkserver_pid is not None, "cached": cached,
                      "notices": notices, "body": body}))
""")


def probe(kind: str, settings, output=None, face_tol=None) -> dict:
    args = [sys.executable, "-c", PROBE, kind, str(settings), str(output or "-")]
    if face_tol is not None:
        args.append(str(face_tol))
    r = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A workspace with body recognition on (random-init OSNet), 2 workers, KB built and every query photo cached."""
    from facetui.core.models.body.osnet import save_random_weights

    root = tmp_path_factory.mktemp("startup")
    w = save_random_weights(root / "osnet.pth", MODEL)
    sp = make_workspace(root, reid_weights=str(w), reid_model=MODEL, device="cpu", workers=2, body_tol=1.0)
    run_all(build_kb(load_settings(sp)))
    first = run_all(recognize(load_settings(sp), output_dir=root / "out-cold"))
    assert isinstance(first[-1], RunFinished) and first[-1].summary.done == 9
    return root, sp


def _private_copy(root, ws):
    """The warm workspace copied to ``ws``, its settings pointing at the copy's own weights file."""
    shutil.copytree(root, ws, ignore=shutil.ignore_patterns("out-*"))
    return load_settings(ws / "settings.json").replace(reid_weights=ws / "osnet.pth")


def _data(report) -> list[list[str]]:
    return [[r[k] for k in r if k != "source"] for r in read_rows(report)]


def test_a_fully_cached_run_imports_no_torch_and_starts_no_pool(warm):
    root, sp = warm
    got = probe("recognize", sp, root / "out-probe", face_tol=0.45)
    assert got["cached"] == 9
    assert got["body"] and any("body recognition on" in n for n in got["notices"])
    assert not got["torch"] and not got["face_net"] and not got["dlib"]
    assert got["pools"] == 0 and not got["forkserver"]
    assert len(read_rows(root / "out-probe" / "report.csv")) >= 9


def test_a_kb_build_with_nothing_new_imports_no_torch(warm):
    root, sp = warm
    got = probe("kb", sp)
    assert got["body"] and not got["torch"] and not got["dlib"] and got["pools"] == 0 and not got["forkserver"]


def test_an_eval_of_cached_photos_imports_no_torch(warm):
    root, sp = warm
    got = probe("eval", sp, REPO / "demo" / "truth.csv")
    assert got["cached"] == 9 and got["body"]  # a body_tol sweep too: body recognition is on
    assert not got["torch"] and not got["dlib"] and got["pools"] == 0 and not got["forkserver"]


def test_one_new_photo_loads_the_models_and_gets_what_a_cold_run_gets(warm, tmp_path):
    root, sp = warm
    ws = tmp_path / "ws"
    s = _private_copy(root, ws)
    new = s.process_dir / "q05.jpg"
    data = new.read_bytes()
    new.write_bytes(data[:-2] + b"\x00" + data[-2:])  # other bytes, same picture: a cache miss
    events = run_all(recognize(s, output_dir=ws / "out-mixed"))
    done = [e.result for e in events if isinstance(e, FileDone)]
    assert sorted(r.rel for r in done if not r.cached) == ["q05.jpg"]
    # a cold run as reference: a fresh cache folder holds no record, so OSNet loads in full at set-up
    cold = run_all(recognize(s.replace(cache_dir=ws / "fresh-cache"), output_dir=ws / "out-ref"))
    assert all(not e.result.cached for e in cold if isinstance(e, FileDone))
    assert _data(ws / "out-mixed" / "report.csv") == _data(ws / "out-ref" / "report.csv")


def test_a_cold_run_embeds_bodies_in_the_workers(warm, tmp_path):
    """On the CPU each worker process embeds the body crops it cuts: the run's own process imports no torch even
    when every photo is new, and the report is the one a run that embeds in its own process (one worker) writes."""
    root, sp = warm
    ws = tmp_path / "ws"
    s = _private_copy(root, ws)
    for db in s.cache_dir.glob("embeddings.sqlite*"):
        db.unlink()  # every photo new; the weights file's record stays
    got = probe("recognize", ws / "settings.json", ws / "out-workers")
    assert got["cached"] == 0 and got["body"] and got["pools"] == 1
    assert not got["torch"]
    inline = run_all(recognize(s.replace(workers=1, cache_dir=ws / "cache-inline"), output_dir=ws / "out-inline"))
    assert isinstance(inline[-1], RunFinished) and inline[-1].summary.done == 9
    assert _data(ws / "out-workers" / "report.csv") == _data(ws / "out-inline" / "report.csv")


def test_a_new_weights_file_is_checked_in_full_without_torch_here(warm, tmp_path):
    """A weights file new to the cache folder is loaded in full before the run starts, in a process of the workers'
    forkserver (workers=2): the run's own process still imports no torch, and the file's record is written."""
    root, sp = warm
    ws = tmp_path / "ws"
    s = _private_copy(root, ws)
    for rec in (s.cache_dir / CHECKED_DIR).glob("checked-*.json"):
        rec.unlink()
    got = probe("kb", ws / "settings.json")
    assert got["body"] and any("body recognition on" in n for n in got["notices"])
    assert not got["torch"] and got["forkserver"]
    assert list((s.cache_dir / CHECKED_DIR).glob("checked-*.json"))


def test_a_changed_weights_file_is_checked_in_full_before_the_run(warm, tmp_path):
    root, sp = warm
    ws = tmp_path / "ws"
    s = _private_copy(root, ws)
    assert list((s.cache_dir / CHECKED_DIR).glob("checked-*.json"))  # the known file's record
    s.reid_weights.write_bytes(b"not a weights file")  # same name, other bytes: no record matches them
    body = setup_body(s, 512)
    assert body.encoder is None and body.notice.startswith("body recognition off") and "osnet.pth" in body.notice


def test_a_record_that_lies_stops_the_run_clearly_and_is_dropped(warm, tmp_path):
    """The record says 'this file loaded before' for a file that does not load: the deferred load fails at the
    first cache miss; the run stops with a clear notice, and the next run checks the file up front again."""
    from facetui.core.models.body.osnet import weights_fingerprint

    root, sp = warm
    ws = tmp_path / "ws"
    s = _private_copy(root, ws)
    s.reid_weights.write_bytes(b"not a weights file")
    sha = weights_fingerprint(s.reid_weights)
    rec = next((s.cache_dir / CHECKED_DIR).glob("checked-*.json"))
    old = json.loads(rec.read_text())
    rec.write_text(json.dumps({**old, "sha256": sha}))
    rec.rename(rec.with_name(f"checked-{MODEL}-{sha[:32]}.json"))
    assert setup_body(s, 512).encoder is not None  # trusted by its record: nothing loaded yet
    new = s.process_dir / "q05.jpg"
    data = new.read_bytes()
    new.write_bytes(data[:-2] + b"\x00" + data[-2:])
    events = run_all(recognize(s, output_dir=ws / "out"))
    errors = [e.text for e in events if isinstance(e, Notice) and e.level == "error"]
    assert len(errors) == 1 and "stopped" in errors[0] and "osnet.pth" in errors[0]
    assert events[-1].summary.aborted
    assert not list((s.cache_dir / CHECKED_DIR).glob("checked-*.json"))
    again = setup_body(s, 512)
    assert again.encoder is None and again.notice.startswith("body recognition off")
    assert isinstance(events[0], RunStarted)


def test_cached_photos_are_filed_while_the_worker_pool_starts(warm, tmp_path, monkeypatch):
    """Starting the pool is slow (here: made to take 3 s); the cached photos before the first new one do not wait."""
    import time

    from facetui.core.run.engines.local import WorkerPool

    root, sp = warm
    ws = tmp_path / "ws"
    s = _private_copy(root, ws)
    new = s.process_dir / "q05.jpg"
    data = new.read_bytes()
    new.write_bytes(data[:-2] + b"\x00" + data[-2:])
    real = WorkerPool._start

    def slow_start(self):
        time.sleep(3)
        return real(self)

    monkeypatch.setattr(WorkerPool, "_start", slow_start)
    t0 = time.monotonic()
    seen = {}
    for e in recognize(s, output_dir=ws / "out"):
        if isinstance(e, FileDone):
            seen[e.result.rel] = (time.monotonic() - t0, e.result.cached)
    assert [seen[f"q0{i}.jpg"][1] for i in range(1, 10)] == [True] * 4 + [False] + [True] * 4
    assert all(seen[f"q0{i}.jpg"][0] < 2.5 for i in range(1, 5)), seen  # filed before the pool was up
    assert seen["q05.jpg"][0] >= 3


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_weights_changed_after_set_up_are_not_used_under_the_old_hash(warm, tmp_path, monkeypatch, runtime):
    """Body embeddings are keyed by the weights file's hash taken at set-up: a file replaced before the deferred
    load (even by valid weights) is refused by torch, never embedded under the old key; ONNX Runtime runs the
    network prepared from the file with that hash (the warm runs made it), so its embeddings are the old file's."""
    import numpy as np

    from facetui.core.models.body.encoder import load_body_encoder
    from facetui.core.models.body.osnet import BodyModelError, save_random_weights
    from facetui.core.models.runtime import onnxnets

    if runtime == "torch":
        monkeypatch.setenv(onnxnets.RUNTIME_ENV, "torch")
    root, sp = warm
    ws = tmp_path / "ws"
    s = _private_copy(root, ws)
    old = shutil.copy(s.reid_weights, tmp_path / "old.pth")
    body = setup_body(s, 512)
    assert body.encoder is not None and not body.encoder.loaded
    save_random_weights(s.reid_weights, MODEL, seed=7)
    if runtime == "torch":
        with pytest.raises(BodyModelError, match="changed during the run"):
            body.encoder.ready()
        return
    crop = np.random.default_rng(1).integers(0, 256, (256, 128, 3), dtype=np.uint8)
    got = body.encoder.embed([crop])
    want = load_body_encoder(MODEL, old, "cpu", freeze=False).embed([crop])
    assert np.abs(got - want).max() < 1e-5


def test_the_forkservers_quick_exit_acts_only_in_the_forkserver():
    """serverexit makes the workers' forkserver leave without tearing torch down; imported anywhere else it must
    leave a process's exit status alone."""
    code = "import facetui.core.models.workers.serverexit\nraise SystemExit(3)"
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    )
    assert r.returncode == 3


def test_the_workers_keep_one_prepared_hog_detector_and_the_onnx_networks(warm):
    """The workers of the runs above saved dlib's HOG detector once in the machine's models folder, with its record,
    and the ONNX files of the face network and of OSNet for the run's weights file."""
    import hashlib

    from facetui.core.models.runtime import prepared

    folder = prepared.machine_dir()  # this test session's (conftest.py)
    svms = list(folder.glob("hog-frontal-face-dlib-*.svm"))
    assert len(svms) == 1
    rec = json.loads(svms[0].with_suffix(".json").read_text())
    assert rec["sha256"] == hashlib.sha256(svms[0].read_bytes()).hexdigest()
    assert not list(folder.glob(f"{TEMP_PREFIX}*"))
    assert list(folder.glob("face-resnet-*.onnx")) and list(folder.glob(f"osnet-{MODEL}-*.onnx"))
