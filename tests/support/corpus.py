"""Write awkward and broken image files, made from real photos at test time, with the outcome each should have."""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

OK = "ok"
ERROR = "error"

BOMB_SIZE = (40_000, 40_000)  # declared by the bomb files: 1.6 gigapixels, 4.8 GB as RGB
ROTATED_NAME = "rotated_exif.jpg"
HUGE_NAME = "huge_100mp.jpg"
HUGE_PIXELS = 100_000_000
WEIRD_NAME = "my photo ü $(x) ;&.jpg"
NON_UTF8_NAME = b"caf\xe9.jpg"


def make_corpus(dest: Path, good_photos: list[Path]) -> dict[str, str]:
    """Fill ``dest`` and return {path relative to dest: "ok" or "error"}, the outcome load_image should have.

    ``good_photos[0]`` must be an upright photo with one face the HOG detector finds; it becomes the EXIF-rotated
    file (``ROTATED_NAME``: stored turned 90 degrees anticlockwise, EXIF Orientation 6) and the 100 MP JPEG.
    Other photos feed the multi-frame files.  Entries the platform cannot make (a non-UTF-8 name, symbolic links,
    a FIFO, an unreadable file when running as root) are left out of the result.  ``dest`` should be new or empty.
    """
    dest.mkdir(parents=True, exist_ok=True)
    face = Image.open(good_photos[0]).convert("RGB")
    others = [Image.open(p).convert("RGB").resize(face.size) for p in good_photos[1:3]]
    others = others or [face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    face_jpeg = good_photos[0].read_bytes()
    expected: dict[str, str] = {}

    def put(name: str, data: bytes, kind: str) -> None:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)
        expected[name] = kind

    # Files that are not, or no longer, images.
    put("empty.jpg", b"", ERROR)
    put("truncated.jpg", face_jpeg[: len(face_jpeg) // 2], ERROR)
    put("truncated.png", encode(face, "PNG")[:-5000], ERROR)
    put("text.jpg", b"These are my holiday notes, not a photo.\n" * 20, ERROR)
    put("bomb.png", png_bomb(*BOMB_SIZE), ERROR)
    put("bomb_sof.jpg", _patch_jpeg_size(face_jpeg, *BOMB_SIZE), ERROR)
    (dest / "folder.jpg").mkdir(exist_ok=True)
    expected["folder.jpg"] = ERROR

    # Odd but valid encodings and colour modes.
    put("png_named.jpg", encode(face, "PNG"), OK)
    put("progressive.jpg", encode(face, "JPEG", quality=85, progressive=True), OK)
    put("photo.webp", encode(face, "WEBP", quality=80), OK)
    put("cmyk.jpg", encode(face.convert("CMYK"), "JPEG", quality=90), OK)
    put("gray.jpg", encode(face.convert("L"), "JPEG", quality=90), OK)
    gray16 = Image.fromarray(_as_u16(face.convert("L")))
    put("gray16.png", encode(gray16, "PNG"), OK)
    put("rgba.png", encode(_with_transparent_hole(face), "PNG"), OK)
    put("palette.png", encode(face.convert("P", palette=Image.Palette.ADAPTIVE, colors=64), "PNG"), OK)
    palette_trns = face.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    put("palette_trns.png", encode(palette_trns, "PNG", transparency=0), OK)
    put("bilevel.png", encode(face.convert("1"), "PNG"), OK)
    put(ROTATED_NAME, _exif_rotated_jpeg(face), OK)

    # Several frames: the first one is the photo.
    frames = [face, *others]
    put("animated.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0), OK)
    put("animated.png", encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=200), OK)
    put("animated.webp", encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=200), OK)
    put("multipage.tiff", encode(frames[0], "TIFF", save_all=True, append_images=frames[1:]), OK)

    # Names and file-system objects that trip up careless code.
    put(WEIRD_NAME, face_jpeg, OK)
    _try_non_utf8_name(dest, face_jpeg, expected)
    _try(expected, "link.jpg", OK, lambda: os.symlink(WEIRD_NAME, dest / "link.jpg"))
    _try(expected, "dangling.jpg", ERROR, lambda: os.symlink("no such photo.jpg", dest / "dangling.jpg"))
    (dest / "sub").mkdir(exist_ok=True)
    _try(expected, "sub/loop", ERROR, lambda: os.symlink("..", dest / "sub" / "loop", target_is_directory=True))
    _try(expected, "fifo.jpg", ERROR, lambda: os.mkfifo(dest / "fifo.jpg"))
    _unreadable(dest / "noaccess.jpg", face_jpeg, expected)

    # A 100 MP photo: fine, if the loader decodes it at reduced scale.
    scale = math.sqrt(HUGE_PIXELS / (face.width * face.height))
    huge = face.resize((round(face.width * scale), round(face.height * scale)), Image.Resampling.BILINEAR)
    huge.save(dest / HUGE_NAME, "JPEG", quality=85)
    expected[HUGE_NAME] = OK
    return expected


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def _as_u16(gray: Image.Image) -> np.ndarray:
    return np.asarray(gray).astype(np.uint16) * np.uint16(257)  # 0..255 -> 0..65535


def _with_transparent_hole(im: Image.Image) -> Image.Image:
    """The photo with a fully transparent square in its top-left corner and a half-transparent band below it."""
    rgba = im.convert("RGBA")
    alpha = Image.new("L", im.size, 255)
    alpha.paste(0, (0, 0, 40, 40))
    alpha.paste(128, (0, 40, im.width, 60))
    rgba.putalpha(alpha)
    return rgba


def _exif_rotated_jpeg(upright: Image.Image) -> bytes:
    """Pixels turned 90 degrees anticlockwise; Orientation 6 tells viewers to turn them back clockwise."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=92, exif=exif.tobytes())


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG header for width x height RGB, followed by a zlib stream of zero rows (a few bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def _patch_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with the frame header (SOFn) claiming width x height."""
    pos = 2  # after SOI
    while pos + 4 <= len(jpeg):
        if jpeg[pos] != 0xFF:
            raise ValueError("not a marker where one was expected")
        marker = jpeg[pos + 1]
        length = struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOF0..SOF15, not DHT/JPG/DAC
            dims = pos + 5  # marker (2), length (2), precision (1)
            return jpeg[:dims] + struct.pack(">HH", height, width) + jpeg[dims + 4 :]
        pos += 2 + length
    raise ValueError("no SOF marker found")


def _try(expected: dict[str, str], name: str, kind: str, make: Callable[[], None]) -> None:
    try:
        make()
    except (OSError, NotImplementedError, AttributeError):  # no symlinks or FIFOs here (e.g. Windows)
        return
    expected[name] = kind


def _try_non_utf8_name(dest: Path, data: bytes, expected: dict[str, str]) -> None:
    raw = os.path.join(os.fsencode(dest), NON_UTF8_NAME)
    try:
        fd = os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    except (OSError, TypeError, ValueError):  # e.g. a file system that insists on UTF-8 names
        return
    with open(fd, "wb") as f:
        f.write(data)
    expected[os.fsdecode(NON_UTF8_NAME)] = OK


def _unreadable(path: Path, data: bytes, expected: dict[str, str]) -> None:
    """A mode-000 file, kept only where this process really cannot read it (not as root)."""
    path.write_bytes(data)
    path.chmod(0)
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        expected[path.name] = ERROR
        return
    path.chmod(0o644)
    path.unlink()


# --- an output folder that others can write into -------------------------------------------------------------------

LINKED_OUT = ("Barack_Obama", "Unknown")  # planted as links to a folder outside the output: refused
LINKED_IN = "Alex_Lacamoire"  # planted as a link to a folder inside the output: allowed


def plant_output_links(out: Path, elsewhere: Path) -> dict[str, str]:
    """Plant links in the output folder ``out`` as someone sharing it could: a person folder and ``Unknown/`` that
    lead to ``elsewhere`` (outside ``out``: writing there is refused) and a person folder that leads to another
    folder inside ``out`` (allowed). Returns {folder name: "refused" or "allowed"}."""
    out.mkdir(parents=True, exist_ok=True)
    elsewhere.mkdir(parents=True, exist_ok=True)
    planted = {}
    for name in LINKED_OUT:
        os.symlink(elsewhere, out / name, target_is_directory=True)
        planted[name] = "refused"
    (out / "shared-inside").mkdir()
    os.symlink("shared-inside", out / LINKED_IN, target_is_directory=True)
    planted[LINKED_IN] = "allowed"
    return planted
