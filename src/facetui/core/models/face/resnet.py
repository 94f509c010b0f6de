"""dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1.dat) run by torch.

dlib-bin is built without BLAS: its ResNet takes about 58 ms per face on one core. This module reads the same
model file (dlib's own binary serialisation, parsed here field by field; nothing in it is executed) into the same
network in torch, which takes a few ms per face and gives dlib's descriptors to within 1e-6 (tests/integration/test_faces.py
compares them on real photos). The face chips still come from dlib (5-point landmarks, ``get_face_chips``), so
only the arithmetic moves. Any file that is not exactly the expected network is refused, and facetui then uses
dlib's own encoder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime.torchfreeze import frozen_if_same
from .dlibfile import DlibReader

CHIP_SIZE = 150
_NAME = re.compile(
    rb"\x01([\x04-\x15])(con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_|fc_2|input_rgb_image_sized)"
)


class FaceNetError(ValueError):
    """The model file is not the network this module knows."""


@dataclass
class Conv:
    weight: np.ndarray  # (out, in, kh, kw)
    bias: np.ndarray
    stride: int
    padding: int


@dataclass
class Block:
    """relu(conv-affine-relu-conv-affine(x) + x), or with avg_pool(x) when the block halves the size."""

    first: Conv
    second: Conv
    down: bool


@dataclass
class FaceNetWeights:
    mean_rgb: tuple[float, float, float]
    stem: Conv
    blocks: list[Block] = field(default_factory=list)
    fc: np.ndarray = field(default_factory=lambda: np.zeros((128, 256), np.float32))  # (out, in)


def _tensor(r: DlibReader) -> np.ndarray:
    a = r.tensor()
    if a.size == 0:
        raise FaceNetError(f"empty tensor before byte {r.pos}")
    return a


def _layers(data: bytes) -> list[tuple]:
    r = DlibReader(data, FaceNetError)
    out: list[tuple] = []
    while True:
        m = _NAME.search(data, r.pos)
        if m is None:
            return out
        r.pos = m.start()
        name = r.str()
        if len(name) != m.group(1)[0]:
            r.pos = m.end()
            continue
        if name == "input_rgb_image_sized":
            out.append((name, (r.float(), r.float(), r.float()), r.int(), r.int()))
        elif name == "con_4":
            params = _tensor(r)
            out.append((name, params, *[r.int() for _ in range(7)]))
        elif name == "affine_":
            out.append((name, _tensor(r)))
        elif name in ("max_pool_2", "avg_pool_2"):
            out.append((name, tuple(r.int() for _ in range(6))))
        elif name == "fc_2":
            n_out, n_in = r.int(), r.int()
            out.append((name, _tensor(r), n_out, n_in))
        else:
            out.append((name,))


def _conv_affine(con: tuple, aff: tuple) -> Conv:
    """A dlib con_ followed by its affine_ (a frozen batch norm), folded into one convolution."""
    _, params, nf, kh, kw, sy, sx, py, px = con
    if sy != sx or py != px or kh != kw:
        raise FaceNetError("unexpected convolution geometry")
    n_w = params.size - nf
    if n_w <= 0 or n_w % (nf * kh * kw):
        raise FaceNetError("convolution weights do not match its shape")
    weight = params[:n_w].reshape(nf, n_w // (nf * kh * kw), kh, kw).astype(np.float64)
    bias = params[n_w:].astype(np.float64)
    ab = aff[1]
    if ab.size != 2 * nf:
        raise FaceNetError("affine layer does not match its convolution")
    gamma, beta = ab[:nf].astype(np.float64), ab[nf:].astype(np.float64)
    return Conv(
        (weight * gamma[:, None, None, None]).astype(np.float32), (bias * gamma + beta).astype(np.float32), sy, py
    )


def read_weights(path: Path) -> FaceNetWeights:
    """Parse dlib_face_recognition_resnet_model_v1.dat; raise FaceNetError unless it is exactly that network."""
    layers = _layers(Path(path).read_bytes())
    names = [x[0] for x in layers]
    if (
        names[:5] != ["input_rgb_image_sized", "con_4", "affine_", "relu_", "max_pool_2"]
        or layers[0][2:] != (CHIP_SIZE, CHIP_SIZE)
        or layers[4][1] != (3, 3, 2, 2, 0, 0)
    ):
        raise FaceNetError("not dlib's face recognition ResNet (unexpected input or stem)")
    w = FaceNetWeights(mean_rgb=layers[0][1], stem=_conv_affine(layers[1], layers[2]))
    i = 5
    while i < len(names) and names[i] == "con_4":
        if names[i + 1 : i + 5] != ["affine_", "relu_", "con_4", "affine_"]:
            raise FaceNetError(f"unexpected residual block at layer {i}")
        j = i + 5
        down = names[j] == "avg_pool_2"
        if down:
            if layers[j][1] != (2, 2, 2, 2, 0, 0):
                raise FaceNetError("unexpected pooling in a down-sampling block")
            j += 1
        if names[j : j + 2] != ["add_prev_", "relu_"]:
            raise FaceNetError(f"unexpected residual block at layer {i}")
        w.blocks.append(Block(_conv_affine(layers[i], layers[i + 1]), _conv_affine(layers[i + 3], layers[i + 4]), down))
        i = j + 2
    if names[i:] != ["avg_pool_2", "fc_2"] or layers[i][1][:2] != (0, 0):
        raise FaceNetError("unexpected head (global average pool and fc)")
    _, fc, n_out, n_in = layers[i + 1]
    if fc.size != n_out * n_in or n_out != 128 or len(w.blocks) != 14:
        raise FaceNetError("unexpected descriptor layer")
    w.fc = np.ascontiguousarray(fc.reshape(n_in, n_out).T)
    return w


def build_model(weights: FaceNetWeights) -> Any:
    """The network as a torch module: uint8 (N, 150, 150, 3) RGB chips in, (N, 128) float32 descriptors out."""
    import torch
    import torch.nn.functional as F

    def conv(c: Conv) -> torch.nn.Conv2d:
        m = torch.nn.Conv2d(c.weight.shape[1], c.weight.shape[0], c.weight.shape[2], c.stride, c.padding)
        m.weight.data = torch.from_numpy(c.weight)
        m.bias.data = torch.from_numpy(c.bias)
        return m

    class _Block(torch.nn.Module):
        def __init__(self, b: Block):
            super().__init__()
            self.first, self.second, self.down = conv(b.first), conv(b.second), b.down

        def forward(self, x):
            y = self.second(F.relu(self.first(x)))
            skip = F.avg_pool2d(x, 2, 2) if self.down else x
            # dlib's add_prev adds tensors of different sizes as if both were zero-padded to the larger one
            dc, dh, dw = (y.shape[1] - skip.shape[1], y.shape[2] - skip.shape[2], y.shape[3] - skip.shape[3])
            if dc or dh or dw:
                skip = F.pad(skip, (0, max(dw, 0), 0, max(dh, 0), 0, max(dc, 0)))
                y = F.pad(y, (0, max(-dw, 0), 0, max(-dh, 0), 0, max(-dc, 0)))
            return F.relu(y + skip)

    class _Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(weights.mean_rgb, dtype=torch.float32).view(1, 3, 1, 1))
            self.stem = conv(weights.stem)
            self.blocks = torch.nn.Sequential(*[_Block(b) for b in weights.blocks])
            self.fc = torch.nn.Linear(weights.fc.shape[1], weights.fc.shape[0], bias=False)
            self.fc.weight.data = torch.from_numpy(weights.fc)

        def forward(self, chips):
            x = (chips.permute(0, 3, 1, 2).float() - self.mean) / 256.0
            x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
            x = self.blocks(x)
            return self.fc(x.mean(dim=(2, 3)))

    return _Net().eval()


class FaceNet:
    """Loaded once per process; ``encode`` takes dlib face chips and returns float64 descriptors like dlib's.

    ``device``: where torch runs it ("cpu" by default). On the CPU the model is traced and frozen where that
    computes the same; on CUDA it runs as built, in IEEE float32 (TF32 off: 10 bits of mantissa would move the
    descriptors by far more than 1e-4)."""

    runtime = "torch"  # what runs the network (OnnxFaceNet's is "onnx")

    def __init__(self, path: Path, device: str | None = None):
        import torch

        self._torch = torch
        self.device = torch.device(device or "cpu")
        model = build_model(read_weights(path))
        if self.device.type != "cpu":
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            self.model = model.to(self.device)
            return
        gen = torch.Generator().manual_seed(0)
        example, probe = (
            torch.randint(0, 256, (n, CHIP_SIZE, CHIP_SIZE, 3), generator=gen, dtype=torch.uint8) for n in (2, 3)
        )
        self.model = frozen_if_same(model, example, probe, tol=1e-5)

    def encode(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, 128), dtype=np.float64)
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(np.stack(chips), dtype=np.uint8))
        if x.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"face chips must be {CHIP_SIZE}x{CHIP_SIZE} RGB, not {tuple(x.shape[1:])}")
        if self.device.type != "cpu":
            with torch.inference_mode():
                x = x.pin_memory().to(self.device, non_blocking=True)  # page-locked: the copy runs asynchronously
                return self.model(x).cpu().double().numpy()
        # One thread, always: the sums then run in one order, so a photo gets the same bits in a worker process
        # as in this one (a few faces per call gain little from more threads; workers run one per core).
        threads = torch.get_num_threads()
        if threads != 1:
            torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                return self.model(x).double().numpy()
        finally:
            if threads != 1:
                torch.set_num_threads(threads)


def onnx_face_net(path: Path) -> Any:
    """The network in ``path`` run by ONNX Runtime from this machine's prepared file (made from the torch port at
    the first need), or None where ONNX Runtime is not wanted or cannot run it (FaceNet then does)."""
    from ...base.fsutil import file_sha256
    from ..runtime import onnxnets

    if not onnxnets.wanted():
        return None
    sha = file_sha256(Path(path))
    net = onnxnets.prepared_net(
        "face-resnet",
        {"weights": sha},
        lambda: build_model(read_weights(path)).eval(),
        (2, CHIP_SIZE, CHIP_SIZE, 3),
        "uint8",
        tol=1e-4,
    )
    return None if net is None else OnnxFaceNet(net)


class OnnxFaceNet:
    """dlib's face ResNet in ONNX Runtime (:func:`onnx_face_net`): ``encode`` as FaceNet's, to ~3e-7."""

    runtime = "onnx"

    def __init__(self, net: Any):
        self._net = net

    def encode(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, 128), dtype=np.float64)
        x = np.ascontiguousarray(np.stack(chips), dtype=np.uint8)
        if x.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"face chips must be {CHIP_SIZE}x{CHIP_SIZE} RGB, not {tuple(x.shape[1:])}")
        return self._net.run(x).astype(np.float64)
