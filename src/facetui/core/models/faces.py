"""Face detection and 128-d dlib encodings, from dlib and face_recognition_models' files.

face_recognition's own API loads every model at import (the 68-point landmark model alone is 96 MB and half a
second of CPU per worker, and it sets Pillow's LOAD_TRUNCATED_IMAGES globally). facetui calls the same dlib
functions with the same model files and arguments, so its boxes and encodings are those of
``face_recognition.face_locations`` / ``face_encodings(model="small")`` (tests/integration/test_faces.py checks), but loads
each model only when a photo first needs it. The descriptor network itself runs in torch (face_net.py: the same
model file and arithmetic, about ten times faster than dlib-bin's BLAS-less build) wherever it loads, and so does
the CNN detector (mmod_net.py: dlib's boxes, over ten times faster than dlib-bin's own).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import FacetuiError
from . import prepared

Box = tuple[int, int, int, int]  # (top, right, bottom, left), face_recognition's order


class FaceModelError(FacetuiError, RuntimeError):
    """dlib or a face model file cannot be loaded; the message says how to fix it."""


LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
ENCODER = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
MODEL_FILES = (LANDMARKS_5, ENCODER, CNN_DETECTOR)

_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}
_NET: Any = None  # face_net.FaceNet once loaded; False where it could not be (dlib's own encoder is used then)
ENCODER_ENV = "FACETUI_FACE_ENCODER"  # "dlib" forces dlib's own encoder (A/B checks); default: torch, else dlib
_MMOD: Any = None  # mmod_net.MmodDetector once loaded; False where it could not be (dlib's own CNN is used then)
CNN_ENV = "FACETUI_CNN_DETECTOR"  # "dlib" forces dlib's own CNN detector; default: torch, else dlib
_ON_DEVICE: dict[str, tuple[Any, Any]] = {}  # device -> (MmodDetector, FaceNet) of models_on


def _models_dir() -> Path | None:
    """face_recognition_models' model folder, found without importing the package (it needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def check_face_models() -> None:
    """A cheap check (no model is loaded) that dlib and the face model files are installed."""
    folder = _models_dir()
    if folder is None:
        raise FaceModelError("face models are missing: install the 'face-recognition-models' package (make setup does)")
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise FaceModelError(
            f"face model file(s) missing from {folder}: {', '.join(missing)}; reinstall 'face-recognition-models'"
        )
    if importlib.util.find_spec("dlib") is None:
        raise FaceModelError("dlib is missing: install 'dlib-bin' (make setup does)")


def _dlib() -> Any:
    try:
        import dlib  # native; imported where a photo needs it
    except ImportError as e:
        raise FaceModelError(f"dlib could not be imported: {e}") from None
    return dlib


def _model(name: str) -> Any:
    """The dlib object for one model ('hog' or a model file name), loaded once per process."""
    with _LOCK:
        m = _MODELS.get(name)
        if m is not None:
            return m
        dlib = _dlib()
        if name == "hog":
            m = prepared.hog_detector(dlib)  # this machine's saved copy where there is one (0.29 s less per worker)
        else:
            check_face_models()
            path = str(_models_dir() / name)
            load = {
                LANDMARKS_5: dlib.shape_predictor,
                ENCODER: dlib.face_recognition_model_v1,
                CNN_DETECTOR: dlib.cnn_face_detection_model_v1,
            }[name]
            try:
                m = load(path)
            except RuntimeError as e:  # a truncated or damaged model file
                raise FaceModelError(f"dlib could not load {path}: {e}; reinstall 'face-recognition-models'") from None
        _MODELS[name] = m
        return m


def torch_encoder_wanted() -> bool:
    """False where FACETUI_FACE_ENCODER=dlib asks for dlib's own descriptor network instead of the torch port."""
    return os.environ.get(ENCODER_ENV, "torch") != "dlib"


def _face_net() -> Any:
    """The torch port of dlib's encoder (face_net), or None where dlib's own encoder is to be used."""
    global _NET
    with _LOCK:
        if _NET is None:
            _NET = False
            if torch_encoder_wanted():
                check_face_models()
                try:
                    from .face_net import FaceNet, onnx_face_net

                    # ONNX Runtime where it is installed (no torch in this process once the file is prepared)
                    _NET = onnx_face_net(_models_dir() / ENCODER) or FaceNet(_models_dir() / ENCODER)  # torch
                except Exception:  # no torch, an unknown model file: dlib computes the same
                    _NET = False
        return _NET or None


def encoder_name() -> str:
    """Which implementation computes face descriptors in this process: 'onnx' (ONNX Runtime), 'torch' or 'dlib'."""
    net = _face_net()
    if net is None:
        return "dlib"
    return "onnx" if type(net).__name__ == "OnnxFaceNet" else "torch"


def encoder_impl() -> str:
    """The implementation a process of this run will compute face descriptors with, known without loading any:
    'dlib' where FACETUI_FACE_ENCODER=dlib asks for it, 'onnx' where ONNX Runtime is installed and wanted, else
    'torch'. They agree to ~4e-7, not to the bit: each keeps its own cache entries."""
    from . import onnxnets

    if not torch_encoder_wanted():
        return "dlib"
    return "onnx" if onnxnets.wanted() else "torch"


def torch_cnn_wanted() -> bool:
    """False where FACETUI_CNN_DETECTOR=dlib asks for dlib's own CNN face detector instead of the torch port."""
    return os.environ.get(CNN_ENV, "torch") != "dlib"


