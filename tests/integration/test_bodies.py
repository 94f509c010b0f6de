"""Tests of facetui.core.models.body: OSNet loading from local files, safety of the loader, geometry and embeddings.

Weights here are random (save_random_weights): these tests check shapes, plumbing and safety, never
recognition quality.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facetui.core.models.body import crops as body_crops
from facetui.core.models.body import encoder as body_encoder
from facetui.core.models.body import osnet
from facetui.core.models.body.osnet import BodyModelError

REPO = Path(__file__).resolve().parents[2]


def _testdata() -> Path:
    """The bundled demo (bodies/ and scenes/ from the shared test data), so a fresh clone tests itself."""
    demo = REPO / "demo"
    if not (demo / "bodies").is_dir():
        pytest.fail("demo/bodies is missing from the repo (see demo/README.md)")
    return demo


@pytest.fixture(scope="module")
def testdata() -> Path:
    return _testdata()


@pytest.fixture(scope="module")
def body_files(testdata) -> list[Path]:
    files = sorted((testdata / "bodies").glob("*/*.jpg"))
    assert len(files) >= 5
    return files


@pytest.fixture(scope="module")
def crops(body_files) -> list[np.ndarray]:
    out = []
    for f in body_files:
        img = np.asarray(Image.open(f).convert("RGB"))
        out.append(body_crops.crop_for_reid(img, (0, img.shape[1], img.shape[0], 0)))
    return out


@pytest.fixture(scope="module")
def ain_weights(tmp_path_factory) -> Path:
    return osnet.save_random_weights(tmp_path_factory.mktemp("w") / "ain.pt", "osnet_ain_x1_0", seed=0)


@pytest.fixture(scope="module")
def encoder(ain_weights):
    return body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu")


def _run_py(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------ imports


def test_import_is_light():
    r = _run_py(
        "import sys, facetui.core.models.body.encoder, facetui.core.models.body.crops\nprint(sorted(m for m in ('torch', 'torchreid', 'numpy') if m in sys.modules))"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_loading_never_imports_torchreid_package(tmp_path):
    # The model code comes from torchreid's files, not from `import torchreid` (whose __init__ needs
    # torchvision, cv2, gdown...); gdown (the Google Drive downloader) must never be imported.
    w = tmp_path / "w.pt"
    r = _run_py(
        "import sys\nfrom pathlib import Path\nfrom facetui.core.models.body import encoder as body_encoder\nfrom facetui.core.models.body import osnet\n"
        f"p = osnet.save_random_weights(Path({str(w)!r}), 'osnet_x0_25')\n"
        "enc = body_encoder.load_body_encoder('osnet_x0_25', p, device='cpu')\n"
        "print(enc.dim, sorted(m for m in sys.modules if m.split('.')[0] in ('torchreid', 'gdown', 'torchvision')))"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "512 []"


# ------------------------------------------------------------------ models and devices


def test_available_models():
    names = osnet.available_models()
    for n in ("osnet_ain_x1_0", "osnet_ain_x0_75", "osnet_x1_0", "osnet_x0_25", "osnet_ibn_x1_0"):
        assert n in names


def test_unknown_model_refused(ain_weights, tmp_path):
    with pytest.raises(BodyModelError) as ei:
        body_encoder.load_body_encoder("resnet50", ain_weights, device="cpu")
    assert "resnet50" in str(ei.value) and "osnet_ain_x1_0" in str(ei.value)
    with pytest.raises(BodyModelError):
        osnet.save_random_weights(tmp_path / "x.pt", "osnet_x2_0")
    assert not (tmp_path / "x.pt").exists()


def test_resolve_device():
    import torch

    assert body_encoder.resolve_device("cpu") == "cpu"
    assert body_encoder.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(BodyModelError):
        body_encoder.resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(BodyModelError, match="cuda"):
            body_encoder.resolve_device("cuda")


def test_half_on_cpu_refused(ain_weights):
    with pytest.raises(BodyModelError, match="half"):
        body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu", half=True)


@pytest.mark.parametrize("name", ["osnet_x0_25", "osnet_ain_x0_25", "osnet_ibn_x1_0"])
def test_other_models_load_and_dims(name, tmp_path, crops):
    w = osnet.save_random_weights(tmp_path / f"{name}.pt", name)
    enc = body_encoder.load_body_encoder(name, w, device="cpu")
    # OSNet's fc layer maps every width to 512, so the small models are 512-d as well.
    assert enc.dim == 512
    emb = enc.embed(crops[:2])
    assert emb.shape == (2, 512)


# ------------------------------------------------------------------ embeddings


def test_random_weights_roundtrip(encoder, ain_weights):
    assert encoder.model_name == "osnet_ain_x1_0"
    assert encoder.weights_path == ain_weights
    assert encoder.device == "cpu" and encoder.half is False
    assert encoder.dim == 512


def test_embed_real_crops(encoder, crops):
    assert all(c.shape == (256, 128, 3) and c.dtype == np.uint8 for c in crops)
    emb = encoder.embed(crops)
    assert emb.shape == (len(crops), 512)
    assert emb.dtype == np.float32
    assert np.isfinite(emb).all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # Different photos give different vectors (no claim about which are "closer": weights are random).
    assert not np.allclose(emb[0], emb[1], atol=1e-4)


def test_batch_size_does_not_change_embeddings(encoder, crops):
    full = encoder.embed(crops, batch_size=len(crops))
    one = np.concatenate([encoder.embed([c], batch_size=1) for c in crops])
    uneven = encoder.embed(crops, batch_size=2)
    np.testing.assert_allclose(one, full, atol=1e-5)
    np.testing.assert_allclose(uneven, full, atol=1e-5)


def test_embed_empty(encoder):
    emb = encoder.embed([])
    assert emb.shape == (0, 512) and emb.dtype == np.float32


def test_embed_resizes_other_sizes(encoder, body_files, crops):
    raw = np.asarray(Image.open(body_files[0]).convert("RGB"))
    assert raw.shape[:2] != body_crops.REID_SIZE
    np.testing.assert_allclose(encoder.embed([raw]), encoder.embed([crops[0]]), atol=1e-6)


def test_scene_frame(testdata, encoder):
    scene = np.asarray(Image.open(next((testdata / "scenes").glob("*.jpg"))).convert("RGB"))
    h, w = scene.shape[:2]
    (whole,) = body_crops.body_regions((h, w), [])
    assert whole == (0, w, h, 0)
    face = (h // 3, w // 2 + 10, h // 3 + 20, w // 2 - 10)
    regions = [whole] + body_crops.body_regions((h, w), [face])
    cut = [body_crops.crop_for_reid(scene, r) for r in regions]
    assert all(c.shape == (256, 128, 3) and c.dtype == np.uint8 for c in cut)
    emb = encoder.embed(cut)
    assert emb.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_seed_reproducible_and_rng_untouched(tmp_path, crops, ain_weights):
    import torch

    state = torch.random.get_rng_state()
    a = osnet.save_random_weights(tmp_path / "a.pt", "osnet_ain_x1_0", seed=0)
    b = osnet.save_random_weights(tmp_path / "b.pt", "osnet_ain_x1_0", seed=1)
    assert torch.equal(state, torch.random.get_rng_state())
    ea = body_encoder.load_body_encoder("osnet_ain_x1_0", a, device="cpu").embed(crops)
    eb = body_encoder.load_body_encoder("osnet_ain_x1_0", b, device="cpu").embed(crops)
    e0 = body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu").embed(crops)
    np.testing.assert_array_equal(ea, e0)
    assert not np.allclose(ea, eb, atol=1e-3)


def test_checkpoint_dict_module_prefix_and_other_classifier(tmp_path, ain_weights, encoder, crops):
    import torch

    sd = torch.load(ain_weights, weights_only=True)
    ck = {f"module.{k}": v for k, v in sd.items()}
    ck["module.classifier.weight"] = torch.randn(751, 512)  # a Market-1501-sized classifier
    ck["module.classifier.bias"] = torch.zeros(751)
    path = tmp_path / "ckpt.pth.tar"
    torch.save({"state_dict": ck, "epoch": 50, "rank1": 0.9}, path)
    enc = body_encoder.load_body_encoder("osnet_ain_x1_0", path, device="cpu")
    np.testing.assert_array_equal(enc.embed(crops), encoder.embed(crops))


# ------------------------------------------------------------------ refusals


def _assert_clear(err: BodyModelError, *needles: str) -> None:
    msg = str(err)
    assert "\n" not in msg and len(msg) < 400, msg
    for n in needles:
        assert n in msg, msg


def test_wrong_architecture_refused(tmp_path):
    small = osnet.save_random_weights(tmp_path / "small.pt", "osnet_x0_25")
    plain = osnet.save_random_weights(tmp_path / "plain.pt", "osnet_x1_0")
    with pytest.raises(BodyModelError) as ei:
        body_encoder.load_body_encoder("osnet_ain_x1_0", small, device="cpu")
    _assert_clear(ei.value, "small.pt", "osnet_ain_x1_0", "shape")
    # Same widths, different blocks: key names differ, and that is refused too.
    with pytest.raises(BodyModelError) as ei:
        body_encoder.load_body_encoder("osnet_ain_x1_0", plain, device="cpu")
    _assert_clear(ei.value, "plain.pt")


def test_incomplete_or_reshaped_state_dict_refused(tmp_path, ain_weights):
    import torch

    sd = torch.load(ain_weights, weights_only=True)
    key = "conv1.conv.weight"
    assert key in sd
    trunc = {k: v for k, v in sd.items() if k != key}
    torch.save(trunc, tmp_path / "trunc.pt")
    with pytest.raises(BodyModelError) as ei:
        body_encoder.load_body_encoder("osnet_ain_x1_0", tmp_path / "trunc.pt", device="cpu")
    _assert_clear(ei.value, "missing", key)
    bad = dict(sd)
    bad["fc.0.weight"] = torch.zeros(256, 512)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(BodyModelError) as ei:
        body_encoder.load_body_encoder("osnet_ain_x1_0", tmp_path / "bad.pt", device="cpu")
    _assert_clear(ei.value, "fc.0.weight")
    extra = dict(sd)
    extra["head.weight"] = torch.zeros(4, 512)  # a layer this architecture does not have
    torch.save(extra, tmp_path / "extra.pt")
    with pytest.raises(BodyModelError) as ei:
        body_encoder.load_body_encoder("osnet_ain_x1_0", tmp_path / "extra.pt", device="cpu")
    _assert_clear(ei.value, "unexpected", "head.weight")


def test_missing_and_non_torch_files_refused(tmp_path):
    import torch

    cases = {
        "missing": (tmp_path / "nope.pt", "not found"),
        "dir": (tmp_path, "not a file"),
        "text": (tmp_path / "text.pt", "cannot read"),
        "empty": (tmp_path / "empty.pt", "cannot read"),
        "tensor": (tmp_path / "tensor.pt", "not a state_dict"),
        "mixed": (tmp_path / "mixed.pt", "not a state_dict"),
    }
    (tmp_path / "text.pt").write_text("these are not weights\n")
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    torch.save({"conv1.conv.weight": torch.zeros(1), "note": "hello"}, tmp_path / "mixed.pt")
    for _name, (path, needle) in cases.items():
        with pytest.raises(BodyModelError) as ei:
            body_encoder.load_body_encoder("osnet_ain_x1_0", path, device="cpu")
        _assert_clear(ei.value, needle, path.name)


class _TouchOnLoad:
    """Unpickling this object opens (so creates) a file: a stand-in for a malicious checkpoint."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_code_running_pickle_refused(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"conv1.conv.weight": torch.zeros(1), "payload": _TouchOnLoad(marker)}, evil)
    with pytest.raises(BodyModelError) as ei:
        body_encoder.load_body_encoder("osnet_ain_x1_0", evil, device="cpu")
    _assert_clear(ei.value, "refused", "evil.pt")
    assert not marker.exists()

    # Control: the payload is live, i.e. an unsafe load would have run it.
    control_marker = tmp_path / "control"
    control = tmp_path / "control.pt"
    torch.save({"payload": _TouchOnLoad(control_marker)}, control)
    torch.load(control, weights_only=False)
    assert control_marker.exists()


