"""dlib and the face model files of the ``face-recognition-models`` package: where they are, a cheap check that
they are installed, and dlib's own objects for them, each loaded once per process when a photo first needs it.

face_recognition's own API loads every model at import (the 68-point landmark model alone is 96 MB and half a
second of CPU per worker, and it sets Pillow's LOAD_TRUNCATED_IMAGES globally). facetui calls the same dlib
functions with the same model files and arguments, so its boxes and encodings are face_recognition's
(tests/integration/test_faces.py checks), but loads each model only when it is needed.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

from ...base.errors import FacetuiError
from ..runtime import prepared


class FaceModelError(FacetuiError, RuntimeError):
    """dlib or a face model file cannot be loaded; the message says how to fix it."""


LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
ENCODER = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
MODEL_FILES = (LANDMARKS_5, ENCODER, CNN_DETECTOR)


_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


def models_dir() -> Path | None:
    """face_recognition_models' model folder, found without importing the package (it needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def check_face_models() -> None:
    """A cheap check (no model is loaded) that dlib and the face model files are installed."""
    folder = models_dir()
    if folder is None:
        raise FaceModelError("face models are missing: install the 'face-recognition-models' package (make setup does)")
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise FaceModelError(
            f"face model file(s) missing from {folder}: {', '.join(missing)}; reinstall 'face-recognition-models'"
        )
    if importlib.util.find_spec("dlib") is None:
        raise FaceModelError("dlib is missing: install 'dlib-bin' (make setup does)")


def dlib_module() -> Any:
    try:
        import dlib  # native; imported where a photo needs it
    except ImportError as e:
        raise FaceModelError(f"dlib could not be imported: {e}") from None
    return dlib


def load_model(name: str) -> Any:
    """The dlib object for one model ('hog' or a model file name), loaded once per process."""
    with _LOCK:
        m = _MODELS.get(name)
        if m is not None:
            return m
        dlib = dlib_module()
        if name == "hog":
            m = prepared.hog_detector(dlib)  # this machine's saved copy where there is one (0.29 s less per worker)
        else:
            check_face_models()
            path = str(models_dir() / name)
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


def dlib_has_cuda() -> bool:
    try:
        import dlib

        return bool(getattr(dlib, "DLIB_USE_CUDA", False))
    except ImportError:
        return False
