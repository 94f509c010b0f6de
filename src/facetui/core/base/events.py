"""The events the core yields (one per file, plus start and finish) and the per-file results they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

UNKNOWN = "Unknown"

JobKind = Literal["recognize", "kb", "eval"]  # the job a run is: sort photos, build the KB, or score the settings
Via = Literal["face", "body", "review", ""]  # how a face was decided ("" when it stayed unknown)
NoticeLevel = Literal["info", "warning", "error"]

Candidates = tuple[tuple[str, float], ...]  # (person, score) best first; face: distance, body: cosine similarity


@dataclass(frozen=True)
class FaceResult:
    """One detected face (or, with ``box`` None, the whole photo when no face was usable)."""

    index: int
    box: tuple[int, int, int, int] | None  # (top, right, bottom, left) in original-photo pixels
    sharpness: float | None
    face: Candidates = ()
    body: Candidates = ()
    name: str = UNKNOWN  # the decision for this face
    via: Via = ""
    skipped: str = ""  # why this face was not used (e.g. "too poor to use (sharpness 6 < 10)")
    quality: str = ""  # "" (good), "low" (filed only under the stricter rule) or "poor" (never filed by face)
    rule: str = ""  # which rule decided, and with what numbers (e.g. "face 0.43 < 0.51, margin 0.12 >= 0.09")


@dataclass(frozen=True)
class FileResult:
    """What happened to one input photo."""

    path: Path
    rel: str  # path relative to the input folder, for display and the report
    faces: tuple[FaceResult, ...] = ()
    people: tuple[str, ...] = ()  # who the photo was filed under; empty = Unknown
    destinations: tuple[Path, ...] = ()
    error: str = ""  # one-line reason the photo could not be used; it is then filed nowhere
    notes: tuple[str, ...] = ()
    sha256: str = ""
    cached: bool = False

    @property
    def is_unknown(self) -> bool:
        return not self.error and not self.people

    @property
    def label(self) -> str:
        if self.error:
            return "Error"
        return ", ".join(self.people) if self.people else UNKNOWN


@dataclass(frozen=True)
class RunStarted:
    kind: JobKind  # "recognize" or "kb" (eval yields no events)
    total: int
    input_dir: Path
    output_dir: Path | None
    body_enabled: bool
    device: str
    notices: tuple[str, ...] = ()  # said once at the start, e.g. "body recognition off: no re-id weights set"


@dataclass(frozen=True)
class FileDone:
    index: int  # 1-based
    total: int
    result: FileResult


@dataclass(frozen=True)
class KbImageDone:
    index: int
    total: int
    person: str
    rel: str
    faces_found: int
    kept: bool
    reason: str = ""  # why skipped, or a remark such as "3 faces: used the largest"
    reused: bool = False  # unchanged since the last build: nothing re-encoded
    cached: bool = False  # its analysis came from the embedding cache (nothing analysed now)


@dataclass(frozen=True)
class RunSummary:
    kind: JobKind  # "recognize" or "kb"
    total: int
    done: int
    unknown: int = 0
    errors: int = 0
    known: int = 0
    faces: int = 0
    bodies: int = 0
    people: int = 0
    skipped: int = 0
    elapsed_s: float = 0.0
    aborted: bool = False
    report_path: Path | None = None
    kb_path: Path | None = None
    notices: tuple[str, ...] = ()
    per_person: dict[str, int] = field(default_factory=dict)

    @property
    def unknown_pct(self) -> float:
        return round(100.0 * self.unknown / self.done, 2) if self.done else 0.0


@dataclass(frozen=True)
class RunFinished:
    summary: RunSummary


@dataclass(frozen=True)
class Notice:
    level: NoticeLevel
    text: str


Event = RunStarted | FileDone | KbImageDone | RunFinished | Notice
