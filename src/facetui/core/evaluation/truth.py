"""The labels an eval scores against: who is in each photo, read from a truth CSV or a folder of ``<Person>/`` folders."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from ..base.errors import SetupError
from ..base.events import UNKNOWN
from ..stores.scan import scan_people


class EvalError(SetupError):
    """The evaluation cannot start (truth file unreadable, nothing to score); the message says what to fix."""


@dataclass(frozen=True)
class Truth:
    """Who is in each labelled photo: {path relative to input_dir: people}; an empty set means Unknown."""

    input_dir: Path
    expected: dict[str, frozenset[str]]
    source: Path
    notices: tuple[str, ...] = ()


def _people(raw: str) -> frozenset[str]:
    names = [n.strip() for n in raw.split(";") if n.strip()]
    return frozenset(n for n in names if n.lower() != UNKNOWN.lower())


def load_truth(
    path: Path | str, input_dir: Path | None = None, exts: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")
) -> Truth:
    """Read labels: a CSV ``file,expected`` (people joined by ``;``, or ``Unknown``), or a folder of ``<Person>/`` folders.

    For a CSV, ``file`` is relative to ``input_dir``. For a folder, the folder itself is the input, each
    sub-folder names the person in its photos, and a sub-folder called ``Unknown`` holds photos of nobody known.
    """
    path = Path(path)
    if path.is_dir():
        people = scan_people(path, exts)
        expected = {}
        for person, photos in people.items():
            for p in photos:
                expected[os.fsdecode(os.path.relpath(p, path))] = _people(person)
        if not expected:
            raise EvalError(f"no labelled photos under {path}/<Person>/ (extensions {', '.join(exts)})")
        return Truth(path, expected, path)
    if input_dir is None:
        raise EvalError("a truth CSV needs the folder its files are in (--input, or process_dir)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EvalError(f"truth file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"cannot read truth file {path}: {getattr(e, 'strerror', None) or e}") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "file" not in cols or "expected" not in cols:
        raise EvalError(
            f"{path}: the first line must be the header 'file,expected' (found {','.join(cols) or 'nothing'})"
        )
    fcol = reader.fieldnames[cols.index("file")]  # type: ignore[index]
    ecol = reader.fieldnames[cols.index("expected")]  # type: ignore[index]
    expected: dict[str, frozenset[str]] = {}
    for line, row in enumerate(reader, 2):
        f = (row.get(fcol) or "").strip()
        if not f:
            raise EvalError(f"{path} line {line}: empty file name")
        if f in expected:
            raise EvalError(f"{path} line {line}: {f} is listed twice")
        expected[f] = _people(row.get(ecol) or "")
    if not expected:
        raise EvalError(f"{path} lists no photos")
    return Truth(Path(input_dir), expected, path)
