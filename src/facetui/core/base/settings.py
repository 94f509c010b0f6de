"""Settings: the typed, validated view of ``settings.json`` and its atomic save.

Why it is long: ``SPECS`` is the one table of every setting (type, default, range, help) from which the
validation, the settings screen and the README's settings reference are all made; half the file is that table.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .errors import FacetuiError
from .fsutil import atomic_write_text

DEFAULT_SETTINGS_NAME = "settings.json"


class SettingsError(FacetuiError, ValueError):
    """A settings file or value that cannot be used; the message names the key, the value and what is allowed."""


SpecKind = Literal["path", "optional_path", "float", "int", "bool", "choice", "str", "exts", "address"]


@dataclass(frozen=True, kw_only=True)
class Spec:
    """How one setting is typed, checked and explained (the settings screen and README use the same text); made by
    keyword. ``low``/``high`` bound a number, ``choices`` list a choice's values."""

    key: str
    kind: SpecKind
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


SPECS: tuple[Spec, ...] = (
    Spec(
        key="dataset_dir",
        kind="path",
        default="demo/kb",
        help="Known people: one sub-folder per person (`<dataset_dir>/<Person Name>/*.jpg`).",
    ),
    Spec(
        key="process_dir", kind="path", default="demo/query", help="Folder of photos to recognise (the default input)."
    ),
    Spec(
        key="processed_dir",
        kind="path",
        default="out",
        help="Output: copies filed as `<processed_dir>/<Person>/` or `<processed_dir>/Unknown/`, plus report.csv.",
    ),
    Spec(
        key="face_tol",
        kind="float",
        default=0.51,
        help="A face is filed under the best person when its face score is below this (lower = closer). "
        "The score is the distance to that person's face_k nearest KB photos, averaged. Choose with `facetui eval`.",
        low=0.0,
        high=2.0,
    ),
    Spec(
        key="face_margin",
        kind="float",
        default=0.09,
        help="The best person's score must also beat the next person's by this much (0 = off); "
        "an ambiguous face goes to Unknown instead of the wrong folder.",
        low=0.0,
        high=1.0,
    ),
    Spec(
        key="face_k",
        kind="int",
        default=2,
        help="How many of a person's KB photos a face is compared with (their distances averaged): "
        "1 = the nearest photo alone; 2 asks two photos to agree. A person with fewer photos uses what there is.",
        low=1,
        high=10,
    ),
    Spec(
        key="body_tol",
        kind="float",
        default=0.8,
        help="Body cosine similarity above which a match is accepted (higher = closer).",
        low=-1.0,
        high=1.0,
    ),
    Spec(
        key="reid_model",
        kind="choice",
        default="osnet_ain_x1_0",
        help="torchreid OSNet architecture of the re-id weights file.",
        choices=(
            "osnet_ain_x1_0",
            "osnet_ain_x0_75",
            "osnet_ain_x0_5",
            "osnet_ain_x0_25",
            "osnet_x1_0",
            "osnet_x0_75",
            "osnet_x0_5",
            "osnet_x0_25",
            "osnet_ibn_x1_0",
        ),
    ),
    Spec(
        key="reid_weights",
        kind="optional_path",
        default="",
        help="OSNet re-id weights file (.pth). Empty: body recognition is off. Never downloaded.",
    ),
    Spec(
        key="valid_exts",
        kind="exts",
        default=[".jpg", ".jpeg", ".png", ".webp"],
        help="File extensions scanned (case-insensitive).",
    ),
    Spec(
        key="encodings_filename",
        kind="str",
        default="encodings.npz",
        help="KB file, relative to dataset_dir (a legacy .pkl is read safely and converted).",
    ),
    Spec(
        key="resize_max",
        kind="int",
        default=800,
        help="Photos are downscaled so the long side is at most this many pixels before detection.",
        low=64,
        high=10000,
    ),
    Spec(
        key="lap_var_thresh",
        kind="float",
        default=120.0,
        help="Face quality gate: the Laplacian variance of the aligned face scaled to 64 px "
        "(sharp faces measure about 200-2000 at any photo size). A face below it is low quality: still matched, but filed only "
        "under a stricter rule (face_margin + 0.04); below 10 it is too poor to file by face. 0 = off.",
        low=0.0,
        high=1e6,
    ),
    Spec(
        key="kb_batch_size",
        kind="int",
        default=16,
        help="Body crops embedded per OSNet batch in every run (recognize and eval too, not only the KB build); "
        "with the CNN detector on a GPU (or Ray's GPU actors) also the photos detected and encoded in one batch.",
        low=1,
        high=1024,
    ),
    Spec(
        key="device",
        kind="choice",
        default="auto",
        help="Where OSNet runs: auto (CUDA when available), cpu or cuda.",
        choices=("auto", "cpu", "cuda"),
    ),
    Spec(
        key="detector",
        kind="choice",
        default="hog",
        help="Face detector: hog (fast) or cnn (dlib's CNN detector, ported: ONNX Runtime on a CPU, torch on CUDA; "
        "also finds turned, tilted and partly hidden faces; about 4x HOG's CPU time).",
        choices=("hog", "cnn"),
    ),
    Spec(
        key="upsample",
        kind="int",
        default=1,
        help="Times the detector upsamples the photo to find small faces (each step ~4x slower).",
        low=0,
        high=3,
    ),
    Spec(
        key="multi_face",
        kind="choice",
        default="all",
        help="all: every recognised person gets the photo; largest: only the largest face decides (the seed's behaviour).",
        choices=("all", "largest"),
    ),
    Spec(
        key="file_mode",
        kind="choice",
        default="copy",
        help="How a photo lands in the output: copy, hardlink or symlink (originals are never moved).",
        choices=("copy", "hardlink", "symlink"),
    ),
    Spec(key="recursive", kind="bool", default=False, help="Scan sub-folders of the input folder too."),
    Spec(
        key="workers",
        kind="int",
        default=0,
        help="Processes for decode + detect + encode (0 = one per CPU core; with engine ray: actors, 0 = one per CPU "
        "of the cluster).",
        low=0,
        high=256,
    ),
    Spec(
        key="engine",
        kind="choice",
        default="local",
        help="Where the per-photo work runs: local (worker processes on this machine) or ray (a Ray cluster: "
        "`pip install 'facetui[ray]'`; for archives that outgrow one machine).",
        choices=("local", "ray"),
    ),
    Spec(
        key="ray_address",
        kind="address",
        default="",
        help="With engine ray, the cluster to join: empty starts a Ray of `workers` CPUs on this machine for the run, "
        "`auto` joins the cluster this machine is part of, or HOST:PORT.",
    ),
    Spec(
        key="ray_gpu_fraction",
        kind="float",
        default=0.5,
        help="With engine ray on a cluster with GPUs: the share of one GPU each GPU actor asks for (0.5: two per GPU). "
        "The CPU actors then decode (and detect with hog), the GPU actors detect with cnn, encode the faces and "
        "embed the bodies in batches of kb_batch_size. 0 = no GPU actors.",
        low=0.0,
        high=1.0,
    ),
    Spec(
        key="review_add_to_kb",
        kind="bool",
        default=True,
        help="When you assign an unknown face in review, add its embedding to the KB.",
    ),
    Spec(
        key="cluster_tol",
        kind="float",
        default=0.475,
        help="Review's clusters of unknown faces: two groups join only while the mean distance over all their pairs "
        "of faces is below this (average linkage: no chains; two faces of one photo never share a group). "
        "Distances are scaled by how crowded each face's neighbourhood is. Lower = purer, smaller groups. "
        "Choose with `facetui eval --clusters`.",
        low=0.05,
        high=1.5,
    ),
    Spec(
        key="cache_dir",
        kind="path",
        default=".facetui-cache",
        help="Embedding cache folder (content-hash keyed; safe to delete).",
    ),
)
SPEC_BY_KEY = {s.key: s for s in SPECS}
_ADDRESS = re.compile(r"|auto|(ray://)?[A-Za-z0-9._\-]+:[0-9]{1,5}|(ray://)?\[[0-9A-Fa-f:]+\]:[0-9]{1,5}")
LAP_VAR_HIGH = 500.0  # a gate above this flags most sharp faces (a value from another unit): warned about


