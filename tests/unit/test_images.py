"""Tests for facetui.core.models.images on real photos and on the awkward files that tests/support/corpus.py writes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from facetui.core.models import images
from facetui.core.models.images import ImageLoadError, LoadedImage, load_image, load_image_bytes, sharpness, to_gray
from support.corpus import (
    BOMB_SIZE,
    ERROR,
    HUGE_NAME,
    NON_UTF8_NAME,
    OK,
    ROTATED_NAME,
    WEIRD_NAME,
    encode,
    make_corpus,
    png_bomb,
)  # fmt: skip

DEMO = Path(__file__).resolve().parents[2] / "demo"  # the real photos of shared/testdata/faces, bundled
FACE_PHOTO = DEMO / "query" / "q01.jpg"  # Barack Obama, one upright face, 800x450
SMALL_PHOTO = DEMO / "query" / "q02.jpg"  # 320x240
SRC = Path(images.__file__).resolve().parents[2]

# What an error file must say (a fragment of the reason); every error file of the corpus is listed.
ERROR_REASONS = {
    "empty.jpg": "empty file (0 bytes)",
    "truncated.jpg": "truncated or corrupt JPEG",
    "truncated.png": "truncated or corrupt PNG",
    "text.jpg": "not an image (unrecognised format)",
    "bomb.png": "image too large",
    "bomb_sof.jpg": "image too large",
    "folder.jpg": "is a directory",
    "dangling.jpg": "broken symbolic link",
    "sub/loop": "is a directory",
    "fifo.jpg": "not a regular file",
    "noaccess.jpg": "permission denied",
}
# Remarks an ok file must carry.
EXPECTED_NOTES = {
    "png_named.jpg": "PNG data in a .jpg file",
    "cmyk.jpg": "CMYK converted to RGB",
    "gray16.png": "16-bit image converted to 8-bit",
    "rgba.png": "alpha flattened on white",
    "palette_trns.png": "alpha flattened on white",
    ROTATED_NAME: "EXIF rotation applied",
    "animated.gif": "multi-frame file: used first frame",
    "animated.png": "multi-frame file: used first frame",
    "animated.webp": "multi-frame file: used first frame",
    "multipage.tiff": "multi-frame file: used first frame",
}
# What every POSIX run must produce (noaccess.jpg only exists when not running as root).
REQUIRED = set(ERROR_REASONS) - {"noaccess.jpg"} | set(EXPECTED_NOTES) | {
    "gray.jpg", "palette.png", "bilevel.png", "progressive.jpg", "photo.webp", WEIRD_NAME,
    os.fsdecode(NON_UTF8_NAME), "link.jpg", HUGE_NAME,
}  # fmt: skip


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    good = [FACE_PHOTO, *sorted((DEMO / "kb").glob("*/*.jpg"))]
    dest = tmp_path_factory.mktemp("corpus")
    return dest, make_corpus(dest, good)


def _load(path: Path) -> LoadedImage | ImageLoadError:
    try:
        return load_image(path)
    except ImageLoadError as e:
        return e


def _check_array(result: LoadedImage, resize_max: int) -> None:
    a = result.rgb
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert a.flags.c_contiguous
    assert 1 <= max(a.shape[:2]) <= resize_max
    assert 0 < result.scale <= 1.0


# --- the corpus -------------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="symlinks, FIFOs and byte names are POSIX")
def test_corpus_has_every_kind_of_file(corpus: tuple[Path, dict[str, str]]) -> None:
    _, expected = corpus
    assert REQUIRED <= set(expected), REQUIRED - set(expected)
    assert set(expected.values()) == {OK, ERROR}


@pytest.mark.parametrize("load_truncated", [False, True])
def test_each_corpus_file_loads_or_fails_as_expected(
    corpus: tuple[Path, dict[str, str]], load_truncated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Importing face_recognition sets ImageFile.LOAD_TRUNCATED_IMAGES = True for the whole process; a truncated
    # file must be refused all the same.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", load_truncated)
    dest, expected = corpus
    wrong = []
    for name, kind in sorted(expected.items()):
        result = _load(dest / name)
        if kind == OK:
            if isinstance(result, ImageLoadError):
                wrong.append(f"{name}: expected ok, got error {result.reason!r}")
                continue
            _check_array(result, 800)
            if name in EXPECTED_NOTES and EXPECTED_NOTES[name] not in result.notes:
                wrong.append(f"{name}: notes {result.notes} lack {EXPECTED_NOTES[name]!r}")
        else:
            if not isinstance(result, ImageLoadError):
                wrong.append(f"{name}: expected an error, loaded {result.rgb.shape}")
                continue
            reason = str(result)
            assert reason == result.reason
            if not reason or "\n" in reason or "Traceback" in reason or len(reason) > 100:
                wrong.append(f"{name}: reason is not one short line: {reason!r}")
            if ERROR_REASONS[name] not in reason:
                wrong.append(f"{name}: reason {reason!r} lacks {ERROR_REASONS[name]!r}")
    assert not wrong, "\n".join(wrong)


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    """A mode-000 photo is refused with 'permission denied'; as root, in a child that has shed root's powers."""
    import subprocess
    import sys

    from support.cli_runs import permission_preexec

    photo = tmp_path / "noaccess.jpg"
    photo.write_bytes((DEMO / "query" / "q01.jpg").read_bytes())
    photo.chmod(0)
    usable, preexec = permission_preexec()
    if not usable:
        pytest.skip("cannot run a child that file permissions apply to on this machine")
    code = (
        "from facetui.core.models.images import load_image, ImageLoadError\n"
        f"try:\n    load_image({str(photo)!r})\nexcept ImageLoadError as e:\n    print('refused:', e)\n"
        "else:\n    print('loaded')"
    )
    r = subprocess.run([sys.executable, "-c", code], preexec_fn=preexec, capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "refused: permission denied", r.stdout + r.stderr


def test_loading_changes_no_file(corpus: tuple[Path, dict[str, str]]) -> None:
    dest, expected = corpus

    def snapshot() -> dict[str, tuple[int, int, str]]:
        state = {}
        for root, dirs, files in os.walk(dest):  # does not follow the symlink loop
            for entry in dirs + files:
                p = Path(root, entry)
                st = p.lstat()
                digest = ""
                if p.is_file() and not p.is_symlink() and os.access(p, os.R_OK):
                    digest = hashlib.sha256(p.read_bytes()).hexdigest()
                state[str(p.relative_to(dest))] = (st.st_mtime_ns, st.st_mode, digest)
        return state

    before = snapshot()
    for name in expected:
        _load(dest / name)
    assert snapshot() == before


def test_ok_files_are_decoded_exactly_once(
    corpus: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    dest, _ = corpus
    decoders: list[str] = []
    real_getdecoder = Image._getdecoder

    def counting(mode: str, decoder_name: str, *args: object, **kwargs: object) -> object:
        decoders.append(decoder_name)
        return real_getdecoder(mode, decoder_name, *args, **kwargs)

    monkeypatch.setattr(Image, "_getdecoder", counting)
    for name in ["progressive.jpg", "cmyk.jpg", ROTATED_NAME, HUGE_NAME, "rgba.png", "gray16.png", "animated.gif"]:
        decoders.clear()
        load_image(dest / name)
        assert len(decoders) == 1, (name, decoders)


# --- orientation ------------------------------------------------------------------------------------------------


def test_exif_rotated_photo_comes_back_upright(corpus: tuple[Path, dict[str, str]]) -> None:
    import face_recognition  # dlib; slow to import

    dest, _ = corpus
    upright = load_image(FACE_PHOTO)
    turned = load_image(dest / ROTATED_NAME)
    assert turned.original_size == upright.original_size == (800, 450)
    assert turned.rgb.shape == upright.rgb.shape == (450, 800, 3)
    diff = np.abs(turned.rgb.astype(int) - upright.rgb.astype(int)).mean()
    assert diff < 4.0  # JPEG re-encoding only; a wrong turn differs by tens of grey levels

    raw = np.array(Image.open(dest / ROTATED_NAME).convert("RGB"))  # the stored pixels, ignoring EXIF
    assert raw.shape == (800, 450, 3)
    assert face_recognition.face_locations(raw, model="hog") == []
    assert len(face_recognition.face_locations(turned.rgb, model="hog")) == 1


def _marked(size: tuple[int, int]) -> Image.Image:
    """A grey image with a red block top left and a blue block top right, so any turn or flip shows."""
    im = Image.new("RGB", size, (128, 128, 128))
    im.paste((255, 0, 0), (0, 0, 8, 8))
    im.paste((0, 0, 255), (size[0] - 8, 0, size[0], 8))
    return im


# Orientation n: Pillow's exif_transpose applies TO_UPRIGHT[n]; a camera stores STORE[n] of the upright scene.
TO_UPRIGHT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
              7: "TRANSVERSE", 8: "ROTATE_90"}  # fmt: skip
STORE = {**TO_UPRIGHT, 6: "ROTATE_90", 8: "ROTATE_270"}  # the inverses (the others undo themselves)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(fmt: str, orientation: int) -> None:
    upright = _marked((64, 40))
    stored = upright.transpose(Image.Transpose[STORE[orientation]]) if orientation > 1 else upright
    if fmt == "TIFF":
        data = encode(stored, fmt, tiffinfo={0x0112: orientation})
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = encode(stored, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    result = load_image_bytes(data)
    assert result.original_size == (64, 40)
    if fmt != "TIFF":  # Pillow turns a TIFF upright itself while loading it, and drops the tag
        assert ("EXIF rotation applied" in result.notes) == (orientation > 1)
    tolerance = 12 if fmt == "JPEG" else 0
    assert np.abs(result.rgb[2, 2].astype(int) - (255, 0, 0)).max() <= tolerance
    assert np.abs(result.rgb[2, 61].astype(int) - (0, 0, 255)).max() <= tolerance + 20


# --- colour modes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk_pure_cyan_becomes_cyan(fmt: str) -> None:
    im = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    im.paste((0, 0, 0, 128), (8, 0, 16, 16))  # 50% black on the right
    result = load_image_bytes(encode(im, fmt, **({"quality": 95} if fmt == "JPEG" else {})))
    assert "CMYK converted to RGB" in result.notes
    assert np.abs(result.rgb[8, 2].astype(int) - (0, 255, 255)).max() <= 6
    assert np.abs(result.rgb[8, 13].astype(int) - (127, 127, 127)).max() <= 6


def test_sixteen_bit_ramp_keeps_its_order_and_is_stretched_not_clipped() -> None:
    # A 12-bit ramp stored in 16 bits, as scientific and scanner images often are: clipping would make it all white.
    ramp = np.tile(np.linspace(100, 4000, 256).astype(np.uint16), (4, 1))
    big_endian = Image.frombytes("I;16B", (256, 4), ramp.astype(">u2").tobytes())
    for data in (encode(Image.fromarray(ramp), "PNG"), encode(big_endian, "TIFF")):
        result = load_image_bytes(data)
        assert "16-bit image converted to 8-bit" in result.notes
        row = result.rgb[1, :, 0].astype(int)
        assert (result.rgb[..., 0] == result.rgb[..., 2]).all()
        assert (np.diff(row) >= 0).all()
        assert row[0] == 0 and row[-1] == 255
        assert len(np.unique(row)) > 200


def test_thirty_two_bit_and_float_images_keep_their_order() -> None:
    ints = np.tile(np.linspace(-2_000_000, 2_000_000, 200).astype(np.int32), (3, 1))
    floats = np.tile(np.linspace(-1.0, 1.0, 200).astype(np.float32), (3, 1))
    floats[0, 0] = np.nan
    floats[2, 5] = np.inf
    for arr, mode in ((ints, "I"), (floats, "F")):
        result = load_image_bytes(encode(Image.fromarray(arr, mode), "TIFF"))
        assert "32-bit image converted to 8-bit" in result.notes
        row = result.rgb[1, :, 1].astype(int)
        assert (np.diff(row) >= 0).all() and row[0] == 0 and row[-1] == 255


def test_transparent_pixels_become_white() -> None:
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 5, 5))  # fully transparent black
    rgba.paste((255, 0, 0, 128), (5, 5, 10, 10))  # half-transparent red
    result = load_image_bytes(encode(rgba, "PNG"))
    assert "alpha flattened on white" in result.notes
    assert tuple(result.rgb[1, 1]) == (255, 255, 255)
    assert tuple(result.rgb[1, 8]) == (255, 0, 0)
    assert np.abs(result.rgb[8, 8].astype(int) - (255, 127, 127)).max() <= 1

    la = Image.new("LA", (4, 4), (0, 0))
    assert (load_image_bytes(encode(la, "PNG")).rgb == 255).all()

    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    palette.putpixel((0, 0), 0)
    result = load_image_bytes(encode(palette, "PNG", transparency=0))
    assert tuple(result.rgb[0, 0]) == (255, 255, 255) and tuple(result.rgb[3, 3]) == (200, 10, 10)


