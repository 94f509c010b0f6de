"""Model objects prepared once per machine and kept in its cache folder (:func:`machine_dir`), so that a worker does
not rebuild them at every start: data only, in the library's own format (nothing in them is code), each checked
against its recorded SHA-256 before use and rebuilt when it is missing, different or damaged. The networks that
ONNX Runtime runs are kept there too (onnxnets.py).

Today that is dlib's HOG face detector: ``dlib.get_frontal_face_detector()`` decompresses and parses the detector
built into dlib, 0.29 s of CPU in every worker before its first photo; the same detector saved by dlib loads in about
1 ms and finds the same boxes (tests/unit/test_prepared.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in its folder and a rename: a reader sees all or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _record_ok(model: Path, record: Path, want: dict) -> bool:
    """Whether ``model`` is there and is the file ``record`` describes, made as ``want`` says."""
    try:
        rec = json.loads(record.read_text(encoding="utf-8"))
        return (
            isinstance(rec, dict)
            and all(rec.get(k) == v for k, v in want.items())
            and rec.get("sha256") == _sha256(model)
        )
    except (OSError, ValueError):
        return False


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
        if _record_ok(model, record, want):
            try:
                return dlib.fhog_object_detector(str(model))
            except RuntimeError:  # damaged although its hash matched: rebuild below
                pass
        det = dlib.get_frontal_face_detector()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=".svm.tmp")
            os.close(fd)
            try:
                det.save(tmp)
                sha = _sha256(Path(tmp))
                os.replace(tmp, model)
            finally:
                Path(tmp).unlink(missing_ok=True)
            write_atomic(record, json.dumps({**want, "sha256": sha}, indent=1).encode())
        except (OSError, RuntimeError):  # a read-only or full cache folder: the detector built is as good
            pass
        return det
