"""The review queue: the latest report of one output folder, the standing decisions, and the faces still waiting."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..base.events import UNKNOWN, FaceResult, FileResult
from ..base.fsutil import file_stamp
from ..stores.report import REPORT_NAME, group_rows, read_rows, result_from_rows
from ..stores.reviewlog import Box, FaceDecision, PhotoDecision, ReviewError, ReviewLog, decisions_from


@dataclass(frozen=True)
class ReviewItem:
    """One face waiting for a decision (``face`` None: a photo in which no face was found)."""

    rel: str
    sha256: str
    face: int | None
    box: Box | None

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.rel, self.face)


def face_decision(decisions: dict[str, PhotoDecision], item: ReviewItem) -> FaceDecision | None:
    """The standing decision on this face, if any."""
    pd = decisions.get(item.sha256)
    return pd.for_face(item.face, item.box) if pd else None


def waiting(results: dict[str, FileResult], decisions: dict[str, PhotoDecision]) -> list[ReviewItem]:
    """Every unknown face of every photo filed under Unknown that no decision settles (nor names), in report order."""
    items = []
    for r in results.values():
        if not r.is_unknown:
            continue
        faces = r.faces or (FaceResult(index=0, box=None, sharpness=None),)
        for f in faces:
            if f.name != UNKNOWN:
                continue
            item = ReviewItem(r.rel, r.sha256, f.index if f.box is not None else None, f.box)
            fd = face_decision(decisions, item)
            if fd is not None and (fd.settled or fd.person):
                continue
            items.append(item)
    return items


@dataclass
class Queue:
    """The photos of the latest report (``results``), the decisions the log holds, and the faces waiting (``items``)."""

    output_dir: Path
    log: ReviewLog
    results: dict[str, FileResult] = field(default_factory=dict)
    decisions: dict[str, PhotoDecision] = field(default_factory=dict)
    items: list[ReviewItem] = field(default_factory=list)
    _read_at: tuple | None = None  # the report's and the log's stat when last read

    @classmethod
    def read(cls, output_dir: Path) -> Queue:
        """The queue of the latest run in ``output_dir`` (a ReviewError when no run has written a report there)."""
        queue = cls(Path(output_dir), ReviewLog(Path(output_dir)))
        if not queue.report_path.is_file():
            raise ReviewError(f"no {REPORT_NAME} in {queue.output_dir}: run recognition first")
        queue.reload()
        return queue

    @property
    def report_path(self) -> Path:
        return self.output_dir / REPORT_NAME

    def reload(self) -> None:
        """Re-read the report and the log; the queue is every unknown face of every photo filed under Unknown.
        Nothing is read when neither file changed on disk since the last read."""
        stamp = file_stamp(self.report_path, self.log.path)
        if stamp is not None and stamp == self._read_at:
            return
        self._read_at = stamp
        rows = read_rows(self.report_path)
        self.results = {rel: result_from_rows(rs, self.output_dir) for rel, rs in group_rows(rows).items()}
        self.reread_decisions()
        self.items = waiting(self.results, self.decisions)

    def reread_decisions(self) -> None:
        """Re-read the standing decisions from the log (a decision that moves no file leaves the report as it is)."""
        self.decisions = decisions_from(self.log.live())

    def result(self, item: ReviewItem) -> FileResult:
        return self.results[item.rel]

    def face(self, item: ReviewItem) -> FaceResult | None:
        for f in self.result(item).faces:
            if item.face is None and f.box is None:
                return f
            if item.face is not None and f.index == item.face and f.box is not None:
                return f
        return None

    def status(self, item: ReviewItem) -> str:
        """'' while undecided (a face with only rejected candidates is still undecided), the person, or 'none'."""
        fd = face_decision(self.decisions, item)
        if fd is None:
            return ""
        if fd.person:
            return fd.person
        if fd.settled:
            return "none"
        return ""

    def rejected(self, item: ReviewItem) -> set[str]:
        """The people rejected for this face ("not this person", "not anyone in the KB")."""
        fd = face_decision(self.decisions, item)
        return set(fd.rejected) if fd else set()

    def item_for(self, rel: str, face: int | None = None) -> ReviewItem:
        """A face of any photo in the report (not only the queued ones): for scripts and clusters."""
        r = self.results.get(rel)
        if r is None:
            matches = [x for x in self.results.values() if Path(x.rel).name == rel or str(x.path) == rel]
            if len(matches) != 1:
                raise ReviewError(f"{rel} is not in the report of the latest run ({self.report_path})")
            r = matches[0]
        if r.error:
            raise ReviewError(f"{r.rel} could not be used in the run ({r.error})")
        with_box = [f for f in r.faces if f.box is not None]
        if face is None:
            if not with_box:
                return ReviewItem(r.rel, r.sha256, None, None)
            unknown = [f for f in with_box if f.name == UNKNOWN] or with_box
            usable = [f for f in unknown if not f.skipped] or unknown
            f = max(usable, key=lambda f: (f.box[2] - f.box[0]) * (f.box[1] - f.box[3]))  # type: ignore[index]
            return ReviewItem(r.rel, r.sha256, f.index, f.box)
        for f in with_box:
            if f.index == face:
                return ReviewItem(r.rel, r.sha256, f.index, f.box)
        raise ReviewError(f"{r.rel} has no face {face} (faces: {', '.join(str(f.index) for f in with_box) or 'none'})")
