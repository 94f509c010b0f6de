"""The face models loaded ahead of the first photo: all of them in a worker process (:func:`load_face_models`), or
the CNN detector and the descriptor network on one device for the device stage (:func:`models_on`)."""

from __future__ import annotations

import threading
from typing import Any

from . import files
from .detect import cnn_detector
from .encode import face_network
from .files import CNN_DETECTOR, ENCODER, LANDMARKS_5, FaceModelError, check_face_models, load_model

_LOCK = threading.Lock()
_ON_DEVICE: dict[str, tuple[Any, Any]] = {}  # device -> (MmodDetector, FaceNet) of models_on


def models_on(device: str) -> tuple[Any, Any]:
    """(MmodDetector, face network) on ``device``, loaded once per process: on "cpu" the very objects
    detect.detect_faces and encode.encode_chips use (the network in ONNX Runtime where it runs there), elsewhere
    both in torch. Raises FaceModelError where either cannot be had."""
    with _LOCK:
        got = _ON_DEVICE.get(device)
    if got is not None:
        return got
    if device == "cpu":
        det, net = cnn_detector(), face_network()
        if det is None or net is None:
            raise FaceModelError("the torch ports of the CNN face detector and the descriptor network did not load")
    else:
        check_face_models()
        try:
            from .mmod.detector import MmodDetector
            from .resnet import FaceNet  # imports torch

            det = MmodDetector(files.models_dir() / CNN_DETECTOR, device=device)
            net = FaceNet(files.models_dir() / ENCODER, device=device)
        except Exception as e:
            raise FaceModelError(f"the face models could not be loaded on {device}: {type(e).__name__}: {e}") from e
    with _LOCK:
        return _ON_DEVICE.setdefault(device, (det, net))


def load_face_models(detector: str = "hog") -> None:
    """Load the detector, landmark and encoder models now (a worker does this once before its first photo)."""
    if detector == "hog":
        load_model("hog")
    elif cnn_detector() is None:
        load_model(CNN_DETECTOR)
    load_model(LANDMARKS_5)
    if face_network() is None:
        load_model(ENCODER)
