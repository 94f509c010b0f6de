"""From the detector network's output map to dlib's face boxes: each position over the threshold becomes the
detector window centred there, mapped back through the tiled pyramid and the upsampling, then dlib's non-max
suppression keeps the best box of each overlapping group."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .pyramid import PYRAMID_N
from .reader import MmodWeights


class Detection(NamedTuple):
    """One face as dlib's ``mmod_rect``: inclusive pixel edges (may lie outside the photo) and the score."""

    left: int
    top: int
    right: int
    bottom: int
    confidence: float


def _nearest_rect(rects: list[tuple[int, int, int, int]], x: int, y: int) -> int:
    """dlib's ``nearest_rect``: the first rectangle holding the point, else the closest one."""
    best, best_d = 0, math.inf
    for i, (l, t, r, b) in enumerate(rects):
        if l <= x <= r and t <= y <= b:
            return i
        d = math.hypot(min(max(x, l), r) - x, min(max(y, t), b) - y)
        if d < best_d:
            best, best_d = i, d
    return best


def dlib_round(v: float) -> int:
    """dlib's drectangle -> rectangle: to the nearest integer, halves away from zero (dlib 20 rounds -4.5 to -5;
    tests/integration/test_mmod_net.py checks this against dlib's own conversion)."""
    a = abs(v)
    n = math.floor(a)
    n += a - n >= 0.5
    return n if v >= 0 else -n


def _area(l: int, t: int, r: int, b: int) -> int:
    return max(0, r - l + 1) * max(0, b - t + 1)


def _overlaps(a: Detection, b: Detection, iou: float, covered: float) -> bool:
    """dlib's ``test_box_overlap``: the intersection against the bounding box of both (not the union)."""
    inner = _area(max(a.left, b.left), max(a.top, b.top), min(a.right, b.right), min(a.bottom, b.bottom))
    if inner == 0:
        return False
    outer = _area(min(a.left, b.left), min(a.top, b.top), max(a.right, b.right), max(a.bottom, b.bottom))
    return (
        inner / outer > iou
        or inner / _area(a.left, a.top, a.right, a.bottom) > covered
        or inner / _area(b.left, b.top, b.right, b.bottom) > covered
    )


def boxes_from_scores(
    scores: np.ndarray,
    rects: list[tuple[int, int, int, int]],
    w: MmodWeights,
    upsample: int = 0,
    threshold: float = 0.0,
) -> list[Detection]:
    """dlib's ``loss_mmod_::to_label`` on one output map (rows x cols): every position scoring above
    ``threshold`` becomes the detector window centred there, mapped back through the tiled pyramid (and the
    upsampling), then non-max suppression keeps the best-scoring box of each overlapping group."""
    scale, offset = w.output_to_input()
    ww, wh = w.window[0] - 1, w.window[1] - 1  # dlib's centered_drect
    ratio = PYRAMID_N / (PYRAMID_N - 1.0)
    rows, cols = np.nonzero(scores > threshold)
    found = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        px, py = scale * c + offset, scale * r + offset
        level = _nearest_rect(rects, px, py)
        ox, oy = rects[level][0], rects[level][1]
        corners = [px - ww / 2 - ox, py - wh / 2 - oy, px + ww / 2 - ox, py + wh / 2 - oy]
        for _ in range(level):  # pyramid_down<6>::point_up, once per level
            corners = [v * ratio + 0.3 for v in corners]
        found.append(Detection(*(dlib_round(v) for v in corners), float(scores[r, c])))
    found.sort(key=lambda d: -d.confidence)
    kept: list[Detection] = []
    for d in found:
        if not any(_overlaps(k, d, w.nms_iou, w.nms_covered) for k in kept):
            kept.append(d)
    if upsample:  # pyramid_down<2>::rect_down(rect, upsample): p / 2 - (1.25, 0.75) per level, rounded once
        out = []
        for d in kept:
            l, t, r_, b = float(d.left), float(d.top), float(d.right), float(d.bottom)
            for _ in range(upsample):
                l, r_, t, b = l / 2 - 1.25, r_ / 2 - 1.25, t / 2 - 0.75, b / 2 - 0.75
            out.append(Detection(dlib_round(l), dlib_round(t), dlib_round(r_), dlib_round(b), d.confidence))
        kept = out
    return kept
