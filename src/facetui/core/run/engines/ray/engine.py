"""Ray as the engine of the per-photo map: the same worker function as the local pool, run by actors on a cluster.

The driver (this process) stays the single writer: it hashes, looks up the cache, decides, files and reports, as
with the local engine. Only the map (decode, detect, encode, body crops or embeddings) runs on the cluster, one
actor per CPU it may use, each with the face models loaded once.

Why Ray Core actors and not Ray Data: the driver already streams photos in order with back-pressure (the
Analyzer's window), and Ray Data's fault model does not fit facetui's (a step that raises fails the dataset,
``max_errored_blocks`` drops whole batches with their good rows, a photo that kills its worker is retried without
end, and a cancel is seen only when the next row arrives). An actor call per photo gives each photo its own
outcome: a bad photo is a result with an error, a photo that kills its worker is retried once and then reported,
and an abort fails the futures in flight at once.

With GPUs on the cluster, these actors prepare each photo and GPU actors finish it in batches (gpu.py).

The actors' slots (started, up, replaced when they die, a watchdog for a cluster with no room) are slots.py's,
shared with the GPU actors.

Ray is an optional extra (``pip install 'facetui[ray]'``), imported only when this engine is asked for.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections import deque
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ....models.analyze import Analysis, FaceConfig
from ..worker import worker_env
from . import gpu
from .cluster import Cluster, cluster_failure, connect, import_ray, stop
from .slots import ActorSlots, Slot

if TYPE_CHECKING:
    from ..base import EngineConfig

TASK_RETRIES = 1  # a photo whose worker died is tried once more on a fresh worker, then reported
DIED = "the analysis worker died on this photo (out of memory, or a crash in dlib)"
# the photos waiting when no worker is up slots.REFILL_WAIT_S after a replacement, and every later one
NO_WORKER = "no analysis worker could be started on the cluster (its nodes lost, or no room for one)"
DIED_ON_GPU = "the GPU worker died with this photo in its batch, twice (out of GPU memory, or a crash)"


def _make_actor_class(ray):
    @ray.remote(max_restarts=0, max_task_retries=0)  # facetui replaces dead workers and retries photos itself
    class AnalysisWorker:
        """One worker: the face models loaded once, then one photo per call (the local pool's worker function)."""

        def __init__(self, detector: str, env: dict[str, str], body) -> None:
            from facetui.core.models.runtime import prepared
            from facetui.core.run.engines import worker

            # this node's own folder of prepared models (dlib's detector, the ONNX networks), set by its environment
            worker.worker_init(detector, env, body, prepared.machine_dir())

        def analyze(self, path: Path, cfg: FaceConfig, want_body: bool, sha: str) -> Analysis:
            from facetui.core.run.engines import worker

            return worker.analyze_in_worker(path, cfg, want_body, sha)

        @ray.method(num_returns=2)
        def prepare(self, path: Path, cfg: FaceConfig, want_body: bool, sha: str):
            """For the GPU stage (gpu.py): (finished Analysis or None, what a GPU actor finishes)."""
            from facetui.core.run.engines import worker

            return worker.prepare_in_worker(path, cfg, want_body, sha)

    return AnalysisWorker


@dataclass
class _Slot(Slot):
    """A CPU actor's place (slots.Slot), and whether a photo is on it."""

    busy: bool = False


class RayEngine(ActorSlots):
    """``submit(path, sha)`` returns at once with a Future of the photo's Analysis; ``close()`` stops everything.

    Connecting and starting the actors happens in a thread of its own, so cached photos are filed meanwhile and
    ``close()`` (an abort) returns at once even during start-up. Each worker has one photo at a time (the rest
    wait here, in order), so a worker that dies takes only its own photo with it: that photo is tried once more
    on a fresh worker and then reported, and the dead worker is replaced. A Future never raises for a photo: an
    error, a worker that died twice on it, or a failed call becomes an Analysis with an error (``transient``, so
    it is not cached and a rerun tries again). Only failing to reach the cluster raises.
    """

    name = "ray"
    none_up = NO_WORKER
    none_left = "no analysis worker left on the cluster"

    def __init__(
        self,
        face_cfg: FaceConfig,
        want_body: bool,
        workers: int,
        address: str,
        env: dict[str, str],
        body=None,
        gpu_fraction: float = 0.0,
        batch_size: int = 16,
    ) -> None:
        """``body``: (body.osnet.BodySpec, batch size) when the workers embed the crops they cut (OSNet on their
        CPU, or on the GPU actors' GPUs; the weights file at the same path on every node), else None (the crops
        come back). ``gpu_fraction``: a GPU actor's share of a GPU where the cluster has GPUs (gpu.py)."""
        self.face_cfg = face_cfg
        self.want_body = want_body
        self.workers = workers
        self.address = address
        self.env = env
        self.body = body
        self.gpu_fraction, self.batch_size = gpu_fraction, batch_size
        self._gpu: gpu.GpuStage | None = None  # GPU actors, where the cluster has GPUs
        self.cluster: Cluster | None = None
        self._lock = threading.Lock()
        self._ready = False
        self._closing = False
        self._error: BaseException | None = None
        self._slots: list[_Slot] = []
        self._queue: deque[tuple[Path, str, cf.Future, int]] = deque()  # (path, sha, Future, tries so far)
        self._inflight: dict[cf.Future, object] = {}  # our Future -> Ray's ObjectRef
        self._cancel = threading.Event()  # set by close(): a start-up in progress gives up
        self._ray = import_ray()  # fails here, at set-up, when the extra is missing
        self._started = threading.Event()
        self._starter = threading.Thread(target=self._start, name="facetui-ray-start", daemon=True)
        self._starter.start()

    @classmethod
    def for_run(cls, cfg: EngineConfig, face_cfg: FaceConfig, body: Any) -> RayEngine:
        """The engine for a run (base.create_engine): ``body`` the run's body encoder (None: body recognition off);
        the actors embed the crops they cut where it has a spec they can load (on their own CPU or GPU)."""
        spec = getattr(body, "spec", lambda: None)()
        return cls(
            face_cfg,
            body is not None,
            cfg.workers,  # 0: one actor per CPU of the cluster, not of this machine
            cfg.ray_address,
            worker_env(),
            None if spec is None else (spec, cfg.batch_size),
            gpu_fraction=cfg.ray_gpu_fraction,
            batch_size=cfg.batch_size,
        )

    # -- start-up ------------------------------------------------------------------------------------------
    def _start(self) -> None:
        try:
            self.cluster = connect(self.address, self.workers or None, self.env, self._cancel)
            n = self.workers or max(1, int(self.cluster.cpus))
            n = max(1, min(n, int(self.cluster.cpus) or 1))  # never ask for more CPUs than exist: no deadlock
            self._cls = _make_actor_class(self._ray).options(num_cpus=1)
            with self._lock:
                if self._closing:
                    return
                if gpu.applies(self.face_cfg, self.gpu_fraction, self.cluster.node_gpus):
                    self._gpu = gpu.GpuStage(
                        self._ray,
                        self.cluster.node_gpus,
                        self.gpu_fraction,
                        self.face_cfg,
                        self.want_body,
                        self.env,
                        self.body,
                        self.batch_size,
                        self._lost_on_gpu,
                    )
                self._slots = [_Slot(self._new_actor()) for _ in range(n)]
                self._ready = True
                slots = list(self._slots)
            for slot in slots:
                self._watch_up(slot)
        except BaseException as e:  # handed to every Future waiting, and to the next submit
            with self._lock:
                self._error = e
                queued, self._queue = list(self._queue), deque()
            for _p, _sha, f, _n in queued:
                if not f.done():
                    f.set_exception(e)
            return
        finally:
            self._started.set()
        self._pump()

    @property
    def capacity(self) -> int:
        """Photos the cluster works on at once: one per CPU actor, and the batches the GPU actors may hold."""
        on_gpus = self._gpu.capacity if self._gpu is not None else 0
        return len(self._slots) + on_gpus

    @property
    def cores_used(self) -> int:
        return 0  # the actors' cores are the cluster's: this process's threads are left as they are

    @property
    def embeds_bodies(self) -> bool:
        return self.body is not None

    def _new_actor(self):
        if self._gpu is None:
            return self._cls.remote(self.face_cfg.detector, self.env, self.body)
        detector = "" if self.face_cfg.detector == "cnn" else self.face_cfg.detector  # cnn: they only decode
        return self._cls.remote(detector, self.env, None)

    def _ready_ref(self, actor):
        return actor.__ray_ready__.remote()  # answers once the actor has started (its models loaded)

    def _drain(self) -> list[tuple[str, cf.Future]]:
        queued, self._queue = list(self._queue), deque()
        return [(sha, f) for _p, sha, f, _n in queued]

    # -- the map -------------------------------------------------------------------------------------------
    def submit(self, path: Path, sha: str) -> cf.Future:
        f: cf.Future = cf.Future()
        with self._lock:
            if self._error is not None:
                f.set_exception(self._error)
                return f
            if self._starved:
                f.set_result(Analysis(sha256=sha, transient=True, error=self._starved))
                return f
            self._queue.append((path, sha, f, 0))
        self._pump()
        return f

    def _pump(self) -> None:
        """Give each idle worker the next photo waiting."""
        sent = []
        with self._lock:
            if self._closing or not self._ready:
                return
            for slot in self._slots:
                if not self._queue:
                    break
                if slot.actor is None or slot.busy or not slot.up:
                    continue
                job = self._queue.popleft()
                path, sha, f, _tries = job
                slot.busy = True
                payload = None
                if self._gpu is None:
                    ref = slot.actor.analyze.remote(path, self.face_cfg, self.want_body, sha)
                else:  # a small status, and the payload a GPU actor takes by reference
                    ref, payload = slot.actor.prepare.remote(path, self.face_cfg, self.want_body, sha)
                self._inflight[f] = ref
                sent.append((ref, job, slot, slot.actor, payload))
        for ref, job, slot, actor, payload in sent:  # outside the lock: a callback on a finished call runs at once
            ref.future().add_done_callback(partial(self._done, job=job, slot=slot, actor=actor, payload=payload))

    def _done(self, rf: cf.Future, job: tuple, slot: _Slot, actor: object, payload=None) -> None:
        try:
            self._settle(rf, job, slot, actor, payload)
        except BaseException as e:  # never leave the run waiting on a photo (a done-callback's error is only logged)
            _path, sha, f, _tries = job
            if not f.done():
                f.set_result(Analysis(sha256=sha, transient=True, error=f"analysis failed on the cluster: {e}"))

    def _settle(self, rf: cf.Future, job: tuple, slot: _Slot, actor: object, payload) -> None:
        path, sha, f, tries = job
        with self._lock:
            slot.busy = False
            self._inflight.pop(f, None)
            closing = self._closing
        if closing or rf.cancelled():
            f.cancel()
            return
        exc = rf.exception()
        if exc is None:
            r = rf.result()
            if r is None and payload is not None and self._gpu is not None:
                self._gpu.put(job, payload)  # on to a GPU actor
            else:
                f.set_result(r)
        elif isinstance(exc, self._ray.exceptions.RayActorError):  # the worker died with this photo on it
            self._replace(slot, actor)
            if tries < TASK_RETRIES:
                with self._lock:
                    self._queue.appendleft((path, sha, f, tries + 1))
            else:
                f.set_result(Analysis(sha256=sha, transient=True, error=DIED))
        else:
            f.set_result(Analysis(sha256=sha, transient=True, error=cluster_failure(exc)))
        self._pump()

    def _lost_on_gpu(self, job: tuple) -> None:
        """A photo whose GPU batch was lost (its GPU actor died, or its pixels with their node): redone from the
        start once, then reported."""
        path, sha, f, tries = job
        if tries < TASK_RETRIES:
            with self._lock:
                self._queue.appendleft((path, sha, f, tries + 1))
            self._pump()
        elif not f.done():
            f.set_result(Analysis(sha256=sha, transient=True, error=DIED_ON_GPU))

    # -- the end -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop: photos not yet analysed are cancelled, the workers are stopped; returns without waiting for
        a slow start-up (its thread sees the flag and starts nothing)."""
        self._cancel.set()
        with self._lock:
            self._closing = True
            inflight = list(self._inflight.items())
            self._inflight.clear()
            queued, self._queue = list(self._queue), deque()
            actors = [s.actor for s in self._slots if s.actor is not None]
            self._slots = []
        if self._gpu is not None:
            self._gpu.close()
        for f, _ref in inflight:
            f.cancel()
        for _p, _sha, f, _n in queued:
            f.cancel()
        stop(self._ray, [ref for _f, ref in inflight], actors)

    def take_notices(self) -> list[str]:
        """What the run should say once, since the last call (from the GPU actors)."""
        return self._gpu.take_notices() if self._gpu is not None else []

    def describe(self, wait: bool = False) -> dict[str, Any]:
        """For the manifest: the engine and the cluster it ran on (``wait``: for the connection to be made)."""
        if wait:
            self._started.wait()
        if self.cluster is None:
            return {"name": "ray", "address": self.address, "started": True, "connected": False}
        gpus = self._gpu.describe() if self._gpu is not None else {}
        return {"started": True, **self.cluster.describe(), **gpus}
