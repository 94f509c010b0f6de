"""The device's share of the analysis, in batches across photos: detection, chips and descriptors of decoded photos,
descriptors of photos whose chips a CPU worker cut, and body embeddings. Used by the local device stage
(engine_device.py) and by the Ray engine's GPU actors (ray_gpu.py).

Faults: an exception in a batch is retried photo by photo, so only the photo that raises it gets an error Analysis;
a face model that cannot be loaded (FaceModelError) raises, since it fails every photo alike.
"""

from __future__ import annotations

import time

import numpy as np

from ..models import faces as facemod
from ..models.analyze import Analysis, FaceConfig, analyze_image, failed
from .workers import Decoded

Pending = Decoded | Analysis  # a photo to detect, or one with its chips cut (Analysis.chips) to encode


def finish(items: list[tuple[str, Pending]], cfg: FaceConfig, want_body: bool, device: str) -> list[Analysis]:
    """The Analyses of ``items`` ((sha, pending) pairs): one detector call over the decoded photos, one descriptor
    call over every chip, on ``device`` (models loaded once per process: faces.models_on)."""
    det, net = facemod.models_on(device)
    try:
        return _finish(items, cfg, want_body, det, net)
    except facemod.FaceModelError:
        raise
    except Exception:  # one photo spoilt the batch: each photo alone, so only the one that fails errs
        return [_alone(item, cfg, want_body, det, net) for item in items]


def _alone(item: tuple[str, Pending], cfg: FaceConfig, want_body: bool, det, net) -> Analysis:
    try:
        return _finish([item], cfg, want_body, det, net)[0]
    except facemod.FaceModelError:
        raise
    except Exception as e:
        return failed(item[0], e)


def _finish(items: list[tuple[str, Pending]], cfg: FaceConfig, want_body: bool, det, net) -> list[Analysis]:
    clock = time.thread_time  # CPU seconds of this thread, shared out evenly (a GPU's time is not in them)
    decoded = [(i, d) for i, (_sha, d) in enumerate(items) if isinstance(d, Decoded)]
    out: list[Analysis | None] = [None if isinstance(p, Decoded) else p for _sha, p in items]
    if decoded:
        t = clock()
        found = det.detect_batch([d.image.rgb for _, d in decoded], cfg.upsample)
        share = (clock() - t) / len(decoded)
        for (i, d), dets in zip(decoded, found):
            tm = dict(d.timings, detect=share)
            h, w = d.image.rgb.shape[:2]
            boxes = facemod.trim(dets, w, h)
            out[i] = analyze_image(d.image, boxes, items[i][0], want_body, tm, encode=False)
    done = [a for a in out if a is not None]
    t = clock()
    enc = facemod.encode_chips([c for a in done for c in a.chips or []], net=net)
    share = (clock() - t) / max(1, len(done))
    i = 0
    for a in done:
        n = len(a.chips or [])
        a.encodings = np.ascontiguousarray(enc[i : i + n]) if n else np.zeros((0, 128), dtype=np.float64)
        a.chips = None
        a.timings["encode"] = a.timings.get("encode", 0.0) + share
        i += n
    return done


def embed_bodies(analyses: list[Analysis], encoder, batch_size: int) -> None:
    """Replace the body crops of ``analyses`` by their embeddings (Analysis.body_emb), all crops in batches of
    ``batch_size`` (a bodies.BodyEncoder or a bodysetup.LazyBodyEncoder; its load errors raise)."""
    need = [a for a in analyses if a.body_crops]
    if not need:
        return
    t = time.process_time()
    emb = encoder.embed([c for a in need for c in a.body_crops], batch_size=batch_size)
    share = (time.process_time() - t) / len(need)
    i = 0
    for a in need:
        n = len(a.body_crops)
        a.body_emb = emb[i : i + n]
        a.timings["body"] = share
        a.timings["body_crops"] = n
        a.body_crops = None
        i += n