@dataclass(frozen=True)
class Settings:
    """Every setting in effect, with paths resolved against the settings file's folder."""

    dataset_dir: Path
    process_dir: Path
    processed_dir: Path
    face_tol: float
    face_margin: float
    face_k: int
    body_tol: float
    reid_model: str
    reid_weights: Path | None
    valid_exts: tuple[str, ...]
    encodings_filename: str
    resize_max: int
    lap_var_thresh: float
    kb_batch_size: int
    device: str
    detector: str
    upsample: int
    multi_face: str
    file_mode: str
    recursive: bool
    workers: int
    engine: str
    ray_address: str
    ray_gpu_fraction: float
    review_add_to_kb: bool
    cluster_tol: float
    cache_dir: Path
    source: Path | None = None  # the settings file this came from
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept on save
    warnings: tuple[str, ...] = ()

    @property
    def kb_path(self) -> Path:
        p = Path(self.encodings_filename)
        return p if p.is_absolute() else self.dataset_dir / p

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def to_json_dict(self) -> dict[str, Any]:
        """Values as they would be written back (paths relative to the settings folder where possible)."""
        base = self.source.parent if self.source else None
        out: dict[str, Any] = {}
        for spec in SPECS:
            v = getattr(self, spec.key)
            if isinstance(v, Path):
                v = _relativise(v, base)
            elif v is None:
                v = ""
            elif isinstance(v, tuple):
                v = list(v)
            out[spec.key] = v
        out.update(self.extra)
        return out


