"""128-d face descriptors: each face aligned to a 150 px chip by dlib's 5-point landmarks, then dlib's ResNet
(resnet.py's port, in ONNX Runtime or torch; dlib's own where the port cannot load) on the chip and its mirror."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from . import files
from .detect import Box
from .files import ENCODER, LANDMARKS_5, check_face_models, dlib_module, load_model

ENCODER_ENV = "FACETUI_FACE_ENCODER"  # "dlib" forces dlib's own encoder (A/B checks); default: torch, else dlib

# resnet.FaceNet or OnnxFaceNet once loaded; False where it could not be (dlib's own encoder is used then)
_NET: Any = None

_LOCK = threading.Lock()


def torch_encoder_wanted() -> bool:
    """False where FACETUI_FACE_ENCODER=dlib asks for dlib's own descriptor network instead of the torch port."""
    return os.environ.get(ENCODER_ENV, "torch") != "dlib"


def face_network() -> Any:
    """The port of dlib's descriptor network (resnet.py) in ONNX Runtime where that runs here (no torch in this
    process once the file is prepared), else in torch; None where dlib's own encoder is to be used."""
    global _NET
    with _LOCK:
        if _NET is None:
            _NET = False
            if torch_encoder_wanted():
                check_face_models()
                try:
                    from .resnet import FaceNet, onnx_face_net

                    # ONNX Runtime where it is installed (no torch in this process once the file is prepared)
                    _NET = onnx_face_net(files.models_dir() / ENCODER) or FaceNet(files.models_dir() / ENCODER)  # torch
                except Exception:  # no torch, an unknown model file: dlib computes the same
                    _NET = False
        return _NET or None


def encoder_name() -> str:
    """Which implementation computes face descriptors in this process: 'onnx' (ONNX Runtime), 'torch' or 'dlib'."""
    net = face_network()
    if net is None:
        return "dlib"
    return net.runtime


def encoder_impl() -> str:
    """The implementation a process of this run will compute face descriptors with, known without loading any:
    'dlib' where FACETUI_FACE_ENCODER=dlib asks for it, 'onnx' where ONNX Runtime is installed and wanted, else
    'torch'. They agree to ~4e-7, not to the bit: each keeps its own cache entries."""
    from ..runtime import onnxnets

    if not torch_encoder_wanted():
        return "dlib"
    return "onnx" if onnxnets.wanted() else "torch"


def face_chips(rgb: np.ndarray, boxes: list[Box]) -> list[np.ndarray]:
    """The aligned 150 px face chips of the given boxes (dlib's 5-point alignment, padding 0.25): what the
    descriptor network sees, and what face quality is measured on."""
    if not boxes:
        return []
    dlib = dlib_module()
    predictor = load_model(LANDMARKS_5)
    shapes = dlib.full_object_detections()
    for t, r, b, l in boxes:
        shapes.append(predictor(rgb, dlib.rectangle(int(l), int(t), int(r), int(b))))
    return [np.asarray(c) for c in dlib.get_face_chips(rgb, shapes, size=150, padding=0.25)]


def encode_chips(chips: list[np.ndarray], flip: bool = True, net: Any = None) -> np.ndarray:
    """128-d descriptors of aligned chips; (N, 128) float64.

    With ``flip`` (what facetui stores and matches), each descriptor is the mean of the chip's and its mirror
    image's: the two views' noise partly cancels, which measurably separates people better (README, Accuracy).
    ``flip=False`` gives dlib's own single-view descriptor (face_recognition's, with one jitter). ``net``: a
    resnet.FaceNet to run instead of this process's (one on a GPU: preload.models_on).
    """
    if not chips:
        return np.zeros((0, 128), dtype=np.float64)
    views = list(chips) + ([np.ascontiguousarray(c[:, ::-1]) for c in chips] if flip else [])
    net = net or face_network()
    if net is not None:  # the same network as dlib's encoder, run by ONNX Runtime or torch
        out = net.encode(views)
    else:
        encoder = load_model(ENCODER)
        out = np.asarray(
            [np.asarray(encoder.compute_face_descriptor(np.ascontiguousarray(v)), dtype=np.float64) for v in views],
            dtype=np.float64,
        ).reshape(-1, 128)
    if flip:
        n = len(chips)
        return (out[:n] + out[n:]) / 2.0
    return out


def encode_faces(rgb: np.ndarray, boxes: list[Box], flip: bool = True) -> np.ndarray:
    """128-d encodings of the given boxes (see :func:`encode_chips`); (N, 128) float64."""
    return encode_chips(face_chips(rgb, boxes), flip=flip)


def prepare_onnx_file() -> None:
    """This machine's ONNX file of the descriptor network, made now where ONNX Runtime is wanted and the file is not
    there yet (a machine's first run makes it once, beside the body check, rather than in each worker). Quiet on
    failure: it is only a head start, and each process tries again when it loads the network."""
    from .resnet import onnx_face_net

    try:
        onnx_face_net(files.models_dir() / ENCODER)
    except Exception:
        pass
