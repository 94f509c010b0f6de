"""The review's pictures: the image widget this terminal can show, and the photo with its face outlined and the face crop rendered for it.

Import this module (or at least ``textual_image.widget``) before the app starts: textual-image asks the terminal
which graphics protocol it speaks when it is first imported, which cannot be done once Textual owns the terminal.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageDraw
from textual.widget import Widget
from textual_image.widget import HalfcellImage
from textual_image.widget import Image as AutoImage

from ..core.models.images import load_image

IMAGE_ENV = "FACETUI_IMAGES"  # "auto" (default) or "halfcell": force the half-block rendering
PHOTO_SIDE = 800  # pixels: the photo is scaled to this before it is drawn
CROP_SOURCE_SIDE = 1600  # pixels: face crops come from a sharper rendition


def image_class(mode: str | None = None) -> type[Widget]:
    """The image widget to use: a graphics protocol where the terminal has one, half-blocks otherwise.

    ``auto`` takes textual-image's pick on a terminal (Sixel, Kitty TGP, else half-blocks) and half-blocks
    when there is no terminal (headless tests, a pipe); ``halfcell`` forces half-blocks.
    """
    mode = (mode or os.environ.get(IMAGE_ENV) or "auto").lower()
    if mode == "halfcell":
        return HalfcellImage
    on_tty = bool(sys.__stdout__ and sys.__stdout__.isatty())
    return AutoImage if on_tty else HalfcellImage


def first_readable(paths) -> Path | None:
    """The first of ``paths`` that is a file now (a photo may have been moved by a decision), else None."""
    for p in paths:
        try:
            if Path(p).is_file():
                return Path(p)
        except OSError:
            continue
    return None


def _face_crop(pil: PILImage.Image, box, scale: float) -> PILImage.Image:
    """The face in ``box`` (in the analysed photo's pixels, ``scale`` to ``pil``'s) with a 30% margin."""
    t, r, b, l = (v * scale for v in box)
    mh, mw = (b - t) * 0.3, (r - l) * 0.3
    return pil.crop(
        (int(max(0, l - mw)), int(max(0, t - mh)), int(min(pil.width, r + mw)), int(min(pil.height, b + mh)))
    )


def render_photo(path: Path, box, side: int = PHOTO_SIDE) -> tuple[PILImage.Image, PILImage.Image | None]:
    """(the photo with the face outlined, the face with a margin) as PIL images; raises ImageLoadError."""
    big = load_image(path, resize_max=CROP_SOURCE_SIDE)
    pil = PILImage.fromarray(big.rgb)
    crop = _face_crop(pil, box, big.scale) if box is not None else None
    photo = pil.copy()
    photo.thumbnail((side, side))
    if box is not None:
        k = photo.width / pil.width * big.scale
        t, r, b, l = (v * k for v in box)
        ImageDraw.Draw(photo).rectangle((l, t, r, b), outline=(255, 200, 0), width=max(2, side // 150))
    return photo, crop


def render_face(path: Path, box, side: int = 160) -> PILImage.Image | None:
    """The face in ``box`` with a margin, at most ``side`` pixels a side (a thumbnail: no outlined photo is made);
    None without a box. Raises ImageLoadError."""
    if box is None:
        return None
    big = load_image(path, resize_max=CROP_SOURCE_SIDE)
    crop = _face_crop(PILImage.fromarray(big.rgb), box, big.scale)
    crop.thumbnail((side, side))
    return crop
