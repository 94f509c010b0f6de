"""The CNN face detector's image work in numpy, for a process that runs its network in ONNX Runtime (no torch).

pyramid.py and detector.py build dlib's input for the network in torch (on the CPU or CUDA). Where the network runs in ONNX
Runtime, importing torch only for this would cost a worker about a second before its first photo, so the same two
steps are here in numpy:

- :func:`pyramid_up`: dlib's 2x ``pyramid_up`` of each upsample step, the same IEEE operations in the same order as
  ``pyramid.pyramid_up_tensor``, so dlib's result to the bit (tests/integration/test_mmod_net.py);
- :func:`pyramid_image`: the tiled pyramid image, each level resized from the one above with the bilinear,
  align-corners arithmetic of torch's ``F.interpolate`` in float32 (not always to the bit: the network's scores
  agree with the torch path's to ~1e-5, and the boxes with dlib's, as the tests check).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def pyramid_up(img: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_up(img, pyramid_down<2>)`` on an H x W x 3 uint8 array: (2h+1) x (2w+2), bit for bit."""
    return np.ascontiguousarray(pyramid_up_chw(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)).transpose(1, 2, 0))


class UpPlan(NamedTuple):
    """Where each pixel of dlib's ``pyramid_up`` reads and with what weights, for an h x w image: the rows (and
    their double-precision fractions), then the columns of dlib's float32 SIMD loop and of its double loop for the
    last ones. Both implementations (:func:`pyramid_up_chw`, ``pyramid.pyramid_up_tensor``) do their arithmetic
    on this."""

    H: int
    W: int
    top: np.ndarray  # int64 (H,)
    bottom: np.ndarray
    tb: np.ndarray  # float64 (H,): the fraction towards ``bottom``
    left: np.ndarray  # int64 (n_simd,): the SIMD loop's left columns (right = left + 1)
    lr: np.ndarray  # float32 (n_simd,): the fraction towards the right column
    rest_left: np.ndarray  # int64 (W - n_simd,): the double loop's columns
    rest_right: np.ndarray
    rest_lr: np.ndarray  # float64

    @property
    def n_simd(self) -> int:
        return len(self.left)


def up_plan(h: int, w: int) -> UpPlan:
    """dlib's ``rect_up`` size ((2h+1) x (2w+2)) and its ``resize_image`` sampling, in dlib's own arithmetic."""
    H, W = 2 * h + 1, 2 * w + 2
    xs, ys = (w - 1) / max(W - 1, 1), (h - 1) / max(H - 1, 1)
    y = np.add.accumulate(np.concatenate([[-ys], np.full(H, ys)]))[1:]  # y += y_scale, in double
    top = np.floor(y).astype(np.int64)
    # columns four at a time in float32 (x advances by a float32 4*x_scale), as dlib's simd4f loop
    blocks = W // 4 + 1
    x0 = -4 * xs
    start = np.array([x0, x0 + xs, x0 + 2 * xs, x0 + 3 * xs], dtype=np.float32)
    xf = np.add.accumulate(
        np.concatenate([start[None], np.full((blocks, 4), np.float32(4 * xs), np.float32)]), axis=0, dtype=np.float32
    )[1:].reshape(-1)
    left = xf.astype(np.int64)
    full = (left.reshape(-1, 4)[:, 3] + 1) < w  # dlib leaves the SIMD loop at the first block that reads past
    n_simd = min(4 * (int(np.argmin(full)) if not full.all() else blocks), W)
    # the rest in double, x advancing by x_scale from (n_simd - 1) * x_scale
    x = np.add.accumulate(np.concatenate([[-xs + n_simd * xs], np.full(W - n_simd, xs)]))[1:]
    rest_left = np.floor(x).astype(np.int64)
    return UpPlan(
        H,
        W,
        top,
        np.minimum(top + 1, h - 1),
        y - top,
        left[:n_simd],
        xf[:n_simd] - left[:n_simd].astype(np.float32),
        rest_left,
        np.minimum(rest_left + 1, w - 1),
        x - rest_left,
    )


