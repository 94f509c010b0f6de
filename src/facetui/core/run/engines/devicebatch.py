"""The device's share of the analysis, in batches across photos: detection of decoded photos, descriptors of
the chips cut from them, body embeddings; and the CPU step between, cutting the chips. Used by the local device
stage (device.py: the workers cut the chips) and by the Ray engine's GPU actors (ray/gpu.py: all here).

Faults: an exception in a batch is retried photo by photo, so only the photo that raises it gets an error Analysis;
a face model that cannot be loaded (FaceModelError) raises, since it fails every photo alike.
"""

from __future__ import annotations

import time

import numpy as np

from ...models.analyze import Analysis, Decoded, FaceConfig, analyze_image, failed
from ...models.face.detect import Box, trim
from ...models.face.encode import encode_chips
from ...models.face.files import FaceModelError
from ...models.face.preload import models_on

Pending = Decoded | Analysis  # a photo to detect, or one with its chips cut (Analysis.chips) to encode


def finish(items: list[tuple[str, Pending]], cfg: FaceConfig, want_body: bool, device: str) -> list[Analysis]:
    """The Analyses of ``items`` ((sha, pending) pairs), all in this process: one detector call over the decoded
    photos, their chips cut here, one descriptor call over every chip, on ``device`` (models loaded once per
    process: faces.models_on)."""
    det = models_on(device)[0]
    decoded = [(sha, p) for sha, p in items if isinstance(p, Decoded)]
    found = iter(detect(decoded, cfg, det))
    cut: list[tuple[str, Analysis]] = []
    for sha, p in items:
        if isinstance(p, Decoded):
            boxes = next(found)
            p = boxes if isinstance(boxes, Analysis) else cut_chips(p, boxes, sha, want_body)
        cut.append((sha, p))
    return encode(cut, device)


def detect(items: list[tuple[str, Decoded]], cfg: FaceConfig, det) -> list[list[Box] | Analysis]:
    """Each decoded photo's face boxes (in its pixels) from one detector call per photo size, or the error
    Analysis of a photo whose detection raised (a batch that raises is retried photo by photo). The detection's
    CPU seconds, shared out evenly, go into each photo's timings."""
    if not items:
        return []
    t = time.thread_time()  # this thread's CPU (a GPU's time is not in it)
    try:
        found: list = det.detect_batch([d.image.rgb for _, d in items], cfg.upsample)
    except FaceModelError:
        raise
    except Exception:
        found = [_detect_alone(sha, d, cfg, det) for sha, d in items]
    share = (time.thread_time() - t) / len(items)
    out: list[list[Box] | Analysis] = []
    for (_sha, d), dets in zip(items, found):
        d.timings["detect"] = share
        h, w = d.image.rgb.shape[:2]
        out.append(dets if isinstance(dets, Analysis) else trim(dets, w, h))
    return out


def _detect_alone(sha: str, d: Decoded, cfg: FaceConfig, det) -> list | Analysis:
    try:
        return det.detect_batch([d.image.rgb], cfg.upsample)[0]
    except FaceModelError:
        raise
    except Exception as e:
        return failed(sha, e)


def cut_chips(d: Decoded, boxes: list[Box], sha: str, want_body: bool) -> Analysis:
    """A decoded photo's Analysis from its face boxes, its chips still to encode (analyze_image without encoding;
    an error Analysis where that raises)."""
    try:
        return analyze_image(d.image, boxes, sha, want_body, d.timings, encode=False)
    except FaceModelError:
        raise
    except Exception as e:
        return failed(sha, e)


def encode(items: list[tuple[str, Analysis]], device: str) -> list[Analysis]:
    """The Analyses with their chips encoded: one descriptor call over every chip of the batch (with a batch that
    raises, each photo alone: only the photo that raises gets an error Analysis)."""
    net = models_on(device)[1]
    try:
        return _encode([a for _, a in items], net)
    except FaceModelError:
        raise
    except Exception:
        return [_encode_alone(sha, a, net) for sha, a in items]


def _encode_alone(sha: str, a: Analysis, net) -> Analysis:
    try:
        return _encode([a], net)[0]
    except FaceModelError:
        raise
    except Exception as e:
        return failed(sha, e)


def _encode(done: list[Analysis], net) -> list[Analysis]:
    t = time.thread_time()
    enc = encode_chips([c for a in done for c in a.chips or []], net=net)
    share = (time.thread_time() - t) / max(1, len(done))
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
    ``batch_size`` (a body.encoder.BodyEncoder or a body.setup.LazyBodyEncoder; its load errors raise)."""
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