def test_weights_fingerprint(tmp_path, ain_weights):
    fp = osnet.weights_fingerprint(ain_weights)
    assert fp == hashlib.sha256(ain_weights.read_bytes()).hexdigest()
    other = osnet.save_random_weights(tmp_path / "o.pt", "osnet_ain_x1_0", seed=3)
    assert osnet.weights_fingerprint(other) != fp
    with pytest.raises(BodyModelError):
        osnet.weights_fingerprint(tmp_path / "missing.pt")


# ------------------------------------------------------------------ geometry


def _inside(box, h, w):
    t, r, b, l = box
    return 0 <= t < b <= h and 0 <= l < r <= w


def test_body_regions_no_face():
    assert body_crops.body_regions((480, 640), []) == [(0, 640, 480, 0)]


def test_body_regions_central_face():
    h, w = 1000, 800
    face = (100, 430, 140, 370)  # top, right, bottom, left: 60 wide, 40 high
    (reg,) = body_crops.body_regions((h, w), [face])
    t, r, b, l = reg
    assert _inside(reg, h, w)
    assert l <= 370 and r >= 430 and t <= 100 and b >= 140  # contains the face
    assert abs((r - l) - 180) <= 2  # about 3 face widths
    assert abs((l + r) / 2 - 400) <= 1  # centred on the face
    assert 70 <= t < 100  # a little above the face
    assert abs(b - (140 + 7 * 40)) <= 2  # ~7 face heights below the face


