"""Models prepared once per machine (core/models/runtime/prepared.py): dlib's HOG face detector saved in the cache folder
finds exactly the boxes of the detector built into dlib, is used instead of rebuilding it, and is rebuilt when its
file is damaged, changed or made by another dlib."""

from __future__ import annotations

import json
from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image

from facetui.core.base.fsutil import TEMP_PREFIX
from facetui.core.models.runtime import prepared

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_dir_after():
    yield
    prepared.use_dir(None)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    files = sorted((REPO / "demo" / "query").glob("*.jpg"))[:6] + sorted((REPO / "demo" / "scenes").glob("*.jpg"))[:2]
    assert len(files) >= 6
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


class _Counting:
    """dlib with get_frontal_face_detector counted (the slow build the prepared copy saves)."""

    def __init__(self):
        self.builds = 0
        self.__version__ = dlib.__version__
        self.fhog_object_detector = dlib.fhog_object_detector

    def get_frontal_face_detector(self):
        self.builds += 1
        return dlib.get_frontal_face_detector()


def _boxes(det, photos) -> list[list[tuple[int, int, int, int]]]:
    return [[(r.left(), r.top(), r.right(), r.bottom()) for r in det(img, 1)] for img in photos]


def test_prepared_detector_is_built_once_and_finds_the_same_boxes(tmp_path, photos):
    prepared.use_dir(tmp_path / "models")
    lib = _Counting()
    first = prepared.hog_detector(lib)
    assert lib.builds == 1
    files = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert [f for f in files if f.endswith(".svm")] and [f for f in files if f.endswith(".json")]
    assert not [f for f in files if f.startswith(TEMP_PREFIX)]
    again = prepared.hog_detector(lib)
    assert lib.builds == 1  # loaded from the prepared copy
    want = _boxes(dlib.get_frontal_face_detector(), photos)
    assert sum(map(len, want)) >= 6
    assert _boxes(first, photos) == want
    assert _boxes(again, photos) == want


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate", "other_dlib", "bad_record", "no_record"])
def test_damaged_or_foreign_copy_is_rebuilt(tmp_path, photos, damage):
    prepared.use_dir(tmp_path)
    lib = _Counting()
    prepared.hog_detector(lib)
    svm = next(tmp_path.glob("*.svm"))
    rec = next(tmp_path.glob("*.json"))
    if damage == "flip_bytes":
        data = bytearray(svm.read_bytes())
        data[len(data) // 2] ^= 0xFF
        svm.write_bytes(bytes(data))
    elif damage == "truncate":
        svm.write_bytes(svm.read_bytes()[:1000])
    elif damage == "other_dlib":
        rec.write_text(json.dumps({**json.loads(rec.read_text()), "dlib": "0.0"}))
    elif damage == "bad_record":
        rec.write_text("{not json")
    else:
        rec.unlink()
    det = prepared.hog_detector(lib)
    assert lib.builds == 2
    assert _boxes(det, photos) == _boxes(dlib.get_frontal_face_detector(), photos)
    prepared.hog_detector(lib)  # the rebuilt copy is good again
    assert lib.builds == 2


def test_no_folder_or_a_read_only_one_still_gives_the_detector(tmp_path, photos):
    lib = _Counting()
    prepared.use_dir(None)
    prepared.hog_detector(lib)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        prepared.use_dir(ro / "models")
        det = prepared.hog_detector(lib)
    finally:
        ro.chmod(0o700)
    assert lib.builds == 2
    assert _boxes(det, photos) == _boxes(dlib.get_frontal_face_detector(), photos)
