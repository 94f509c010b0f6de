"""The review log: ``review.jsonl`` in the output folder, only ever appended to, and the standing decisions per face that a rerun must respect."""

from __future__ import annotations

import errno
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, cast

from ..base.errors import FacetuiError
from ..base.events import Candidates, FaceResult
from ..base.fsutil import fsync_dir

LOG_NAME = "review.jsonl"
LOG_VERSION = 1
DECISIONS = ("assign", "none", "reject")  # what a face is (or is not)
GROUPING = ("split",)  # how faces are grouped for review: standing like a decision, undone like one


class ReviewError(FacetuiError, RuntimeError):
    """A review operation that cannot be done (no report, photo gone, bad name); the message says why."""


class LinkedLog(ReviewError, OSError):
    """The review log is a link (never followed): an OSError, so a decision in hand is rolled back, and a
    ReviewError, so the user reads one line."""

    def __init__(self, path: Path):
        super().__init__(f"refused to append to {path}: it is a link; remove it")
        self.errno, self.strerror, self.filename = errno.ELOOP, "it is a link; remove it", str(path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id() -> str:
    """A fresh id for an entry, or for a batch of entries that one undo takes back together."""
    return uuid.uuid4().hex[:12]


Box = tuple[int, int, int, int]
Op = Literal["assign", "none", "reject", "split", "undo"]
Side = Literal["a", "b", ""]
"""assign: who the face is; none: not anyone in the KB (not asked again); reject: not this candidate; split: kept
apart from the other side of its batch; undo: cancels the entry ``undoes`` names."""


@dataclass(frozen=True)
class Entry:
    """One line of the review log: a decision on one face (or on a faceless photo), or the undoing of one."""

    op: Op
    sha256: str = ""
    file: str = ""  # the photo as the report names it (relative to the input folder)
    face: int | None = None  # face index in the report; None: the whole photo (no face found)
    box: Box | None = None  # (top, right, bottom, left) original pixels, to find the face again on a rerun
    person: str = ""
    rejected: tuple[str, ...] = ()  # people this face is not (reject: one; none: everyone in the KB then)
    placed: str = ""  # output-relative path of the copy filed under the person
    placed_written: bool = False  # we created that copy (False: it was already there)
    unknown_copy: str = ""  # output-relative path of the Unknown/ copy this decision removed
    kb_sources: tuple[str, ...] = ()  # KB rows added (removed again on undo)
    undoes: str = ""  # for op "undo": the id of the entry it cancels
    batch: str = ""  # decisions taken together (a whole cluster) share a batch and are undone together
    side: Literal["a", "b", ""] = (
        ""  # for op "split": faces of one split batch on different sides never share a cluster
    )
    id: str = field(default_factory=new_id)
    ts: str = field(default_factory=_now)

    def to_json(self) -> str:
        d = {"v": LOG_VERSION, "id": self.id, "ts": self.ts, "op": self.op}
        for k in ("sha256", "file", "person", "placed", "unknown_copy", "undoes", "batch", "side"):
            if getattr(self, k):
                d[k] = getattr(self, k)
        if self.op != "undo":
            d["face"] = self.face
            d["box"] = list(self.box) if self.box else None
        if self.rejected:
            d["rejected"] = list(self.rejected)
        if self.placed_written:
            d["placed_written"] = True
        if self.kb_sources:
            d["kb_sources"] = list(self.kb_sources)
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> Entry | None:
        try:
            op = str(d["op"])
            if op not in DECISIONS and op not in GROUPING and op != "undo":
                return None
            side = str(d.get("side", ""))
            if side not in ("a", "b", ""):
                return None
            box = d.get("box")
            face = d.get("face")
            return cls(
                op=cast(Op, op),
                sha256=str(d.get("sha256", "")),
                file=str(d.get("file", "")),
                face=None if face is None else int(face),
                box=tuple(int(v) for v in box) if box and len(box) == 4 else None,
                person=str(d.get("person", "")),
                rejected=tuple(str(x) for x in d.get("rejected", ())),
                placed=str(d.get("placed", "")),
                placed_written=bool(d.get("placed_written", False)),
                unknown_copy=str(d.get("unknown_copy", "")),
                kb_sources=tuple(str(x) for x in d.get("kb_sources", ())),
                undoes=str(d.get("undoes", "")),
                batch=str(d.get("batch", "")),
                side=cast(Side, side),
                id=str(d["id"]),
                ts=str(d.get("ts", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None


class ReviewLog:
    """``review.jsonl`` in the output folder: one JSON object per line, only ever appended to."""

    def __init__(self, output_dir: Path):
        self.path = Path(output_dir) / LOG_NAME

    def entries(self) -> list[Entry]:
        """Every readable entry in order; a torn or foreign line (a crash mid-write, a hand edit) is skipped."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise ReviewError(f"cannot read the review log {self.path}: {e.strerror or e}") from None
        out = []
        for line in data.splitlines():
            try:
                d = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                continue
            e = Entry.from_dict(d) if isinstance(d, dict) else None
            if e is not None:
                out.append(e)
        return out

    def live(self) -> list[Entry]:
        """The decisions (and splits) that stand: every such entry not cancelled by a later undo."""
        entries = self.entries()
        undone = {e.undoes for e in entries if e.op == "undo"}
        return [e for e in entries if (e.op in DECISIONS or e.op in GROUPING) and e.id not in undone]

    def append(self, *entries: Entry) -> None:
        """Append entries in one write followed by fsync, on a line of their own even after a torn last line.
        Raises ReviewError where the log is a link (it is never followed)."""
        data = "".join(e.to_json() + "\n" for e in entries).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # never through a link: one planted in a shared output folder must not steer the appends elsewhere
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError:
            if os.path.islink(self.path):
                raise LinkedLog(self.path) from None
            raise
        try:
            size = os.fstat(fd).st_size
            if size:
                with open(self.path, "rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        data = b"\n" + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if size == 0:
            fsync_dir(self.path.parent)


# --- what the log means for a rerun -------------------------------------------------------------


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    top, bottom = max(a[0], b[0]), min(a[2], b[2])
    left, right = max(a[3], b[3]), min(a[1], b[1])
    inter = max(0, bottom - top) * max(0, right - left)
    area_a = max(0, a[2] - a[0]) * max(0, a[1] - a[3])
    area_b = max(0, b[2] - b[0]) * max(0, b[1] - b[3])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


@dataclass
class FaceDecision:
    """Everything the log says about one face: who it is (if assigned), who it is not, and whether to ask again."""

    index: int | None
    box: Box | None
    person: str = ""
    rejected: set[str] = field(default_factory=set)
    settled: bool = False  # "not anyone in the KB": do not ask again

    def filter(self, cands: Candidates, k: int = 3) -> Candidates:
        """The candidates without the rejected people, best ``k``."""
        return tuple(c for c in cands if c[0] not in self.rejected)[:k]

    def matches(self, index: int | None, box: Box | None) -> bool:
        if self.box is not None and box is not None:
            return iou(self.box, box) >= 0.5
        if self.box is None and box is None:
            return True  # the whole photo (no face found then, none now)
        return False


@dataclass
class PhotoDecision:
    """The standing review decisions on one photo (by content hash), per face."""

    sha256: str
    faces: list[FaceDecision] = field(default_factory=list)

    def for_face(self, index: int | None, box: Box | None) -> FaceDecision | None:
        hits = [f for f in self.faces if f.matches(index, box)]
        if len(hits) > 1 and box is not None:
            return max(hits, key=lambda f: iou(f.box, box))  # type: ignore[arg-type]
        return hits[0] if hits else None

    @property
    def people(self) -> tuple[str, ...]:
        return tuple(sorted({f.person for f in self.faces if f.person}))

    def unmatched_faces(self, results: Iterable[FaceResult], start: int) -> list[FaceResult]:
        """Assignments that match none of ``results`` (the detector changed since): one extra face row each."""
        got = [self.for_face(r.index, r.box) for r in results]
        extra = []
        for f in self.faces:
            if f.person and not any(g is f for g in got):
                extra.append(
                    FaceResult(
                        index=start + len(extra),
                        box=None,
                        sharpness=None,
                        name=f.person,
                        via="review",
                        skipped="face not found again: kept the review decision",
                    )
                )
        return extra


def decisions_from(entries: Iterable[Entry]) -> dict[str, PhotoDecision]:
    """Fold standing decision entries (oldest first) into one PhotoDecision per photo."""
    out: dict[str, PhotoDecision] = {}
    for e in entries:
        if e.op not in DECISIONS or not e.sha256:
            continue
        pd = out.setdefault(e.sha256, PhotoDecision(e.sha256))
        fd = next((f for f in pd.faces if f.index == e.face and f.box == e.box), None)
        if fd is None:
            fd = FaceDecision(index=e.face, box=e.box)
            pd.faces.append(fd)
        if e.op == "assign":
            fd.person = e.person
            fd.rejected.discard(e.person)
        elif e.op == "reject":
            fd.rejected.update(e.rejected)
        elif e.op == "none":
            fd.rejected.update(e.rejected)
            fd.settled = True
    return out


def load_overrides(output_dir: Path) -> dict[str, PhotoDecision]:
    """The review decisions that a run into ``output_dir`` must respect, by photo content hash."""
    try:
        return decisions_from(ReviewLog(output_dir).live())
    except ReviewError:
        return {}
