"""The person region below each face, cut out and resized to the size OSNet takes; numpy and Pillow only (a worker
that runs OSNet in ONNX Runtime imports no torch for it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations; numpy is imported lazily at run time
    import numpy as np

# (height, width) that OSNet was trained on; every crop is resized to this.
REID_SIZE = (256, 128)


# ImageNet statistics, which torchreid's transforms use.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def body_regions(
    image_hw: tuple[int, int], face_boxes: list[tuple[int, int, int, int]]
) -> list[tuple[int, int, int, int]]:
    """One person region per face (top, right, bottom, left), or the whole image when there is no face.

    The region is about 3 face-widths wide, centred on the face, and runs from half a
    face-height above the face down to 7 face-heights below it, clipped to the image.
    """
    h, w = int(image_hw[0]), int(image_hw[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {image_hw!r}")
    if not face_boxes:
        return [(0, w, h, 0)]
    out = []
    for top, right, bottom, left in face_boxes:
        # Clamp the face itself first so that a face partly outside the frame still yields a non-empty region.
        top, bottom = sorted((min(max(int(top), 0), h - 1), min(max(int(bottom), 1), h)))
        left, right = sorted((min(max(int(left), 0), w - 1), min(max(int(right), 1), w)))
        fw, fh = max(right - left, 1), max(bottom - top, 1)
        cx = (left + right) / 2.0
        r_left = max(0, int(round(cx - 1.5 * fw)))
        r_right = min(w, int(round(cx + 1.5 * fw)))
        r_top = max(0, int(round(top - 0.5 * fh)))
        r_bottom = min(h, int(round(bottom + 7.0 * fh)))
        out.append((r_top, max(r_right, r_left + 1), max(r_bottom, r_top + 1), r_left))
    return out


def crop_for_reid(image: np.ndarray, box) -> np.ndarray:
    """Cut box (top, right, bottom, left) out of an RGB image and resize it to REID_SIZE: (256, 128, 3) uint8."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected an HxW or HxWxC image, got shape {arr.shape}")
    h, w = arr.shape[:2]
    top, right, bottom, left = (int(v) for v in box)
    top, bottom = max(0, top), min(h, bottom)
    left, right = max(0, left), min(w, right)
    if bottom <= top or right <= left:
        raise ValueError(f"box {tuple(box)!r} is empty inside a {w}x{h} image")
    pil = Image.fromarray(np.ascontiguousarray(arr[top:bottom, left:right])).convert("RGB")
    pil = pil.resize((REID_SIZE[1], REID_SIZE[0]), Image.BILINEAR)
    return np.asarray(pil, dtype=np.uint8)


def as_reid_crop(crop) -> np.ndarray:
    import numpy as np

    arr = np.asarray(crop)
    if arr.shape == (REID_SIZE[0], REID_SIZE[1], 3) and arr.dtype == np.uint8:
        return arr
    return crop_for_reid(arr, (0, arr.shape[1], arr.shape[0], 0))
