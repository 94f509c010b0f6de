"""The torch port of dlib's CNN face detector (core/models/face/mmod/) finds dlib's faces, and a bad model file is refused.

dlib's own CNN detector takes seconds per photo on this CPU, so its boxes come from a fixture that
tests/fixtures/make_cnn_boxes.py makes (every demo photo of people and all 240 LFW calibration photos, upsample 0 and
1: 261 photos, 277 and 299 faces).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from facetui.core.models.analyze import FaceConfig, analyze_path
from facetui.core.models.face import detect as face_detect
from facetui.core.models.face import encode as face_encode
from facetui.core.models.face import files as face_files
from facetui.core.models.face import preload as face_preload
from facetui.core.models.face.mmod import boxes as mmod_boxes
from facetui.core.models.face.mmod import detector as mmod_detector
from facetui.core.models.face.mmod import pyramid as mmod_pyramid
from facetui.core.models.face.mmod import pyramid_numpy
from facetui.core.models.face.mmod import reader as mmod_reader
from facetui.core.models.images import load_image, load_image_bytes
from support.helpers import REPO

FIXTURE = REPO / "tests" / "fixtures" / "cnn_boxes.json"
LFW = sorted((REPO / "demo" / "lfw-calib" / "query").glob("*.jpg"))
MODEL = face_files.models_dir() / face_files.CNN_DETECTOR


@pytest.fixture(scope="module", params=["onnx", "torch"])
def detector(request):
    """The port as a CPU run has it (its network in ONNX Runtime, the image work in numpy), and as CUDA and a
    machine without ONNX Runtime have it (all in torch)."""
    if request.param == "onnx":
        det = mmod_detector.onnx_detector(MODEL)
        assert det is not None and det.runtime == "onnx" and det._torch is None
        return det
    return mmod_detector.MmodDetector(MODEL)


@pytest.fixture(scope="module")
def dlib_cnn():
    import dlib

    return dlib.cnn_face_detection_model_v1(str(MODEL))


def _iou(a, b) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes with inclusive pixel edges."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if w <= 0 or h <= 0:
        return 0.0
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


@pytest.fixture(scope="module")
def agreement(detector):
    """{upsample: [(photo, dlib's boxes and scores, ours)]} on every photo of the fixture."""
    ref = json.loads(FIXTURE.read_text())
    out: dict[int, list] = {0: [], 1: []}
    for entry in ref["photos"]:
        path = REPO / entry["path"]
        rgb = load_image_bytes(path.read_bytes(), resize_max=ref["resize_max"], name=path.name).rgb
        assert hashlib.sha256(rgb.tobytes()).hexdigest() == entry["pixels_sha256"], (
            f"{entry['path']} decodes to other pixels than when the fixture was made: remake it with "
            "tests/fixtures/make_cnn_boxes.py"
        )
        for up in out:
            out[up].append((entry["path"], entry[f"up{up}"], detector.detect(rgb, up)))
    return out


@pytest.mark.parametrize("upsample", [0, 1])
def test_every_face_dlibs_cnn_finds_is_found_and_no_other(agreement, upsample):
    n_dlib = matched = exact = extras = 0
    worst_iou, worst_score = 1.0, 0.0
    for _path, theirs, ours in agreement[upsample]:
        free = list(ours)
        for t in sorted(theirs, key=lambda d: -d[4]):
            best = max(free, key=lambda o: _iou(o, t), default=None)
            n_dlib += 1
            if best is None or _iou(best, t) < 0.9:
                continue
            free.remove(best)
            matched += 1
            exact += tuple(best[:4]) == tuple(t[:4])
            worst_iou = min(worst_iou, _iou(best, t))
            worst_score = max(worst_score, abs(best.confidence - t[4]))
        extras += len(free)
    print(
        f"\nupsample {upsample}: dlib {n_dlib} faces on {len(agreement[upsample])} photos, matched {matched} "
        f"({exact} to the pixel), min IoU {worst_iou:.3f}, max score difference {worst_score:.1e}, extra {extras}"
    )
    assert n_dlib >= 250  # the whole fixture (else the comparison says less than the README claims)
    assert matched == n_dlib and extras == 0
    assert worst_iou >= 0.9 and worst_score < 1e-3
    assert exact >= 0.95 * n_dlib  # the mapping back to the photo is dlib's: nearly all agree to the pixel


def test_the_cnn_finds_every_face_hog_finds(agreement):
    # the accuracy target, on the reference photos at upsample 1: each HOG box overlaps a CNN box
    missed, n_hog, n_cnn = [], 0, 0
    for path, _theirs, ours in agreement[1]:
        rgb = load_image(REPO / path, resize_max=800).rgb
        for t, r, b, l in face_detect.detect_faces(rgb, "hog", 1):
            n_hog += 1
            if max((_iou((l, t, r, b), d) for d in ours), default=0.0) < 0.3:  # other framing, same face
                missed.append(path)
        n_cnn += len(ours)
    print(f"\nHOG {n_hog} faces, CNN {n_cnn}; HOG faces the CNN misses: {missed}")
    assert n_hog >= 100 and not missed and n_cnn > n_hog


@pytest.mark.parametrize("pyramid_up", [mmod_pyramid.pyramid_up, pyramid_numpy.pyramid_up], ids=["torch", "numpy"])
def test_pyramid_up_is_dlibs_bit_for_bit(pyramid_up):
    import dlib

    for path in [LFW[0], REPO / "demo" / "query" / "q05.jpg"]:
        rgb = load_image(path, resize_max=800).rgb
        for img in (rgb, np.ascontiguousarray(rgb[3:, 5:]), np.ascontiguousarray(rgb[:97, :61]), rgb[:9, :7]):
            h, w = img.shape[:2]
            ours = pyramid_up(img)
            assert ours.shape == (2 * h + 1, 2 * w + 2, 3)  # the size dlib's pyramid_down<2>::rect_up gives
            assert np.array_equal(ours, dlib.resize_image(np.ascontiguousarray(img), 2 * h + 1, 2 * w + 2))


def test_boxes_round_as_dlibs_rectangles_do():
    import dlib

    for v in [-5.5, -4.5, -2.5, -0.5, -0.49, 0.5, 2.4999, 3.5, 74.5, 146.5, 1e6 + 0.5]:
        assert mmod_boxes.dlib_round(v) == dlib.rectangle(dlib.drectangle(v, v, v, v)).left(), v


def test_the_model_file_is_read_as_the_known_network():
    w = mmod_reader.read_detector(MODEL)
    assert [(c.weight.shape, c.stride, c.padding, c.relu) for c in w.convs] == [
        ((16, 3, 5, 5), 2, 0, True),
        ((32, 16, 5, 5), 2, 0, True),
        ((32, 32, 5, 5), 2, 0, True),
        ((45, 32, 5, 5), 1, 2, True),
        ((45, 45, 5, 5), 1, 2, True),
        ((45, 45, 5, 5), 1, 2, True),
        ((1, 45, 9, 9), 1, 4, False),
    ]
    assert w.window == (80, 80) and w.output_to_input() == (8, 14)
    assert np.allclose(w.mean_rgb, (122.782, 117.001, 104.298), atol=1e-4)
    assert (w.pyramid_padding, w.pyramid_outer_padding) == (10, 11)
    assert 0.3 < w.nms_iou < 0.4 and w.nms_covered == 1.0


def _variants() -> list[tuple[str, bytes]]:
    data = MODEL.read_bytes()
    first_conv = b"\x01\x10\x01\x05\x01\x05\x01\x02\x01\x02\x01\x00\x01\x00"  # 16 filters, 5x5, stride 2, pad 0
    assert data.count(first_conv) == 1
    return [
        ("empty", b""),
        ("a name only", b"\x01\x01\x01\x0aloss_mmod_"),
        ("noise", bytes(range(256)) * 64),
        ("truncated in the header", data[:40]),
        ("truncated in the weights", data[: len(data) // 2]),
        ("last byte missing", data[:-1]),
        ("a byte too many", data + b"\x00"),
        ("one stride changed", data.replace(first_conv, first_conv[:7] + b"\x01" + first_conv[8:])),
        ("a batch norm renamed", data.replace(b"bn_con2", b"bn_con3", 1)),
        ("the face encoder's file", (face_files.models_dir() / face_files.ENCODER).read_bytes()[:2_000_000]),
        ("the landmark model", (face_files.models_dir() / face_files.LANDMARKS_5).read_bytes()),
    ]


@pytest.mark.parametrize("name,content", _variants(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_file_that_is_not_the_network_is_refused(tmp_path, name, content):
    path = tmp_path / "mmod.dat"
    path.write_bytes(content)
    with pytest.raises(mmod_reader.MmodNetError) as e:
        mmod_reader.read_detector(path)
    assert str(e.value)  # says what is wrong


def test_an_unknown_detector_file_falls_back_to_dlibs_detector(monkeypatch, dlib_cnn):
    rgb = load_image(LFW[0], resize_max=800).rgb
    theirs = [
        (
            max(d.rect.top(), 0),
            min(d.rect.right(), rgb.shape[1]),
            min(d.rect.bottom(), rgb.shape[0]),
            max(d.rect.left(), 0),
        )
        for d in dlib_cnn(rgb, 0)
    ]
    assert len(theirs) == 1
    monkeypatch.setattr(face_detect, "_MMOD", None)
    assert face_detect.cnn_detector_name() == "onnx"  # else the suite would not exercise the port at all
    assert face_detect.detect_faces(rgb, "cnn", 0) == theirs  # the port finds this face to the pixel
    monkeypatch.setattr(mmod_detector, "read_detector", lambda p: (_ for _ in ()).throw(mmod_reader.MmodNetError("no")))
    monkeypatch.setattr(face_detect, "_MMOD", None)
    assert face_detect.cnn_detector_name() == "dlib"
    assert face_detect.detect_faces(rgb, "cnn", 0) == theirs
    face_preload.load_face_models("cnn")  # loads dlib's own detector now, without complaint
    assert face_files.CNN_DETECTOR in face_files._MODELS


def test_the_cnn_detector_can_be_forced_to_dlib():
    code = "from facetui.core.models.face import detect as face_detect\nprint(face_detect.cnn_detector_name())\n"
    env = {k: v for k, v in os.environ.items() if k != face_detect.CNN_ENV}
    names = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=e).stdout.strip()
        for e in (env, dict(env, FACETUI_CNN_DETECTOR="dlib"))
    ]
    assert names == ["onnx", "dlib"]


def test_the_cache_key_names_the_cnn_implementation_and_hog_keys_stay(monkeypatch):
    from facetui.core.models.runtime import onnxnets

    monkeypatch.delenv(face_encode.ENCODER_ENV, raising=False)
    monkeypatch.delenv(face_detect.CNN_ENV, raising=False)
    onnx_hog = [FaceConfig("hog", up).key() for up in (0, 1)]
    monkeypatch.setenv(onnxnets.RUNTIME_ENV, "torch")  # the keys below are the torch port's
    torch_keys = [FaceConfig("cnn", up).key() for up in (0, 1)]
    hog = [FaceConfig("hog", up).key() for up in (0, 1)]
    assert hog == ["c56827e7b09a7c66", "9c52678820863c72"]  # the keys HOG had before the CNN port: caches stay
    assert not set(onnx_hog) & set(hog)  # ONNX Runtime's descriptors keep entries of their own
    monkeypatch.setenv(face_detect.CNN_ENV, "dlib")
    dlib_keys = [FaceConfig("cnn", up).key() for up in (0, 1)]
    assert dlib_keys == ["7df468585b8b464d", "22302cb90737609a"]  # dlib's own CNN keeps the key it always had
    assert not set(torch_keys) & set(dlib_keys) and len(set(torch_keys)) == 2
    assert [FaceConfig("hog", up).key() for up in (0, 1)] == hog


def test_photos_of_one_size_run_as_one_batch_with_the_same_result(detector, monkeypatch):
    imgs = [load_image(p, resize_max=800).rgb for p in LFW[:3]]
    imgs.append(np.ascontiguousarray(imgs[0][:, ::-1]))
    imgs.append(load_image(REPO / "demo" / "query" / "q05.jpg", resize_max=800).rgb)
    assert len({i.shape for i in imgs}) == 2
    calls = []
    real = detector._scores
    monkeypatch.setattr(detector, "_scores", lambda batch: calls.append(len(batch)) or real(batch))
    for up in (0, 1):
        calls.clear()
        together = detector.detect_batch(imgs, up)
        assert sorted(calls) == [1, 4]  # one network call per photo size
        alone = [detector.detect(i, up) for i in imgs]
        assert [len(d) for d in together] == [len(d) for d in alone] and sum(map(len, alone)) >= 5
        for a, b in zip(together, alone):  # the same boxes; scores to float32 rounding of another batch size
            assert [d[:4] for d in a] == [d[:4] for d in b]
            assert np.allclose([d.confidence for d in a], [d.confidence for d in b], atol=1e-5)


def test_a_photo_too_small_for_the_network_has_no_faces(detector):
    # dlib's own detector raises on some of these; the port finds no face in any
    for shape in [(0, 5, 3), (1, 1, 3), (3, 3, 3), (10, 10, 3), (300, 7, 3), (7, 300, 3), (40, 300, 3)]:
        img = np.full(shape, 128, np.uint8)
        assert detector.detect(img, 0) == [] and detector.detect(img, 1) == []
        if 0 not in shape:
            assert face_detect.detect_faces(img, "cnn", 1) == []
    assert detector.detect(np.full((120, 90), 128, np.uint8), 1) == []  # a grey image is taken as RGB
    with pytest.raises(ValueError):
        detector.detect(np.zeros((50, 50, 4), np.uint8))


def test_a_worker_process_finds_the_same_boxes_and_scores(detector):
    # one thread per call (torch's or ONNX Runtime's): the same sums in the same order in any process
    path = REPO / "demo" / "query" / "q09.jpg"
    make = "onnx_detector" if detector.runtime == "onnx" else "MmodDetector"
    code = (
        "import sys\nfrom pathlib import Path\nfrom facetui.core.models.face import files as face_files\nfrom facetui.core.models.face.mmod import detector as mmod_detector\n"
        "from facetui.core.models.images import load_image\nimport torch\ntorch.set_num_threads(2)\n"
        f"d = mmod_detector.{make}(face_files.models_dir() / face_files.CNN_DETECTOR)\n"
        f"print(repr(d.detect(load_image(Path({str(path)!r}), resize_max=800).rgb, 0)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    ours = detector.detect(load_image(path, resize_max=800).rgb, 0)
    assert len(ours) >= 2 and out.stdout.strip() == repr(ours), out.stderr


def test_analysis_with_the_cnn_detector_uses_the_port():
    a = analyze_path(REPO / "demo" / "query" / "q05.jpg", FaceConfig("cnn", 0), False)
    assert not a.error and len(a.boxes) == 2 and a.encodings.shape == (2, 128)
    assert face_detect.cnn_detector_name() == "onnx"


_RUN_CNN = """
import json, sys
from pathlib import Path
from facetui.core.models.face import detect as face_detect
from facetui.core.models.images import load_image
from facetui.core.models.runtime import prepared
prepared.use_dir(Path(sys.argv[1]))
boxes = face_detect.detect_faces(load_image(Path(sys.argv[2]), resize_max=800).rgb, "cnn", 1)
print(json.dumps({"torch": "torch" in sys.modules, "impl": face_detect.cnn_detector_name(), "boxes": boxes}))
"""


def test_with_its_onnx_file_prepared_a_process_detects_without_torch(tmp_path):
    """As a worker does: the first process on a machine exports the network (torch), the next ones load the file
    and never import torch; both find the same faces."""
    env = {k: v for k, v in os.environ.items() if k not in (face_detect.CNN_ENV, "FACETUI_CPU_RUNTIME")}
    photo = REPO / "demo" / "query" / "q05.jpg"
    got = []
    for _ in range(2):
        r = subprocess.run(
            [sys.executable, "-c", _RUN_CNN, str(tmp_path), str(photo)], capture_output=True, text=True, env=env
        )
        assert r.returncode == 0, r.stderr
        got.append(json.loads(r.stdout.strip().splitlines()[-1]))
    assert [g["impl"] for g in got] == ["onnx", "onnx"]
    assert got[0]["torch"] and not got[1]["torch"]  # exported once, then loaded from the prepared file
    assert got[0]["boxes"] == got[1]["boxes"] and len(got[1]["boxes"]) == 3
    assert len(list(tmp_path.glob("mmod-detector-*.onnx"))) == 1
