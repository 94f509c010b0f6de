"""Model objects prepared once per machine and kept in its cache folder (:func:`machine_dir`), so that a worker does
not rebuild them at every start: data only, in the library's own format (nothing in them is code), each checked
against its recorded SHA-256 before use and rebuilt when it is missing, different or damaged. The networks that
ONNX Runtime runs are kept there too (onnxnets.py).

Today that is dlib's HOG face detector: ``dlib.get_frontal_face_detector()`` decompresses and parses the detector
built into dlib, 0.29 s of CPU in every worker before its first photo; the same detector saved by dlib loads in about
1 ms and finds the same boxes (tests/integration/test_prepared.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from ...base.fsutil import atomic_write_bytes

FORMAT = 1
_DIR: Path | None = None  # where this process keeps prepared models; None: build them each time
_LOCK = threading.Lock()


DIR_ENV = "FACETUI_MODELS_DIR"  # where prepared models are kept; default: the user's cache folder


def machine_dir() -> Path | None:
    """This machine's folder for prepared models: $FACETUI_MODELS_DIR, else $XDG_CACHE_HOME/facetui/models, else
    ~/.cache/facetui/models (None where there is no home to put it in: models are then prepared in each process).
    Per machine and user, not per settings file: the same detector and networks serve every project."""
    env = os.environ.get(DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:  # no home directory
        return None
    return root / "facetui" / "models"


def use_dir(folder: Path | None) -> None:
    """Keep this process's prepared models in ``folder`` (created when first written); None: do not keep them."""
    global _DIR
    _DIR = Path(folder) if folder is not None else None


def current_dir() -> Path | None:
    """The folder ``use_dir`` set (a worker is handed its run's)."""
    return _DIR


def checked(model: Path, record: Path, want: dict) -> tuple[bytes, dict] | None:
    """The bytes of ``model`` and its record, where the record holds every field of ``want`` and the file's
    SHA-256; None where either is missing, damaged or different."""
    try:
        rec = json.loads(record.read_text(encoding="utf-8"))
        if not isinstance(rec, dict) or any(rec.get(k) != v for k, v in want.items()):
            return None
        data = model.read_bytes()
    except (OSError, ValueError):
        return None
    return (data, rec) if hashlib.sha256(data).hexdigest() == rec.get("sha256") else None


def store(model: Path, record: Path, want: dict, data: bytes, **extra: Any) -> None:
    """Write ``data`` to ``model`` and its record (``want``, ``extra`` and the SHA-256), each atomically and the
    file first, so that a record never describes a file that is not there. OSError where the folder refuses."""
    atomic_write_bytes(model, data)
    rec = {**want, **extra, "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_bytes(record, json.dumps(rec, indent=1).encode())


def hog_detector(dlib: Any) -> Any:
    """dlib's frontal face detector: loaded from this machine's prepared copy when it is there and intact, else
    built (and the copy written for the next process, where the folder allows)."""
    folder = _DIR
    if folder is None:
        return dlib.get_frontal_face_detector()
    version = str(getattr(dlib, "__version__", "unknown"))
    stem = f"hog-frontal-face-dlib-{version}"
    model, record = folder / f"{stem}.svm", folder / f"{stem}.json"
    want = {"format": FORMAT, "kind": "dlib frontal face detector", "dlib": version}
    with _LOCK:
        if checked(model, record, want) is not None:
            try:
                return dlib.fhog_object_detector(str(model))
            except RuntimeError:  # damaged although its hash matched: rebuild below
                pass
        det = dlib.get_frontal_face_detector()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                saved = Path(tmp) / "hog.svm"  # dlib writes to a path: saved here, then stored like any file
                det.save(str(saved))
                store(model, record, want, saved.read_bytes())
        except (OSError, RuntimeError):  # a read-only or full cache folder: the detector built is as good
            pass
        return det
