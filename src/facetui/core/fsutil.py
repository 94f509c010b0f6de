"""Safe file operations: atomic writes, never-overwrite filing, content hashes and safe folder names."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path

TEMP_PREFIX = ".facetui-tmp-"
_HASH_CHUNK = 1 << 20


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _unlink_quietly(p: str | Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Names that Windows (and so SMB/exFAT shares) refuse, whatever the extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def safe_person_name(name: str) -> str:
    """A folder name for a person that can never leave the output folder ('' when nothing usable is left)."""
    name = unicodedata.normalize("NFC", str(name))
    name = _BAD_CHARS.sub("_", name).strip().strip(".").strip()
    if not name or set(name) <= {"_", "."}:
        return ""
    if name.split(".")[0].upper() in _RESERVED:
        name = "_" + name
    return name[:120]


def check_person_name(name: str) -> str:
    """Validate a typed person name; return the folder-safe form or raise ValueError with the reason."""
    if not name or not name.strip():
        raise ValueError("a name cannot be empty")
    if "\x00" in name or "/" in name or "\\" in name:
        raise ValueError("a name cannot contain / or \\ or NUL")
    safe = safe_person_name(name)
    if not safe:
        raise ValueError(f"'{name}' leaves nothing usable as a folder name")
    if safe.lower() == "unknown":
        raise ValueError("'Unknown' is reserved for photos of nobody known")
    return safe


def same_content(a: Path, b: Path) -> bool:
    """True when two files hold the same bytes (size first, then hash)."""
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
    except OSError:
        return False
    return file_sha256(a) == file_sha256(b)


def _candidates(dest_dir: Path, name: str):
    yield dest_dir / name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    else:
        ext = "." + ext
    for i in range(1, 10_000):
        yield dest_dir / f"{stem} ({i}){ext}"


def place_file(src: Path, dest_dir: Path, mode: str = "copy", name: str | None = None) -> tuple[Path, bool]:
    """File ``src`` into ``dest_dir`` without ever overwriting; return (destination, written).

    An identical file already there (same bytes, or a link to the same file) is a no-op
    (written=False); a different file with the same name makes us pick ``name (1).jpg`` and so on.
    The copy goes through a temp file and an atomic rename, so a crash never leaves a partial photo
    under a real name. ``src`` is only read.
    """
    src = Path(src)
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = name or src.name
    for dest in _candidates(dest_dir, name):
        if os.path.lexists(dest):
            if _already_there(src, dest, mode):
                return dest, False
            continue
        if _create(src, dest, mode):
            return dest, True
        # lost a race with another writer: look at that name again
        if _already_there(src, dest, mode):
            return dest, False
    raise OSError(f"too many files named like {name} in {dest_dir}")


def _already_there(src: Path, dest: Path, mode: str) -> bool:
    try:
        if mode == "symlink" and dest.is_symlink():
            return Path(os.readlink(dest)) == src.absolute()
        if dest.is_symlink():
            return False
        if os.path.samefile(src, dest):
            return True
    except OSError:
        return False
    return same_content(src, dest)


def _create(src: Path, dest: Path, mode: str) -> bool:
    """Create ``dest`` atomically; False when the name was taken meanwhile."""
    if mode == "symlink":
        tmp = dest.parent / f"{TEMP_PREFIX}{os.getpid()}-{dest.name}.lnk"
        _unlink_quietly(tmp)
        os.symlink(src.absolute(), tmp)
        return _link_into_place(tmp, dest)
    if mode == "hardlink":
        tmp = dest.parent / f"{TEMP_PREFIX}{os.getpid()}-{dest.name}.lnk"
        _unlink_quietly(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            return _create(src, dest, "copy")  # other filesystem: fall back to a copy
        return _link_into_place(tmp, dest)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, _HASH_CHUNK)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(src, tmp, follow_symlinks=True)
        return _link_into_place(Path(tmp), dest)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _link_into_place(tmp: Path, dest: Path) -> bool:
    """Give ``tmp`` the name ``dest`` only if that name is free; never replaces an existing file.

    A regular file is hard-linked to the new name (fails if taken) and the temp name dropped; where
    the filesystem has no hard links, and for symlinks, a rename after a check does the same job.
    """
    tmp = Path(tmp)
    try:
        if not tmp.is_symlink():
            try:
                os.link(tmp, dest)
                fsync_dir(dest.parent)
                return True
            except FileExistsError:
                return False
            except OSError:
                pass  # no hard links here: fall through to rename
        if os.path.lexists(dest):
            return False
        os.rename(tmp, dest)
        fsync_dir(dest.parent)
        return True
    finally:
        if os.path.lexists(tmp):
            _unlink_quietly(tmp)


def remove_stale_temps(folder: Path) -> int:
    """Delete temp files that an interrupted run of ours left (only our own prefix); return how many."""
    n = 0
    if not folder.is_dir():
        return 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            if f.startswith(TEMP_PREFIX):
                _unlink_quietly(Path(root) / f)
                n += 1
    return n
