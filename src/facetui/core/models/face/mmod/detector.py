"""dlib's CNN face detector, ported: :class:`MmodDetector` runs the network read by reader.py in torch (on the CPU
or CUDA) or, on a CPU, in ONNX Runtime (:func:`onnx_detector`, the image work then in numpy), between the pyramid
(pyramid.py) and the boxes (boxes.py). tests/integration/test_mmod_net.py checks its boxes against dlib's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import pyramid_numpy
from .boxes import Detection, boxes_from_scores
from .pyramid import pyramid_rects, pyramid_up_tensor
from .reader import MmodWeights, read_detector


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
    the image work in numpy (pyramid_numpy.py), on the CPU, with no torch in the process."""

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
        if self._onnx is not None:  # numpy, channels first (what pyramid_numpy.pyramid_image takes)
            chw = np.ascontiguousarray(rgb.transpose(2, 0, 1))
            for _ in range(upsample):
                chw = pyramid_numpy.pyramid_up_chw(chw)
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
            x = pyramid_numpy.pyramid_image(
                [p.rgb for p in batch], batch[0].rects, batch[0].shape, self.weights.mean_rgb
            )
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
    from ....base.fsutil import file_sha256
    from ...runtime import onnxnets

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
