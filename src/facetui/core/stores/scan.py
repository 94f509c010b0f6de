"""Finding photos: folder scans that match extensions case-insensitively, survive symlink loops and skip our own output."""

from __future__ import annotations

import os
from pathlib import Path

from ..base.fsutil import TEMP_PREFIX


def _wanted(name: str, exts: tuple[str, ...]) -> bool:
    return not name.startswith(TEMP_PREFIX) and os.path.splitext(name)[1].lower() in exts


def scan_images(
    folder: Path, exts: tuple[str, ...], recursive: bool = False, exclude: tuple[Path, ...] = ()
) -> list[Path]:
    """Image files under ``folder`` in a stable sorted order.

    Recursive scans follow symlinked folders once (a loop is visited once, not forever) and skip the
    ``exclude`` folders (the output, when it sits inside the input) and hidden folders.
    """
    folder = Path(folder)
    exts = tuple(e.lower() for e in exts)
    excluded = set()
    for e in exclude:
        try:
            st = os.stat(e)
            excluded.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    found: list[Path] = []
    seen_dirs: set[tuple[int, int]] = set()
    stack = [folder]
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
        except OSError:
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen_dirs or ident in excluded:
            continue
        seen_dirs.add(ident)
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                is_dir = e.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                if recursive and not e.name.startswith("."):
                    stack.append(Path(e.path))
                continue
            if _wanted(e.name, exts):
                found.append(Path(e.path))
    found.sort(key=lambda p: os.fsencode(str(p.relative_to(folder))))
    return found


def scan_people(dataset_dir: Path, exts: tuple[str, ...]) -> dict[str, list[Path]]:
    """``dataset_dir/<Person>/...`` as {person: photos}; hidden folders are ignored."""
    out: dict[str, list[Path]] = {}
    try:
        subdirs = sorted(p for p in Path(dataset_dir).iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return out
    for d in subdirs:
        out[d.name] = scan_images(d, exts, recursive=True)
    return out