def test_body_regions_clipped_at_edges():
    h, w = 300, 200
    faces = [(5, 40, 45, 0), (250, 200, 290, 170), (-20, 230, 30, 150)]  # top-left, bottom-right, partly outside
    regions = body_crops.body_regions((h, w), faces)
    assert len(regions) == 3
    for reg in regions:
        assert _inside(reg, h, w)
    assert regions[0][3] == 0 and regions[0][0] == 0
    assert regions[1][1] == w and regions[1][2] == h
    assert regions[2][0] == 0 and regions[2][1] == w


def test_body_regions_random_faces_inside_and_contain_face():
    rng = np.random.default_rng(0)
    h, w = 480, 640
    faces = []
    for _ in range(200):
        top, left = int(rng.integers(0, h - 2)), int(rng.integers(0, w - 2))
        faces.append((top, min(w, left + int(rng.integers(2, 120))), min(h, top + int(rng.integers(2, 120))), left))
    for face, reg in zip(faces, body_crops.body_regions((h, w), faces), strict=True):
        assert _inside(reg, h, w)
        t, r, b, l = reg
        assert t <= face[0] and r >= face[1] and b >= face[2] and l <= face[3]


def test_crop_for_reid_takes_the_box():
    img = np.zeros((100, 60, 3), np.uint8)
    img[:, :30] = (255, 0, 0)
    img[:, 30:] = (0, 0, 255)
    left = body_crops.crop_for_reid(img, (10, 30, 90, 0))
    right = body_crops.crop_for_reid(img, (10, 60, 90, 30))
    assert left.shape == (256, 128, 3) and left.dtype == np.uint8
    assert (left == (255, 0, 0)).all() and (right == (0, 0, 255)).all()
    gray = body_crops.crop_for_reid(np.full((50, 20), 7, np.uint8), (0, 20, 50, 0))
    assert gray.shape == (256, 128, 3) and (gray == 7).all()
    with pytest.raises(ValueError):
        body_crops.crop_for_reid(img, (50, 30, 50, 0))


