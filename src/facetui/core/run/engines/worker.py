"""What a worker process runs (the local engine's pool, and the Ray engine's actors): how it starts, and what it
does per photo: the whole analysis (with the body embeddings too where it embeds them), or a share of it for a
device (read and decode; cut the chips from the device's boxes; prepare a photo for a Ray GPU actor)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ...models.analyze import Analysis, Decoded, FaceConfig, analyze_path, decode_path
from ...models.body.osnet import BodySpec
from ...models.body.setup import encoder_for
from .devicebatch import cut_chips, embed_bodies

ENV_PREFIX = "FACETUI_"  # settings and test hooks a worker must see as they are now, not as its forkserver saw them
DIES_ENV = "FACETUI_TEST_WORKER_DIES_ON"  # test hook: a photo's name on which its worker process exits at once
# test hook: a folder; a worker given a photo writes a file named by its pid there, then holds the photo until a file
# named "release" appears there (a worker busy with a photo when the run's process is killed or stopped)
HOLD_ENV = "FACETUI_TEST_WORKER_HOLD"


def worker_env() -> dict[str, str]:
    """This process's FACETUI_* variables, handed to each worker as they are now (whichever engine runs it)."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


_START_CPU: float | None = None  # CPU seconds a worker spent starting (interpreter, imports, models); reported once
_BODY: tuple[BodySpec, int] | None = None  # (OSNet to embed this worker's crops with, batch size); None: crops go back


def worker_init(
    detector: str,
    env: dict[str, str],
    body: tuple[BodySpec, int] | None = None,
    prepared_dir: Path | None = None,
) -> None:
    """Set up one worker: the run's environment, one torch thread, the face models (from ``prepared_dir``, this
    machine's prepared copies, where they are there; none for ``detector`` "": a worker that only decodes);
    OSNet loads at the first crop."""
    global _START_CPU, _BODY
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        del os.environ[key]
    os.environ.update(env)
    from ...models.face import preload as face_preload
    from ...models.runtime import prepared
    from ...models.workers.start import torch_in_workers

    prepared.use_dir(prepared_dir)

    if torch_in_workers(body is not None):
        try:
            import torch  # the face descriptor network and OSNet run in torch

            torch.set_num_threads(1)  # one worker per core: threads of its own would only fight the others
        except ImportError:
            pass
    _BODY = body
    if detector:
        face_preload.load_face_models(detector)  # load the models once per worker
    _START_CPU = time.process_time()


def analyze_in_worker(path: Path, cfg: FaceConfig, want_body: bool, sha: str) -> Analysis:
    """One photo in a worker: its Analysis, with its body embeddings instead of its crops where this worker embeds
    them (a failed OSNet load raises BodyModelError, which the run's thread gets from the Future)."""
    _test_hook(path)
    t = time.perf_counter()
    a = analyze_path(path, cfg, want_body, sha)
    if _BODY is not None and a.body_crops:
        spec, batch_size = _BODY
        enc = encoder_for(spec)
        if not enc.loaded:
            c = time.process_time()
            enc.ready()
            a.timings["body_load"] = time.process_time() - c
        embed_bodies([a], enc, batch_size)  # the pixels stay here: only the embeddings go back
    a.timings["worker_wall"] = time.perf_counter() - t  # busy time: with the loop's length it tells worker idling
    _started(a.timings)
    return a


def _started(tm: dict[str, float]) -> None:
    """Put the CPU seconds this worker spent starting into its first photo's timings."""
    global _START_CPU
    if _START_CPU is not None:
        tm["worker_start"] = _START_CPU
        _START_CPU = None


def _test_hook(path: Path) -> None:
    if os.environ.get(DIES_ENV) == Path(path).name:
        os._exit(70)  # test hook: a worker killed on this photo (as by the OOM killer or a crash in native code)
    hold = os.environ.get(HOLD_ENV)
    if hold:
        Path(hold, str(os.getpid())).write_text(Path(path).name)
        while not Path(hold, "release").exists():
            time.sleep(0.05)


def decode_in_worker(path: Path, cfg: FaceConfig, want_body: bool, sha: str) -> Decoded | Analysis:
    """One photo in a worker of the device stage (device.py): read and decode only, with analyze_path's
    errors (an Analysis with ``error`` set); detection, chips and descriptors follow in the run's process."""
    _test_hook(path)
    t = time.perf_counter()
    tm: dict[str, float] = {}
    img = decode_path(path, cfg, sha, tm)
    if isinstance(img, Analysis):
        return img
    tm["worker_wall"] = time.perf_counter() - t
    _started(tm)
    return Decoded(img, tm)


def cut_in_worker(d: Decoded, boxes: list, sha: str, want_body: bool) -> Analysis:
    """The device stage's second step in a worker (device.py): a decoded photo's chips, their sharpness and
    the body crops, cut from the face boxes the device found; the chips go back to be encoded on the device."""
    t = time.perf_counter()
    a = cut_chips(d, boxes, sha, want_body)
    a.timings["worker_wall"] = a.timings.get("worker_wall", 0.0) + time.perf_counter() - t
    return a


def prepare_in_worker(path: Path, cfg: FaceConfig, want_body: bool, sha: str) -> tuple[Analysis | None, object]:
    """One photo in a CPU actor of the Ray engine's GPU stage (ray/gpu.py): (its finished Analysis, None) where
    nothing is left for a GPU (an error, or no face and no body crop found), else (None, what the GPU actor
    finishes): the decoded photo for the cnn detector, or for hog the Analysis with its chips cut and its body
    crops (descriptors and body embeddings to come)."""
    if cfg.detector == "cnn":
        d = decode_in_worker(path, cfg, want_body, sha)
        return (d, None) if isinstance(d, Analysis) else (None, d)
    _test_hook(path)
    t = time.perf_counter()
    a = analyze_path(path, cfg, want_body, sha, encode=False)
    a.timings["worker_wall"] = time.perf_counter() - t
    _started(a.timings)
    if a.error or not (a.chips or a.body_crops):
        a.chips = None
        return a, None
    return None, a
