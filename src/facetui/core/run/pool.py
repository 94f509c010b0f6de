"""Streams photos through analysis: content hash, cache look-up, worker processes, batched body embeddings, in input order."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing
import os
import queue
import stat
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ..models.analyze import Analysis, FaceConfig, analyze_path
from ..stores.cache import EmbeddingCache
from .timings import Timings


@dataclass
class Item:
    """One photo on its way through: its analysis and, when body recognition is on, one embedding per region."""

    path: Path
    analysis: Analysis
    body: np.ndarray | None = None
    cached: bool = False


def hash_file(path: Path) -> tuple[str, str]:
    """(sha256, error): the error is a one-line reason when the file cannot be read."""
    h = hashlib.sha256()
    try:
        # O_NONBLOCK + S_ISREG: a FIFO or device named like a photo must not hang the run waiting for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as f:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                return "", "is a folder, not a file"
            if not stat.S_ISREG(mode):
                return "", "not a regular file (a FIFO, socket or device)"
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except PermissionError:
        return "", "permission denied"
    except IsADirectoryError:
        return "", "is a folder, not a file"
    except FileNotFoundError:
        return "", "file vanished before it could be read (or is a broken link)"
    except OSError as e:
        return "", f"cannot read file: {e.strerror or e}"
    return h.hexdigest(), ""


def default_workers(setting: int) -> int:
    if setting > 0:
        return setting
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


_START_CPU: float | None = None  # CPU seconds a worker spent starting (interpreter, imports, models); reported once


_ENV_PREFIX = "FACETUI_"  # settings and test hooks a worker must see as they are now, not as its forkserver saw them


def _pool_context() -> multiprocessing.context.BaseContext:
    """Worker processes forked from a server that has already imported dlib, numpy and (for the face descriptor
    network) torch, once per facetui process: a worker then starts in a fraction of a second instead of importing
    torch itself (about 1 s of CPU on a CPU build, several on a CUDA build, times one per core). The server is a
    fresh interpreter, so the app's threads are never forked. 'spawn' where there is no forkserver."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from ..models import faces

    ctx = multiprocessing.get_context("forkserver")
    preload = ["numpy", "PIL.Image", "dlib", "facetui.core.models.analyze"]
    if faces.torch_encoder_wanted():
        preload += ["torch", "facetui.core.models.face_net"]
    ctx.set_forkserver_preload(preload)  # takes effect when the server starts (the first pool of this process)
    return ctx


def _worker_init(detector: str, env: dict[str, str]) -> None:
    global _START_CPU
    for key in [k for k in os.environ if k.startswith(_ENV_PREFIX)]:
        del os.environ[key]
    os.environ.update(env)
    from ..models import faces

    if faces.torch_encoder_wanted():
        try:
            import torch  # the face descriptor network runs in torch

            torch.set_num_threads(1)  # one worker per core: threads of its own would only fight the others
        except ImportError:
            pass
    faces.load_face_models(detector)  # load the models once per worker
    _START_CPU = time.process_time()


def _analyze_in_worker(path: Path, cfg: FaceConfig, want_body: bool, sha: str) -> Analysis:
    global _START_CPU
    if os.environ.get("FACETUI_TEST_WORKER_DIES_ON") == Path(path).name:
        os._exit(70)  # test hook: a worker killed on this photo (as by the OOM killer or a crash in native code)
    t = time.perf_counter()
    a = analyze_path(path, cfg, want_body, sha)
    a.timings["worker_wall"] = time.perf_counter() - t  # busy time: with the loop's length it tells worker idling
    if _START_CPU is not None:
        a.timings["worker_start"] = _START_CPU
        _START_CPU = None
    return a


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


class _Feeder:
    """Sends photos to the worker pool from a thread of its own: starting the pool (the forkserver imports dlib and
    torch, each worker loads the face models: seconds on 2 cores) then never holds up the run's own thread, which
    goes on hashing, looking up and filing the photos that need no worker. ``submit`` returns at once with a
    Future that takes the worker's outcome."""

    def __init__(self, submit) -> None:
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