def _mmod_net() -> Any:
    """The port of dlib's CNN face detector (mmod_net), its network in ONNX Runtime where that runs here (no torch
    in this process once the file is prepared), else in torch; None where dlib's own is to be used."""
    global _MMOD
    with _LOCK:
        if _MMOD is None:
            _MMOD = False
            if torch_cnn_wanted():
                check_face_models()
                try:
                    from .mmod_net import MmodDetector, onnx_detector

                    path = _models_dir() / CNN_DETECTOR
                    _MMOD = onnx_detector(path) or MmodDetector(path)  # the latter imports torch
                except Exception:  # no torch, an unknown model file: dlib finds the same faces
                    _MMOD = False
        return _MMOD or None


def cnn_detector_name() -> str:
    """Which implementation runs ``detector="cnn"`` in this process: 'onnx' (the port's network in ONNX Runtime),
    'torch' (in torch) or 'dlib' (dlib's own)."""
    det = _mmod_net()
    if det is None:
        return "dlib"
    return det.runtime


def models_on(device: str) -> tuple[Any, Any]:
    """(MmodDetector, face network) on ``device``, loaded once per process: on "cpu" the very objects
    :func:`detect_faces` and :func:`encode_chips` use (the network in ONNX Runtime where it runs there), elsewhere
    both in torch. Raises FaceModelError where either cannot be had."""
    with _LOCK:
        got = _ON_DEVICE.get(device)
    if got is not None:
        return got
    if device == "cpu":
        det, net = _mmod_net(), _face_net()
        if det is None or net is None:
            raise FaceModelError("the torch ports of the CNN face detector and the descriptor network did not load")
    else:
        check_face_models()
        try:
            from .face_net import FaceNet  # imports torch
            from .mmod_net import MmodDetector

            det = MmodDetector(_models_dir() / CNN_DETECTOR, device=device)
            net = FaceNet(_models_dir() / ENCODER, device=device)
        except Exception as e:
            raise FaceModelError(f"the face models could not be loaded on {device}: {type(e).__name__}: {e}") from e
    with _LOCK:
        return _ON_DEVICE.setdefault(device, (det, net))


def trim(dets: list, width: int, height: int) -> list[Box]:
    """mmod_net Detections as (top, right, bottom, left) boxes trimmed to a width x height photo."""
    return [(max(d.top, 0), min(d.right, width), min(d.bottom, height), max(d.left, 0)) for d in dets]


def load_face_models(detector: str = "hog") -> None:
    """Load the detector, landmark and encoder models now (a worker does this once before its first photo)."""
    if detector == "hog":
        _model("hog")
    elif _mmod_net() is None:
        _model(CNN_DETECTOR)
    _model(LANDMARKS_5)
    if _face_net() is None:
        _model(ENCODER)


def dlib_has_cuda() -> bool:
    try:
        import dlib

        return bool(getattr(dlib, "DLIB_USE_CUDA", False))
    except ImportError:
        return False


def detect_faces(rgb: np.ndarray, detector: str = "hog", upsample: int = 1) -> list[Box]:
    """Every face box in an RGB uint8 image, in (top, right, bottom, left) order, trimmed to the image."""
    h, w = rgb.shape[:2]
    if detector == "cnn":
        net = _mmod_net()
        if net is not None:  # dlib's CNN detector, ported: the same boxes (tests/integration/test_mmod_net.py)
            return trim(net.detect(rgb, upsample), w, h)
        rects = [d.rect for d in _model(CNN_DETECTOR)(rgb, upsample)]
    else:
        rects = list(_model("hog")(rgb, upsample))
    return [(max(r.top(), 0), min(r.right(), w), min(r.bottom(), h), max(r.left(), 0)) for r in rects]


def face_chips(rgb: np.ndarray, boxes: list[Box]) -> list[np.ndarray]:
    """The aligned 150 px face chips of the given boxes (dlib's 5-point alignment, padding 0.25): what the
    descriptor network sees, and what face quality is measured on."""
    if not boxes:
        return []
    dlib = _dlib()
    predictor = _model(LANDMARKS_5)
    shapes = dlib.full_object_detections()
    for t, r, b, l in boxes:
        shapes.append(predictor(rgb, dlib.rectangle(int(l), int(t), int(r), int(b))))
    return [np.asarray(c) for c in dlib.get_face_chips(rgb, shapes, size=150, padding=0.25)]


def encode_chips(chips: list[np.ndarray], flip: bool = True, net: Any = None) -> np.ndarray:
    """128-d descriptors of aligned chips; (N, 128) float64.

    With ``flip`` (what facetui stores and matches), each descriptor is the mean of the chip's and its mirror
    image's: the two views' noise partly cancels, which measurably separates people better (README, Accuracy).
    ``flip=False`` gives dlib's own single-view descriptor (face_recognition's, with one jitter). ``net``: a
    face_net.FaceNet to run instead of this process's (one on a GPU: :func:`models_on`).
    """
    if not chips:
        return np.zeros((0, 128), dtype=np.float64)
    views = list(chips) + ([np.ascontiguousarray(c[:, ::-1]) for c in chips] if flip else [])
    net = net or _face_net()
    if net is not None:  # the same network as dlib's encoder, run in torch
        out = net.encode(views)
    else:
        encoder = _model(ENCODER)
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


def box_area(box: Box) -> int:
    t, r, b, l = box
    return max(0, b - t) * max(0, r - l)


def crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    t, r, b, l = box
    h, w = rgb.shape[:2]
    return rgb[max(0, t) : min(h, b), max(0, l) : min(w, r)]