def pyramid_up_chw(img: np.ndarray) -> np.ndarray:
    """:func:`pyramid_up` on a 3 x H x W uint8 array (channels first: numpy's loops then run along rows)."""
    c, h, w = img.shape
    p = up_plan(h, w)
    out = np.empty((c, p.H, p.W), dtype=np.uint8)
    if p.n_simd:
        f = img.astype(np.float32)
        ft, fb = f[:, p.top], f[:, p.bottom]
        ilr = np.float32(1) - p.lr  # in float32, as _inv_lr_frac
        tbf, itb = p.tb.astype(np.float32)[:, None], (1 - p.tb).astype(np.float32)[:, None]  # 1 - tb in double
        L, R = p.left, p.left + 1
        v = (itb * ilr) * np.take(ft, L, axis=2)
        v += (itb * p.lr) * np.take(ft, R, axis=2)
        v += (tbf * ilr) * np.take(fb, L, axis=2)
        v += (tbf * p.lr) * np.take(fb, R, axis=2)
        out[:, :, : p.n_simd] = v.astype(np.int32)
    if p.n_simd < p.W:  # only the few columns the double loop reads, in double
        cols = np.unique(np.concatenate([p.rest_left, p.rest_right]))
        d = img[:, :, cols].astype(np.float64)
        li, ri = np.searchsorted(cols, p.rest_left), np.searchsorted(cols, p.rest_right)
        dt, db = d[:, p.top], d[:, p.bottom]
        tb2, lr2 = p.tb[:, None], p.rest_lr
        v2 = (1 - tb2) * ((1 - lr2) * dt[:, :, li] + lr2 * dt[:, :, ri]) + tb2 * (
            (1 - lr2) * db[:, :, li] + lr2 * db[:, :, ri]
        )
        out[:, :, p.n_simd :] = np.floor(v2)
    return out


def _linear(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """torch's align-corners linear weights in float32: (index0, index1, weight0, weight1) per output position."""
    scale = np.float32((n_in - 1) / (n_out - 1)) if n_out > 1 else np.float32(0)
    src = scale * np.arange(n_out, dtype=np.float32)
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = np.clip(src - i0.astype(np.float32), 0, 1).astype(np.float32)
    return i0, i1, np.float32(1) - w1, w1


def _resize_into(src: np.ndarray, dst: np.ndarray) -> None:
    """(N, C, h, w) float32 ``src`` resized into ``dst`` (N, C, rows, cols): bilinear with aligned corners, as
    ``F.interpolate`` (rows first, then columns: a rounding or so from torch's order)."""
    rows, cols = dst.shape[2:]
    y0, y1, hy0, hy1 = _linear(src.shape[2], rows)
    x0, x1, wx0, wx1 = _linear(src.shape[3], cols)
    by_rows = src[:, :, y0]
    by_rows *= hy0[:, None]
    by_rows += hy1[:, None] * src[:, :, y1]
    np.multiply(np.take(by_rows, x0, axis=3), wx0, out=dst)
    dst += wx1 * np.take(by_rows, x1, axis=3)


def pyramid_image(
    pixels: list[np.ndarray], rects: list[tuple[int, int, int, int]], shape: tuple[int, int], mean_rgb
) -> np.ndarray:
    """The network's input for photos of one size: (N, 3, rows, cols) float32, each photo (3 x H x W uint8, already
    upsampled) centred on dlib's mean and scaled by 1/256 in the first level's rectangle, each later level resized
    from the one before it, zeros elsewhere (detector.MmodDetector._scores does the same in torch)."""
    rows, cols = shape
    x = np.zeros((len(pixels), 3, rows, cols), dtype=np.float32)
    mean = np.asarray(mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    l, t, r, b = rects[0]
    first = x[:, :, t : b + 1, l : r + 1]
    np.subtract(np.stack(pixels), mean, out=first, dtype=np.float32)
    first /= np.float32(256.0)
    for (pl, pt, pr, pb), (l, t, r, b) in zip(rects, rects[1:]):  # each level from the one above
        _resize_into(x[:, :, pt : pb + 1, pl : pr + 1], x[:, :, t : b + 1, l : r + 1])
    return x