class Analyzer:
    """Maps paths to Items. Misses go to a pool of processes (dlib holds the GIL); hits never decode."""

    @classmethod
    def for_settings(cls, settings, cache: EmbeddingCache, body, timings: Timings | None = None) -> Analyzer:
        """The Analyzer a run with these settings uses (recognize, kb build and eval alike); ``body`` is the
        run's bodysetup.BodySetup."""
        return cls(
            FaceConfig.of(settings),
            cache,
            body.encoder,
            body.key,
            settings.workers,
            settings.kb_batch_size,
            timings=timings,
        )

    def __init__(
        self,
        face_cfg: FaceConfig,
        cache: EmbeddingCache,
        body_encoder=None,
        body_key: str = "",
        workers: int = 0,
        batch_size: int = 16,
        timings: Timings | None = None,
    ):
        """``timings``, when given, accumulates CPU seconds per stage (hash, cache, decode, detect, encode, body...)."""
        self.timings = timings
        self.face_cfg = face_cfg
        self.face_key = face_cfg.key()
        self.cache = cache
        self.body = body_encoder
        self.body_key = body_key
        self.workers = default_workers(workers)
        self.batch_size = max(1, batch_size)
        self._pool = None
        self._pool_lock = threading.Lock()
        self._feeder: _Feeder | None = None
        self._torch_threads: int | None = None  # torch's thread count to restore after the run
        self._cores_shared = False

    def _add(self, stage: str, seconds: float) -> None:
        if self.timings is not None:
            self.timings.add(stage, seconds)

    def _from_cache(self, sha: str) -> Item | None:
        a = self.cache.get_analysis(sha, self.face_key)
        if a is None:
            return None
        if self.body is None or a.error:
            return Item(Path(), a, None, True)
        regions = max(1, len(a.boxes))
        emb = self.cache.get_body(sha, self.body_key, regions)
        if emb is None:
            return None
        return Item(Path(), a, emb, True)

    def run(self, paths: list[Path], cancel: threading.Event | None = None) -> Iterator[Item]:
        """Yield one Item per path, in order; stops early (after the file in hand) once ``cancel`` is set."""
        cancel = cancel or threading.Event()
        self._pool = None
        window = self.workers * 3
        pending: deque[tuple[Path, str, object]] = deque()  # (path, sha, Item | Future)
        todo = iter(paths)
        exhausted = False
        self._torch_threads: int | None = None
        self._cores_shared = False
        try:
            while True:
                while not exhausted and len(pending) < window and not cancel.is_set():
                    p = next(todo, None)
                    if p is None:
                        exhausted = True
                        break
                    t0 = time.thread_time()
                    sha, err = hash_file(p)
                    t1 = time.thread_time()
                    self._add("hash", t1 - t0)
                    if err:
                        pending.append((p, sha, Item(p, Analysis(sha256="", error=err))))
                        continue
                    hit = self._from_cache(sha)
                    self._add("cache", time.thread_time() - t1)
                    if hit is not None:
                        hit.path = p
                        pending.append((p, sha, hit))
                        continue
                    self._first_miss()
                    if self.workers > 1 and len(paths) > 1:
                        if self._feeder is None:
                            self._feeder = _Feeder(self._submit)
                        pending.append((p, sha, self._feeder.submit(p, sha)))
                    else:
                        pending.append((p, sha, None))  # analysed inline when it reaches the head
                if not pending or cancel.is_set():
                    return
                staged = self._stage(pending, cancel)
                self._embed_bodies(staged)
                for it in staged:
                    if cancel.is_set():
                        return
                    yield it
        finally:
            if self._feeder is not None:
                self._feeder.close()
                self._feeder = None
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            if self._torch_threads is not None:
                import torch  # already loaded: the body encoder uses it

                torch.set_num_threads(self._torch_threads)
                self._torch_threads = None

    def _first_miss(self) -> None:
        """A photo needs analysing: start loading the body model in the background (a LazyBodyEncoder loads
        nothing before this, so a run whose photos are all cached never imports torch)."""
        start = getattr(self.body, "start", None)
        if start is not None:
            start()

    def _submit(self, p: Path, sha: str) -> cf.Future:
        """Send one photo to the worker pool, starting a fresh pool when there is none or the last one broke."""
        with self._pool_lock:
            return self._submit_locked(p, sha)

    def _submit_locked(self, p: Path, sha: str) -> cf.Future:
        for _attempt in (1, 2):
            if self._pool is None:
                env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIX)}
                self._pool = cf.ProcessPoolExecutor(
                    self.workers,
                    mp_context=_pool_context(),
                    initializer=_worker_init,
                    initargs=(self.face_cfg.detector, env),
                )
            try:
                return self._pool.submit(_analyze_in_worker, p, self.face_cfg, self.body is not None, sha)
            except cf.process.BrokenProcessPool:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
        raise RuntimeError("cannot start analysis worker processes")

    def _share_cores(self) -> int | None:
        """While worker processes keep the cores busy, give OSNet in this process only the cores they leave.

        torch's intra-op threads spin-wait at every layer; on cores that dlib workers already fill they burn CPU
        the workers need (measured on 2 cores, 2 workers: 2 torch threads cost several times the CPU per crop of one).
        Returns the thread count to restore afterwards, or None when nothing was changed.
        """
        if self.body is None or str(getattr(self.body, "device", "cpu")) != "cpu":
            return None
        import torch  # already loaded: the body encoder uses it

        before = torch.get_num_threads()
        want = max(1, default_workers(0) - self.workers)
        if want >= before:
            return None
        torch.set_num_threads(want)
        return before

    def _resolve(self, p: Path, sha: str, x: object) -> Item:
        if isinstance(x, Item):
            return x
        if x is None:
            a = analyze_path(p, self.face_cfg, self.body is not None, sha)
        else:
            t = time.perf_counter()
            try:
                a = x.result()  # type: ignore[union-attr]
            except cf.process.BrokenProcessPool:
                # A worker died, which fails every photo in flight in that pool: give each one more try in a
                # fresh pool; the photo that kills a worker twice is reported, and the run goes on.
                try:
                    retry = self._feeder.submit(p, sha) if self._feeder is not None else self._submit(p, sha)
                    a = retry.result()
                except cf.process.BrokenProcessPool:
                    a = Analysis(
                        sha256=sha,
                        transient=True,
                        error="the analysis worker died on this photo (out of memory, or a crash in dlib)",
                    )
            self._add("wait_wall", time.perf_counter() - t)
        for stage, seconds in a.timings.items():
            self._add(stage, seconds)
        if not a.transient:
            t = time.thread_time()
            self.cache.put_analysis(a, self.face_key)
            self._add("cache", time.thread_time() - t)
        return Item(p, a)

    def _stage(self, pending: deque, cancel: threading.Event) -> list[Item]:
        """Take items off the head, enough to fill one body batch when body recognition is on.

        On the CPU a batch takes what is finished (OSNet per crop costs about the same at any batch size, and
        the log keeps moving); on a GPU, where one call of 16 crops costs about what one of 1 does, it waits
        for the photos in flight until the batch is full: those workers are busy anyway.
        """
        staged: list[Item] = []
        crops = 0
        fill = self.body is not None and str(getattr(self.body, "device", "cpu")) != "cpu"
        while pending:
            p, sha, x = pending[0]
            if staged and cancel.is_set():
                break
            if staged and isinstance(x, cf.Future) and not x.done() and not fill:
                break  # do not hold finished items back waiting for a slow one
            pending.popleft()
            it = self._resolve(p, sha, x)
            staged.append(it)
            if self.body is None:
                break
            if it.body is None and it.analysis.body_crops:
                crops += len(it.analysis.body_crops)
            if crops >= self.batch_size:
                break
        return staged

    def _embed_bodies(self, staged: list[Item]) -> None:
        if self.body is None:
            return
        need = [it for it in staged if it.body is None and it.analysis.body_crops]
        if not need:
            return
        crops = [c for it in need for c in it.analysis.body_crops]
        ready = getattr(self.body, "ready", None)
        if ready is not None:
            w = time.perf_counter()
            ready()  # waits for the background load (raises bodies.BodyModelError if it failed)
            self._add("body_load_wait_wall", time.perf_counter() - w)
        if self._pool is not None and not self._cores_shared:
            self._cores_shared = True
            self._torch_threads = self._share_cores()
        t, w = time.process_time(), time.perf_counter()  # process time: torch's own threads count too
        emb = self.body.embed(crops, batch_size=self.batch_size)
        self._add("body", time.process_time() - t)
        self._add("body_wall", time.perf_counter() - w)
        self._add("body_crops", len(crops))
        t = time.thread_time()
        i = 0
        for it in need:
            n = len(it.analysis.body_crops)
            it.body = emb[i : i + n]
            i += n
            it.analysis.body_crops = None  # free the pixels
            self.cache.put_body(it.analysis.sha256, self.body_key, it.body)
        self._add("cache", time.thread_time() - t)
