"""The Ray engine's GPU stage: actors that each hold a share of a GPU and finish photos in batches across photos
(the CNN detector on decoded photos, the descriptors of every chip, the body embeddings: devicebatch.py), fed by
the CPU actors of engine.py.

When: the engine is ray, ``ray_gpu_fraction`` > 0 and the cluster has GPUs (:func:`applies`). The CPU actors then
decode only (cnn) or decode, detect and cut the chips and body crops (hog), and return two objects: a small status
(the finished Analysis where nothing is left for a GPU, else None) and the payload. The driver passes the payload's
reference on to a GPU actor, so the pixels go from node to node and never through the driver.

Resources that cannot deadlock: a GPU actor asks for ``fraction`` of one GPU and no CPU; there are as many as fit
on each node's GPUs; a CPU actor asks for one CPU and nothing else. Neither kind waits for what the other holds.
A GPU actor still uses a core to cut chips; it shares the cores with the CPU actors as the OS sees fit.

Batches: each GPU actor has at most IN_FLIGHT batches queued (the next batch's pixels travel while one runs); a
batch takes the payloads waiting, up to ``batch_size``, and never waits for more, so batches grow with the load.

Faults: a batch that raises is retried photo by photo inside the actor; a GPU actor that dies, or payloads lost
with their node, hand the batch's photos back to the engine (``lost``), which redoes each from the start once
and then reports it; the dead actor is replaced (slots.py). With no GPU actor up REFILL_WAIT_S after a
start or a replacement, the photos waiting are reported (transient: a rerun tries again), and so is every later
one until one is up.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections import deque
from dataclasses import dataclass

from ....models.analyze import Analysis, FaceConfig
from ....models.face.detect import torch_cnn_wanted
from ....models.face.encode import torch_encoder_wanted
from .cluster import cluster_failure, stop
from .slots import ActorSlots, Slot

IN_FLIGHT = 2  # batches queued on one GPU actor
NO_GPU_WORKER = "no GPU worker could be started on the cluster (its GPUs taken or its nodes lost)"


def applies(cfg: FaceConfig, fraction: float, node_gpus: tuple[float, ...]) -> bool:
    """Whether a run on a cluster with these GPUs uses GPU actors: only the torch ports run there (dlib's own CNN
    detector or encoder asked for by their environment switches keep the whole analysis on the CPU actors)."""
    if fraction <= 0 or actor_count(node_gpus, fraction) == 0 or not torch_encoder_wanted():
        return False
    return cfg.detector != "cnn" or torch_cnn_wanted()


def actor_count(node_gpus: tuple[float, ...], fraction: float) -> int:
    """How many GPU actors of ``fraction`` of a GPU fit on the nodes' GPUs (each on one GPU of one node)."""
    if fraction <= 0:
        return 0
    return sum(int(g + 1e-9) * int(1 / fraction + 1e-9) for g in node_gpus)


def _make_gpu_class(ray):
    @ray.remote(max_restarts=0, max_task_retries=0)  # facetui replaces dead actors and redoes photos itself
    class GpuWorker:
        """One GPU actor: the face models on its GPU (on the CPU where torch sees none: a test cluster's pretend
        GPU), OSNet loaded at the first body crop, then one batch of photos per call."""

        def __init__(self, env: dict[str, str], body, batch_size: int) -> None:
            from facetui.core.models.runtime import prepared
            from facetui.core.run.engines import worker

            worker.worker_init("", env, None, prepared.machine_dir())
            import torch

            self.device = "cuda" if torch.cuda.is_available() else "cpu"
            self.body, self.batch_size = body, batch_size

        def device_name(self) -> str:
            return self.device

        def finish(self, cfg: FaceConfig, want_body: bool, shas: list[str], *payloads) -> list[Analysis]:
            from facetui.core.run.engines import devicebatch

            out = devicebatch.finish(list(zip(shas, payloads)), cfg, want_body, self.device)
            if self.body is not None:
                from facetui.core.models.body.setup import encoder_for

                devicebatch.embed_bodies(out, encoder_for(self.body, self.device), self.batch_size)
            return out

    return GpuWorker


@dataclass
class _Gpu(Slot):
    """A GPU actor's place (slots.Slot), and how many batches were sent to it and are not yet back."""

    batches: int = 0


def _give(f: cf.Future, a: Analysis) -> None:
    if not f.done():
        f.set_result(a)


CPU_ONLY_NOTICE = (
    "the GPU actors run on the CPU: Ray gave them a GPU but torch on their node has no CUDA "
    "(install a CUDA build of torch there); photos are still analysed, slowly"
)


