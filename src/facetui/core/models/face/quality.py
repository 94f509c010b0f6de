"""How usable a detected face is: the sharpness of its aligned face chip measured at one fixed scale, and the
quality levels the decision rule reads from it.

The seed measured the Laplacian variance of the raw detection crop, which says as much about the photo's size
and JPEG quality as about the face: a 100 px face in a 250 px news photo read "blurry" while dlib's descriptor
recognised it. Here the face is first aligned (the 150 px chip the descriptor network sees), then scaled to
``QUALITY_SIZE`` px, below the size of almost every detected face, so that the same face gives about the same
number in a 250, 800 or 2000 px photo, and only real blur (focus, motion, heavy upscaling of a tiny face)
lowers it. Sharp faces measure about 200 to 2,000; a face blurred by a Gaussian of 2 px (at 150 px) about 100.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..images import sharpness

QUALITY_SIZE = 64  # px: the aligned chip is measured at this size
POOR_BELOW = 10.0  # sharpness under which a face carries too little to be filed by face at all

GOOD, LOW, POOR = "", "low", "poor"


def chip_sharpness(chip: np.ndarray) -> float:
    """Laplacian variance of an aligned face chip (H x W x 3 uint8) scaled to QUALITY_SIZE px, in grey levels²."""
    img = Image.fromarray(np.ascontiguousarray(chip, dtype=np.uint8)).convert("L")
    if img.size != (QUALITY_SIZE, QUALITY_SIZE):
        img = img.resize((QUALITY_SIZE, QUALITY_SIZE), Image.Resampling.LANCZOS)
    return sharpness(np.asarray(img, dtype=np.float32))


def quality_level(value: float | None, threshold: float) -> str:
    """GOOD, LOW (under ``threshold``: matched under the stricter rule) or POOR (under the floor: never filed by
    face). A threshold of 0 turns the gate off; the floor never exceeds the threshold."""
    if value is None or threshold <= 0:
        return GOOD
    if value < min(POOR_BELOW, threshold):
        return POOR
    return LOW if value < threshold else GOOD