# ------------------------------------------------------------------ frozen CPU model


@pytest.mark.parametrize("name", ["osnet_ain_x1_0", "osnet_x0_25"])
def test_frozen_cpu_model_gives_the_eager_models_embeddings(name, crops, tmp_path):
    import torch

    w = osnet.save_random_weights(tmp_path / f"{name}.pt", name, seed=3)
    frozen = body_encoder.load_body_encoder(name, w, device="cpu")
    eager = body_encoder.load_body_encoder(name, w, device="cpu", freeze=False)
    assert isinstance(frozen.module, torch.jit.ScriptModule)  # the optimisation took
    assert not isinstance(eager.module, torch.jit.ScriptModule)
    assert frozen.dim == eager.dim
    for batch in (1, 3, 16):  # traced at batch 2: other batch sizes must work too
        a, b = frozen.embed(crops, batch_size=batch), eager.embed(crops, batch_size=batch)
        assert a.shape == b.shape == (len(crops), eager.dim)
        assert np.abs(a - b).max() < 1e-5


def test_a_model_that_cannot_be_frozen_stays_eager(ain_weights, crops, monkeypatch):
    import torch

    def refuse(*_a, **_k):
        raise RuntimeError("tracing is not supported here")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    enc = body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu")
    assert not isinstance(enc.module, torch.jit.ScriptModule)
    assert enc.embed(crops).shape == (len(crops), enc.dim)


