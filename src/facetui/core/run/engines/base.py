"""The engine seam: what the Analyzer needs of every engine (:class:`Engine`), what a run asks of one
(:class:`EngineConfig`), and the one factory that makes it (:func:`create_engine`)."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ...models.analyze import Analysis, FaceConfig
from . import local
from .device import DeviceEngine, stage_device


class Engine(Protocol):
    """Does the per-photo work (decode, detect, encode, cut the body crops, and maybe embed them) for the photos
    the cache does not have. The Analyzer keeps the rest: hashing, the cache, the order, this process's body
    batches; everything after it (decide, file, report, events) is the same for every engine."""

    @property
    def capacity(self) -> int:
        """How many photos the engine works on at once (the Analyzer keeps up to twice that in flight)."""
        ...

    @property
    def cores_used(self) -> int:
        """How many of this machine's cores its worker processes keep busy (0: none, the work is elsewhere); the
        Analyzer gives the body network in this process only the cores left."""
        ...

    @property
    def embeds_bodies(self) -> bool:
        """True where its Analyses come with their body embeddings (``Analysis.body_emb``) instead of the crops,
        so this process never loads the body network."""
        ...

    def submit(self, path: Path, sha: str) -> cf.Future[Analysis]:
        """Queue one photo (``sha``: its content hash); returns at once. A photo that fails is an Analysis with
        ``error`` set, never an exception. The Future raises only for the engine itself: it could not start
        (a SetupError, a body network that failed to load), it was closed (CancelledError), or a local worker
        process died (BrokenProcessPool: the Analyzer then submits the photo once more)."""
        ...

    def close(self) -> None:
        """Stop: photos not yet started are cancelled (their Futures too) and the workers stopped; the local pool
        waits for the photos its workers hold, the device stage and Ray do not wait for long."""
        ...

    def take_notices(self) -> list[str]:
        """What the run should say once (e.g. GPU actors that came up on a CPU), since the last call."""
        ...

    def describe(self) -> dict[str, Any]:
        """For the run manifest: the engine and what it ran on (called after ``close``; never waits)."""
        ...


@dataclass(frozen=True)
class EngineConfig:
    """What a run asks of its engine: the settings that choose and size it."""

    name: str = "local"  # the engine setting: "local" or "ray"
    workers: int = 0  # the workers setting: 0 is one per core here (on Ray: one actor per CPU of the cluster)
    local_workers: int = 1  # worker processes on this machine (the workers setting resolved: default_workers)
    batch_size: int = 16  # photos per device batch, crops per body batch (kb_batch_size)
    device: str = "auto"  # the device setting (the local device stage takes a GPU)
    ray_address: str = ""  # empty: start a local cluster
    ray_gpu_fraction: float = 0.0  # a GPU actor's share of a GPU (0: no GPU actors)


# What makes an engine: (the run's EngineConfig, FaceConfig, body encoder or None, photo count) -> the engine, or None
Maker = Callable[[EngineConfig, FaceConfig, Any, int], "Engine | None"]


def _local(cfg: EngineConfig, face_cfg: FaceConfig, body: Any, n_paths: int) -> Engine | None:
    """The local engine: the device stage where the run's detector and device call for it, else the worker pool;
    None where one worker or one photo makes a pool not worth its start (the run analyses in its own thread)."""
    workers = cfg.local_workers
    if workers <= 1 or n_paths <= 1:
        return None
    device = stage_device(face_cfg.detector, cfg.device, workers)
    if device is not None:
        pool = local.WorkerPool(workers, face_cfg, body is not None, decode_only=True)
        return DeviceEngine.on_pool(pool, device, cfg.batch_size)
    # the workers embed the crops they cut on the CPU; None: this process does (a GPU, or a device torch must tell)
    spec = getattr(body, "cpu_spec", lambda: None)()
    in_workers = None if spec is None else (spec, cfg.batch_size)
    return local.LocalEngine(local.WorkerPool(workers, face_cfg, body is not None, in_workers))


def _ray(cfg: EngineConfig, face_cfg: FaceConfig, body: Any, n_paths: int) -> Engine:
    """The Ray engine (Ray, an optional extra, is imported only here)."""
    from .ray.engine import RayEngine

    return RayEngine.for_run(cfg, face_cfg, body)


# One line per engine: the value of the ``engine`` setting and what makes it
ENGINES: dict[str, Maker] = {"local": _local, "ray": _ray}


def _ray_installed() -> None:
    from .ray.cluster import import_ray

    import_ray()


# What an engine needs installed, checked before a run starts (an engine not named here needs nothing more)
REQUIRES: dict[str, Callable[[], None]] = {"ray": _ray_installed}


def require_engine(name: str) -> None:
    """A SetupError, before the run does anything else, where the engine named cannot run here (Ray not installed:
    the error says how to install it)."""
    check = REQUIRES.get(name)
    if check is not None:
        check()


def create_engine(cfg: EngineConfig, face_cfg: FaceConfig, body: Any, n_paths: int) -> Engine | None:
    """The engine for a run's cache misses, made at its first miss; None where the run analyses each photo in its
    own thread. ``body`` is the run's body encoder (None: body recognition off), ``n_paths`` its photo count."""
    return ENGINES[cfg.name](cfg, face_cfg, body, n_paths)
