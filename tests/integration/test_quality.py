"""Face quality is measured on the aligned face: one photo gives the same verdict at any size, and real blur is flagged."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFilter

from facetui.core.base.settings import defaults
from facetui.core.models.analyze import FaceConfig, analyze_bytes
from facetui.core.models.face.quality import GOOD, LOW, POOR, quality_level
from support.helpers import DEMO

PHOTOS = [DEMO / "kb" / "Joe_Biden" / "biden2.jpg", DEMO / "query" / "q02.jpg", DEMO / "query" / "q01.jpg"]
GATE = defaults().lap_var_thresh
CFG = FaceConfig(resize_max=2000)  # detect on the photo as given, so 2000 px really is 2000 px


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _at(img: Image.Image, long_side: int) -> Image.Image:
    s = long_side / max(img.size)
    return img.resize((round(img.size[0] * s), round(img.size[1] * s)), Image.Resampling.LANCZOS)


def _largest(a):
    i = max(range(len(a.boxes)), key=lambda j: (a.boxes[j][2] - a.boxes[j][0]) * (a.boxes[j][1] - a.boxes[j][3]))
    return a.boxes[i], a.sharpness[i]


@pytest.mark.parametrize("path", PHOTOS, ids=lambda p: p.name)
def test_one_photo_at_250_800_and_2000_px_gets_one_verdict(path):
    img = Image.open(path).convert("RGB")
    values = {}
    for side in (250, 800, 2000):
        a = analyze_bytes(_jpeg(_at(img, side)), CFG, False)
        assert a.boxes, f"no face at {side} px"
        values[side] = _largest(a)[1]
    assert {quality_level(v, GATE) for v in values.values()} == {GOOD}, values
    # and about the same number: the face is measured aligned, at one scale, not in the photo's pixels
    assert max(values.values()) / min(values.values()) < 2.0, values  # the raw crop varied up to 7x here


@pytest.mark.parametrize("path", PHOTOS, ids=lambda p: p.name)
def test_a_gaussian_blurred_copy_is_flagged(path):
    img = _at(Image.open(path).convert("RGB"), 800)
    sharp = analyze_bytes(_jpeg(img), CFG, False)
    (t, r, b, l), value = _largest(sharp)
    blurred = analyze_bytes(_jpeg(img.filter(ImageFilter.GaussianBlur(0.03 * (r - l)))), CFG, False)
    assert blurred.boxes, "the blurred face should still be detected"
    _, low = _largest(blurred)
    assert quality_level(low, GATE) in (LOW, POOR) and low < value / 5, (value, low)


def test_levels_and_the_gate_switch():
    assert quality_level(500.0, 120.0) == GOOD
    assert quality_level(50.0, 120.0) == LOW
    assert quality_level(5.0, 120.0) == POOR
    assert quality_level(5.0, 0.0) == GOOD  # 0 turns the gate off
    assert quality_level(5.0, 8.0) == POOR and quality_level(9.0, 8.0) == GOOD  # the floor never exceeds the gate
    assert quality_level(None, 120.0) == GOOD
