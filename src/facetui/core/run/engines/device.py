"""The device stage of a local run: the worker processes read and decode the photos and cut the face chips; the run's
process detects the faces and computes their descriptors with torch on the device (a GPU), in batches across photos.

When (:func:`stage_device`): the run's detector is ``cnn`` (the torch port of dlib's CNN, models/face/mmod/) and the
descriptor network is the torch port too, the engine is local with more than one worker, and the device setting
resolves to CUDA. ``FACETUI_DEVICE_STAGE=cpu`` forces it with the device "cpu" (tests: the same stages, same
mechanics); ``=off`` keeps the whole analysis in the CPU workers (an A/B switch for the GPU check).

Per photo: a worker reads and decodes it (``worker.decode_in_worker``: analyze_path's errors, the
FACETUI_TEST_WORKER_DIES_ON hook); the detect thread here gathers what is decoded, up to ``batch_size`` photos
(the run's ``kb_batch_size``) without waiting for more than is ready, and runs the detector once over them
(``MmodDetector.detect_batch``: one network call per photo size); each photo goes back to a worker with its
boxes to have its chips, their sharpness and its body crops cut (``worker.cut_in_worker``: dlib's cutting holds
the interpreter lock, which this process needs for the stage and the writer; README, "On a GPU box", has the
measurement); the encode thread gathers the cut photos the same way, encodes every chip of the batch in one call
of the descriptor network on the device (with the mirror images, as the CPU path does), and sets each photo's
Future. The body crops stay in the Analysis for the run to embed, as for any photo analysed on a GPU box.

Faults: a photo that cannot be read or decoded is its own error Analysis; an exception in a batch's detection or
encoding is retried photo by photo, so only the photo that raises it gets an error Analysis; a worker process that
dies fails its photo's Future with BrokenProcessPool, which the Analyzer retries from the start in a fresh pool as
for the local engine. ``close`` cancels what is queued and returns without waiting for a batch in progress for
longer than CLOSE_WAIT_S (the threads then end after it, setting nothing anyone waits for).

The results are the CPU run's: on "cpu" the stage uses the very detector and network objects the CPU path uses;
on CUDA both run in IEEE float32 (TF32 off). So the face-model cache key is the CPU run's.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...models.analyze import Analysis, Decoded, FaceConfig
from ...models.face import detect as face_detect
from ...models.face import encode as face_encode
from ...models.face import preload as face_preload
from . import devicebatch
from .local import Feeder, WorkerPool

STAGE_ENV = "FACETUI_DEVICE_STAGE"  # "cpu": the stage on the CPU (tests); "off": never the stage
THREAD = "facetui-device-stage"  # both of the stage's threads
POLL_S = 0.1  # how often an idle stage thread looks for a close
CLOSE_WAIT_S = 2.0  # how long close() waits for a batch in progress


def stage_device(detector: str, device_pref: str, workers: int) -> str | None:
    """The torch device of the device stage for a local run with these settings, or None where the run does without
    it (the worker processes then analyse each photo whole). Imports torch only where the detector is cnn and the
    device may be a GPU."""
    force = os.environ.get(STAGE_ENV, "")
    if force == "off" or detector != "cnn" or workers <= 1:
        return None
    if not (face_detect.torch_cnn_wanted() and face_encode.torch_encoder_wanted()):
        return None  # dlib's own CNN or encoder: their results, their cache entries, in the workers
    if force == "cpu":
        return "cpu"
    from ...models.body.encoder import resolve_device
    from ...models.body.osnet import BodyModelError
    from ...models.body.setup import cheap_device

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
    cut: cf.Future | None = None  # the worker's Analysis with the chips cut, still to encode


def _settle(f: cf.Future, result: Analysis | None = None, exc: BaseException | None = None) -> None:
    if f.done():
        return
    if exc is not None:
        f.set_exception(exc)
    else:
        f.set_result(result)


def _outcome(job: _Job, f: cf.Future, closing: bool) -> object | None:
    """A worker's result for ``job``, or None where the job is settled by it (cancelled, failed, an error)."""
    if closing or f.cancelled():
        _settle(job.out, exc=cf.CancelledError())
        return None
    exc = f.exception()
    if exc is not None:  # BrokenProcessPool included: the Analyzer retries that photo in a fresh pool
        _settle(job.out, exc=exc)
        return None
    r = f.result()
    if isinstance(r, Analysis) and r.error:  # unreadable, undecodable, or the chips could not be cut
        _settle(job.out, r)
        return None
    return r


def cut_here(d: Decoded, boxes: list, sha: str, want_body: bool) -> cf.Future:
    """Cut a photo's chips in this thread (where there is no worker pool to cut them: tests)."""
    f: cf.Future = cf.Future()
    f.set_result(devicebatch.cut_chips(d, boxes, sha, want_body))
    return f


