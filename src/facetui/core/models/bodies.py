"""Full-body re-identification: person regions below faces, OSNet loading from a local weights file, and embeddings.

Why it is long: loading a user-supplied weights file safely (no pickle code run, shapes checked against the
architecture, the hash checked around the load) and embedding with it are one contract; the regions below the
faces are a few lines that only this uses.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base.errors import FacetuiError
from .torchfreeze import frozen_if_same

if TYPE_CHECKING:  # only for annotations; numpy and torch are imported lazily at run time
    import numpy as np

__all__ = [
    "REID_SIZE",
    "BodyEncoder",
    "BodyModelError",
    "available_models",
    "body_regions",
    "crop_for_reid",
    "load_body_encoder",
    "resolve_device",
    "save_random_weights",
    "weights_fingerprint",
]

# (height, width) that OSNet was trained on; every crop is resized to this.
REID_SIZE = (256, 128)

# ImageNet statistics, which torchreid's transforms use.
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

# Factory name -> torchreid source file that defines it (the `__all__` of each file).
_MODEL_FILES = {
    "osnet_ain_x1_0": "osnet_ain.py",
    "osnet_ain_x0_75": "osnet_ain.py",
    "osnet_ain_x0_5": "osnet_ain.py",
    "osnet_ain_x0_25": "osnet_ain.py",
    "osnet_x1_0": "osnet.py",
    "osnet_x0_75": "osnet.py",
    "osnet_x0_5": "osnet.py",
    "osnet_x0_25": "osnet.py",
    "osnet_ibn_x1_0": "osnet.py",
}

# Modules loaded from torchreid's files, keyed by file name (not put into sys.modules).
_LOADED: dict[str, Any] = {}


class BodyModelError(FacetuiError):
    """The body model cannot be built, its weights cannot be loaded, or the device is unusable."""


def available_models() -> list[str]:
    """Names accepted by load_body_encoder and save_random_weights."""
    return list(_MODEL_FILES)


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


# --------------------------------------------------------------------------- geometry


def body_regions(
    image_hw: tuple[int, int], face_boxes: list[tuple[int, int, int, int]]
) -> list[tuple[int, int, int, int]]:
    """One person region per face (top, right, bottom, left), or the whole image when there is no face.

    The region is about 3 face-widths wide, centred on the face, and runs from half a
    face-height above the face down to 7 face-heights below it, clipped to the image.
    """
    h, w = int(image_hw[0]), int(image_hw[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {image_hw!r}")
    if not face_boxes:
        return [(0, w, h, 0)]
    out = []
    for top, right, bottom, left in face_boxes:
        # Clamp the face itself first so that a face partly outside the frame still yields a non-empty region.
        top, bottom = sorted((min(max(int(top), 0), h - 1), min(max(int(bottom), 1), h)))
        left, right = sorted((min(max(int(left), 0), w - 1), min(max(int(right), 1), w)))
        fw, fh = max(right - left, 1), max(bottom - top, 1)
        cx = (left + right) / 2.0
        r_left = max(0, int(round(cx - 1.5 * fw)))
        r_right = min(w, int(round(cx + 1.5 * fw)))
        r_top = max(0, int(round(top - 0.5 * fh)))
        r_bottom = min(h, int(round(bottom + 7.0 * fh)))
        out.append((r_top, max(r_right, r_left + 1), max(r_bottom, r_top + 1), r_left))
    return out


def crop_for_reid(image: np.ndarray, box) -> np.ndarray:
    """Cut box (top, right, bottom, left) out of an RGB image and resize it to REID_SIZE: (256, 128, 3) uint8."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected an HxW or HxWxC image, got shape {arr.shape}")
    h, w = arr.shape[:2]
    top, right, bottom, left = (int(v) for v in box)
    top, bottom = max(0, top), min(h, bottom)
    left, right = max(0, left), min(w, right)
    if bottom <= top or right <= left:
        raise ValueError(f"box {tuple(box)!r} is empty inside a {w}x{h} image")
    pil = Image.fromarray(np.ascontiguousarray(arr[top:bottom, left:right])).convert("RGB")
    pil = pil.resize((REID_SIZE[1], REID_SIZE[0]), Image.BILINEAR)
    return np.asarray(pil, dtype=np.uint8)


