"""report.csv: one row per face (or per faceless file), appended as the run goes and read back for resume and review."""

from __future__ import annotations

import csv
import io
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from ..base.events import UNKNOWN, Candidates, FaceResult, FileResult
from ..base.fsutil import atomic_write_bytes, crash_point

REPORT_NAME = "report.csv"
COLUMNS = [
    "file",
    "source",
    "sha256",
    "face_index",
    "box",
    "sharpness",
    "face_1",
    "face_1_dist",
    "face_2",
    "face_2_dist",
    "face_3",
    "face_3_dist",
    "body_1",
    "body_1_sim",
    "body_2",
    "body_2_sim",
    "body_3",
    "body_3_sim",
    "decision",
    "via",
    "skipped",
    "quality",
    "rule",
    "people",
    "destinations",
    "error",
    "notes",
    "end",
]
# the header before face quality and the rule were reported; such a report (an earlier version's) still reads
COLUMNS_V1 = [c for c in COLUMNS if c not in ("quality", "rule")]
_ENC = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")


def _cell_out(text: str) -> str:
    """A cell a spreadsheet will never run as a formula. File and person names are the user's (a photo may be
    called "=HYPERLINK(...).jpg"), so text starting with = + - @ tab or CR gets a leading ', the spreadsheet
    mark for text; text already starting with ' gets one too, so that :func:`read_rows` reads every cell back
    exactly. Numbers such as -0.1234 stay numbers."""
    if text and text[0] in _FORMULA_START and not _NUMBER.match(text):
        return "'" + text
    return text


def join_list(items) -> str:
    """Several names in one cell, ';'-separated; a ';' or '\\' inside a name is escaped with '\\' (a file may be
    called "a;b.jpg", a person "Smith; J.")."""
    return ";".join(str(i).replace("\\", "\\\\").replace(";", "\\;") for i in items)


def split_list(text: str) -> list[str]:
    """The inverse of :func:`join_list` (empty items dropped)."""
    if "\\" not in text:  # nothing escaped (nearly every cell): a plain split says the same
        return [x for x in text.split(";") if x]
    out, cur, esc = [], [], False
    for ch in text:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ";":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [x for x in out if x]


def _cands(c: Candidates) -> list[str]:
    out: list[str] = []
    for i in range(3):
        if i < len(c):
            out += [c[i][0], f"{c[i][1]:.4f}"]
        else:
            out += ["", ""]
    return out


def rows_for(result: FileResult, output_dir: Path | None) -> list[list[str]]:
    """The CSV rows for one file (the last column marks a complete row)."""
    dests = join_list(rel_to(d, output_dir) for d in result.destinations)
    common_tail = [
        join_list(result.people) or (UNKNOWN if not result.error else ""),
        dests,
        result.error,
        " | ".join(result.notes),
        "1",
    ]
    head = [result.rel, str(result.path), result.sha256]
    faces = result.faces or (FaceResult(index=0, box=None, sharpness=None, name=UNKNOWN if not result.error else ""),)
    rows = []
    for f in faces:
        box = "" if f.box is None else " ".join(str(v) for v in f.box)
        sharp = "" if f.sharpness is None else f"{f.sharpness:.1f}"
        rows.append(
            head
            + [str(f.index), box, sharp]
            + _cands(f.face)
            + _cands(f.body)
            + [f.name, f.via, f.skipped, f.quality, f.rule]
            + common_tail
        )
    return rows


def rel_to(p: Path, base: Path | None) -> str:
    """``p`` relative to ``base`` in POSIX form, or ``p`` as it is when it lies elsewhere."""
    if base is not None:
        try:
            return Path(p).relative_to(base).as_posix()
        except ValueError:
            pass
    return str(p)


def encode_rows(rows: list[list[str]], header: bool = False) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    # with "\n" line ends, csv leaves a cell holding a lone "\r" unquoted, and a reader then splits the row there
    # (a file name may hold one): such rows get every cell quoted
    quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    if header:
        w.writerow(COLUMNS)
    for r in rows:
        cells = [_cell_out(c) for c in r]
        (quoted if any("\r" in c for c in cells) else w).writerow(cells)
    return buf.getvalue().encode("utf-8", "surrogateescape")


