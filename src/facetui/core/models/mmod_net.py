"""dlib's CNN face detector (mmod_human_face_detector.dat), read from its own file and run by torch (or, on a CPU,
its network by ONNX Runtime: :func:`onnx_detector`).

dlib-bin has no BLAS and no CUDA: its CNN detector takes seconds per photo. The network is small
(``loss_mmod<con<1,9,9,1,1, rcon5<rcon5<rcon5<downsampler<input_rgb_image_pyramid<pyramid_down<6>>>>>>>>``), so
this module reads the model file (dlib's binary serialisation, parsed field by field and checked layer by layer
against that architecture; nothing in it is executed) and reproduces dlib's whole detector around it: the
2x ``pyramid_up`` of each upsample step (bit-exact), the tiled image pyramid that dlib's input layer builds (the
same layout, padding and bilinear levels), the network (each batch norm folded into its convolution), the
mapping of output positions back to boxes in the photo, the threshold and dlib's non-max suppression.
tests/integration/test_mmod_net.py checks the boxes against dlib's own detector. A file that is not exactly this network is
refused with :class:`MmodNetError`, and facetui then uses dlib's own detector.

Why it is long: one port of one network. The file reader, the checks against the architecture and the
detector around the network must agree with dlib's to the pixel; split apart, a change to one would hide the
others from its reviewer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import mmod_numpy

PYRAMID_N = 6  # pyramid_down<6>: each pyramid level is 5/6 of the one above
_MIN_LEVEL_HEIGHT = 5  # dlib's tiled pyramid stops before a level shorter than this
# inner to outer (the order of the file): downsampler (3 strided 5x5 convs), 3 rcon5, the 9x9 detector conv
_ARCH = (
    [("con", 16, 5, 2), "bn", "relu", ("con", 32, 5, 2), "bn", "relu", ("con", 32, 5, 2), "bn", "relu"]
    + 3 * [("con", 45, 5, 1), "bn", "relu"]
    + [("con", 1, 9, 1)]
)


class MmodNetError(ValueError):
    """The model file is not the detector network this module knows."""


class Detection(NamedTuple):
    """One face as dlib's ``mmod_rect``: inclusive pixel edges (may lie outside the photo) and the score."""

    left: int
    top: int
    right: int
    bottom: int
    confidence: float