def test_a_frozen_model_that_disagrees_is_not_used(ain_weights, crops, monkeypatch):
    import torch

    real = torch.jit.optimize_for_inference

    def skewed(mod):
        out = real(mod)

        class Off(torch.nn.Module):
            def forward(self, x):
                return out(x) + 0.5

        return Off()

    monkeypatch.setattr(torch.jit, "optimize_for_inference", skewed)
    enc = body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu")
    eager = body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu", freeze=False)
    assert np.array_equal(enc.embed(crops), eager.embed(crops))


# ------------------------------------------------------------------ folded CPU model (what a run uses)


@pytest.mark.parametrize("name", ["osnet_ain_x1_0", "osnet_x0_25"])
def test_folded_cpu_model_gives_the_eager_models_embeddings(name, crops, tmp_path):
    import torch

    w = osnet.save_random_weights(tmp_path / f"{name}.pt", name, seed=3)
    folded = body_encoder.load_body_encoder(name, w, device="cpu", freeze="fold")
    eager = body_encoder.load_body_encoder(name, w, device="cpu", freeze=False)
    bn = [m for m in folded.module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bn) < 5 < len([m for m in eager.module.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    for batch in (1, 3, 16):
        a, b = folded.embed(crops, batch_size=batch), eager.embed(crops, batch_size=batch)
        assert a.shape == b.shape == (len(crops), eager.dim)
        assert np.abs(a - b).max() < 1e-5


def test_a_folded_model_that_disagrees_is_not_used(ain_weights, crops, monkeypatch):
    import torch
    from torch.nn.utils import fusion

    real = fusion.fuse_conv_bn_eval

    def skewed(conv, bn, *a, **k):
        out = real(conv, bn, *a, **k)
        with torch.no_grad():
            out.bias += 0.5
        return out

    monkeypatch.setattr(fusion, "fuse_conv_bn_eval", skewed)
    enc = body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu", freeze="fold")
    eager = body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu", freeze=False)
    assert np.array_equal(enc.embed(crops), eager.embed(crops))


def test_a_folded_model_is_traced_once_enough_crops_were_embedded(ain_weights, crops):
    import torch

    enc = body_encoder.load_body_encoder(
        "osnet_ain_x1_0", ain_weights, device="cpu", freeze="fold", trace_after=len(crops) + 1
    )
    eager = body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu", freeze=False)
    first = enc.embed(crops)
    assert not isinstance(enc.module, torch.jit.ScriptModule)  # not yet
    second = enc.embed(crops)  # crosses the threshold: traced after this call
    assert isinstance(enc.module, torch.jit.ScriptModule)
    third = enc.embed(crops)
    want = eager.embed(crops)
    assert max(np.abs(x - want).max() for x in (first, second, third)) < 1e-5


# ------------------------------------------------------------------ CPU preparation


@pytest.mark.parametrize("freeze", [False, "fold", "fold-nchw"])
def test_cpu_preparations_embed_as_the_plain_model(freeze, ain_weights, crops):
    """Every way a CPU encoder is prepared (the channels-last stem pool every CPU model gets; the batch norms folded
    channels-last, as the run's own process does, or NCHW, as a worker does) gives the plain model's embeddings."""
    import torch

    plain = osnet.build_osnet("osnet_ain_x1_0")
    osnet.load_weights(plain, ain_weights, "osnet_ain_x1_0")
    plain.eval()
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255.0)
    x = (x - torch.tensor(body_crops.MEAN).view(1, 3, 1, 1)) / torch.tensor(body_crops.STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        want = torch.nn.functional.normalize(plain(x), dim=1).numpy()
    enc = body_encoder.load_body_encoder("osnet_ain_x1_0", ain_weights, device="cpu", freeze=freeze)
    assert type(enc.module.maxpool).__name__ == "ChannelsLastMaxPool"
    if freeze:  # the fold took: no batch norm is left
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in enc.module.modules())
    got = enc.embed(crops, batch_size=len(crops))
    assert np.abs(got - want).max() < 1e-5


def test_channels_last_stem_pool_is_exact():
    """The stem pool on a channels-last copy gives the same bits as torch's NCHW pool, for either input layout."""
    import torch

    pool = torch.nn.MaxPool2d(3, stride=2, padding=1)
    model = torch.nn.Module()
    model.maxpool = pool
    fast = body_encoder.fast_max_pool(model).maxpool
    x = torch.randn(2, 8, 33, 17)
    assert torch.equal(fast(x), pool(x)) and fast(x).is_contiguous()
    xc = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(fast(xc), pool(x))
