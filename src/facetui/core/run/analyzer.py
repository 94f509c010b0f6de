"""Streams photos through analysis: content hash, cache look-up, an engine for the misses (engines/), batched body
embeddings, in input order.

The Analyzer asks ``engines.create_engine`` for the run's engine at its first cache miss and sees it only through
the ``engines.Engine`` Protocol (submit, close, capacity, notices); hashing, the cache, the order and the body
batches of this process are the same for every engine, and so is everything after it (decide, file, report,
events).
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

from ..models.analyze import Analysis, FaceConfig, analyze_path
from ..models.workers.start import default_workers
from ..stores.cache import EmbeddingCache
from .engines import Engine, EngineConfig, create_engine
from .timings import Timings

Pending = tuple[Path, str, "Item | cf.Future | None"]  # (path, sha, its Item, its Future, or None: analyse here)


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
    """Maps paths to Items, in order. Misses go to the run's engine (engines.create_engine); hits never decode."""

    @classmethod
    def for_settings(cls, settings, cache: EmbeddingCache, body, timings: Timings | None = None) -> Analyzer:
        """The Analyzer a run with these settings uses (recognize, kb build and eval alike); ``body`` is the
        run's body.setup.BodySetup."""
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
        self.timings = timings if timings is not None else Timings.off()
        self.face_cfg = face_cfg
        self.face_key = face_cfg.key()
        self.cache = cache
        self.body = body_encoder
        self.body_key = body_key
        self.workers = default_workers(workers)
        self.batch_size = max(1, batch_size)
        self.engine_cfg = EngineConfig(
            name=engine,
            workers=workers,
            local_workers=self.workers,
            batch_size=self.batch_size,
            device=device,
            ray_address=ray_address,
            ray_gpu_fraction=ray_gpu_fraction,
        )
        self._engine: Engine | None = None  # the engine of this run, made at the first miss (None: analysed here)
        self._engine_asked = False
        self.engine_info: dict = {"name": engine, "started": False}  # for the run manifest
        self.on_engine_closed = None  # called with engine_info when the run's engine has stopped
        self._torch_threads: int | None = None  # torch's thread count to restore after the run
        self._cores_shared = False

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

    def analyze(self, paths: list[Path], cancel: threading.Event | None = None) -> Iterator[Item]:
        """Yield one Item per path, in order; stops early (after the file in hand) once ``cancel`` is set."""
        cancel = cancel or threading.Event()
        pending: deque[Pending] = deque()
        todo = iter(paths)
        self._torch_threads = None
        self._cores_shared = False
        self._engine, self._engine_asked = None, False
        try:
            while True:
                self._fill(pending, todo, len(paths), cancel)
                if not pending or cancel.is_set():
                    return
                staged = self._stage(pending, cancel)
                self._embed_bodies(staged)
                for it in staged:
                    if cancel.is_set():
                        return
                    yield it
        finally:
            self._close()

    def _fill(self, pending: deque[Pending], todo: Iterator[Path], n_paths: int, cancel: threading.Event) -> None:
        """Hash and look up photos until the window is full: a hit (or an unreadable file) goes in as its Item, a
        miss as the engine's Future (None where there is no engine: analysed when it reaches the head)."""
        while len(pending) < self._window() and not cancel.is_set():
            p = next(todo, None)
            if p is None:
                return
            t0 = time.thread_time()
            sha, err = hash_file(p)
            t1 = time.thread_time()
            self.timings.add("hash", t1 - t0)
            if err:
                pending.append((p, sha, Item(p, Analysis(sha256="", error=err))))
                continue
            hit = self._from_cache(sha)
            self.timings.add("cache", time.thread_time() - t1)
            if hit is not None:
                hit.path = p
                pending.append((p, sha, hit))
                continue
            if not self._engine_asked:
                self._first_miss(n_paths)
            pending.append((p, sha, self._engine.submit(p, sha) if self._engine is not None else None))

    def _close(self) -> None:
        """The run's end: its engine closed (and described for the manifest), torch's threads given back."""
        if self._engine is not None:
            self._engine.close()
            self.engine_info = self._engine.describe()
            self._engine = None
            if self.on_engine_closed is not None:
                self.on_engine_closed(self.engine_info)
        if self._torch_threads is not None:
            import torch  # already loaded: the body encoder uses it

            torch.set_num_threads(self._torch_threads)
            self._torch_threads = None

    def take_notices(self) -> list[str]:
        """What the engine has to say once during the run (e.g. GPU actors that came up on a CPU), since the last
        call; the job yields each as a warning."""
        return self._engine.take_notices() if self._engine is not None else []

    def _window(self) -> int:
        """How many photos may be in flight: three per local worker, or twice what the engine can work on at
        once where that is more (a Ray cluster's actors, the batches of GPU actors or of the device stage)."""
        return max(self.workers * 3, 2 * self._engine.capacity if self._engine is not None else 0)

    def _first_miss(self, n_paths: int) -> None:
        """A photo needs analysing: make the run's engine, and start loading the body model in the background
        where this process embeds the crops (a LazyBodyEncoder loads nothing before this, so a run whose photos are
        all cached never imports torch; where the engine's workers embed them, this process never does)."""
        self._engine_asked = True
        self._engine = create_engine(self.engine_cfg, self.face_cfg, self.body, n_paths)
        start = getattr(self.body, "start", None)
        if start is not None and not (self._engine is not None and self._engine.embeds_bodies):
            start()

    def _share_cores(self, cores_used: int) -> int | None:
        """While ``cores_used`` worker processes keep the cores busy, give OSNet in this process only the cores they
        leave (torch's intra-op threads spin-wait at every layer and would burn the CPU the workers need). Returns
        the thread count to restore afterwards, or None when nothing was changed."""
        if self.body is None or str(getattr(self.body, "device", "cpu")) != "cpu" or "torch" not in sys.modules:
            return None  # (ONNX Runtime runs OSNet here on one thread: nothing to share)
        import torch  # already loaded: the body encoder uses it

        before = torch.get_num_threads()
        want = max(1, default_workers(0) - cores_used)
        if want >= before:
            return None
        torch.set_num_threads(want)
        return before

    def _resolve(self, p: Path, sha: str, x: Item | cf.Future | None, cancel: threading.Event) -> Item | None:
        """The photo's Item once its analysis is in; None when ``cancel`` is set while waiting for it."""
        if isinstance(x, Item):
            return x
        if x is None:
            a = analyze_path(p, self.face_cfg, self.body is not None, sha)
        else:
            t = time.perf_counter()
            got = self._wait(p, sha, x, cancel)
            if got is None:
                return None
            a = got
            self.timings.add("wait_wall", time.perf_counter() - t)
        for stage, seconds in a.timings.items():
            self.timings.add(stage, seconds)
        body, a.body_emb = a.body_emb, None  # embedded by the worker that cut the crops
        if not a.transient:
            t = time.thread_time()
            self.cache.put_analysis(a, self.face_key)
            if body is not None:
                self.cache.put_body(a.sha256, self.body_key, body)
            self.timings.add("cache", time.thread_time() - t)
        return Item(p, a, body)

    def _wait(self, p: Path, sha: str, f: cf.Future, cancel: threading.Event) -> Analysis | None:
        """The engine's Analysis of one photo; None when ``cancel`` is set while waiting (seen within a quarter of a
        second, however long the engine takes: a slow photo or a cluster still starting) or the engine was closed."""
        try:
            while True:
                try:
                    return f.result(timeout=0.25)
                except cf.TimeoutError:
                    if cancel.is_set():
                        return None
        except cf.CancelledError:  # the engine was closed under it
            return None
        except cf.process.BrokenProcessPool:
            # A worker died, which fails every photo in flight in that pool: give each one more try in a fresh
            # pool; the photo that kills a worker twice is reported, and the run goes on.
            assert self._engine is not None  # a Future came from it
            try:
                return self._engine.submit(p, sha).result()
            except cf.process.BrokenProcessPool:
                return Analysis(
                    sha256=sha,
                    transient=True,
                    error="the analysis worker died on this photo (out of memory, or a crash in dlib)",
                )

    def _stage(self, pending: deque[Pending], cancel: threading.Event) -> list[Item]:
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
            ready()  # waits for the background load (raises BodyModelError if it failed)
            self.timings.add("body_load_wait_wall", time.perf_counter() - w)
        if self._engine is not None and self._engine.cores_used and not self._cores_shared:
            self._cores_shared = True
            self._torch_threads = self._share_cores(self._engine.cores_used)
        t, w = time.process_time(), time.perf_counter()  # process time: torch's own threads count too
        emb = self.body.embed(crops, batch_size=self.batch_size)
        self.timings.add("body", time.process_time() - t)
        self.timings.add("body_wall", time.perf_counter() - w)
        self.timings.add("body_crops", len(crops))
        t = time.thread_time()
        i = 0
        for it in need:
            n = len(it.analysis.body_crops)
            it.body = emb[i : i + n]
            i += n
            it.analysis.body_crops = None  # free the pixels
            self.cache.put_body(it.analysis.sha256, self.body_key, it.body)
        self.timings.add("cache", time.thread_time() - t)
