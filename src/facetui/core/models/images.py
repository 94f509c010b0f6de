"""Decode a photo in any format Pillow reads into a small, upright, 8-bit RGB array, or say in one line why not."""

from __future__ import annotations

import io
import math
import os
import re
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from ..base.errors import FacetuiError

# Pillow's Image.open refuses any image above 2 * Image.MAX_IMAGE_PIXELS (2 * 89_478_485 px by default) with
# DecompressionBombError, and this module leaves that global alone.  The default limit is that same number: it
# promises no more than Pillow will open and refuses nothing Pillow would, and it admits every camera photo we know
# of (100-150 MP medium format, phone panoramas).  The price is the worst case of a format that cannot be decoded
# at reduced size: a 0.5 MB all-black 13000x13000 PNG loads in 2.3 s with a 660 MB peak.  A caller may pass a
# lower limit, which is checked against the header before any pixel is decoded; a higher one has no effect.
DEFAULT_MAX_PIXELS = 178_956_970

# A JPEG is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (Image.draft) so that its long side is still at least
# _DRAFT_MARGIN * resize_max; the final resize uses LANCZOS, after a box reduce() by an integer factor while the
# image is more than _REDUCING_GAP times too big (formats without draft).  Measured on a 2-core VM to 800 px:
# 12 MP JPEG 20 ms (58 ms without draft), 100 MP 70 ms and +16 MB peak (242 ms, +400 MB without); the result is
# within 0.6 grey levels (mean) of a full decode + LANCZOS.  A margin of 2 cost 3x the time for 0.46 grey levels.
_DRAFT_MARGIN = 1.0
_REDUCING_GAP = 2.0
_RESAMPLE = Image.Resampling.LANCZOS

_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90 or 270 degrees


class ImageLoadError(FacetuiError):
    """A file that cannot be used as a photo; ``str(e)`` and ``e.reason`` are a short one-line reason."""

    def __init__(self, reason: str) -> None:
        reason = " ".join(str(reason).split()) or "unreadable image"
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == has no single truth value
class LoadedImage:
    """An upright 8-bit RGB rendition of a photo, no larger than the size asked for."""

    rgb: np.ndarray  # H x W x 3 uint8, C-contiguous
    original_size: tuple[int, int]  # (width, height) after EXIF orientation, before any downscale
    scale: float  # rgb size / original size, <= 1.0
    notes: tuple[str, ...]  # harmless remarks worth reporting, e.g. "CMYK converted to RGB"


