"""The device stage (run/engines/device.py) on the CPU (FACETUI_DEVICE_STAGE=cpu): the same mechanics as on a GPU
(workers decode, this process detects and encodes in batches across photos), the same results as the workers' own
CNN analysis, and every fault costs only its photo. Upsample 0 keeps the CNN cheap on a small CPU."""

from __future__ import annotations

import concurrent.futures as cf
import csv
import hashlib
import threading
import time
import tomllib
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest

from facetui.core.base.events import FileDone, RunFinished
from facetui.core.models.analyze import Analysis, FaceConfig, analyze_path
from facetui.core.models.face import detect as face_detect
from facetui.core.models.face import preload as face_preload
from facetui.core.run.engines import device as engine_device
from facetui.core.run.engines.device import STAGE_ENV, DeviceEngine, stage_device
from facetui.core.run.engines.worker import decode_in_worker
from facetui.core.run.recognize import recognize
from facetui.core.stores.cache import EmbeddingCache
from facetui.core.stores.report import REPORT_NAME
from support.helpers import DEMO, filed, read_truth, run_all

QUERIES = sorted((DEMO / "query").glob("*.jpg"))
CFG = FaceConfig("cnn", 0, 800)


def _cnn(settings, workspace: Path, name: str):
    return settings.replace(detector="cnn", upsample=0, workers=2, cache_dir=workspace / f"cache-{name}")


def _rows(out: Path) -> list[list[str]]:
    with open(out / REPORT_NAME, newline="", encoding="utf-8") as f:
        return sorted(list(csv.reader(f))[1:])


def _stage_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "facetui-device-stage"]


def test_the_stage_is_chosen_only_where_it_applies(monkeypatch):
    monkeypatch.delenv(STAGE_ENV, raising=False)
    assert stage_device("cnn", "cpu", 4) is None  # the CPU: the workers analyse whole photos
    monkeypatch.setenv(STAGE_ENV, "cpu")
    assert stage_device("cnn", "auto", 2) == "cpu"
    assert stage_device("hog", "auto", 2) is None
    assert stage_device("cnn", "auto", 1) is None
    monkeypatch.setenv(face_detect.CNN_ENV, "dlib")  # dlib's own CNN: its results, in the workers
    assert stage_device("cnn", "auto", 2) is None
    monkeypatch.delenv(face_detect.CNN_ENV)
    monkeypatch.setenv(STAGE_ENV, "off")
    assert stage_device("cnn", "cuda", 2) is None


def test_the_stage_reports_and_caches_what_the_workers_do(settings, workspace, monkeypatch):
    monkeypatch.setenv(STAGE_ENV, "off")
    plain = run_all(recognize(_cnn(settings, workspace, "plain"), output_dir=workspace / "out-plain"))
    monkeypatch.setenv(STAGE_ENV, "cpu")
    staged = run_all(recognize(_cnn(settings, workspace, "stage"), output_dir=workspace / "out-stage"))
    for events in (plain, staged):
        done = [e for e in events if isinstance(e, FileDone)]
        assert [e.result.rel for e in done] == [p.name for p in QUERIES]
        assert not any(e.result.cached or e.result.error for e in done)
    assert filed(workspace / "out-stage") == filed(workspace / "out-plain")
    assert _rows(workspace / "out-stage") == _rows(workspace / "out-plain")
    engine = tomllib.loads((workspace / "out-stage" / "run.toml").read_text())["engine"]
    assert engine["stage"] == "device" and engine["device"] == "cpu"
    assert "stage" not in tomllib.loads((workspace / "out-plain" / "run.toml").read_text())["engine"]
    key = CFG.key()
    a_cache, b_cache = EmbeddingCache(workspace / "cache-plain"), EmbeddingCache(workspace / "cache-stage")
    try:
        faces = 0
        for p in QUERIES:
            sha = hashlib.sha256(p.read_bytes()).hexdigest()
            a, b = a_cache.get_analysis(sha, key), b_cache.get_analysis(sha, key)
            assert a is not None and b is not None, p.name
            assert (b.size, b.boxes, b.notes, b.error) == (a.size, a.boxes, a.notes, a.error), p.name
            assert b.sharpness == a.sharpness, p.name
            assert b.encodings.shape == a.encodings.shape, p.name
            assert np.allclose(b.encodings, a.encodings, rtol=0, atol=1e-6), p.name
            faces += len(a.boxes)
        assert faces >= len(QUERIES) - 2
    finally:
        a_cache.close()
        b_cache.close()


def test_a_bad_file_and_a_worker_that_dies_cost_only_their_photo(settings, workspace, monkeypatch):
    folder = workspace / "mixed"
    folder.mkdir()
    for q in QUERIES[:3]:
        (folder / q.name).write_bytes(q.read_bytes())
    (folder / "broken.jpg").write_bytes(QUERIES[3].read_bytes()[:2000])  # a truncated JPEG
    (folder / "notes.jpg").write_text("not a photo at all\n")
    monkeypatch.setenv(STAGE_ENV, "cpu")
    monkeypatch.setenv("FACETUI_TEST_WORKER_DIES_ON", QUERIES[1].name)  # the worker exits on it, each try
    events = run_all(recognize(_cnn(settings, workspace, "faults"), input_dir=folder, output_dir=workspace / "out-f"))
    done = {e.result.rel: e.result for e in events if isinstance(e, FileDone)}
    assert len(done) == 5 and not events[-1].summary.aborted
    assert "worker died" in done[QUERIES[1].name].error
    for bad in ("broken.jpg", "notes.jpg"):
        assert done[bad].error and "worker" not in done[bad].error, done[bad].error
    for q in (QUERIES[0], QUERIES[2]):
        assert not done[q.name].error, done[q.name].error
        assert set(done[q.name].people) == read_truth()[q.name]
    assert events[-1].summary.errors == 3