class _Reader:
    """dlib's serialisation: ints as a size/sign byte plus little-endian bytes, floats as mantissa and exponent
    ints, bools as the characters '0' and '1', strings as a length and bytes, tensors as a version, four
    dimensions and raw little-endian float32s."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def int(self) -> int:
        if self.pos >= len(self.data):
            raise MmodNetError("file ends inside a number")
        head = self.data[self.pos]
        n = head & 0x0F
        if n > 8 or head & 0x70:
            raise MmodNetError(f"not a dlib integer at byte {self.pos}")
        raw = self.data[self.pos + 1 : self.pos + 1 + n]
        if len(raw) != n:
            raise MmodNetError("file ends inside a number")
        self.pos += 1 + n
        value = int.from_bytes(raw, "little")
        return -value if head & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if abs(exponent) > 1100:
            raise MmodNetError(f"implausible number before byte {self.pos}")
        return math.ldexp(float(mantissa), exponent)

    def str(self) -> str:
        n = self.int()
        if not 0 <= n <= 256 or self.pos + n > len(self.data):
            raise MmodNetError(f"implausible string at byte {self.pos}")
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("ascii", "replace")

    def bool(self) -> bool:
        if self.pos >= len(self.data) or self.data[self.pos] not in b"01":
            raise MmodNetError(f"not a dlib bool at byte {self.pos}")
        self.pos += 1
        return self.data[self.pos - 1] == ord("1")

    def dims(self) -> tuple[int, int, int, int]:
        dims = tuple(self.int() for _ in range(4))
        if min(dims) < 0:
            raise MmodNetError(f"negative tensor dimension {dims}")
        return dims  # type: ignore[return-value]

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise MmodNetError(f"unknown tensor version before byte {self.pos}")
        count = int(np.prod(self.dims()))
        if count > 10_000_000 or self.pos + 4 * count > len(self.data):
            raise MmodNetError("implausible tensor (larger than the file)")
        a = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).astype(np.float32)
        self.pos += 4 * count
        if not np.isfinite(a).all():
            raise MmodNetError("tensor holds non-finite numbers")
        return a

    def alias(self) -> tuple[int, int, int, int]:
        if self.int() != 1:
            raise MmodNetError(f"unknown alias_tensor version before byte {self.pos}")
        return self.dims()


@dataclass
class MmodConv:
    weight: np.ndarray  # (out, in, k, k) float32, the affine layer folded in
    bias: np.ndarray
    stride: int
    padding: int
    relu: bool


@dataclass
class MmodWeights:
    mean_rgb: tuple[float, float, float]  # float32 values, as dlib's input layer holds them
    pyramid_padding: int  # between tiles of the pyramid image
    pyramid_outer_padding: int  # around the pyramid image
    window: tuple[int, int]  # the detector window (width, height) in tensor pixels
    nms_iou: float  # dlib's test_box_overlap: iou_thresh and percent_covered_thresh
    nms_covered: float
    convs: list[MmodConv] = field(default_factory=list)

    def output_to_input(self) -> tuple[int, int]:
        """(scale, offset): an output position p sits at scale * p + offset in the input tensor (dlib's
        ``output_tensor_to_input_tensor``: each conv maps p to p * stride - padding + k // 2)."""
        scale, offset = 1, 0
        for c in self.convs:  # input side first: x_in = s * x_out - pad + k // 2, composed outward
            scale, offset = scale * c.stride, offset + scale * (c.weight.shape[2] // 2 - c.padding)
        return scale, offset


def read_detector(path: Path | str) -> MmodWeights:
    """Parse mmod_human_face_detector.dat; raise MmodNetError unless it is exactly that network."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise MmodNetError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        return _parse(_Reader(data))
    except MmodNetError:
        raise
    except (IndexError, ValueError, OverflowError) as e:  # a damaged file that slipped past the checks above
        raise MmodNetError(f"damaged model file: {e}") from None


def _parse(r: _Reader) -> MmodWeights:
    if r.int() != 1 or r.str() != "loss_mmod_":
        raise MmodNetError("not dlib's MMOD detector (no loss_mmod_ layer at the start)")
    if r.int() != 1:
        raise MmodNetError("unsupported mmod_options version (only version 1, one detector window, is known)")
    window = (r.int(), r.int())
    r.float(), r.float(), r.float()  # training only: loss per false alarm / per miss, truth match IoU
    nms_iou, nms_covered = r.float(), r.float()
    r.float(), r.float()  # training only: overlaps_ignore
    if not (1 <= window[0] <= 1000 and 1 <= window[1] <= 1000 and 0 < nms_iou <= 1 and 0 < nms_covered <= 1):
        raise MmodNetError(f"implausible detector window {window} or NMS thresholds ({nms_iou}, {nms_covered})")
    n_layers = len(_ARCH)
    outer = [r.int() for _ in range(n_layers - 1)]  # add_layer versions, outermost first
    inner = r.int()
    if any(v not in (1, 2) for v in outer) or inner not in (2, 3):
        raise MmodNetError(f"not the expected {n_layers}-layer network")
    name = r.str()
    if name not in ("input_rgb_image_pyramid", "input_rgb_image_pyramid2"):
        raise MmodNetError(f"unexpected input layer {name!r}")
    mean = tuple(float(np.float32(r.float())) for _ in range(3))
    padding, outer_padding = (r.int(), r.int()) if name.endswith("2") else (10, 11)
    if not all(0 <= m <= 255 for m in mean) or not (0 <= padding <= 1000 and 0 <= outer_padding <= 1000):
        raise MmodNetError("implausible input layer settings")
    w = MmodWeights(mean, padding, outer_padding, window, nms_iou, nms_covered)
    pending: MmodConv | None = None
    channels = 3
    for i, want in enumerate(_ARCH):  # details of each layer, innermost first, each followed by add_layer state
        if isinstance(want, tuple):
            pending = _conv(r, want, channels)
            channels = want[1]
            w.convs.append(pending)
        elif want == "bn":
            assert pending is not None
            gamma, beta = _affine(r, pending.bias.size)
            pending.weight = (pending.weight * gamma[:, None, None, None]).astype(np.float32)
            pending.bias = (pending.bias * gamma + beta).astype(np.float32)
        else:
            if r.str() != "relu_":
                raise MmodNetError(f"layer {i}: expected relu_")
            assert pending is not None
            pending.relu = True
        for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, output_and_gradient_disabled
            r.bool()
        r.tensor(), r.tensor()  # x_grad, cached_output
        if i == 0:
            r.tensor()  # grad_final
            if inner == 3:
                r.int()  # sample_expansion_factor
        elif outer[n_layers - 1 - i] == 2:
            r.tensor()  # params_grad
    if r.pos != len(r.data):
        raise MmodNetError(f"{len(r.data) - r.pos} unexpected bytes after the network")
    return w


def _conv(r: _Reader, want: tuple, channels: int) -> MmodConv:
    _, nf, k, stride = want
    name = r.str()
    if name not in ("con_4", "con_5", "con_6"):
        raise MmodNetError(f"expected a convolution, found {name!r}")
    params = r.tensor()
    geometry = tuple(r.int() for _ in range(7))  # num_filters, nr, nc, stride_y, stride_x, padding_y, padding_x
    pad = 0 if stride != 1 else k // 2
    if geometry != (nf, k, k, stride, stride, pad, pad):
        raise MmodNetError(f"unexpected convolution {geometry}, expected {(nf, k, k, stride, stride, pad, pad)}")
    if r.alias() != (nf, channels, k, k) or r.alias() != (1, nf, 1, 1) or params.size != nf * channels * k * k + nf:
        raise MmodNetError("convolution weights do not match its shape")
    for _ in range(4):
        r.float()  # learning rate and weight decay multipliers
    if name in ("con_5", "con_6") and not r.bool():
        raise MmodNetError("a convolution without bias")
    if name == "con_6" and r.bool():
        raise MmodNetError("a convolution with a fused relu")
    n_w = nf * channels * k * k
    return MmodConv(params[:n_w].reshape(nf, channels, k, k).copy(), params[n_w:].copy(), stride, pad, False)


def _affine(r: _Reader, nf: int) -> tuple[np.ndarray, np.ndarray]:
    """gamma, beta of a batch norm (bn_con2, as trained) or of dlib's affine_ layer (its inference form)."""
    name = r.str()
    if name == "bn_con2":
        params = r.tensor()
        if r.alias() != (1, nf, 1, 1) or r.alias() != (1, nf, 1, 1) or params.size != 2 * nf:
            raise MmodNetError("batch norm does not match its convolution")
        r.tensor(), r.tensor()  # means, invstds of the last training batch
        running_means, running_vars = r.tensor(), r.tensor()
        r.int(), r.int()  # num_updates, running_stats_window_size
        for _ in range(4):
            r.float()
        eps = r.float()
        if running_means.size != nf or running_vars.size != nf or not 0 < eps < 1 or (running_vars + eps <= 0).any():
            raise MmodNetError("batch norm statistics do not match its convolution")
        # dlib's affine_(const bn_&), in float32 as dlib computes it
        g = (params[:nf] / np.sqrt(running_vars + np.float32(eps))).astype(np.float32)
        return g, (params[nf:] - g * running_means).astype(np.float32)
    if name in ("affine_", "affine_2"):
        params = r.tensor()
        if r.alias() != (1, nf, 1, 1) or r.alias() != (1, nf, 1, 1) or params.size != 2 * nf:
            raise MmodNetError("affine layer does not match its convolution")
        if r.int() != 1:  # CONV_MODE
            raise MmodNetError("affine layer not in convolution mode")
        if name == "affine_2" and r.bool():
            raise MmodNetError("a disabled affine layer")
        return params[:nf].copy(), params[nf:].copy()
    raise MmodNetError(f"expected a batch norm or affine layer, found {name!r}")


# --- the image side: dlib's pyramid_up, tiled pyramid and box mapping ---------------------------------------


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

    p = mmod_numpy.up_plan(*img.shape[:2])
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


def _round(v: float) -> int:
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
        found.append(Detection(*(_round(v) for v in corners), float(scores[r, c])))
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
            out.append(Detection(_round(l), _round(t), _round(r_), _round(b), d.confidence))
        kept = out
    return kept


# --- the network in torch ----------------------------------------------------------------------------------


def build_model(weights: MmodWeights) -> Any:
    """The network as a torch module: (N, 3, H, W) float32 pyramid images in, (N, 1, H/8, W/8) scores out."""
    import torch

    layers: list[Any] = []
    for c in weights.convs:
        m = torch.nn.Conv2d(c.weight.shape[1], c.weight.shape[0], c.weight.shape[2], c.stride, c.padding)
        m.weight.data = torch.from_numpy(c.weight)
        m.bias.data = torch.from_numpy(c.bias)
        layers.append(m)
        if c.relu:
            layers.append(torch.nn.ReLU(inplace=True))
    return torch.nn.Sequential(*layers).eval()


@dataclass
class _Prepared:
    rgb: Any  # after upsampling: H x W x 3 uint8 torch tensor on the detector's device, or 3 x H x W numpy (ONNX)
    rects: list[tuple[int, int, int, int]]
    shape: tuple[int, int]  # (rows, cols) of the pyramid image


class MmodDetector:
    """Loaded once per process; ``detect`` takes an RGB photo and returns dlib's detections for it, and
    ``detect_batch`` runs several photos together (one network call per photo size) on the chosen device.
    With ``onnx`` (an onnxnets.OnnxNet of this network: :func:`onnx_detector`) the network runs in ONNX Runtime and
    the image work in numpy (mmod_numpy.py), on the CPU, with no torch in the process."""

    def __init__(
        self, path: Path | str, device: str | None = None, onnx: Any = None, weights: MmodWeights | None = None
    ):
        self.weights = weights if weights is not None else read_detector(path)  # ``weights``: read from ``path``
        self._onnx = onnx
        if onnx is not None:
            if device not in (None, "cpu"):
                raise ValueError("ONNX Runtime runs the detector on the CPU only")
            self._torch, self.device = None, None
            return
        import torch

        self._torch = torch
        self.device = torch.device(device or "cpu")
        self.model = build_model(self.weights).to(self.device, memory_format=torch.channels_last)
        if self.device.type == "cuda":
            # cuDNN's TF32 convolutions (torch's default) keep 10 bits of mantissa: scores near the threshold
            # would flip. IEEE float32 gives the CPU's boxes.
            torch.backends.cudnn.allow_tf32 = False
        self._mean = torch.tensor(self.weights.mean_rgb, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    @property
    def runtime(self) -> str:
        """What runs the network: "onnx" (ONNX Runtime, no torch) or "torch"."""
        return "onnx" if self._onnx is not None else "torch"

    def detect(self, rgb: np.ndarray, upsample: int = 0) -> list[Detection]:
        return self.detect_batch([rgb], upsample)[0]

    def detect_batch(self, images: Sequence[np.ndarray], upsample: int = 0) -> list[list[Detection]]:
        """Detections for each image (H x W x 3 uint8 RGB, or H x W grey), in the order given."""
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, not {upsample}")
        results: list[list[Detection]] = [[] for _ in images]
        groups: dict[tuple, list[tuple[int, _Prepared]]] = {}  # photos of one size share a network call
        for i, img in enumerate(images):
            p = self._prepare(img, upsample)
            if p is not None:
                groups.setdefault(tuple(p.rgb.shape), []).append((i, p))
        for group in groups.values():
            scores = self._scores([p for _, p in group])
            for (i, p), s in zip(group, scores):
                results[i] = boxes_from_scores(s, p.rects, self.weights, upsample)
        return results

    def _prepare(self, img: np.ndarray, upsample: int) -> _Prepared | None:
        rgb = np.asarray(img)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
        if rgb.shape[0] == 0 or rgb.shape[1] == 0:
            return None
        h, w = rgb.shape[:2]
        for _ in range(upsample):
            h, w = 2 * h + 1, 2 * w + 2
        weights = self.weights
        rects, rows, cols = pyramid_rects(h, w, weights.pyramid_padding, weights.pyramid_outer_padding)
        size = [rows, cols]
        for c in weights.convs:  # too small for the network: no output position at all, so no face (as in dlib)
            size = [(s + 2 * c.padding - c.weight.shape[2]) // c.stride + 1 for s in size]
        if not rects or min(size) < 1:
            return None
        if self._onnx is not None:  # numpy, channels first (what mmod_numpy.pyramid_image takes)
            chw = np.ascontiguousarray(rgb.transpose(2, 0, 1))
            for _ in range(upsample):
                chw = mmod_numpy.pyramid_up_chw(chw)
            return _Prepared(chw, rects, (rows, cols))
        torch = self._torch
        rgb = np.ascontiguousarray(rgb)
        if not rgb.flags.writeable:  # torch.from_numpy warns on a read-only array (e.g. np.asarray of a PIL image)
            rgb = rgb.copy()
        with self._one_thread(), torch.inference_mode():
            img = torch.from_numpy(rgb)
            if self.device.type == "cuda":  # page-locked: the copy to the GPU runs asynchronously
                img = img.pin_memory().to(self.device, non_blocking=True)
            for _ in range(upsample):
                img = pyramid_up_tensor(img)
        return _Prepared(img, rects, (rows, cols))

    @contextmanager
    def _one_thread(self) -> Iterator[None]:
        """One torch thread on the CPU, always: the sums then run in one order, so a photo gets the same boxes
        in a worker process as in this one (workers run one per core)."""
        torch = self._torch
        threads = torch.get_num_threads() if self.device.type == "cpu" else 1
        if threads != 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if threads != 1:
                torch.set_num_threads(threads)

    def _scores(self, batch: list[_Prepared]) -> np.ndarray:
        """The network's output maps (N, rows, cols) for photos of one size, as float32 numpy."""
        if self._onnx is not None:
            x = mmod_numpy.pyramid_image([p.rgb for p in batch], batch[0].rects, batch[0].shape, self.weights.mean_rgb)
            return self._onnx.run(x)[:, 0]
        torch = self._torch
        import torch.nn.functional as F

        rects = batch[0].rects
        rows, cols = batch[0].shape
        with self._one_thread(), torch.inference_mode():
            x = torch.zeros((len(batch), 3, rows, cols), dtype=torch.float32, device=self.device)
            pixels = torch.stack([p.rgb for p in batch])
            l, t, r, b = rects[0]
            x[:, :, t : b + 1, l : r + 1] = (pixels.permute(0, 3, 1, 2).float() - self._mean) / 256.0
            for (pl, pt, pr, pb), (l, t, r, b) in zip(rects, rects[1:]):  # each level from the one above
                x[:, :, t : b + 1, l : r + 1] = F.interpolate(
                    x[:, :, pt : pb + 1, pl : pr + 1], mode="bilinear", size=(b - t + 1, r - l + 1), align_corners=True
                )
            # channels-last: about a quarter less time per photo on the CPU than NCHW
            return self.model(x.contiguous(memory_format=torch.channels_last))[:, 0].float().cpu().numpy()


def onnx_detector(path: Path | str) -> MmodDetector | None:
    """The detector in ``path`` with its network in ONNX Runtime, from this machine's prepared file (exported from
    :func:`build_model` at the first need and checked on a probe: onnxnets.prepared_net), or None where ONNX Runtime
    is not wanted or cannot run it (the torch MmodDetector then does). Raises MmodNetError for a file that is not
    this network, as MmodDetector does."""
    from ..base.fsutil import file_sha256
    from . import onnxnets

    if not onnxnets.wanted():
        return None
    weights = read_detector(path)  # an unknown file is refused before anything is exported from it
    net = onnxnets.prepared_net(
        "mmod-detector",
        {"weights": file_sha256(Path(path))},
        lambda: build_model(weights),
        (1, 3, 72, 104),
        "float32",
        tol=1e-4,
        spatial=True,
    )
    return None if net is None else MmodDetector(path, onnx=net, weights=weights)