# --------------------------------------------------------------------------- model code


def _torchreid_models_dir() -> Path:
    """Folder holding torchreid's model files, found without running torchreid's __init__."""
    try:
        spec = importlib.util.find_spec("torchreid")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BodyModelError("torchreid is not installed (pip install --no-deps torchreid)")
    for root in spec.submodule_search_locations:
        # The PyPI "torchreid" 0.2.x nests the library under reid/; deep-person-reid itself does not.
        for sub in ("reid/models", "models"):
            d = Path(root) / sub
            if (d / "osnet.py").is_file():
                return d
    raise BodyModelError(f"no osnet.py found in the torchreid package at {list(spec.submodule_search_locations)}")


def _model_factory(model_name: str):
    """The torchreid factory function for model_name, from its file loaded as a private module."""
    if model_name not in _MODEL_FILES:
        raise BodyModelError(f"unknown body model {model_name!r}; choose one of: {', '.join(available_models())}")
    fname = _MODEL_FILES[model_name]
    mod = _LOADED.get(fname)
    if mod is None:
        path = _torchreid_models_dir() / fname
        spec = importlib.util.spec_from_file_location(f"_facetui_torchreid_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise BodyModelError(f"cannot load model code from {path}")
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)  # the file imports only torch
        except Exception as e:
            raise BodyModelError(f"cannot load model code from {path}: {type(e).__name__}: {e}") from e
        _LOADED[fname] = mod
    factory = getattr(mod, model_name, None)
    if factory is None:
        raise BodyModelError(f"{fname} in the installed torchreid defines no {model_name}")
    return factory


def _build_model(model_name: str):
    # pretrained=False always: torchreid's pretrained path downloads from Google Drive with gdown.
    # num_classes=1: the classifier is only used in training mode, never by us.
    return _model_factory(model_name)(num_classes=1, pretrained=False, loss="softmax")


# --------------------------------------------------------------------------- weights


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_state_dict(path: Path) -> dict:
    """Load a weights file safely (weights_only) and return its tensors with any "module." prefix removed."""
    import pickle

    import torch

    if not path.exists():
        raise BodyModelError(f"body model weights not found: {path}")
    if not path.is_file():
        raise BodyModelError(f"body model weights path is not a file: {path}")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # Name the offending global without torch's multi-line advice to use weights_only=False.
        detail = next((ln for ln in str(e).splitlines() if "GLOBAL" in ln), "")
        raise BodyModelError(
            f"refused to load {path}: it holds Python objects beyond plain tensors, which could run code"
            + (f" ({_one_line(detail)})" if detail else "")
        ) from e
    except Exception as e:
        raise BodyModelError(
            f"cannot read {path} as PyTorch weights ({type(e).__name__}: {_one_line(e) or 'no detail'})"
        ) from e
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # a torchreid training checkpoint
    if not isinstance(obj, dict) or not obj:
        raise BodyModelError(f"{path} is not a state_dict (got {type(obj).__name__})")
    state = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise BodyModelError(f"{path} is not a state_dict: entry {key!r} is a {type(value).__name__}")
        state[key[len("module.") :] if key.startswith("module.") else key] = value
    return state


