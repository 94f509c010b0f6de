"""Face detection and 128-d dlib encodings through face_recognition, loaded lazily and guarded."""

from __future__ import annotations

import importlib.util
import io
import contextlib
from pathlib import Path
from typing import Any

import numpy as np

Box = tuple[int, int, int, int]  # (top, right, bottom, left), face_recognition's order

_FR: Any = None


class FaceModelError(RuntimeError):
    """face_recognition or its model files cannot be loaded; the message says how to fix it."""


MODEL_FILES = ("shape_predictor_5_face_landmarks.dat", "shape_predictor_68_face_landmarks.dat",
               "dlib_face_recognition_resnet_model_v1.dat", "mmod_human_face_detector.dat")


def _models_dir() -> Path | None:
    """face_recognition_models' model folder, found without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def check_face_models() -> None:
    """A cheap check (no model is loaded) that face_recognition and its model files are installed."""
    folder = _models_dir()
    if folder is None:
        raise FaceModelError(
            "face models are missing: install the 'face-recognition-models' package (make setup does)")
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise FaceModelError(f"face model file(s) missing from {folder}: {', '.join(missing)}; "
                             "reinstall 'face-recognition-models'")
    if importlib.util.find_spec("pkg_resources") is None:
        raise FaceModelError(
            "face-recognition-models needs pkg_resources, which setuptools 82 removed: "
            "install 'setuptools<82' in this environment (make setup does)")
    if importlib.util.find_spec("face_recognition") is None:
        raise FaceModelError("the 'face_recognition' package is missing (make setup installs it with --no-deps)")


def face_recognition_module() -> Any:
    """Import face_recognition once, turning its quit()-on-missing-models into a clear FaceModelError."""
    global _FR
    if _FR is not None:
        return _FR
    check_face_models()
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import face_recognition as fr  # noqa: PLC0415 (heavy: dlib models load here)
    except SystemExit:
        raise FaceModelError("face_recognition could not load its models: " + (buf.getvalue().strip() or "unknown reason")) from None
    except (ImportError, RuntimeError, OSError) as e:
        raise FaceModelError(f"face_recognition could not be imported: {e}") from None
    _FR = fr
    return fr


def dlib_has_cuda() -> bool:
    try:
        import dlib  # noqa: PLC0415

        return bool(getattr(dlib, "DLIB_USE_CUDA", False))
    except ImportError:
        return False


def detect_faces(rgb: np.ndarray, detector: str = "hog", upsample: int = 1) -> list[Box]:
    """Every face box in an RGB uint8 image, in face_recognition's (top, right, bottom, left) order."""
    fr = face_recognition_module()
    boxes = fr.face_locations(rgb, number_of_times_to_upsample=upsample, model=detector)
    return [tuple(int(v) for v in b) for b in boxes]


def encode_faces(rgb: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """128-d encodings of the given boxes using dlib's own 5-point alignment; (N, 128) float64."""
    if not boxes:
        return np.zeros((0, 128), dtype=np.float64)
    fr = face_recognition_module()
    enc = fr.face_encodings(rgb, known_face_locations=list(boxes), num_jitters=1, model="small")
    return np.asarray(enc, dtype=np.float64).reshape(len(boxes), 128)


def box_area(box: Box) -> int:
    t, r, b, l = box
    return max(0, b - t) * max(0, r - l)


def crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    t, r, b, l = box
    h, w = rgb.shape[:2]
    return rgb[max(0, t):min(h, b), max(0, l):min(w, r)]
