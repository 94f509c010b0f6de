"""The CNN face detector's image work in numpy, for a process that runs its network in ONNX Runtime (no torch).

mmod_net.py builds dlib's input for the network in torch (on the CPU or CUDA). Where the network runs in ONNX
Runtime, importing torch only for this would cost a worker about a second before its first photo, so the same two
steps are here in numpy:

- :func:`pyramid_up`: dlib's 2x ``pyramid_up`` of each upsample step, the same IEEE operations in the same order as
  ``mmod_net.pyramid_up_tensor``, so dlib's result to the bit (tests/integration/test_mmod_net.py);
- :func:`pyramid_image`: the tiled pyramid image, each level resized from the one above with the bilinear,
  align-corners arithmetic of torch's ``F.interpolate`` in float32 (not always to the bit: the network's scores
  agree with the torch path's to ~1e-5, and the boxes with dlib's, as the tests check).
"""

from __future__ import annotations

import numpy as np


def pyramid_up(img: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_up(img, pyramid_down<2>)`` on an H x W x 3 uint8 array: (2h+1) x (2w+2), bit for bit."""
    return np.ascontiguousarray(pyramid_up_chw(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)).transpose(1, 2, 0))


def pyramid_up_chw(img: np.ndarray) -> np.ndarray:
    """:func:`pyramid_up` on a 3 x H x W uint8 array (channels first: numpy's loops then run along rows)."""
    c, h, w = img.shape
    H, W = 2 * h + 1, 2 * w + 2
    xs, ys = (w - 1) / max(W - 1, 1), (h - 1) / max(H - 1, 1)
    y = np.add.accumulate(np.concatenate([[-ys], np.full(H, ys)]))[1:]  # y += y_scale, in double
    top = np.floor(y).astype(np.int64)
    bottom = np.minimum(top + 1, h - 1)
    tb = y - top
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
    out = np.empty((c, H, W), dtype=np.uint8)
    if n_simd:
        f = img.astype(np.float32)
        ft, fb = f[:, top], f[:, bottom]
        lr = xf[:n_simd] - left[:n_simd].astype(np.float32)
        ilr = np.float32(1) - lr  # in float32, as _inv_lr_frac
        tbf, itb = tb.astype(np.float32)[:, None], (1 - tb).astype(np.float32)[:, None]  # 1 - tb in double
        L = left[:n_simd]
        R = L + 1
        v = (itb * ilr) * np.take(ft, L, axis=2)
        v += (itb * lr) * np.take(ft, R, axis=2)
        v += (tbf * ilr) * np.take(fb, L, axis=2)
        v += (tbf * lr) * np.take(fb, R, axis=2)
        out[:, :, :n_simd] = v.astype(np.int32)
    if n_simd < W:  # the rest in double, x advancing by x_scale from (n_simd - 1) * x_scale
        x = np.add.accumulate(np.concatenate([[-xs + n_simd * xs], np.full(W - n_simd, xs)]))[1:]
        L_ = np.floor(x).astype(np.int64)
        R_ = np.minimum(L_ + 1, w - 1)
        lr2 = x - L_
        cols = np.unique(np.concatenate([L_, R_]))  # only the few columns the rest reads, in double
        d = img[:, :, cols].astype(np.float64)
        li, ri = np.searchsorted(cols, L_), np.searchsorted(cols, R_)
        dt, db = d[:, top], d[:, bottom]
        tb2 = tb[:, None]
        v2 = (1 - tb2) * ((1 - lr2) * dt[:, :, li] + lr2 * dt[:, :, ri]) + tb2 * (
            (1 - lr2) * db[:, :, li] + lr2 * db[:, :, ri]
        )
        out[:, :, n_simd:] = np.floor(v2)
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
    from the one before it, zeros elsewhere (mmod_net.MmodDetector._scores does the same in torch)."""
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