class GpuStage(ActorSlots):
    """The driver's side of the GPU actors: ``put(job, payload_ref)`` queues a photo a CPU actor prepared (``job``
    is the engine's (path, sha, Future, tries)); its Future gets the Analysis, or ``lost(job)`` is called where its
    batch was lost with a GPU actor or a node."""

    none_up = NO_GPU_WORKER
    none_left = "no GPU worker left on the cluster"

    def __init__(self, ray, node_gpus, fraction: float, cfg: FaceConfig, want_body: bool, env, body, batch_size, lost):
        self._ray, self.cfg, self.want_body = ray, cfg, want_body
        self.fraction, self.batch_size, self._lost = fraction, max(1, batch_size), lost
        self._cls = _make_gpu_class(ray).options(num_gpus=fraction, num_cpus=0)
        self._args = (env, body[0] if body else None, self.batch_size)
        self._lock = threading.Lock()
        self._waiting: deque[tuple[tuple, object]] = deque()  # (job, payload ref)
        self._inflight: dict[object, list[tuple[tuple, object]]] = {}  # batch ref -> its (job, payload ref)s
        self._closing = False
        self.device = ""
        self._notices: list[str] = []  # said once during the run (take_notices)
        self.actors = actor_count(node_gpus, fraction)
        self._slots = [_Gpu(self._new_actor()) for _ in range(self.actors)]
        for slot in self._slots:
            self._watch_up(slot)
        self._arm_watchdog()

    @property
    def capacity(self) -> int:
        """Photos the GPU actors may hold at once (full batches, IN_FLIGHT of them each)."""
        return self.actors * IN_FLIGHT * self.batch_size

    def put(self, job: tuple, payload) -> None:
        with self._lock:
            if self._closing:
                job[2].cancel()
                return
            starved = self._starved
            if not starved:
                self._waiting.append((job, payload))
        if starved:
            _give(job[2], Analysis(sha256=job[1], transient=True, error=starved))
        self._pump()

    def _new_actor(self):
        return self._cls.remote(*self._args)

    def _ready_ref(self, actor):
        return actor.device_name.remote()  # answers once its models are loaded, with the device they are on

    def _came_up(self, slot: Slot, answer: object) -> None:
        if answer != "cuda" and self.device in ("", "cuda"):  # said once, not for each actor
            self._notices.append(CPU_ONLY_NOTICE)
        self.device = str(answer)

    def take_notices(self) -> list[str]:
        """What the run should say once, since the last call (a GPU actor that came up on the CPU)."""
        with self._lock:
            out, self._notices = self._notices, []
        return out

    def _drain(self) -> list[tuple[str, cf.Future]]:
        waiting, self._waiting = list(self._waiting), deque()
        return [(job[1], job[2]) for job, _ in waiting]

    def _pump(self) -> None:
        sent = []
        with self._lock:
            while self._waiting and not self._closing:
                free = [s for s in self._slots if s.actor is not None and s.up and s.batches < IN_FLIGHT]
                if not free:
                    break
                slot = min(free, key=lambda s: s.batches)
                n = min(self.batch_size, len(self._waiting))
                items = [self._waiting.popleft() for _ in range(n)]
                shas = [job[1] for job, _ in items]
                ref = slot.actor.finish.remote(self.cfg, self.want_body, shas, *[p for _, p in items])
                self._inflight[ref] = items
                slot.batches += 1
                sent.append((ref, slot, slot.actor))
        for ref, slot, actor in sent:  # outside the lock: a callback on a finished call runs at once
            ref.future().add_done_callback(lambda rf, r=ref, s=slot, a=actor: self._done(rf, r, s, a))

    def _done(self, rf: cf.Future, ref, slot: _Gpu, actor) -> None:
        with self._lock:
            items = self._inflight.pop(ref, None) or []
            slot.batches = max(0, slot.batches - 1)
            closing = self._closing
        try:
            self._settle(rf, items, slot, actor, closing)
        except BaseException as e:  # never leave the run waiting on a photo
            for job, _ in items:
                _give(job[2], Analysis(sha256=job[1], transient=True, error=f"analysis failed on the cluster: {e}"))
        self._pump()

    def _settle(self, rf: cf.Future, items: list, slot: _Gpu, actor, closing: bool) -> None:
        if closing or rf.cancelled():
            for job, _ in items:
                job[2].cancel()
            return
        exc = rf.exception()
        if exc is None:
            results = list(rf.result())
            for i, (job, _) in enumerate(items):  # one Analysis per photo (an actor that gave fewer: errors)
                got = results[i] if i < len(results) else None
                missing = Analysis(sha256=job[1], transient=True, error="the GPU worker gave no result for this photo")
                _give(job[2], got if isinstance(got, Analysis) else missing)
            return
        errors = self._ray.exceptions
        cause = getattr(exc, "cause", None)
        if isinstance(exc, errors.RayActorError) or isinstance(cause, errors.RayActorError):
            self._replace(slot, actor)
        if isinstance(exc, (errors.RayActorError, errors.ObjectLostError)) or isinstance(
            cause, (errors.RayActorError, errors.ObjectLostError)
        ):
            for job, _ in items:
                self._lost(job)
            return
        for job, _ in items:
            _give(job[2], Analysis(sha256=job[1], transient=True, error=cluster_failure(exc)))

    def close(self) -> None:
        """Cancel the photos here and stop the GPU actors (the engine's close calls this)."""
        with self._lock:
            self._closing = True
            inflight = list(self._inflight.items())
            self._inflight.clear()
            waiting, self._waiting = list(self._waiting), deque()
            actors = [s.actor for s in self._slots if s.actor is not None]
            self._slots = []
        for job, _ in waiting + [it for _, items in inflight for it in items]:
            job[2].cancel()
        stop(self._ray, [ref for ref, _ in inflight], actors)

    def describe(self) -> dict:
        """For the manifest: the GPU actors this run asked for and the device they run on."""
        return {"gpu_actors": self.actors, "gpu_fraction": self.fraction, "gpu_device": self.device or "?"}