class ReportWriter:
    """Appends one file's rows in a single write, so a crash never leaves half a file's rows.

    The rows are in the kernel once ``add`` returns (a kill -9 loses none); ``sync_every`` seconds > 0 groups the
    fsyncs that make them survive a power cut (one per interval and one at close instead of one per photo: on a
    small photo the fsync cost more than all the rest). ``before_sync`` runs before each fsync (the run syncs the
    folders of the files it filed there, so a row that survives a power cut names files that survived it)."""

    def __init__(
        self,
        path: Path,
        keep: list[list[str]] | None = None,
        *,
        sync_every: float = 0.0,
        before_sync: Callable[[], None] | None = None,
    ):
        self.path = Path(path)
        atomic_write_bytes(self.path, encode_rows(keep or [], header=True))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.sync_every = sync_every
        self._before_sync = before_sync
        self._synced = time.monotonic()
        self._dirty = False

    def add(self, result: FileResult, output_dir: Path | None) -> None:
        """Append one file's rows whole, or not at all: a short or failed write (disk full) is cut back off."""
        data = encode_rows(rows_for(result, output_dir))
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            self._dirty = True
            if time.monotonic() - self._synced >= self.sync_every:
                self.sync()
        except BaseException:
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                pass
            raise
        crash_point("row")

    def sync(self) -> None:
        """Make every row written so far durable (and, through ``before_sync``, the files they name)."""
        if self._before_sync is not None:
            self._before_sync()
        os.fsync(self._fd)
        self._dirty = False
        self._synced = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            try:
                if self._dirty:
                    self.sync()
            except OSError:
                pass  # the rows are written; only their durability against a power cut is in doubt
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_rows(path: Path) -> list[dict[str, str]]:
    """Complete rows of a report (a torn last row from a crash is dropped)."""
    try:
        with open(path, **_ENC) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            cols = next((c for c in (COLUMNS, COLUMNS_V1) if header == c), None)
            if cols is None:
                return []
            n = len(cols)
            rows = [
                dict(zip(cols, [c[1:] if c[:1] == "'" else c for c in r]))  # the mark _cell_out adds, taken off
                for r in reader
                if len(r) == n and r[-1] == "1"
            ]
            for r in rows:
                r.setdefault("quality", "")
                r.setdefault("rule", "")
            return rows
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def group_rows(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        out.setdefault(r["file"], []).append(r)
    return out


def _parse_cands(r: dict[str, str], kind: str, score: str) -> Candidates:
    out = []
    for i in (1, 2, 3):
        n, v = r.get(f"{kind}_{i}", ""), r.get(f"{kind}_{i}_{score}", "")
        if n and v and _float(v) is not None:
            out.append((n, float(v)))
    return tuple(out)


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _float(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _box(text: str) -> tuple[int, int, int, int] | None:
    try:
        box = tuple(int(v) for v in text.split())
    except ValueError:
        return None
    return box if len(box) == 4 else None  # type: ignore[return-value]


def result_from_rows(rows: list[dict[str, str]], output_dir: Path | None) -> FileResult:
    """Rebuild a FileResult from its report rows (for resume and review); a hand-edited cell reads as empty."""
    first = rows[0]
    faces = []
    for r in rows:
        box = _box(r["box"]) if r["box"] else None
        if box is None and not r["face_1"] and not r["body_1"] and len(rows) == 1:
            continue  # the placeholder row of a faceless file with no candidates
        faces.append(
            FaceResult(
                index=_int(r["face_index"]),
                box=box,
                sharpness=_float(r["sharpness"]) if r["sharpness"] else None,
                face=_parse_cands(r, "face", "dist"),
                body=_parse_cands(r, "body", "sim"),
                name=r["decision"] or UNKNOWN,
                via=r["via"],
                skipped=r["skipped"],
                quality=r["quality"] if r["quality"] in ("low", "poor") else "",
                rule=r["rule"],
            )
        )
    people = tuple(p for p in split_list(first["people"]) if p != UNKNOWN)
    dests = tuple(
        (output_dir / d) if output_dir is not None and not os.path.isabs(d) else Path(d)
        for d in split_list(first["destinations"])
    )
    notes = tuple(n for n in first["notes"].split(" | ") if n)
    return FileResult(
        path=Path(first["source"]),
        rel=first["file"],
        faces=tuple(faces),
        people=people,
        destinations=dests,
        error=first["error"],
        notes=notes,
        sha256=first["sha256"],
    )


def read_results(path: Path, output_dir: Path | None = None) -> list[FileResult]:
    output_dir = output_dir if output_dir is not None else Path(path).parent
    return [result_from_rows(rs, output_dir) for rs in group_rows(read_rows(path)).values()]
