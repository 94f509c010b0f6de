"""dlib's model file for its CNN face detector (mmod_human_face_detector.dat), read field by field.

dlib's binary serialisation is parsed here and checked layer by layer against the one architecture this port
knows (``loss_mmod<con<1,9,9,1,1, rcon5<rcon5<rcon5<downsampler<input_rgb_image_pyramid<pyramid_down<6>>>>>>>>``);
nothing in the file is executed. Each batch norm is folded into its convolution as the file is read. A file that
is not exactly this network is refused with :class:`MmodNetError`, and facetui then uses dlib's own detector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..dlibfile import DlibReader

# inner to outer (the order of the file): downsampler (3 strided 5x5 convs), 3 rcon5, the 9x9 detector conv
_ARCH = (
    [("con", 16, 5, 2), "bn", "relu", ("con", 32, 5, 2), "bn", "relu", ("con", 32, 5, 2), "bn", "relu"]
    + 3 * [("con", 45, 5, 1), "bn", "relu"]
    + [("con", 1, 9, 1)]
)


class MmodNetError(ValueError):
    """The model file is not the detector network this module knows."""


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
        return _parse(DlibReader(data, MmodNetError))
    except MmodNetError:
        raise
    except (IndexError, ValueError, OverflowError) as e:  # a damaged file that slipped past the checks above
        raise MmodNetError(f"damaged model file: {e}") from None


def _parse(r: DlibReader) -> MmodWeights:
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


def _conv(r: DlibReader, want: tuple, channels: int) -> MmodConv:
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


def _affine(r: DlibReader, nf: int) -> tuple[np.ndarray, np.ndarray]:
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
