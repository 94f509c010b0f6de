"""Per-photo analysis (decode once, detect, measure sharpness, encode, cut body crops): the part that runs in worker processes."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .face.detect import detect_faces, torch_cnn_wanted
from .face.encode import encode_chips, encoder_impl, face_chips
from .face.files import FaceModelError
from .face.quality import chip_sharpness
from .images import ImageLoadError, LoadedImage, load_image_bytes

ANALYSIS_VERSION = 2  # 2: flip-averaged descriptors, sharpness of the aligned chip (face/quality.py)


@dataclass(frozen=True)
class FaceConfig:
    """Everything that changes face boxes or encodings (so it is part of the cache key)."""

    detector: str = "hog"
    upsample: int = 1
    resize_max: int = 800

    @classmethod
    def of(cls, settings) -> FaceConfig:
        """The face configuration a Settings asks for (detector, upsample, resize_max)."""
        return cls(settings.detector, settings.upsample, settings.resize_max)

    def key(self) -> str:
        # the torch port and dlib's own encoder agree to ~4e-7, not to the bit: each keeps its own cache entries
        impl = encoder_impl()
        fields = {
            "v": ANALYSIS_VERSION,
            "det": self.detector,
            "up": self.upsample,
            "rmax": self.resize_max,
            "enc": f"dlib_face_recognition_resnet_model_v1+5pt+flip/{impl}",
        }
        if self.detector == "cnn" and torch_cnn_wanted():
            # the port of dlib's CNN detector (its network in ONNX Runtime or torch) finds dlib's boxes, not always
            # to the pixel: its own entries (dlib's own CNN keeps the key it would have without the port; HOG's is
            # untouched). Which runtime ran the network is in "enc" already (both follow onnxnets.wanted()).
            fields["cnn"] = "mmod_human_face_detector/torch"
        raw = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass
class Analysis:
    """What one photo gave: faces with boxes (original pixels), sharpness and encodings; body crops on request."""

    sha256: str
    size: tuple[int, int] = (0, 0)  # original (width, height) after EXIF rotation
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)  # original-photo pixels
    sharpness: list[float] = field(default_factory=list)  # quality.chip_sharpness of each face
    encodings: np.ndarray = field(default_factory=lambda: np.zeros((0, 128)))
    notes: tuple[str, ...] = ()
    error: str = ""
    body_crops: list[np.ndarray] | None = None  # only when asked; never cached
    body_regions: int = 0  # how many body regions the crops stand for (for cache shape checks)
    body_emb: np.ndarray | None = (
        None  # the crops' embeddings where the process that cut them embedded them; never cached
    )
    transient: bool = False  # the error says nothing about the file's content (do not cache it)
    chips: list[np.ndarray] | None = None  # aligned face chips still to encode (analyze_image); never cached
    # CPU seconds per stage (read, decode, detect, sharpness, encode, crops) measured where the work ran; never cached
    timings: dict[str, float] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class Decoded:
    """A photo's pixels as decoded for analysis (images.LoadedImage) and the seconds spent on it so far, for a
    stage that detects elsewhere (run/engine_device.py, run/ray_gpu.py)."""

    image: LoadedImage
    timings: dict[str, float]


def analyze_bytes(
    data: bytes,
    cfg: FaceConfig,
    want_body: bool,
    sha: str | None = None,
    name: str = "",
    timings: dict[str, float] | None = None,
    encode: bool = True,
) -> Analysis:
    """Analyse one photo held in memory; a bad image gives an Analysis with ``error`` set, never an exception.

    ``timings`` (optional) receives the CPU seconds of each stage; the Analysis carries the same dict.
    """
    tm = {} if timings is None else timings
    sha = sha or hashlib.sha256(data).hexdigest()
    img = decode_photo(data, cfg, sha, name, tm)
    if isinstance(img, Analysis):
        return img
    t = time.process_time()
    boxes = detect_faces(img.rgb, cfg.detector, cfg.upsample)
    tm["detect"] = time.process_time() - t
    return analyze_image(img, boxes, sha, want_body, tm, encode=encode)


def decode_photo(data: bytes, cfg: FaceConfig, sha: str, name: str, tm: dict[str, float]) -> LoadedImage | Analysis:
    """The photo's pixels as analysis works on them (upright RGB, long side at most ``cfg.resize_max``), or an
    Analysis with ``error`` set when they cannot be had."""
    t = time.process_time()
    try:
        img = load_image_bytes(data, resize_max=cfg.resize_max, name=name)
    except ImageLoadError as e:
        tm["decode"] = time.process_time() - t
        return Analysis(sha256=sha, error=str(e) or "unreadable image", timings=tm)
    tm["decode"] = time.process_time() - t
    return img


def analyze_image(
    img: LoadedImage,
    boxes: list[tuple[int, int, int, int]],
    sha: str,
    want_body: bool,
    tm: dict[str, float],
    encode: bool = True,
) -> Analysis:
    """Everything after detection for one decoded photo and its face ``boxes`` (in ``img``'s pixels): aligned
    chips, their sharpness and descriptors (left undone without ``encode``: the chips stay in ``Analysis.chips``
    for a caller that encodes many photos' chips at once), the boxes in the original photo's pixels and, with
    ``want_body``, the body crops."""
    clock = time.process_time  # CPU time: what the 2-core ideal adds up, unaffected by other load on the machine
    rgb = img.rgb
    t = clock()
    boxes = sorted(boxes, key=lambda b: (b[3], b[0]))  # left to right, stable report order
    chips = face_chips(rgb, boxes)
    sharp = [chip_sharpness(c) for c in chips]
    t, tm["sharpness"] = _lap(clock, t)
    inv = 1.0 / img.scale if img.scale > 0 else 1.0
    a = Analysis(
        sha256=sha,
        size=tuple(img.original_size),
        boxes=[tuple(int(round(v * inv)) for v in b) for b in boxes],
        sharpness=sharp,
        notes=tuple(img.notes),
        timings=tm,
        chips=chips,
    )
    if encode:
        a.encodings, a.chips = encode_chips(chips), None
        t, tm["encode"] = _lap(clock, t)
    if want_body:
        from .body.crops import body_regions, crop_for_reid  # numpy + Pillow only

        regions = body_regions(rgb.shape[:2], boxes)
        a.body_crops = [crop_for_reid(rgb, r) for r in regions]
        a.body_regions = len(regions)
        t, tm["crops"] = _lap(clock, t)
    return a


def _lap(clock, t0: float) -> tuple[float, float]:
    """(now, seconds since t0)."""
    now = clock()
    return now, now - t0


def read_photo(path: Path, sha: str | None = None) -> bytes | Analysis:
    """The file's bytes, or an Analysis with ``error`` set when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except PermissionError:
        return Analysis(sha256=sha or "", error="permission denied")
    except IsADirectoryError:
        return Analysis(sha256=sha or "", error="is a folder, not a file")
    except FileNotFoundError:
        return Analysis(sha256=sha or "", error="file vanished before it could be read")
    except OSError as e:
        return Analysis(sha256=sha or "", error=f"cannot read file: {e.strerror or e}")


def failed(sha: str | None, e: BaseException) -> Analysis:
    """The Analysis of a photo whose analysis raised ``e`` (a MemoryError says nothing about the file: transient)."""
    if isinstance(e, MemoryError):
        return Analysis(sha256=sha or "", error="out of memory while decoding this image", transient=True)
    return Analysis(sha256=sha or "", error=f"analysis failed: {type(e).__name__}: {e}".splitlines()[0])


def analyze_path(path: Path, cfg: FaceConfig, want_body: bool, sha: str | None = None, encode: bool = True) -> Analysis:
    """Read a file once and analyse it; unreadable files give an Analysis with ``error`` set. Without ``encode``
    the chips stay in ``Analysis.chips`` for a batch on a GPU (analyze_image)."""
    t0 = time.process_time()
    data = read_photo(path, sha)
    if isinstance(data, Analysis):
        return data
    timings = {"read": time.process_time() - t0}
    try:
        return analyze_bytes(data, cfg, want_body, sha=sha, name=Path(path).name, timings=timings, encode=encode)
    except FaceModelError:
        raise
    except Exception as e:  # a detector failure on one odd photo must not end the run (MemoryError included)
        return failed(sha, e)


def decode_path(path: Path, cfg: FaceConfig, sha: str, tm: dict[str, float]) -> LoadedImage | Analysis:
    """Read and decode a file as analyze_path does (the same errors), without detecting anything: the pixels
    for a stage that detects elsewhere (run/engine_device.py). ``tm`` receives the read and decode seconds."""
    t0 = time.process_time()
    data = read_photo(path, sha)
    if isinstance(data, Analysis):
        return data
    tm["read"] = time.process_time() - t0
    try:
        return decode_photo(data, cfg, sha, Path(path).name, tm)
    except Exception as e:
        return failed(sha, e)
