"""Our copies of a photo in the output folder: where a decision copies it from, and removing a copy only if ours."""

from __future__ import annotations

import os
from pathlib import Path

from ..base.events import UNKNOWN, FileResult
from ..base.fsutil import display_name, file_sha256, fsync_dir, safe_person_name
from ..stores.reviewlog import ReviewError


def copy_source(r: FileResult, file_mode: str) -> tuple[Path, str]:
    """Where to copy the photo from: the original if it still holds the same bytes, else a copy of ours."""
    try:
        if Path(r.path).is_file() and file_sha256(r.path) == r.sha256:
            return Path(r.path), file_mode
    except OSError:
        pass
    for d in r.destinations:
        try:
            if Path(d).is_file() and file_sha256(d) == r.sha256:
                return Path(d), "copy"
        except OSError:
            continue
    raise ReviewError(
        f"{display_name(r.rel)}: neither the original ({r.path}) nor a copy in the output holds "
        "the photo the run saw; rerun recognition"
    )


def remove_if_ours(output_dir: Path, path: Path, r: FileResult, folder: str) -> bool:
    """Delete ``path`` only if it is our copy: inside ``<output>/<folder>/``, not the original, same bytes."""
    path = Path(path)
    out = Path(os.path.realpath(output_dir))
    parent = Path(os.path.realpath(path.parent))
    if parent != out / safe_person_name(folder) and not (folder == UNKNOWN and parent == out / UNKNOWN):
        return False
    here = parent / path.name
    original = Path(r.path)
    for o in {Path(os.path.realpath(original.parent)) / original.name, Path(os.path.realpath(original))}:
        if here == o:
            return False
    try:
        if path.is_symlink() and not path.exists():
            ours = Path(os.readlink(path)) == original.absolute()  # our link to an original since removed
        else:
            ours = path.is_file() and file_sha256(path) == r.sha256
    except OSError:
        return False
    if not ours:
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    fsync_dir(path.parent)
    if parent.name != UNKNOWN:
        try:
            path.parent.rmdir()  # only when now empty: a folder made for this one decision
        except OSError:
            pass
    return True
