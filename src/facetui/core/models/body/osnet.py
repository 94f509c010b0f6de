"""OSNet, torchreid's re-id network: its code loaded from the installed torchreid's own file (never its package
``__init__``, never a download) and its weights from the user's file, loaded safely: plain tensors only (no pickled
code run), every shape checked against the architecture."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...base.errors import FacetuiError

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


@dataclass(frozen=True)
class BodySpec:
    """What a worker process needs to load the run's OSNet on its own CPU (picklable): the weights file, the hash
    the body embeddings are keyed by (checked again around the load) and the width the KB expects."""

    model_name: str
    weights_path: Path
    sha256: str
    dim: int


def available_models() -> list[str]:
    """Names accepted by load_body_encoder and save_random_weights."""
    return list(_MODEL_FILES)


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


def check_model_name(model_name: str) -> None:
    """Raise BodyModelError unless ``model_name`` is one of :func:`available_models`."""
    if model_name not in _MODEL_FILES:
        raise BodyModelError(f"unknown body model {model_name!r}; choose one of: {', '.join(available_models())}")


def _model_factory(model_name: str):
    """The torchreid factory function for model_name, from its file loaded as a private module."""
    check_model_name(model_name)
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


def build_osnet(model_name: str):
    """A fresh OSNet ``model_name`` in training mode, its weights random (load_weights fills them)."""
    # pretrained=False always: torchreid's pretrained path downloads from Google Drive with gdown.
    # num_classes=1: the classifier is only used in training mode, never by us.
    return _model_factory(model_name)(num_classes=1, pretrained=False, loss="softmax")


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


def load_weights(model, path: Path, model_name: str) -> None:
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
        model = build_osnet(model_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), str(path))
    return path
