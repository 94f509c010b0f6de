"""OSNet embeddings: :func:`load_body_encoder` builds the network with the user's weights on a device, prepared for
inference where that computes the same (batch norms folded, traced and frozen), and :class:`BodyEncoder` turns
person crops into unit vectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime.torchfreeze import frozen_if_same, kept_if_same
from .crops import MEAN, REID_SIZE, STD, as_reid_crop
from .osnet import BodyModelError, build_osnet, check_model_name, load_weights

if TYPE_CHECKING:  # only for annotations; numpy is imported lazily at run time
    import numpy as np


def resolve_device(pref: str) -> str:
    """Map "auto"/"cpu"/"cuda" to a usable torch device string."""
    if pref not in ("auto", "cpu", "cuda"):
        raise BodyModelError(f"unknown device {pref!r}; use 'auto', 'cpu' or 'cuda'")
    if pref == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if pref == "cuda":
        raise BodyModelError("device 'cuda' was asked for, but torch sees no CUDA GPU")
    return "cpu"


@dataclass
class BodyEncoder:
    """An OSNet in eval mode on one device; embed() turns REID_SIZE crops into unit vectors."""

    model_name: str
    weights_path: Path
    device: str
    dim: int
    half: bool
    module: Any = field(default=None, repr=False, compare=False)  # the torch module (folded, or traced and frozen)
    # trace and freeze the (folded) model once this many crops were embedded (0: never): tracing costs about 1 s
    # of CPU and saves about 4 ms per crop, so only a run that has already embedded this many is likely to gain
    trace_after: int = field(default=0, repr=False, compare=False)
    _embedded: int = field(default=0, repr=False, compare=False)

    def embed(self, crops: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """(N, dim) float32 embeddings with L2-normalised rows; crops are HxWx3 uint8 RGB (resized if not REID_SIZE)."""
        import numpy as np
        import torch

        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        mean = torch.tensor(MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, device=self.device).view(1, 3, 1, 1)
        dtype = torch.float16 if self.half else torch.float32
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), batch_size):
                chunk = [as_reid_crop(c) for c in crops[start : start + batch_size]]
                x = torch.from_numpy(np.stack(chunk)).to(self.device)  # N,H,W,3 uint8
                x = x.permute(0, 3, 1, 2).float().div_(255.0)
                x = ((x - mean) / std).to(dtype)
                feats = self.module(x).float()
                feats = torch.nn.functional.normalize(feats, dim=1)
                out.append(feats.cpu().numpy())
        self._embedded += len(crops)
        if self.trace_after and self._embedded >= self.trace_after:
            self.trace_after = 0  # one try
            self._trace_now()
        return np.concatenate(out).astype(np.float32, copy=False)

    def _trace_now(self) -> None:
        """Swap in the traced and frozen model where it gives this model's embeddings (checked on a probe)."""
        import torch

        gen = torch.Generator().manual_seed(0)
        example, probe = (
            torch.rand(n, 3, *REID_SIZE, generator=gen).contiguous(memory_format=torch.channels_last) for n in (2, 3)
        )
        self.module = frozen_if_same(self.module, example, probe, tol=1e-4, normalise=True)


def fast_max_pool(model: Any) -> Any:
    """``model`` (changed in place) with its stem's max pooling run on a channels-last copy of its input when the
    input is laid out NCHW: the same numbers (a maximum is exact in any layout) in a quarter of the time on the
    CPU (README, Speed)."""
    import torch

    class ChannelsLastMaxPool(torch.nn.Module):
        def __init__(self, pool: torch.nn.MaxPool2d):
            super().__init__()
            self.pool = pool

        def forward(self, x):
            if x.is_contiguous():  # NCHW: pool channels-last, hand back NCHW
                return self.pool(x.contiguous(memory_format=torch.channels_last)).contiguous()
            return self.pool(x)  # already channels-last (a folded model): nothing to gain

    pool = getattr(model, "maxpool", None)
    if isinstance(pool, torch.nn.MaxPool2d):
        model.maxpool = ChannelsLastMaxPool(pool)
    return model