def test_an_abort_soon_after_the_start_ends_the_run_promptly(settings, workspace, monkeypatch):
    monkeypatch.setenv(STAGE_ENV, "cpu")
    cancel = threading.Event()
    gen = recognize(_cnn(settings, workspace, "abort"), output_dir=workspace / "out-a", cancel=cancel)
    next(gen)
    threading.Timer(1.0, cancel.set).start()  # the pool is starting, or the first batch is on its way
    t0 = time.monotonic()
    rest = list(gen)
    t = time.monotonic()
    assert t - t0 < 1.0 + 4.0  # the cancel, then at most a batch in hand and the pool's shutdown
    assert isinstance(rest[-1], RunFinished) and rest[-1].summary.aborted
    while _stage_threads() and time.monotonic() - t < engine_device.CLOSE_WAIT_S + 3:
        time.sleep(0.05)
    assert not _stage_threads()


class _FailsOnShape:
    """The real detector, except that a batch holding a photo of ``shape`` raises (an odd photo's failure)."""

    def __init__(self, det, shape):
        self.det, self.shape, self.calls = det, shape, []

    def detect_batch(self, images, upsample=0):
        self.calls.append(len(images))
        if any(im.shape == self.shape for im in images):
            raise RuntimeError("injected failure")
        return self.det.detect_batch(images, upsample)


def _in_thread(path: Path, sha: str) -> cf.Future:
    """The worker function, run here: a Future of a photo's decoded pixels."""
    f: cf.Future = cf.Future()
    f.set_result(decode_in_worker(path, CFG, False, sha))
    return f


def test_a_failing_batch_is_retried_photo_by_photo(monkeypatch):
    photos = QUERIES[:4]
    shapes = [decode_in_worker(p, CFG, False, "x").image.rgb.shape for p in photos]
    odd = next(i for i, s in enumerate(shapes) if shapes.count(s) == 1)  # the photo whose shape fails
    det, net = face_preload.models_on("cpu")
    failing = _FailsOnShape(det, shapes[odd])
    monkeypatch.setattr(face_preload, "models_on", lambda device: (failing, net))
    eng = DeviceEngine(_in_thread, CFG, False, "cpu", batch_size=8)
    try:
        futures = [eng.submit(p, f"sha{i}") for i, p in enumerate(photos)]
        got = [f.result(timeout=120) for f in futures]
    finally:
        eng.close()
    assert max(failing.calls) > 1  # at least one batch of several photos, then one by one
    for i, (p, a) in enumerate(zip(photos, got)):
        assert isinstance(a, Analysis) and a.sha256 == f"sha{i}"
        if i == odd:
            assert a.error == "analysis failed: RuntimeError: injected failure"
            continue
        want = analyze_path(p, CFG, False, f"sha{i}")
        assert not a.error and a.boxes == want.boxes and a.sharpness == want.sharpness
        assert np.allclose(a.encodings, want.encodings, rtol=0, atol=1e-6)
    assert not _stage_threads()


@pytest.mark.parametrize("broken", ["cancelled", "raised"])
def test_a_photo_the_pool_failed_gets_that_outcome(broken):
    def submit(path: Path, sha: str) -> cf.Future:
        f: cf.Future = cf.Future()
        if broken == "cancelled":
            f.cancel()
        else:
            f.set_exception(BrokenProcessPool("a worker died"))
        return f

    eng = DeviceEngine(submit, CFG, False, "cpu")
    try:
        f = eng.submit(QUERIES[0], "sha")
        want = cf.CancelledError if broken == "cancelled" else BrokenProcessPool
        with pytest.raises(want):
            f.result(timeout=30)
    finally:
        eng.close()


def test_a_photo_whose_cut_fails_gets_that_outcome_and_only_it():
    """The second trip to a worker (the chips cut from the boxes): a pool that breaks under it fails that photo
    with BrokenProcessPool (the Analyzer retries it from the start); a cut that errs is that photo's error."""
    photos = QUERIES[:3]

    def submit_cut(d, boxes, sha, want_body):
        if sha == "sha0":
            raise BrokenProcessPool("the pool broke")
        f: cf.Future = cf.Future()
        if sha == "sha1":
            f.set_result(Analysis(sha256=sha, error="analysis failed: the cut"))
        else:
            f.set_result(engine_device.devicebatch.cut_chips(d, boxes, sha, want_body))
        return f

    eng = DeviceEngine(_in_thread, CFG, False, "cpu", batch_size=8, submit_cut=submit_cut)
    try:
        futures = [eng.submit(p, f"sha{i}") for i, p in enumerate(photos)]
        with pytest.raises(BrokenProcessPool):
            futures[0].result(timeout=120)
        assert futures[1].result(timeout=120).error == "analysis failed: the cut"
        got = futures[2].result(timeout=120)
    finally:
        eng.close()
    want = analyze_path(photos[2], CFG, False, "sha2")
    assert not got.error and got.boxes == want.boxes and np.allclose(got.encodings, want.encodings, atol=1e-6)
    assert not _stage_threads()