def _relativise(p: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return p.relative_to(base).as_posix()
        except ValueError:
            pass
    return str(p)


def _fail(key: str, value: Any, allowed: str) -> SettingsError:
    try:
        shown = repr(value)
    except (ValueError, RecursionError):  # an int of more than 4300 digits, a very deep structure
        shown = f"<a {type(value).__name__} too large to show>"
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return SettingsError(f"setting '{key}' = {shown} is not valid: {allowed}")


def check_value(spec: Spec, value: Any, base: Path | None) -> Any:
    """Validate and convert one raw JSON value; raise SettingsError naming key, value and what is allowed."""
    k = spec.kind
    if k in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:
                    value = float(value) if k == "float" else int(value.strip())
                except ValueError:
                    raise _fail(spec.key, value, _range_text(spec)) from None
            else:
                raise _fail(spec.key, value, _range_text(spec))
        if k == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise _fail(spec.key, value, _range_text(spec))
                value = int(value)
        else:
            try:
                value = float(value)
            except OverflowError:  # an int beyond the float range (JSON allows 400-digit numbers)
                raise _fail(spec.key, value, _range_text(spec)) from None
            if not math.isfinite(value):
                raise _fail(spec.key, value, _range_text(spec))
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            raise _fail(spec.key, value, _range_text(spec))
        return value
    if k == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return value.strip().lower() in ("true", "yes", "1", "on")
        raise _fail(spec.key, value, "true or false")
    if k == "choice":
        if isinstance(value, str) and value in spec.choices:
            return value
        raise _fail(spec.key, value, "one of " + ", ".join(spec.choices))
    if k in ("path", "optional_path"):
        if not isinstance(value, str) or "\x00" in value:
            raise _fail(spec.key, value, "a folder or file path as a string")
        value = value.strip()
        if not value:
            if k == "optional_path":
                return None
            raise _fail(spec.key, value, "a non-empty path")
        _check_path_text(spec, value)
        try:
            p = Path(value).expanduser()
        except RuntimeError:  # "~someone" with no such user, or no home folder at all
            raise _fail(spec.key, value, "a path whose ~ names a known home folder") from None
        if not p.is_absolute() and base is not None:
            p = base / p
        return p
    if k == "address":
        if not isinstance(value, str) or not _ADDRESS.fullmatch(value.strip()):
            raise _fail(spec.key, value, "empty (a local Ray), auto, or HOST:PORT such as 10.0.0.5:6379")
        return value.strip()
    if k == "str":
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            raise _fail(spec.key, value, "a non-empty file name")
        _check_path_text(spec, value.strip())
        return value.strip()
    if k == "exts":
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise _fail(spec.key, value, 'a non-empty list of extensions such as [".jpg", ".png"]')
        exts = []
        for v in value:
            v = v.strip().lower()
            v = v if v.startswith(".") else "." + v
            if len(v) < 2 or any(c in v[1:] for c in "/\\.\x00 "):
                raise _fail(spec.key, value, 'extensions such as ".jpg" (a dot and letters)')
            if v not in exts:
                exts.append(v)
        return tuple(exts)
    raise AssertionError(k)


_NAME_MAX, _PATH_MAX = 255, 4095  # bytes: what ext4, APFS and NTFS accept for one name / a whole path


def _check_path_text(spec: Spec, value: str) -> None:
    """Refuse path text the file system could never open (so later stat/open calls cannot crash on it)."""
    try:
        raw = os.fsencode(value)
    except UnicodeError:  # a lone surrogate that is not an escaped byte
        raise _fail(spec.key, value, "a path of valid characters") from None
    if len(raw) > _PATH_MAX or any(len(part) > _NAME_MAX for part in raw.split(b"/")):
        raise _fail(
            spec.key, value, f"a path of at most {_PATH_MAX} bytes, each folder or file name at most {_NAME_MAX}"
        )


def _range_text(spec: Spec) -> str:
    word = "a whole number" if spec.kind == "int" else "a number"
    return f"{word} from {spec.low:g} to {spec.high:g}"


def from_dict(raw: Any, source: Path | None = None) -> Settings:
    """Build Settings from a parsed JSON object; missing keys take defaults, unknown keys are kept with a warning."""
    if not isinstance(raw, dict):
        raise SettingsError(f"settings must be a JSON object of key: value pairs, not {type(raw).__name__}")
    base = source.parent if source is not None else Path.cwd()
    values: dict[str, Any] = {}
    for spec in SPECS:
        values[spec.key] = check_value(spec, raw.get(spec.key, spec.default), base)
    extra = {k: v for k, v in raw.items() if k not in SPEC_BY_KEY}
    warnings = tuple(f"unknown setting {k!r} kept as is (not used by facetui)" for k in extra)
    if values["lap_var_thresh"] > LAP_VAR_HIGH:
        warnings += (
            f"lap_var_thresh {values['lap_var_thresh']:g} marks most faces low quality (they are then filed only under "
            f"the stricter rule): it measures the aligned face now, where sharp faces read about 200-2000; "
            f"{SPEC_BY_KEY['lap_var_thresh'].default:g} is the default",
        )
    return Settings(**values, source=source, extra=extra, warnings=warnings)


def defaults(base: Path | None = None) -> Settings:
    src = (base / DEFAULT_SETTINGS_NAME) if base is not None else None
    return from_dict({}, src)


def load_settings(path: Path | str) -> Settings:
    """Read and validate a settings file; every failure is a SettingsError with a one-line reason."""
    try:
        path = Path(path).expanduser().absolute()
    except RuntimeError:
        raise SettingsError(f"settings path {str(path)!r}: cannot expand ~ (no such user or home folder)") from None
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is fine
    except FileNotFoundError:
        raise SettingsError(f"settings file not found: {path}") from None
    except IsADirectoryError:
        raise SettingsError(f"settings path is a folder, not a file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"cannot read settings file {path}: {e}") from None
    try:
        raw = json.loads(text)  # NaN/Infinity parse, then fail check_value naming their key
    except json.JSONDecodeError as e:
        raise SettingsError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    except (ValueError, RecursionError) as e:
        raise SettingsError(f"{path} is not valid JSON: {e}") from None
    return from_dict(raw, path)


def save_settings(settings: Settings, path: Path | str | None = None) -> Path:
    """Write settings atomically (temp file + rename), keeping keys facetui does not know."""
    target = Path(path) if path is not None else settings.source
    if target is None:
        raise SettingsError("no settings file to save to")
    s = settings if settings.source == target else replace(settings, source=Path(target))
    raw = s.to_json_dict()
    text = json.dumps(raw, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a path holding a byte that is not UTF-8: write it as a \udcXX escape
        text = json.dumps(raw, indent=2) + "\n"
    atomic_write_text(Path(target), text)
    return Path(target)


def update_raw(settings: Settings, changes: dict[str, Any]) -> Settings:
    """Apply raw (e.g. typed-in) values for some keys and validate the result as a whole."""
    raw = settings.to_json_dict()
    raw.update(changes)
    return from_dict(raw, settings.source)


def settings_reference_markdown() -> str:
    """The settings table for the README, generated from SPECS so the two never drift."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for s in SPECS:
        d = json.dumps(s.default)
        extra = f" Allowed: {', '.join(s.choices)}." if s.choices else ""
        if s.low is not None:
            extra = f" Range {s.low:g} to {s.high:g}."
        rows.append(f"| `{s.key}` | `{d}` | {s.help}{extra} |")
    return "\n".join(rows)
