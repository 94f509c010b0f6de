"""OSNet on the CPU run by ONNX Runtime (onnxnets.py) from this machine's prepared file: about 18 ms a crop on one
thread against torch's ~40, and no torch in the process once the file is there. The exported graph
takes the uint8 crops as they are and includes the preprocessing and the L2 normalisation, so it computes what
encoder.BodyEncoder.embed computes (to ~1e-7). setup.LazyBodyEncoder loads it where it can, else torch's."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime import onnxnets
from .crops import MEAN, REID_SIZE, STD, as_reid_crop
from .osnet import BodyModelError, BodySpec, weights_fingerprint


def _reid_module(spec: BodySpec, loaded: Any = None) -> Any:
    """The torch module the file is exported from: uint8 N x H x W x 3 crops in, unit embeddings out, the weights
    read from ``spec``'s file and checked against its hash around the read (or ``loaded``, an encoder.BodyEncoder on
    the CPU its caller read from that file, unprepared)."""
    import torch

    from .encoder import load_body_encoder

    def same_file() -> None:
        if weights_fingerprint(spec.weights_path) != spec.sha256:
            raise BodyModelError(f"the re-id weights file {spec.weights_path} changed during the run")

    same_file()
    enc = loaded if loaded is not None else load_body_encoder(spec.model_name, spec.weights_path, "cpu", freeze=False)
    same_file()

    class Reid(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model
            self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

        def forward(self, x):
            x = x.permute(0, 3, 1, 2).float().div(255.0)
            x = (x - self.mean) / self.std
            return torch.nn.functional.normalize(self.model(x).float(), dim=1)

    return Reid(enc.module).eval()


def prepared_reid_net(spec: BodySpec, loaded: Any = None) -> onnxnets.OnnxNet | None:
    """OSNet for ``spec`` in ONNX Runtime, from this machine's prepared file (exported from torch the first time,
    from ``loaded`` where the caller has the model in hand)."""
    return onnxnets.prepared_net(
        f"osnet-{spec.model_name}",
        {"model": spec.model_name, "weights": spec.sha256},
        lambda: _reid_module(spec, loaded),
        (2, REID_SIZE[0], REID_SIZE[1], 3),
        "uint8",
        tol=1e-4,
    )


class OnnxReid:
    """OSNet in ONNX Runtime with encoder.BodyEncoder's ``embed``, ``device`` and ``dim`` (what LazyBodyEncoder hands
    out once loaded)."""

    device = "cpu"

    def __init__(self, net: onnxnets.OnnxNet, model_name: str, dim: int):
        self._net, self.model_name, self.dim = net, model_name, dim

    def embed(self, crops, batch_size: int = 16) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        x = np.stack([as_reid_crop(c) for c in crops])
        step = max(1, batch_size)
        emb = np.concatenate([self._net.run(x[i : i + step]) for i in range(0, len(x), step)])
        if emb.shape[1] != self.dim:
            raise BodyModelError(f"{self.model_name} gives {emb.shape[1]} dims, not the {self.dim} recorded for it")
        return emb.astype(np.float32, copy=False)
