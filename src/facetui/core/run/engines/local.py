"""The local engine: a pool of worker processes on this machine (:class:`WorkerPool`, started at the first photo
it is sent, restarted when a worker dies) and the thread that feeds it (:class:`Feeder`), so that starting the
pool never holds up the run's own thread. The device stage (device.py) uses the same pool and feeder."""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ...models.analyze import Analysis, Decoded, FaceConfig
from ...models.body.osnet import BodySpec
from ...models.runtime import prepared
from ...models.workers.start import worker_context
from .worker import analyze_in_worker, cut_in_worker, decode_in_worker, worker_env, worker_init


class WorkerPool:
    """The run's worker processes: ``submit(path, sha)`` sends a photo to one (its whole analysis, or with
    ``decode_only`` its read and decode), ``submit_cut`` a decoded photo and its face boxes (the device stage's
    second step). The process pool starts at the first photo and again after a worker died (BrokenProcessPool).
    ``body``: (OSNet's spec, batch size) where the workers embed the body crops they cut, else None."""

    def __init__(
        self,
        workers: int,
        face_cfg: FaceConfig,
        want_body: bool,
        body: tuple[BodySpec, int] | None = None,
        decode_only: bool = False,
    ) -> None:
        self.workers, self.face_cfg, self.want_body = workers, face_cfg, want_body
        self.body, self.decode_only = body, decode_only
        self._executor: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, p: Path, sha: str) -> cf.Future:
        """Send one photo to a worker, starting a fresh pool when there is none or the last one broke."""
        with self._lock:
            for _attempt in (1, 2):
                if self._executor is None:
                    self._executor = self._start()
                work = decode_in_worker if self.decode_only else analyze_in_worker
                try:
                    return self._executor.submit(work, p, self.face_cfg, self.want_body, sha)
                except cf.process.BrokenProcessPool:
                    self._executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = None
        raise RuntimeError("cannot start analysis worker processes")

    def _start(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            self.workers,
            mp_context=worker_context(torch_needed=self.body is not None),
            initializer=worker_init,
            initargs=(
                "" if self.decode_only else self.face_cfg.detector,
                worker_env(),
                self.body,
                prepared.current_dir(),
            ),
        )

    def submit_cut(self, d: Decoded, boxes: list, sha: str, want_body: bool) -> cf.Future:
        """Send a decoded photo and its face boxes to a worker to cut its chips (BrokenProcessPool where the pool
        is gone: the photo is then retried from the start in a fresh one)."""
        with self._lock:
            if self._executor is None:
                raise cf.process.BrokenProcessPool("the worker pool was shut down")
            return self._executor.submit(cut_in_worker, d, boxes, sha, want_body)

    def shutdown(self) -> None:
        """Stop the workers: photos not yet started are cancelled; waits for the ones in hand."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _chain(outer: cf.Future, inner: cf.Future) -> None:
    """Hand ``inner``'s outcome to ``outer`` (a done callback)."""
    if inner.cancelled():
        outer.set_exception(cf.CancelledError())
        return
    exc = inner.exception()
    if exc is not None:
        outer.set_exception(exc)
    else:
        outer.set_result(inner.result())


class Feeder:
    """Sends photos to ``submit`` (a WorkerPool's) from a thread of its own: starting the pool (the forkserver
    imports dlib and torch, each worker loads the face models: seconds) then never holds up the run's own thread,
    which goes on hashing, looking up and filing the photos that need no worker. ``submit`` returns at once with a
    Future that takes the worker's outcome."""

    def __init__(self, submit: Callable[[Path, str], cf.Future]) -> None:
        self._submit = submit
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="facetui-pool-feeder", daemon=True)
        self._thread.start()

    def submit(self, p: Path, sha: str) -> cf.Future:
        f: cf.Future = cf.Future()
        self._jobs.put((p, sha, f))
        return f

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            p, sha, f = job
            if self._closing:
                f.cancel()
                continue
            if not f.set_running_or_notify_cancel():
                continue
            try:
                inner = self._submit(p, sha)
            except BaseException as e:  # the run's thread raises it where it waits for this photo
                f.set_exception(e)
                continue
            inner.add_done_callback(partial(_chain, f))

    def close(self) -> None:
        """Stop feeding: photos not yet sent are cancelled; returns once the thread is gone."""
        self._closing = True
        self._jobs.put(None)
        self._thread.join()


class LocalEngine:
    """The Engine of a local run: each photo analysed whole by a worker process (and its body crops embedded
    there too where ``pool.body`` says so)."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._feeder = Feeder(pool.submit)

    @property
    def capacity(self) -> int:
        return self._pool.workers

    @property
    def cores_used(self) -> int:
        return self._pool.workers

    @property
    def embeds_bodies(self) -> bool:
        return self._pool.body is not None

    def submit(self, path: Path, sha: str) -> cf.Future[Analysis]:
        return self._feeder.submit(path, sha)

    def close(self) -> None:
        self._feeder.close()
        self._pool.shutdown()

    def take_notices(self) -> list[str]:
        return []

    def describe(self) -> dict[str, Any]:
        return {"name": "local", "workers": self._pool.workers, "started": True}
