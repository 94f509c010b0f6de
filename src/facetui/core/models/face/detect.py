"""Face boxes in a photo: dlib's HOG detector, or its CNN detector (the port in mmod/, dlib's own where the port
cannot load), in (top, right, bottom, left) order, trimmed to the photo."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from . import files
from .files import CNN_DETECTOR, check_face_models, load_model

Box = tuple[int, int, int, int]  # (top, right, bottom, left), face_recognition's order


CNN_ENV = "FACETUI_CNN_DETECTOR"  # "dlib" forces dlib's own CNN detector; default: torch, else dlib

_MMOD: Any = None  # mmod.detector.MmodDetector once loaded; False where it could not be (dlib's own CNN is used then)

_LOCK = threading.Lock()


def torch_cnn_wanted() -> bool:
    """False where FACETUI_CNN_DETECTOR=dlib asks for dlib's own CNN face detector instead of the torch port."""
    return os.environ.get(CNN_ENV, "torch") != "dlib"


def cnn_detector() -> Any:
    """The port of dlib's CNN face detector (mmod/), its network in ONNX Runtime where that runs here (no torch
    in this process once the file is prepared), else in torch; None where dlib's own is to be used."""
    global _MMOD
    with _LOCK:
        if _MMOD is None:
            _MMOD = False
            if torch_cnn_wanted():
                check_face_models()
                try:
                    from .mmod.detector import MmodDetector, onnx_detector

                    path = files.models_dir() / CNN_DETECTOR
                    _MMOD = onnx_detector(path) or MmodDetector(path)  # the latter imports torch
                except Exception:  # no torch, an unknown model file: dlib finds the same faces
                    _MMOD = False
        return _MMOD or None


def cnn_detector_name() -> str:
    """Which implementation runs ``detector="cnn"`` in this process: 'onnx' (the port's network in ONNX Runtime),
    'torch' (in torch) or 'dlib' (dlib's own)."""
    det = cnn_detector()
    if det is None:
        return "dlib"
    return det.runtime


def trim(dets: list, width: int, height: int) -> list[Box]:
    """mmod Detections as (top, right, bottom, left) boxes trimmed to a width x height photo."""
    return [(max(d.top, 0), min(d.right, width), min(d.bottom, height), max(d.left, 0)) for d in dets]


def detect_faces(rgb: np.ndarray, detector: str = "hog", upsample: int = 1) -> list[Box]:
    """Every face box in an RGB uint8 image, in (top, right, bottom, left) order, trimmed to the image."""
    h, w = rgb.shape[:2]
    if detector == "cnn":
        net = cnn_detector()
        if net is not None:  # dlib's CNN detector, ported: the same boxes (tests/integration/test_mmod_net.py)
            return trim(net.detect(rgb, upsample), w, h)
        rects = [d.rect for d in load_model(CNN_DETECTOR)(rgb, upsample)]
    else:
        rects = list(load_model("hog")(rgb, upsample))
    return [(max(r.top(), 0), min(r.right(), w), min(r.bottom(), h), max(r.left(), 0)) for r in rects]


def box_area(box: Box) -> int:
    t, r, b, l = box
    return max(0, b - t) * max(0, r - l)


def largest(boxes: list[Box], among: list[int] | None = None) -> int | None:
    """The index of the largest of ``boxes`` (of those at the indices ``among``), the first on a tie; None when
    there is none to choose from."""
    return max(range(len(boxes)) if among is None else among, key=lambda i: box_area(boxes[i]), default=None)


def crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    t, r, b, l = box
    h, w = rgb.shape[:2]
    return rgb[max(0, t) : min(h, b), max(0, l) : min(w, r)]