def _load_weights(model, path: Path, model_name: str) -> None:
    """Copy a file's tensors into model; classifier mismatches are dropped, any other mismatch is an error."""
    state = _read_state_dict(path)
    own = model.state_dict()
    missing, wrong_shape = [], []
    for key, tensor in own.items():
        if key.startswith("classifier."):
            # The classifier's size is the training set's identity count, and eval mode ignores it.
            if key not in state or state[key].shape != tensor.shape:
                state[key] = tensor
        elif key not in state:
            # Very old checkpoints lack the BN counters, which do not affect eval mode.
            if key.endswith("num_batches_tracked"):
                state[key] = tensor
            else:
                missing.append(key)
        elif state[key].shape != tensor.shape:
            wrong_shape.append(f"{key} {tuple(state[key].shape)} vs {tuple(tensor.shape)}")
    unexpected = [k for k in state if k not in own]
    if missing or wrong_shape or unexpected:
        parts = []
        if wrong_shape:
            parts.append(f"{len(wrong_shape)} with another shape (e.g. {wrong_shape[0]})")
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise BodyModelError(f"{path} does not hold {model_name} weights: tensors " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def weights_fingerprint(path: Path) -> str:
    """sha256 hex digest of the weights file, for cache keys."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise BodyModelError(f"cannot read body model weights {path}: {e.strerror or e}") from e
    return digest.hexdigest()


def save_random_weights(path: Path, model_name: str = "osnet_ain_x1_0", seed: int = 0) -> Path:
    """Save a randomly initialised state_dict of model_name to path.

    For tests and timing only: such a model's embeddings mean nothing and must never be used for matching.
    """
    import torch

    path = Path(path)
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state untouched
        torch.manual_seed(seed)
        model = _build_model(model_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), str(path))
    return path


# --------------------------------------------------------------------------- encoder


@dataclass
class BodyEncoder:
    """An OSNet in eval mode on one device; embed() turns REID_SIZE crops into unit vectors."""

    model_name: str
    weights_path: Path
    device: str
    dim: int
    half: bool
    _model: Any = field(default=None, repr=False, compare=False)
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
        mean = torch.tensor(_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(_STD, device=self.device).view(1, 3, 1, 1)
        dtype = torch.float16 if self.half else torch.float32
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), batch_size):
                chunk = [_as_reid_crop(c) for c in crops[start : start + batch_size]]
                x = torch.from_numpy(np.stack(chunk)).to(self.device)  # N,H,W,3 uint8
                x = x.permute(0, 3, 1, 2).float().div_(255.0)
                x = ((x - mean) / std).to(dtype)
                feats = self._model(x).float()
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
        self._model = frozen_if_same(self._model, example, probe, tol=1e-4, normalise=True)


def fast_max_pool(model: Any) -> Any:
    """``model`` (changed in place) with its stem's max pooling run on a channels-last copy of its input when the
    input is laid out NCHW: the same numbers (a maximum is exact in any layout) in a quarter of the time on the
    CPU (osnet_ain_x1_0, one thread: 4.3 ms of its ~44 per crop NCHW, 1.0 channels-last with both conversions)."""
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

    Cheap (no tracing, no compiling, nothing stored) and about as fast on the CPU as the traced and frozen model:
    on 2 cores, one thread, osnet_ain_x1_0 takes about 72 ms per crop eager, 59 folded, 56 traced and frozen, and
    folding takes about 0.05 s against 1 s for tracing. Any failure keeps ``model``: this is an optimisation only.
    """
    import copy

    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def out(m: Any) -> Any:
        return torch.nn.functional.normalize(m(probe).float(), dim=1)

    try:
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
        if channels_last:
            folded = folded.to(memory_format=torch.channels_last)
        with torch.no_grad():
            want, got = out(model), out(folded)
        if got.shape == want.shape and float((got - want).abs().max()) < tol:
            return folded
    except Exception:
        pass
    return model


def _as_reid_crop(crop) -> np.ndarray:
    import numpy as np

    arr = np.asarray(crop)
    if arr.shape == (REID_SIZE[0], REID_SIZE[1], 3) and arr.dtype == np.uint8:
        return arr
    return crop_for_reid(arr, (0, arr.shape[1], arr.shape[0], 0))


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
    if model_name not in _MODEL_FILES:  # check before touching the file, for the clearer message
        _model_factory(model_name)
    dev = resolve_device(device)
    if half is None:
        half = dev == "cuda"
    elif half and dev != "cuda":
        raise BodyModelError("half precision is only supported on cuda")
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    model = _build_model(model_name)
    _load_weights(model, weights_path, model_name)
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
        _model=model,
        trace_after=trace_after if dev == "cpu" and freeze in ("fold", False) else 0,
    )
