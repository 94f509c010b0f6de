"""The device stage of a local run: the worker processes only read and decode; the run's process detects the faces
and computes their descriptors with torch on the device (a GPU), in batches across photos.

When (:func:`stage_device`): the run's detector is ``cnn`` (the torch port of dlib's CNN, mmod_net.py) and the
descriptor network is the torch port too, the engine is local with more than one worker, and the device setting
resolves to CUDA. ``FACETUI_DEVICE_STAGE=cpu`` forces it with the device "cpu" (tests: the same stages, same
mechanics); ``=off`` keeps the whole analysis in the CPU workers (an A/B switch for the GPU check).

Per photo: a worker reads and decodes it (``workers.decode_in_worker``: analyze_path's errors, the
FACETUI_TEST_WORKER_DIES_ON hook); the stage thread here gathers what is decoded, up to ``batch_size`` photos
(the run's ``kb_batch_size``) without waiting for more than is ready, runs the detector once over them
(``MmodDetector.detect_batch``: one network call per photo size), cuts each photo's chips, sharpness and body
crops on the CPU (``analyze_image``; dlib's chip cutting holds the GIL, 2 threads measured no faster than 1, so it
runs in this thread), encodes every chip of the batch in one call of the descriptor network on the device (with
the mirror images, as the CPU path does), and sets each photo's Future. The body crops stay in the Analysis for
the run to embed, as for any photo analysed on a GPU box.

Faults: a photo that cannot be read or decoded is its own error Analysis; an exception in a batch's detection or
encoding is retried photo by photo, so only the photo that raises it gets an error Analysis; a worker process that
dies fails its photo's Future with BrokenProcessPool, which the Analyzer retries in a fresh pool as for the local
engine (pool.Analyzer._resolve). ``close`` cancels what is queued and returns without waiting for a batch in
progress for longer than CLOSE_WAIT_S (the thread then ends after it, setting nothing anyone waits for).

The results are the CPU run's: on "cpu" the stage uses the very detector and network objects the CPU path uses;
on CUDA both run in IEEE float32 (TF32 off). So the face-model cache key is the CPU run's.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from ..models import faces as facemod
from ..models.analyze import Analysis, FaceConfig
from . import devicebatch
from .workers import Decoded, Feeder

STAGE_ENV = "FACETUI_DEVICE_STAGE"  # "cpu": the stage on the CPU (tests); "off": never the stage
POLL_S = 0.1  # how often the idle stage thread looks for a close
CLOSE_WAIT_S = 2.0  # how long close() waits for a batch in progress


def stage_device(detector: str, device_pref: str, engine: str, workers: int) -> str | None:
    """The torch device of the device stage for a run with these settings, or None where the run does without it
    (the worker processes then analyse each photo whole). Imports torch only where the detector is cnn and the
    device may be a GPU."""
    force = os.environ.get(STAGE_ENV, "")
    if force == "off" or detector != "cnn" or engine != "local" or workers <= 1:
        return None
    if not (facemod.torch_cnn_wanted() and facemod.torch_encoder_wanted()):
        return None  # dlib's own CNN or encoder: their results, their cache entries, in the workers
    if force == "cpu":
        return "cpu"
    from ..models.bodies import BodyModelError, resolve_device
    from ..models.bodysetup import cheap_device

    if cheap_device(device_pref) == "cpu":
        return None
    try:
        return "cuda" if resolve_device(device_pref) == "cuda" else None
    except BodyModelError:  # "cuda" asked for without a GPU: the body set-up says so; the faces go to the CPU
        return None


@dataclass
class _Job:
    path: Path
    sha: str
    out: cf.Future  # what the run waits for: the photo's Analysis
    decoded: cf.Future  # the worker's Decoded, or its error Analysis


def _settle(f: cf.Future, result: Analysis | None = None, exc: BaseException | None = None) -> None:
    if f.done():
        return
    if exc is not None:
        f.set_exception(exc)
    else:
        f.set_result(result)


class DeviceEngine:
    """The engine seam (``submit``/``close``, as workers.Feeder and engine_ray.RayEngine): ``submit_decode(path,
    sha)`` sends a photo to the worker pool to be decoded (pool.Analyzer._submit with decode-only workers)."""

    def __init__(self, submit_decode, cfg: FaceConfig, want_body: bool, device: str, batch_size: int = 16):
        self._feeder = Feeder(submit_decode)  # starting the pool never holds up the run's thread
        self.cfg, self.want_body, self.device = cfg, want_body, device
        self.batch_size = max(1, batch_size)
        self._ready: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="facetui-device-stage", daemon=True)
        self._thread.start()

    def submit(self, path: Path, sha: str) -> cf.Future:
        out: cf.Future = cf.Future()
        decoded = self._feeder.submit(path, sha)
        decoded.add_done_callback(lambda f: self._ready.put(_Job(path, sha, out, f)))
        return out

    def close(self) -> None:
        """Stop: photos not yet through are cancelled; the pool itself is the Analyzer's to shut."""
        self._closing.set()
        self._feeder.close()
        self._thread.join(CLOSE_WAIT_S)
        self._cancel_queued()

    def _cancel_queued(self) -> None:
        while True:
            try:
                job = self._ready.get_nowait()
            except queue.Empty:
                return
            _settle(job.out, exc=cf.CancelledError())

    def _loop(self) -> None:
        while True:
            jobs = self._gather()
            if jobs is None:
                return
            try:
                self._run_batch(jobs)
            except BaseException as e:  # never leave a photo without an outcome: the run raises it where it waits
                for j in jobs:
                    _settle(j.out, exc=e)

    def _gather(self) -> list[_Job] | None:
        """The next batch: at least one decoded photo, and whatever else is ready, up to batch_size; None on close."""
        jobs: list[_Job] = []
        while not jobs:
            if self._closing.is_set():
                return None
            try:
                jobs.append(self._ready.get(timeout=POLL_S))
            except queue.Empty:
                pass
        while len(jobs) < self.batch_size:
            try:
                jobs.append(self._ready.get_nowait())
            except queue.Empty:
                break
        return jobs

    def _run_batch(self, jobs: list[_Job]) -> None:
        images: list[tuple[_Job, Decoded]] = []
        for j in jobs:
            f = j.decoded
            if self._closing.is_set() or f.cancelled():
                _settle(j.out, exc=cf.CancelledError())
                continue
            exc = f.exception()
            if exc is not None:  # BrokenProcessPool included: the Analyzer retries that photo in a fresh pool
                _settle(j.out, exc=exc)
                continue
            r = f.result()
            if isinstance(r, Analysis):  # unreadable or undecodable: its own error
                _settle(j.out, r)
            else:
                images.append((j, r))
        if not images:
            return
        results = devicebatch.finish([(j.sha, d) for j, d in images], self.cfg, self.want_body, self.device)
        for (j, _), a in zip(images, results):
            _settle(j.out, a)