def test_opaque_alpha_is_not_remarked() -> None:
    result = load_image_bytes(encode(Image.new("RGBA", (4, 4), (1, 2, 3, 255)), "PNG"))
    assert result.notes == () and tuple(result.rgb[0, 0]) == (1, 2, 3)


@pytest.mark.parametrize(
    ("mode", "value", "fmt", "rgb"),
    [
        ("L", 77, "PNG", (77, 77, 77)),
        ("1", 1, "PNG", (255, 255, 255)),
        ("P", 0, "GIF", (0, 0, 0)),
        ("YCbCr", (128, 128, 255), "TIFF", (255, 37, 128)),  # R = Y + 1.402 (Cr - 128), clipped
        ("LAB", (128, 128, 128), "TIFF", (119, 119, 119)),  # L*=50, neutral: mid grey, not Pillow's raw blue
    ],
)
def test_other_modes_convert_to_rgb(mode: str, value: object, fmt: str, rgb: tuple[int, int, int]) -> None:
    result = load_image_bytes(encode(Image.new(mode, (4, 4), value), fmt))  # type: ignore[arg-type]
    assert np.abs(result.rgb[1, 1].astype(int) - rgb).max() <= 3, result.rgb[1, 1]


# --- size, limits and memory --------------------------------------------------------------------------------------


