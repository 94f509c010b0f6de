"""The CPU's networks in ONNX Runtime (core/models/runtime/onnxnets.py, body/onnxform.py): the same outputs as torch on real
photos, the prepared file reused by the next process and made again when damaged, changed or foreign, and the
switch back to torch."""

from __future__ import annotations

import json
import multiprocessing.forkserver
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facetui.core.base.fsutil import TEMP_PREFIX
from facetui.core.models.analyze import FaceConfig
from facetui.core.models.body import crops as body_crops
from facetui.core.models.body import encoder as body_encoder
from facetui.core.models.body import osnet
from facetui.core.models.body.setup import LazyBodyEncoder
from facetui.core.models.face import detect as face_detect
from facetui.core.models.face import encode as face_encode
from facetui.core.models.face import files as face_files
from facetui.core.models.face import resnet
from facetui.core.models.images import load_image
from facetui.core.models.runtime import onnxnets, prepared

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo"
MODEL = "osnet_ain_x1_0"


@pytest.fixture
def models_dir(tmp_path):
    prepared.use_dir(tmp_path / "models")
    yield tmp_path / "models"
    prepared.use_dir(None)


@pytest.fixture(scope="module")
def chips() -> list[np.ndarray]:
    out = []
    for p in sorted((DEMO / "query").glob("*.jpg"))[:5] + sorted((DEMO / "scenes").glob("*.jpg"))[:1]:
        rgb = load_image(p, resize_max=800).rgb
        out += face_encode.face_chips(rgb, face_detect.detect_faces(rgb))
    assert len(out) >= 6
    return out


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    out = []
    for f in sorted((DEMO / "bodies").glob("*/*.jpg"))[:6]:
        img = np.asarray(Image.open(f).convert("RGB"))
        out.append(body_crops.crop_for_reid(img, (0, img.shape[1], img.shape[0], 0)))
    return out


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return osnet.save_random_weights(tmp_path_factory.mktemp("w") / "ain.pt", MODEL, seed=3)


def test_onnx_is_the_default_on_a_cpu_and_keeps_its_own_face_cache_entries(monkeypatch):
    assert onnxnets.wanted() and face_encode.encoder_impl() == "onnx"
    onnx_key = FaceConfig().key()
    monkeypatch.setenv(onnxnets.RUNTIME_ENV, "torch")
    assert not onnxnets.wanted() and face_encode.encoder_impl() == "torch"
    assert FaceConfig().key() != onnx_key
    assert onnxnets.prepared_net("x", {}, lambda: None, (1, 1), "uint8", 1e-4) is None


def test_the_face_network_in_onnx_gives_torchs_descriptors(models_dir, chips):
    path = face_files.models_dir() / face_files.ENCODER
    ours = resnet.onnx_face_net(path)
    assert isinstance(ours, resnet.OnnxFaceNet)
    theirs = resnet.FaceNet(path)
    got, want = ours.encode(chips), theirs.encode(chips)
    assert got.shape == want.shape == (len(chips), 128) and got.dtype == np.float64
    assert np.abs(got - want).max() < 1e-5
    assert list(models_dir.glob("face-resnet-*.onnx")) and list(models_dir.glob("face-resnet-*.json"))


def test_osnet_in_onnx_gives_torchs_embeddings(models_dir, weights, crops):
    sha = osnet.weights_fingerprint(weights)
    lazy = LazyBodyEncoder(MODEL, weights, "cpu", 512, "cpu", sha256=sha)
    got = lazy.embed(crops, batch_size=4)
    assert type(lazy.ready()).__name__ == "OnnxReid"
    want = body_encoder.load_body_encoder(MODEL, weights, "cpu", freeze=False).embed(crops)
    assert got.shape == want.shape == (len(crops), 512) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


class _Build:
    """A builder that counts its calls (an export happened) around the real face network."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return resnet.build_model(resnet.read_weights(face_files.models_dir() / face_files.ENCODER)).eval()


def _net(build) -> onnxnets.OnnxNet | None:
    return onnxnets.prepared_net("face-test", {"weights": "w1"}, build, (2, 150, 150, 3), "uint8", 1e-4)


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate", "record_outputs", "record_version", "no_record"])
def test_the_prepared_file_is_reused_and_made_again_when_damaged(models_dir, damage):
    build = _Build()
    first = _net(build)
    assert first is not None and build.calls == 1
    again = _net(build)
    assert again is not None and build.calls == 1  # the next process loads the file, no torch needed
    model = next(models_dir.glob("face-test-*.onnx"))
    record = model.with_suffix(".json")
    rec = json.loads(record.read_text())
    if damage == "flip_bytes":
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0x55
        model.write_bytes(bytes(data))
    elif damage == "truncate":
        model.write_bytes(model.read_bytes()[:5000])
    elif damage == "record_outputs":  # a file and record that agree with each other but not with the network
        rec["probe_out"] = (np.asarray(rec["probe_out"]) + 0.01).tolist()
        record.write_text(json.dumps(rec))
    elif damage == "record_version":
        rec["onnxruntime"] = "0.0"
        record.write_text(json.dumps(rec))
    else:
        record.unlink()
    x = np.random.default_rng(5).integers(0, 256, (3, 150, 150, 3), dtype=np.uint8)
    want = first.run(x)
    remade = _net(build)
    assert remade is not None and build.calls == 2
    assert np.abs(remade.run(x) - want).max() < 1e-6
    assert _net(build) is not None and build.calls == 2  # good again
    assert not list(models_dir.glob(f"{TEMP_PREFIX}*"))


def test_a_network_onnx_cannot_match_is_left_to_torch(models_dir):
    import torch

    class Odd(torch.nn.Module):  # a different network at each call: the export's check fails
        def forward(self, x):
            return x.float().mean(dim=(1, 2)) + torch.rand(1)

    assert onnxnets.prepared_net("odd", {}, lambda: Odd().eval(), (2, 4, 4, 3), "uint8", 1e-4) is None
    assert not list(models_dir.glob("odd-*"))


def test_the_workers_forkserver_imports_no_torch_when_onnx_runs_the_networks():
    from facetui.core.models.workers.start import worker_context

    worker_context(torch_needed=True)
    preload = multiprocessing.forkserver._forkserver._preload_modules
    assert "onnxruntime" in preload and "torch" not in preload
