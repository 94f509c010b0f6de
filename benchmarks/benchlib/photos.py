"""Folders of photos made from the bundled demo photos, every file's content hash different."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from benchlib import DEMO, LFW

# long side of the variants: the demo's own sizes (<= 800) and the larger sizes photo libraries hold
LONG_SIDES = (None, 1024, 2048, 3024, 4032)


def source_photos() -> list[Path]:
    """The demo's query, KB and scene photos, in a fixed order."""
    found = sorted((DEMO / "query").glob("*.jpg")) + sorted((DEMO / "kb").glob("*/*.jpg"))
    found += sorted((DEMO / "scenes").glob("*.jpg"))
    return found


def make_library(dest: Path, n: int, sizes: tuple[int | None, ...] = LONG_SIDES) -> dict:
    """Write n JPEG variants of the demo photos into dest (v0000_q01.jpg ...); every file's sha256 differs."""
    from PIL import Image, ImageOps

    dest.mkdir(parents=True, exist_ok=True)
    sources = source_photos()
    imgs = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in sources]
    seen: set[str] = set()
    pixels: list[int] = []
    sides: list[int] = []
    for i in range(n):
        k, j = divmod(i, len(sources))
        im = imgs[j]
        side = sizes[(k // 2) % len(sizes)]
        if side is not None:
            f = side / max(im.size)
            im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.LANCZOS)
        if k % 2:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        quality = 92 - 2 * (k // 10)
        while True:
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=quality)
            data = buf.getvalue()
            sha = hashlib.sha256(data).hexdigest()
            if sha not in seen:
                break
            quality -= 1  # identical bytes: re-encode differently
        seen.add(sha)
        (dest / f"v{i:04d}_{sources[j].stem}.jpg").write_bytes(data)
        pixels.append(im.width * im.height)
        sides.append(max(im.size))
    mb = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
    return {
        "photos": n,
        "distinct_sha256": len(seen),
        "mb": round(mb, 1),
        "mean_megapixels": round(sum(pixels) / len(pixels) / 1e6, 2),
        "max_long_side": max(sides),
    }


def make_small_library(dest: Path, n: int) -> None:
    """n LFW-size photos (250 px) from the lfw-calib queries: flipped and re-encoded variants, every sha256 new."""
    from PIL import Image, ImageOps

    dest.mkdir(parents=True, exist_ok=True)
    sources = sorted((LFW / "query").glob("*.jpg"))
    imgs = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in sources]
    seen: set[str] = set()
    for i in range(n):
        k, j = divmod(i, len(sources))
        im = imgs[j].transpose(Image.Transpose.FLIP_LEFT_RIGHT) if k % 2 else imgs[j]
        quality = 95 - k // 2
        while True:
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=max(quality, 5))
            sha = hashlib.sha256(buf.getvalue()).hexdigest()
            if sha not in seen:
                break
            quality -= 1
        seen.add(sha)
        (dest / f"s{i:04d}_{sources[j].stem}.jpg").write_bytes(buf.getvalue())