def test_resize_never_upscales_and_reports_scale() -> None:
    small = load_image(SMALL_PHOTO)
    assert small.rgb.shape == (240, 320, 3) and small.scale == 1.0 and small.original_size == (320, 240)
    tiny = load_image(SMALL_PHOTO, resize_max=100)
    assert tiny.rgb.shape == (75, 100, 3) and tiny.original_size == (320, 240)
    assert tiny.scale == pytest.approx(100 / 320)
    with pytest.raises(ValueError):
        load_image(SMALL_PHOTO, resize_max=0)


def test_own_pixel_limit_names_the_dimensions(corpus: tuple[Path, dict[str, str]]) -> None:
    dest, _ = corpus
    with pytest.raises(ImageLoadError, match=r"^image too large: 13333x7500 px \(limit 50 MP\)$"):
        load_image(dest / HUGE_NAME, max_pixels=50_000_000)


def test_pillow_settings_and_warning_filters_are_left_alone(corpus: tuple[Path, dict[str, str]]) -> None:
    dest, _ = corpus
    filters = list(warnings.filters)
    pillow_settings = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_image(dest / HUGE_NAME)  # above Image.MAX_IMAGE_PIXELS: Pillow warns
        _load(dest / "truncated.jpg")
    assert caught == []
    assert warnings.filters == filters
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == pillow_settings


