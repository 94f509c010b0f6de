"""facetui calls dlib directly; its boxes and encodings must be exactly face_recognition's, on real photos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facetui.core.models.face import detect as face_detect
from facetui.core.models.face import encode as face_encode
from facetui.core.models.face import files as face_files
from facetui.core.models.images import load_image

DEMO = Path(__file__).resolve().parents[2] / "demo"
PHOTOS = sorted((DEMO / "query").glob("*.jpg")) + sorted((DEMO / "scenes").glob("*.jpg"))[:3]


@pytest.fixture(scope="module")
def fr():
    import face_recognition  # the reference implementation (loads all of its models)

    return face_recognition


@pytest.fixture
def dlib_encoder(monkeypatch):
    """dlib's own descriptor network instead of the torch port, for this test."""
    monkeypatch.setattr(face_encode, "_NET", False)


@pytest.mark.parametrize("path", PHOTOS, ids=lambda p: p.name)
def test_boxes_and_dlib_encodings_equal_face_recognitions(path, fr, dlib_encoder):
    rgb = load_image(path, resize_max=800).rgb
    ours = face_detect.detect_faces(rgb, "hog", 1)
    assert ours == [tuple(b) for b in fr.face_locations(rgb, number_of_times_to_upsample=1, model="hog")]
    theirs = np.asarray(fr.face_encodings(rgb, known_face_locations=ours, num_jitters=1, model="small"))
    assert face_encode.encoder_name() == "dlib"
    assert np.array_equal(face_encode.encode_faces(rgb, ours, flip=False), theirs.reshape(len(ours), 128))


@pytest.mark.parametrize("runner", ["onnx", "torch"])
def test_the_torch_port_gives_dlibs_descriptors(fr, runner, monkeypatch):
    """The port, as ONNX Runtime runs it (the default on a CPU) and as torch does, gives dlib's descriptors."""
    from facetui.core.models.face import resnet

    assert face_encode.encoder_name() == "onnx"  # the default, else the suite would not exercise it
    if runner == "torch":
        monkeypatch.setattr(face_encode, "_NET", resnet.FaceNet(face_files.models_dir() / face_files.ENCODER))
    assert face_encode.encoder_name() == runner
    worst, n = 0.0, 0
    for path in PHOTOS:
        rgb = load_image(path, resize_max=800).rgb
        boxes = face_detect.detect_faces(rgb)
        theirs = np.asarray(fr.face_encodings(rgb, known_face_locations=boxes, num_jitters=1, model="small"))
        ours = face_encode.encode_faces(rgb, boxes, flip=False)
        assert ours.shape == (len(boxes), 128) and ours.dtype == np.float64
        if boxes:
            worst = max(worst, float(np.abs(ours - theirs).max()))
            n += len(boxes)
    # float32 arithmetic in another order: about 4e-7 on descriptors of norm ~1.4, where faces of one person
    # lie ~0.4 apart and face_tol is 0.5
    assert n >= 10 and worst < 1e-5


def test_the_stored_descriptor_is_the_mean_of_the_face_and_its_mirror_image(fr):
    rgb = load_image(DEMO / "query" / "q01.jpg", resize_max=800).rgb
    boxes = face_detect.detect_faces(rgb)
    chips = face_encode.face_chips(rgb, boxes)
    mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in chips]
    single, flipped = face_encode.encode_chips(chips, flip=False), face_encode.encode_chips(mirrored, flip=False)
    both = face_encode.encode_faces(rgb, boxes)
    assert np.abs(both - (single + flipped) / 2).max() < 1e-6  # one batch of 2N views vs two of N: float order
    # the mirror image is a real second view: close to the first (same person), yet not the same
    gap = np.linalg.norm(single - flipped, axis=1)
    assert np.all(gap > 0.01) and np.all(gap < 0.3)


def test_a_face_alone_or_in_company_gets_the_same_descriptor():
    rgb = load_image(DEMO / "query" / "q09.jpg", resize_max=800).rgb
    boxes = face_detect.detect_faces(rgb)
    assert len(boxes) >= 3
    together = face_encode.encode_faces(rgb, boxes)
    alone = np.concatenate([face_encode.encode_faces(rgb, [b]) for b in boxes])
    assert np.abs(together - alone).max() < 1e-5


def test_the_demo_photos_have_faces_to_compare():
    # Without faces the equivalence test above compares empty lists; make sure it does not.
    found = sum(len(face_detect.detect_faces(load_image(p, resize_max=800).rgb)) for p in PHOTOS)
    assert found >= 10