def folded_if_same(model: Any, probe: Any, tol: float, channels_last: bool = True) -> Any:
    """A copy of the eval-mode ``model`` with every BatchNorm2d that directly follows a convolution folded into it
    (torchreid's blocks call them ``conv``/``conv2`` then ``bn``) and its weights laid out channels-last (unless
    not ``channels_last``: faster at one or two crops a call), if on
    ``probe`` it gives the model's L2-normalised outputs to within ``tol``; else ``model`` itself.

    Cheap (no tracing, no compiling, nothing stored) and nearly as fast on the CPU as the traced and frozen model
    (README, Speed). Any failure keeps ``model``: this is an optimisation only.
    """
    import copy

    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold() -> Any:
        folded = copy.deepcopy(model)
        for mod in folded.modules():
            bn = getattr(mod, "bn", None)
            if not isinstance(bn, torch.nn.BatchNorm2d):
                continue
            name = "conv2" if isinstance(getattr(mod, "conv2", None), torch.nn.Conv2d) else "conv"
            conv = getattr(mod, name, None)
            if isinstance(conv, torch.nn.Conv2d):
                setattr(mod, name, fuse_conv_bn_eval(conv, bn))
                mod.bn = torch.nn.Identity()
        return folded.to(memory_format=torch.channels_last) if channels_last else folded

    return kept_if_same(model, fold, probe, tol, normalise=True)


def load_body_encoder(
    model_name: str,
    weights_path: Path,
    device: str = "auto",
    half: bool | None = None,
    *,
    num_threads: int | None = None,
    freeze: bool | str = True,
    trace_after: int = 0,
) -> BodyEncoder:
    """Build model_name, load weights_path into it (never downloading), and return an eval-mode encoder.

    half=None means fp16 on CUDA and fp32 on CPU. num_threads, if given, calls torch.set_num_threads
    (process-wide); otherwise torch's thread settings are left alone. freeze (CPU only): True or "trace" traces
    and freezes the model for inference (about 1.3 s of CPU at each load; about a quarter less CPU per crop);
    "fold" folds the batch norms into the convolutions and lays the weights out channels-last (about 0.05 s;
    about a fifth less CPU per crop), which is what a run's own process uses; "fold-nchw" folds them and keeps
    the NCHW layout, faster at the one or two crops a worker process embeds per call. Either is checked against the eager model on a
    probe batch when it loads, and the eager model is kept where they differ. With "fold" or False,
    ``trace_after`` > 0 traces and freezes the model (checked the same way) once that many crops were embedded: a
    long run then gets the last bit of speed too, a short one never pays for it.
    """
    import torch

    weights_path = Path(weights_path)
    check_model_name(model_name)  # before touching the file, for the clearer message
    dev = resolve_device(device)
    if half is None:
        half = dev == "cuda"
    elif half and dev != "cuda":
        raise BodyModelError("half precision is only supported on cuda")
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    model = build_osnet(model_name)
    load_weights(model, weights_path, model_name)
    model.eval()
    model.to(dev)
    if half:
        model.half()
    dim = int(model.feature_dim)
    if dev == "cpu":
        model = fast_max_pool(model)
    if dev == "cpu" and freeze in ("fold", "fold-nchw"):
        gen = torch.Generator().manual_seed(0)
        probe = torch.rand(2 if freeze == "fold" else 1, 3, *REID_SIZE, generator=gen)
        model = folded_if_same(model, probe, tol=1e-4, channels_last=freeze == "fold")
    elif dev == "cpu" and freeze:  # about 1 s once; about a quarter less CPU per crop (benchmarks/bench_recognize.py)
        gen = torch.Generator().manual_seed(0)
        example, probe = (torch.rand(n, 3, *REID_SIZE, generator=gen) for n in (2, 3))
        model = frozen_if_same(model, example, probe, tol=1e-4, normalise=True)
    return BodyEncoder(
        model_name=model_name,
        weights_path=weights_path,
        device=dev,
        dim=dim,
        half=bool(half),
        module=model,
        trace_after=trace_after if dev == "cpu" and freeze in ("fold", False) else 0,
    )