def load_image(path: Path | str, resize_max: int = 800, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read ``path`` once, without changing it, and decode it as :func:`load_image_bytes` does.

    Raises :class:`ImageLoadError` for a missing, unreadable or special file as well as for bad image data.
    """
    return load_image_bytes(_read_file(path), resize_max, max_pixels, name=os.fsdecode(path))


def load_image_bytes(
    data: bytes, resize_max: int = 800, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = ""
) -> LoadedImage:
    """Decode the first frame of an encoded image held in memory.

    The result is upright (EXIF orientation applied), RGB with any transparency flattened on white, and scaled
    down, never up, so that its long side is at most ``resize_max``.  An image whose header declares more than
    ``max_pixels`` pixels is refused before any pixel is decoded.  ``name`` (a file name) is used only to remark
    when the content does not match the extension.

    Pillow's warnings are silenced while decoding; ``warnings.catch_warnings`` is process-wide, so a warning
    raised by another thread at that moment is silenced too.
    """
    if resize_max < 1:
        raise ValueError(f"resize_max must be at least 1, not {resize_max}")
    if not data:
        raise ImageLoadError("empty file (0 bytes)")
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = _Source(data)
        try:
            im = Image.open(source)
        except Image.UnidentifiedImageError as e:
            raise ImageLoadError("not an image (unrecognised format)") from e
        except Image.DecompressionBombError as e:
            raise ImageLoadError(_bomb_reason(e)) from e
        except Exception as e:  # a plugin that recognised the header but choked on it
            raise ImageLoadError(f"truncated or corrupt image ({_detail(e)})") from e
        with im:
            try:
                return _decode(im, source, resize_max, max_pixels, name, notes)
            except ImageLoadError:
                raise
            except Image.DecompressionBombError as e:  # raised by some plugins for a frame or tile
                raise ImageLoadError(_bomb_reason(e)) from e
            except MemoryError as e:
                raise ImageLoadError("out of memory while decoding") from e
            except Exception as e:  # a Pillow plugin failing on odd data in some other way
                detail = f"{type(e).__name__}: {_detail(e)}"
                raise ImageLoadError(f"cannot decode {im.format or 'image'} ({detail})") from e


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B) of an H x W x 3 array, as float32 on the input's scale."""
    a = np.asarray(rgb)
    if a.ndim == 2:
        return a.astype(np.float32)
    if a.ndim != 3 or a.shape[2] < 3:
        raise ValueError(f"expected an H x W or H x W x 3 array, got shape {a.shape}")
    c = a[..., :3].astype(np.float32)
    return c[..., 0] * np.float32(0.299) + c[..., 1] * np.float32(0.587) + c[..., 2] * np.float32(0.114)


def sharpness(gray_or_rgb: np.ndarray) -> float:
    """Variance of the 3x3 Laplacian [[0,1,0],[1,-4,1],[0,1,0]] over the image interior (0.0 below 3x3).

    Equals ``cv2.Laplacian(gray, cv2.CV_64F, ksize=1).var()`` restricted to pixels whose 3x3 neighbourhood lies
    inside the image; higher means sharper.  An RGB input is converted with :func:`to_gray` first.
    """
    g = to_gray(gray_or_rgb).astype(np.float64)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def _read_file(path: Path | str) -> bytes:
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a regular file).
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as e:
        broken_link = os.path.islink(path)
        raise ImageLoadError("broken symbolic link" if broken_link else "file not found") from e
    except OSError as e:
        raise ImageLoadError(_os_reason(e)) from e
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageLoadError("is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise ImageLoadError("not a regular file")
        f = open(fd, "rb")  # owns fd from here on
    except BaseException as e:
        os.close(fd)
        if isinstance(e, OSError):
            raise ImageLoadError(_os_reason(e)) from e
        raise
    with f:
        try:
            return f.read()
        except OSError as e:
            raise ImageLoadError(_os_reason(e)) from e


def _os_reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, IsADirectoryError):
        return "is a directory"
    return f"cannot read file ({(e.strerror or type(e).__name__).lower()})"