def test_boxes_are_trimmed_to_the_image(fr):
    rgb = load_image(PHOTOS[0], resize_max=800).rgb
    h, w = rgb.shape[:2]
    # A face cut by the edge: dlib reports a box past the border; both trim it the same way.
    t, r, b, l = face_detect.detect_faces(rgb)[0]
    edge = np.ascontiguousarray(rgb[:, l + (r - l) // 3 :])
    boxes = face_detect.detect_faces(edge)
    assert boxes == [tuple(x) for x in fr.face_locations(edge)]
    for bt, br, bb, bl in boxes:
        assert 0 <= bt and 0 <= bl and br <= edge.shape[1] and bb <= edge.shape[0]


def test_no_faces_gives_an_empty_array():
    assert face_encode.encode_faces(np.zeros((50, 50, 3), np.uint8), []).shape == (0, 128)
    assert face_detect.detect_faces(np.full((120, 160, 3), 128, np.uint8)) == []


def test_an_unknown_encoder_file_falls_back_to_dlibs_encoder(monkeypatch, tmp_path, fr):
    from facetui.core.models.face import resnet

    real = face_files.models_dir() / face_files.ENCODER
    data = bytearray(real.read_bytes())
    for _name, bad in [
        ("truncated", data[: len(data) // 2]),
        ("other model", (face_files.models_dir() / face_files.LANDMARKS_5).read_bytes()),
        (
            "one stride changed",
            data.replace(b"\x01\x02\x01\x02\x01\x00\x01\x00", b"\x01\x01\x01\x02\x01\x00\x01\x00", 1),
        ),
    ]:
        path = tmp_path / "x.dat"
        path.write_bytes(bytes(bad))
        with pytest.raises(resnet.FaceNetError):
            resnet.read_weights(path)
    # where the port cannot load, facetui encodes with dlib itself: the same descriptors as face_recognition
    # (no prepared ONNX file either: one is only ever made from a file the port reads)
    from facetui.core.models.runtime import prepared

    monkeypatch.setattr(resnet, "read_weights", lambda p: (_ for _ in ()).throw(resnet.FaceNetError("no")))
    monkeypatch.setattr(face_encode, "_NET", None)
    monkeypatch.setattr(prepared, "_DIR", tmp_path / "models")
    rgb = load_image(PHOTOS[0], resize_max=800).rgb
    boxes = face_detect.detect_faces(rgb)
    assert face_encode.encoder_name() == "dlib"
    assert np.array_equal(
        face_encode.encode_faces(rgb, boxes, flip=False), np.asarray(fr.face_encodings(rgb, boxes, model="small"))
    )


def test_the_encoder_can_be_forced_to_dlib(tmp_path):
    code = "from facetui.core.models.face import encode as face_encode\nprint(face_encode.encoder_name())\n"
    import os

    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, FACETUI_FACE_ENCODER="dlib"),
    )
    assert out.stdout.strip() == "dlib", out.stderr


def test_a_damaged_model_file_is_a_clear_error(monkeypatch, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for name in face_files.MODEL_FILES:
        (folder / name).write_bytes(b"not a model")
    monkeypatch.setattr(face_files, "models_dir", lambda: folder)
    monkeypatch.setattr(face_files, "_MODELS", {})
    monkeypatch.setattr(face_encode, "_NET", False)
    with pytest.raises(face_files.FaceModelError, match="could not load .*reinstall 'face-recognition-models'"):
        face_encode.encode_faces(np.zeros((80, 80, 3), np.uint8), [(10, 60, 60, 10)])


def test_analysis_loads_neither_face_recognition_nor_the_68_point_model(tmp_path):
    # face_recognition's import loads a 96 MB model facetui never uses and flips Pillow's LOAD_TRUNCATED_IMAGES.
    code = (
        "import sys\nfrom pathlib import Path\nfrom PIL import ImageFile\n"
        "from facetui.core.models.analyze import FaceConfig, analyze_path\n"
        f"a = analyze_path(Path({str(PHOTOS[0])!r}), FaceConfig(), False)\n"
        "assert not a.error and len(a.boxes) >= 1, a\n"
        "assert 'face_recognition' not in sys.modules and 'face_recognition_models' not in sys.modules\n"
        "assert ImageFile.LOAD_TRUNCATED_IMAGES is False\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x01\x0dloss_metric_2",
        bytes(range(256)) * 4096,
        b"\x01\x05con_4\x01\x02\x08\xff\xff\xff\xff\xff\xff\xff\x7f",
    ],
)
def test_garbage_is_refused_by_the_model_reader(tmp_path, content):
    from facetui.core.models.face import resnet

    path = tmp_path / "garbage.dat"
    path.write_bytes(content)
    with pytest.raises(resnet.FaceNetError):
        resnet.read_weights(path)