# Peak memory is read in a fresh interpreter.  On Linux it is VmHWM, the peak of this process image: ru_maxrss
# survives fork + exec, so a child of this test process (which built a 100 MP photo) would start from its peak.
PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from PIL import Image
    from facetui.core.models.images import ImageLoadError, load_image

    def peak_mb():
        try:
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
        except (OSError, StopIteration):
            maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)

    load_image(sys.argv[1])  # warm up: plugins, numpy, first allocations
    base = peak_mb()
    out = {}
    try:
        if sys.argv[3] == "pillow-full-decode":
            Image.open(sys.argv[2]).load()
        else:
            r = load_image(sys.argv[2], max_pixels=int(sys.argv[3]))
            out["shape"], out["original_size"] = r.rgb.shape, r.original_size
    except ImageLoadError as e:
        out["error"] = e.reason
    out["rss_delta_mb"] = peak_mb() - base
    print(json.dumps(out))
    """
)


def _probe(path: Path, max_pixels: int | str = images.DEFAULT_MAX_PIXELS) -> dict:
    pytest.importorskip("resource")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(SMALL_PHOTO), str(path), str(max_pixels)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_memory_probe_sees_a_full_decode(corpus: tuple[Path, dict[str, str]]) -> None:
    dest, _ = corpus
    assert _probe(dest / HUGE_NAME, "pillow-full-decode")["rss_delta_mb"] > 300


def test_hundred_megapixel_jpeg_loads_in_bounded_memory(corpus: tuple[Path, dict[str, str]]) -> None:
    dest, _ = corpus
    out = _probe(dest / HUGE_NAME)
    assert out.get("error") is None and out["shape"] == [450, 800, 3] and out["original_size"] == [13333, 7500]
    assert out["rss_delta_mb"] < 300, out


@pytest.mark.parametrize("name", ["bomb.png", "bomb_sof.jpg"])
def test_decompression_bomb_is_refused_without_allocating(corpus: tuple[Path, dict[str, str]], name: str) -> None:
    dest, _ = corpus
    assert BOMB_SIZE[0] * BOMB_SIZE[1] > images.DEFAULT_MAX_PIXELS
    assert (dest / name).stat().st_size < 200_000
    out = _probe(dest / name)
    assert out["error"].startswith("image too large"), out
    assert out["rss_delta_mb"] < 300, out


def test_bomb_under_pillows_limit_is_refused_by_our_limit_before_decoding(tmp_path: Path) -> None:
    # 20000 x 5000 is under Pillow's own limit, so only our check stands between it and a 400 MB allocation.
    bomb = tmp_path / "wide.png"
    bomb.write_bytes(png_bomb(20_000, 5_000))
    out = _probe(bomb, 50_000_000)
    assert out["error"] == "image too large: 20000x5000 px (limit 50 MP)"
    assert out["rss_delta_mb"] < 300, out


# --- plain errors -----------------------------------------------------------------------------------------------


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="^file not found$"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="^is a directory$"):
        load_image(tmp_path)
    with pytest.raises(ImageLoadError, match=r"^empty file \(0 bytes\)$"):
        load_image_bytes(b"")


# --- fuzzing ----------------------------------------------------------------------------------------------------


def _seeds() -> list[bytes]:
    photo = Image.open(SMALL_PHOTO).convert("RGB").resize((48, 36))
    return [
        encode(photo, "JPEG", quality=80),
        encode(photo, "JPEG", quality=80, progressive=True),
        encode(photo, "PNG"),
        encode(photo.convert("P"), "GIF"),
        encode(photo, "WEBP"),
        encode(photo, "TIFF"),
        encode(photo, "BMP"),
        encode(photo.convert("RGBA"), "PNG"),
    ]


SEEDS = _seeds()


def _must_load_or_refuse(data: bytes) -> None:
    try:
        result = load_image_bytes(data, resize_max=64, max_pixels=4_000_000)
    except ImageLoadError as e:
        assert e.reason and "\n" not in e.reason
    else:
        _check_array(result, 64)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_raise_nothing_but_image_load_error(data: bytes) -> None:
    _must_load_or_refuse(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=12),
    st.one_of(st.none(), st.integers(0, 1 << 20)),
)
def test_damaged_real_images_raise_nothing_but_image_load_error(seed: bytes, edits: list, cut: int | None) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        del data[cut % len(data) :]
    _must_load_or_refuse(bytes(data))


# --- sharpness and grey -----------------------------------------------------------------------------------------


def test_sharpness_matches_a_hand_computed_laplacian_variance() -> None:
    # One bright pixel at (1, 1) of a 4x4 image: the interior Laplacian is [[-16, 4], [4, 0]] (kernel
    # [[0,1,0],[1,-4,1],[0,1,0]]), mean -2, so the variance is (14² + 6² + 6² + 2²) / 4 = 68.
    g = np.zeros((4, 4), np.uint8)
    g[1, 1] = 4
    assert sharpness(g) == 68.0
    assert sharpness(np.repeat(g[:, :, None], 3, axis=2)) == pytest.approx(68.0, rel=1e-5)
    assert sharpness(np.zeros((2, 9))) == 0.0


def test_blurring_a_real_photo_lowers_its_sharpness() -> None:
    from PIL import ImageFilter

    photo = Image.open(FACE_PHOTO).convert("RGB")
    blurred = photo.filter(ImageFilter.GaussianBlur(3))
    assert sharpness(np.asarray(photo)) > 4 * sharpness(np.asarray(blurred)) > 0


def test_to_gray_uses_bt601_weights() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    gray = to_gray(rgb)
    assert gray.dtype == np.float32 and gray.shape == (1, 4)
    np.testing.assert_allclose(gray[0], [76.245, 149.685, 29.07, 255.0], rtol=1e-5)
