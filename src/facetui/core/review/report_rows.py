"""A decision's change to report.csv: a photo's result with one face renamed, and the report rewritten with it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..base.events import UNKNOWN, FaceResult, FileResult
from ..base.fsutil import atomic_write_bytes
from ..stores.report import COLUMNS, REPORT_NAME, encode_rows, group_rows, read_rows, rows_for
from .queue import ReviewItem


def set_face(r: FileResult, item: ReviewItem, name: str, via: str, add: Path | None, drop: set[Path]) -> FileResult:
    """This photo's result with one face's decision changed, and its people and destinations to match."""
    faces = list(r.faces)
    idx = next(
        (
            j
            for j, f in enumerate(faces)
            if (f.index == item.face and f.box is not None) or (item.face is None and f.box is None)
        ),
        None,
    )
    if idx is None:
        faces.append(
            FaceResult(
                index=item.face if item.face is not None else len(faces),
                box=item.box,
                sharpness=None,
                name=name,
                via=via,
            )
        )
    else:
        faces[idx] = replace(faces[idx], name=name, via=via)
    people = tuple(sorted({f.name for f in faces if f.name != UNKNOWN}))
    dests = [Path(d) for d in r.destinations if Path(d) not in drop]
    if add is not None and Path(add) not in dests:
        dests.append(Path(add))
    return replace(r, faces=tuple(faces), people=people, destinations=tuple(dests))


def rewrite_report(output_dir: Path, changed: dict[str, FileResult]) -> None:
    """Rewrite ``output_dir``'s report.csv atomically with these photos' rows replaced; other rows stay byte for byte."""
    report_path = output_dir / REPORT_NAME
    rows = read_rows(report_path)
    groups = group_rows(rows)
    if not set(changed) & set(groups):
        return
    out_rows: list[list[str]] = []
    for rel, rs in groups.items():
        if rel in changed:
            out_rows += rows_for(changed[rel], output_dir)
        else:
            out_rows += [[row[c] for c in COLUMNS] for row in rs]
    atomic_write_bytes(report_path, encode_rows(out_rows, header=True))
