"""The image side of dlib's CNN face detector in torch: the 2x ``pyramid_up`` of each upsample step (bit-exact)
and the layout of the tiled image pyramid that dlib's input layer builds (the same levels, padding and places).
pyramid_numpy.py holds the same image work in numpy, for a process that runs the network in ONNX Runtime."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import pyramid_numpy

PYRAMID_N = 6  # pyramid_down<6>: each pyramid level is 5/6 of the one above
_MIN_LEVEL_HEIGHT = 5  # dlib's tiled pyramid stops before a level shorter than this


def pyramid_up(rgb: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_up(img, pyramid_down<2>)`` on an RGB uint8 image, bit for bit (:func:`pyramid_up_tensor`)."""
    import torch

    return pyramid_up_tensor(torch.from_numpy(np.array(rgb, dtype=np.uint8, order="C"))).numpy()


def pyramid_up_tensor(img: Any) -> Any:
    """dlib's ``pyramid_up(img, pyramid_down<2>)`` on an H x W x 3 uint8 torch tensor, on its device: the size
    dlib's ``rect_up`` gives ((2h+1) x (2w+2)) and dlib's bilinear ``resize_image`` for RGB images, with its
    float32 SIMD weights and truncation, then its double-precision loop for the last columns. Only exact IEEE
    multiplies and adds in dlib's order, so the result is dlib's to the bit (tests/integration/test_mmod_net.py)."""
    import torch

    p = pyramid_numpy.up_plan(*img.shape[:2])
    dev = img.device
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dev)  # noqa: E731
    out = torch.empty((p.H, p.W, 3), dtype=torch.uint8, device=dev)
    top, bottom = t(p.top), t(p.bottom)
    if p.n_simd:
        f = img.float()
        ft, fb = f.index_select(0, top), f.index_select(0, bottom)
        lr = t(p.lr)
        ilr = 1 - lr  # in float32, as _inv_lr_frac
        tbf, itb = t(p.tb.astype(np.float32)), t((1 - p.tb).astype(np.float32))  # 1 - tb in double, as dlib
        L = t(p.left)
        R = L + 1
        v = (itb[:, None] * ilr)[..., None] * ft.index_select(1, L)
        v += (itb[:, None] * lr)[..., None] * ft.index_select(1, R)
        v += (tbf[:, None] * ilr)[..., None] * fb.index_select(1, L)
        v += (tbf[:, None] * lr)[..., None] * fb.index_select(1, R)
        out[:, : p.n_simd] = v.to(torch.int32).to(torch.uint8)
    if p.n_simd < p.W:  # the rest in double
        lr2 = t(p.rest_lr)[None, :, None]
        d = img.double()
        dt, db = d.index_select(0, top), d.index_select(0, bottom)
        tb2 = t(p.tb)[:, None, None]
        Lt, Rt = t(p.rest_left), t(p.rest_right)
        v2 = (1 - tb2) * ((1 - lr2) * dt.index_select(1, Lt) + lr2 * dt.index_select(1, Rt)) + tb2 * (
            (1 - lr2) * db.index_select(1, Lt) + lr2 * db.index_select(1, Rt)
        )
        out[:, p.n_simd :] = v2.floor().to(torch.uint8)
    return out


def pyramid_rects(
    nr: int, nc: int, padding: int, outer_padding: int
) -> tuple[list[tuple[int, int, int, int]], int, int]:
    """dlib's ``compute_tiled_image_pyramid_details`` for pyramid_down<6>: each level's place in the tiled
    pyramid image as (left, top, right, bottom), inclusive, and the image's (rows, cols)."""
    if nr * nc == 0:
        return [], 0, 0
    rate = (PYRAMID_N - 1.0) / PYRAMID_N
    sizes = [(nr, nc)]
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)
        if nr * nc == 0 or nr < _MIN_LEVEL_HEIGHT:
            break
        sizes.append((nr, nc))
    total_height = sum(h + padding for h, _ in sizes) - 2 * padding
    height = prev_width = 0
    h0, width = sizes[0]
    for h, w in sizes:
        if w <= width - prev_width - padding and (height - h0) * 2 >= total_height - h0:
            break
        height += h + padding
        prev_width = w
    height -= padding
    rects: list[tuple[int, int, int, int]] = []
    y, i = outer_padding, 0
    while y < height + outer_padding and i < len(sizes):
        h, w = sizes[i]
        rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    first = rects[0]
    while i < len(sizes):
        h, w = sizes[i]
        rect = (outer_padding + width - w, y - h, outer_padding + width - 1, y - 1)
        if max(rect[0], first[0]) <= min(rect[2], first[2]) and max(rect[1], first[1]) <= min(rect[3], first[3]):
            break  # dlib stops where the second column would run into the original image
        rects.append(rect)
        y -= h + padding
        i += 1
    return rects, height + 2 * outer_padding, width + 2 * outer_padding