class _Source(io.BytesIO):
    """The encoded bytes, remembering whether a decoder asked for more of them than there are.

    Pillow reports a truncated file only while ``ImageFile.LOAD_TRUNCATED_IMAGES`` is False, and importing
    face_recognition sets it to True for the whole process; a read at the end of the data is the same sign,
    whoever set what.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self._size = len(data)
        self.ran_dry = False

    def read(self, size: int | None = -1, /) -> bytes:
        if size != 0 and self.tell() >= self._size:
            self.ran_dry = True
        return super().read(size)


def _decode(
    im: Image.Image, source: _Source, resize_max: int, max_pixels: int, name: str, notes: list[str]
) -> LoadedImage:
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageLoadError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageLoadError(f"image too large: {width}x{height} px (limit {_megapixels(max_pixels)})")
    _note_format(im, name, notes)

    scale = min(1.0, resize_max / max(width, height))
    drafted = None
    if scale < 1.0:
        # Only JPEG (and MPO) implement draft(); libjpeg then decodes at the smallest 1/2^k scale that still
        # covers the requested size.  Other formats return None and are decoded at full size.
        at_least = min(1.0, scale * _DRAFT_MARGIN)
        drafted = im.draft(None, (max(1, math.ceil(width * at_least)), max(1, math.ceil(height * at_least))))
    truncated = f"truncated or corrupt {im.format or 'image'}"
    source.ran_dry = False
    try:
        im.load()
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as e:
        raise ImageLoadError(truncated) from e
    if source.ran_dry and im.format != "JPEG2000":  # OpenJPEG reads past the end of complete files too
        raise ImageLoadError(truncated)

    # Read after load(): PNG may keep its EXIF after the pixels, and TIFF applies its orientation while loading.
    turned = _apply_orientation(im, notes)
    if drafted is None:
        original_size = im.size
    else:  # the header size is the only exact one left
        original_size = (height, width) if turned else (width, height)
    rgb = _to_rgb(im, notes)
    target = (max(1, round(original_size[0] * scale)), max(1, round(original_size[1] * scale)))
    if rgb.size != target:
        rgb = rgb.resize(target, _RESAMPLE, reducing_gap=_REDUCING_GAP)
    arr = np.array(rgb, dtype=np.uint8, order="C")
    if arr.ndim != 3 or arr.shape[2] != 3:  # defensive: RGB mode always yields H x W x 3
        raise ImageLoadError(f"unexpected pixel layout {arr.shape}")
    return LoadedImage(rgb=arr, original_size=original_size, scale=scale, notes=tuple(notes))


def _note_format(im: Image.Image, name: str, notes: list[str]) -> None:
    try:
        animated = bool(getattr(im, "is_animated", False))
    except Exception:  # counting frames of a damaged file: the first frame may still be fine
        animated = False
    # MPO is how phones store a JPEG with an embedded preview or depth map; its first frame is the photo.
    if animated and im.format != "MPO":
        notes.append("multi-frame file: used first frame")
    ext = os.path.splitext(name)[1].lower()
    if ext and im.format:
        formats_for_ext = Image.registered_extensions()
        expected = formats_for_ext.get(ext)
        if expected and expected != im.format and {expected, im.format} != {"JPEG", "MPO"}:
            notes.append(f"{im.format} data in a {ext} file")


def _apply_orientation(im: Image.Image, notes: list[str]) -> bool:
    """Turn a loaded image upright in place as its EXIF says; True if that swapped width and height."""
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        notes.append("unreadable EXIF data: orientation ignored")
        return False
    if orientation not in (2, 3, 4, 5, 6, 7, 8):
        return False
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception:  # only rewriting the EXIF, after the pixels were turned, can fail here
        pass
    notes.append("EXIF rotation applied")
    return orientation in _SWAPPING_ORIENTATIONS


def _to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I") or mode == "F":
        bits = "16-bit" if mode.startswith("I;16") else "32-bit"
        notes.append(f"{bits} image converted to 8-bit")
        return Image.fromarray(_stretch_to_u8(np.asarray(im)), "L").convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
        return im.convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms  # loads LittleCMS; only CIELab TIFFs need it

        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.applyTransform(im, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))
    if mode in _ALPHA_MODES or "transparency" in im.info:
        return _flatten_on_white(im.convert("LA") if mode == "La" else im, notes)
    try:
        return im.convert("RGB")
    except ValueError as e:
        raise ImageLoadError(f"unsupported colour mode {mode}") from e


def _flatten_on_white(im: Image.Image, notes: list[str]) -> Image.Image:
    rgba = im.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return rgba.convert("RGB")
    notes.append("alpha flattened on white")
    out = Image.new("RGB", rgba.size, (255, 255, 255))
    out.paste(rgba, mask=alpha)
    return out


def _stretch_to_u8(a: np.ndarray) -> np.ndarray:
    """Map the finite range [min, max] of a greyscale array linearly onto 0..255 (order kept, nothing clipped)."""
    f = a.astype(np.float32 if a.dtype.itemsize <= 2 else np.float64)
    finite = np.isfinite(f)
    if not finite.all():
        f[~finite] = np.nan
    if not finite.any():
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
    if hi > lo:
        f -= lo
        f *= 255.0 / (hi - lo)
    else:  # a flat image: keep its level if it is one a byte can hold
        f[...] = min(max(lo, 0.0), 255.0)
    np.nan_to_num(f, copy=False, nan=0.0)
    return np.rint(f).astype(np.uint8)


def _bomb_reason(e: Image.DecompressionBombError) -> str:
    """Pillow refused the header before we saw it; its message is the only place that holds the pixel count."""
    found = re.search(r"\((\d+) pixels\)", str(e))
    size = f": {_megapixels(int(found[1]))}" if found else ""
    limit = f" (limit {_megapixels(2 * Image.MAX_IMAGE_PIXELS)})" if Image.MAX_IMAGE_PIXELS else ""
    return f"image too large{size}{limit}"


def _megapixels(pixels: int) -> str:
    return f"{math.floor(pixels / 100_000) / 10:g} MP"


def _detail(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return (text[:80] + "...") if len(text) > 80 else (text or type(e).__name__)
