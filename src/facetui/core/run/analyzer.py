"""Streams photos through analysis: content hash, cache look-up, an engine for the misses, batched body embeddings,
in input order.

The engine seam: an engine has ``submit(path, sha) -> Future[Analysis]`` (returns at once) and ``close()``. The
local engine is the worker processes (``workers.Feeder`` over a process pool, below), or with the CNN detector on
a GPU the device stage (``engine_device.DeviceEngine``: the workers decode and cut the chips, this process detects
and encodes on the GPU); ``engine_ray.RayEngine`` runs the same worker function on a Ray cluster. Everything else
here (hashing, the cache, order, body batches) and after it (decide, file, report, events) is the same for all.

Why it is long: the Analyzer is one loop (a window of photos in flight, cache hits in order with misses, the body
batches) whose steps share its state; the workers' side and the engines are already apart (workers.py,
engine_ray.py).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models import prepared
from ..models.analyze import Analysis, FaceConfig, analyze_path
from ..models.workerstart import default_workers, worker_context
from ..stores.cache import EmbeddingCache
from .engines.device import DeviceEngine, stage_device
from .engines.worker import Feeder, analyze_in_worker, cut_in_worker, decode_in_worker, worker_env, worker_init
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
            engine=settings.engine,
            ray_address=settings.ray_address,
            device=settings.device,
            ray_gpu_fraction=settings.ray_gpu_fraction,
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
        engine: str = "local",
        ray_address: str = "",
        device: str = "auto",
        ray_gpu_fraction: float = 0.0,
    ):
        """``timings``, when given, accumulates CPU seconds per stage (hash, cache, decode, detect, encode, body...).
        ``engine`` "ray" sends the misses to a Ray cluster (``ray_address``; empty starts a local one; with GPUs
        there, ``ray_gpu_fraction`` of one per GPU actor)."""
        self.timings = timings
        self.face_cfg = face_cfg
        self.face_key = face_cfg.key()
        self.cache = cache
        self.body = body_encoder
        self.body_key = body_key
        self.workers = default_workers(workers)
        self.workers_setting = workers  # 0 on a Ray cluster: one actor per CPU of the cluster, not of this machine
        self.batch_size = max(1, batch_size)
        self._pool = None
        self._pool_lock = threading.Lock()
        self._engine = None  # the engine of this run (Feeder or RayEngine), made at the first miss
        self.engine = engine
        self.ray_address = ray_address
        self.ray_gpu_fraction = ray_gpu_fraction
        self.device_pref = device  # the run's device setting: a GPU takes the device stage (engine_device.py)
        self._decode_only = False  # the workers only decode (the device stage)
        self.engine_info: dict = {"name": engine, "started": False}  # for the run manifest
        self.on_engine_closed = None  # called with engine_info when the run's engine has stopped
        self._worker_body = None  # (bodysetup.BodySpec, batch size) when the workers embed the crops they cut
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
        pending: deque[tuple[Path, str, object]] = deque()  # (path, sha, Item | Future)
        todo = iter(paths)
        exhausted = False
        self._torch_threads: int | None = None
        self._cores_shared = False
        self._decode_only = False
        self._worker_body = self._body_in_workers(len(paths), remote=self.engine == "ray")
        try:
            while True:
                while not exhausted and len(pending) < self._window() and not cancel.is_set():
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
                    if self.engine == "ray" or (self.workers > 1 and len(paths) > 1):
                        if self._engine is None:
                            self._engine = self._start_engine()
                        pending.append((p, sha, self._engine.submit(p, sha)))
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
            if self._engine is not None:
                self._engine.close()
                if self.engine == "ray":
                    self.engine_info = self._engine.describe(wait=False)
                self._engine = None
                if self.on_engine_closed is not None:
                    self.on_engine_closed(self.engine_info)
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            if self._torch_threads is not None:
                import torch  # already loaded: the body encoder uses it

                torch.set_num_threads(self._torch_threads)
                self._torch_threads = None

    def take_notices(self) -> list[str]:
        """What the engine has to say once during the run (e.g. GPU actors that came up on a CPU), since the last
        call; the job yields each as a warning."""
        take = getattr(self._engine, "take_notices", None)
        return take() if take is not None else []

    def _window(self) -> int:
        """How many photos may be in flight: three per local worker, or twice what the engine can work on at
        once where that is more (a Ray cluster's actors, the batches of GPU actors or of the device stage)."""
        return max(self.workers * 3, 2 * getattr(self._engine, "capacity", 0))

    def _start_engine(self):
        """The engine for this run's misses: the local worker processes, or the Ray cluster."""
        if self.engine == "ray":
            from .engines.ray.engine import RayEngine

            env = worker_env()
            want_body = self.body is not None
            eng = RayEngine(
                self.face_cfg,
                want_body,
                self.workers_setting,
                self.ray_address,
                env,
                self._worker_body,
                gpu_fraction=self.ray_gpu_fraction,
                batch_size=self.batch_size,
            )
            self.engine_info = {"name": "ray", "address": self.ray_address, "started": True}
            return eng
        self.engine_info = {"name": "local", "workers": self.workers, "started": True}
        dev = stage_device(self.face_cfg.detector, self.device_pref, self.engine, self.workers)
        if dev is not None:  # the workers decode; this process embeds the body crops
            self._decode_only, self._worker_body = True, None
            self.engine_info.update(stage="device", device=dev)
            want_body = self.body is not None
            return DeviceEngine(self._submit, self.face_cfg, want_body, dev, self.batch_size, self._submit_cut)
        return Feeder(self._submit)

    def _body_in_workers(self, n_paths: int, remote: bool = False):
        """(spec, batch size) when the worker processes embed the crops they cut: on the CPU, where OSNet (~50 ms
        of CPU per crop) in this process alone would be the whole run's limit on small photos while the workers
        wait; None where this process embeds them (no pool, a GPU, or a device only torch can tell)."""
        if self.body is None or ((self.workers <= 1 or n_paths <= 1) and not remote):
            return None
        # a cluster's actors embed on their own devices (their CPU, or a GPU actor's GPU), whatever this one has
        spec = getattr(self.body, "spec" if remote else "cpu_spec", lambda: None)()
        return None if spec is None else (spec, self.batch_size)

    def _first_miss(self) -> None:
        """A photo needs analysing: start loading the body model in the background where this process embeds the
        crops (a LazyBodyEncoder loads nothing before this, so a run whose photos are all cached never imports
        torch; where the workers embed them, this process never does)."""
        start = getattr(self.body, "start", None)
        if start is not None and self._worker_body is None:
            start()

    def _submit(self, p: Path, sha: str) -> cf.Future:
        """Send one photo to the worker pool, starting a fresh pool when there is none or the last one broke."""
        with self._pool_lock:
            return self._submit_locked(p, sha)

    def _submit_locked(self, p: Path, sha: str) -> cf.Future:
        for _attempt in (1, 2):
            if self._pool is None:
                env = worker_env()
                self._pool = cf.ProcessPoolExecutor(
                    self.workers,
                    mp_context=worker_context(torch_needed=self._worker_body is not None),
                    initializer=worker_init,
                    initargs=(
                        "" if self._decode_only else self.face_cfg.detector,
                        env,
                        self._worker_body,
                        prepared.current_dir(),
                    ),
                )
            work = decode_in_worker if self._decode_only else analyze_in_worker
            try:
                return self._pool.submit(work, p, self.face_cfg, self.body is not None, sha)
            except cf.process.BrokenProcessPool:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
        raise RuntimeError("cannot start analysis worker processes")

    def _submit_cut(self, d, boxes: list, sha: str, want_body: bool) -> cf.Future:
        """The device stage's second step: send a decoded photo and its face boxes to a worker to cut its chips
        (BrokenProcessPool where the pool is gone: the photo is then retried from the start in a fresh one)."""
        with self._pool_lock:
            if self._pool is None:
                raise cf.process.BrokenProcessPool("the worker pool was shut down")
            return self._pool.submit(cut_in_worker, d, boxes, sha, want_body)

    def _share_cores(self) -> int | None:
        """While worker processes keep the cores busy, give OSNet in this process only the cores they leave.

        torch's intra-op threads spin-wait at every layer; on cores that dlib workers already fill they burn CPU
        the workers need (measured on 2 cores, 2 workers: 2 torch threads cost several times the CPU per crop of one).
        Returns the thread count to restore afterwards, or None when nothing was changed.
        """
        if self.body is None or str(getattr(self.body, "device", "cpu")) != "cpu" or "torch" not in sys.modules:
            return None  # (ONNX Runtime runs OSNet here on one thread: nothing to share)
        import torch  # already loaded: the body encoder uses it

        before = torch.get_num_threads()
        want = max(1, default_workers(0) - self.workers)
        if want >= before:
            return None
        torch.set_num_threads(want)
        return before

    def _resolve(self, p: Path, sha: str, x: object, cancel: threading.Event) -> Item | None:
        """The photo's Item once its analysis is in; None when ``cancel`` is set while waiting for it (seen within
        a quarter of a second, however long the engine takes: a slow photo or a cluster still starting)."""
        if isinstance(x, Item):
            return x
        if x is None:
            a = analyze_path(p, self.face_cfg, self.body is not None, sha)
        else:
            t = time.perf_counter()
            try:
                while True:
                    try:
                        a = x.result(timeout=0.25)  # type: ignore[union-attr]
                        break
                    except cf.TimeoutError:
                        if cancel.is_set():
                            return None
            except cf.CancelledError:  # the engine was closed under it
                return None
            except cf.process.BrokenProcessPool:
                # A worker died, which fails every photo in flight in that pool: give each one more try in a
                # fresh pool; the photo that kills a worker twice is reported, and the run goes on.
                try:
                    retry = self._engine.submit(p, sha) if self._engine is not None else self._submit(p, sha)
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
        body, a.body_emb = a.body_emb, None  # embedded by the worker that cut the crops
        if not a.transient:
            t = time.thread_time()
            self.cache.put_analysis(a, self.face_key)
            if body is not None:
                self.cache.put_body(a.sha256, self.body_key, body)
            self._add("cache", time.thread_time() - t)
        return Item(p, a, body)

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
            it = self._resolve(p, sha, x, cancel)
            if it is None:
                break  # aborted while waiting: the photo stays unfiled, as if never started
            pending.popleft()
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