class DeviceEngine:
    """The Engine of the device stage: ``submit_decode(path, sha)`` sends a photo to the worker pool to be decoded
    (a decode-only WorkerPool's ``submit``), ``submit_cut(decoded, boxes, sha, want_body)`` sends it back with its
    face boxes to have its chips cut (``cut_here``: in this thread, for tests without a pool)."""

    def __init__(
        self,
        submit_decode: Callable[[Path, str], cf.Future],
        cfg: FaceConfig,
        want_body: bool,
        device: str,
        batch_size: int = 16,
        submit_cut: Callable[[Decoded, list, str, bool], cf.Future] = cut_here,
    ):
        self._feeder = Feeder(submit_decode)  # starting the pool never holds up the run's thread
        self._submit_cut = submit_cut
        self.cfg, self.want_body, self.device = cfg, want_body, device
        self.batch_size = max(1, batch_size)
        self._pool: WorkerPool | None = None  # the pool this engine shuts on close (on_pool)
        self._decoded: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._cut: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(self._decoded, self._detect), name=THREAD, daemon=True),
            threading.Thread(target=self._loop, args=(self._cut, self._encode), name=THREAD, daemon=True),
        ]
        for t in self._threads:
            t.start()

    @classmethod
    def on_pool(cls, pool: WorkerPool, device: str, batch_size: int) -> DeviceEngine:
        """The stage over ``pool`` (decode-only workers), which it shuts when it closes."""
        eng = cls(pool.submit, pool.face_cfg, pool.want_body, device, batch_size, pool.submit_cut)
        eng._pool = pool
        return eng

    @property
    def capacity(self) -> int:
        """Photos the stage works on at once: a batch being detected and one being encoded."""
        return 2 * self.batch_size

    @property
    def cores_used(self) -> int:
        return self._pool.workers if self._pool is not None else 0

    @property
    def embeds_bodies(self) -> bool:
        return False  # the body crops come back to be embedded on the device, in the run's batches

    def take_notices(self) -> list[str]:
        return []

    def describe(self) -> dict[str, Any]:
        workers = self._pool.workers if self._pool is not None else 0
        return {"name": "local", "workers": workers, "started": True, "stage": "device", "device": self.device}

    def submit(self, path: Path, sha: str) -> cf.Future:
        out: cf.Future = cf.Future()
        decoded = self._feeder.submit(path, sha)
        decoded.add_done_callback(lambda f: self._enqueue(self._decoded, _Job(path, sha, out, f)))
        return out

    def _enqueue(self, q: queue.SimpleQueue, job: _Job) -> None:
        """Hand a job on to a stage thread, or cancel it where the stage is closed (its threads gone)."""
        if self._closing.is_set():
            _settle(job.out, exc=cf.CancelledError())
        else:
            q.put(job)

    def close(self) -> None:
        """Stop: photos not yet through are cancelled, then the pool (where on_pool gave one) is shut."""
        self._closing.set()
        self._feeder.close()
        for t in self._threads:
            t.join(CLOSE_WAIT_S)
        for q in (self._decoded, self._cut):
            while True:
                try:
                    job = q.get_nowait()
                except queue.Empty:
                    break
                _settle(job.out, exc=cf.CancelledError())
        if self._pool is not None:
            self._pool.shutdown()

    def _loop(self, source: queue.SimpleQueue, step) -> None:
        while True:
            jobs = self._gather(source)
            if jobs is None:
                return
            try:
                step(jobs)
            except BaseException as e:  # never leave a photo without an outcome: the run raises it where it waits
                for j in jobs:
                    _settle(j.out, exc=e)

    def _gather(self, source: queue.SimpleQueue) -> list[_Job] | None:
        """The next batch: at least one job, and whatever else is ready, up to batch_size; None on close."""
        jobs: list[_Job] = []
        while not jobs:
            if self._closing.is_set():
                return None
            try:
                jobs.append(source.get(timeout=POLL_S))
            except queue.Empty:
                pass
        while len(jobs) < self.batch_size:
            try:
                jobs.append(source.get_nowait())
            except queue.Empty:
                break
        return jobs

    def _detect(self, jobs: list[_Job]) -> None:
        """Detect the faces of a batch of decoded photos on the device, then send each to a worker to be cut."""
        items = [(j, d) for j in jobs if (d := _outcome(j, j.decoded, self._closing.is_set())) is not None]
        if not items:
            return
        det = face_preload.models_on(self.device)[0]  # loaded at the first batch (FaceModelError fails the batch)
        found = devicebatch.detect([(j.sha, d) for j, d in items], self.cfg, det)
        for (j, d), boxes in zip(items, found):
            if isinstance(boxes, Analysis):
                _settle(j.out, boxes)
                continue
            try:
                j.cut = self._submit_cut(d, boxes, j.sha, self.want_body)
            except BaseException as e:  # a broken pool: the Analyzer retries the photo in a fresh one
                _settle(j.out, exc=e)
                continue
            j.cut.add_done_callback(lambda _f, j=j: self._enqueue(self._cut, j))

    def _encode(self, jobs: list[_Job]) -> None:
        """Encode the chips of a batch of cut photos on the device, and hand each photo its Analysis."""
        items = [(j, a) for j in jobs if (a := _outcome(j, j.cut, self._closing.is_set())) is not None]
        if not items:
            return
        results = devicebatch.encode([(j.sha, a) for j, a in items], self.device)
        for (j, _), a in zip(items, results):
            _settle(j.out, a)
