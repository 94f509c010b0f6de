"""Safe file operations: atomic writes, never-overwrite filing that stays inside the output, content hashes and
safe folder names.

Why it is long: every write facetui makes near the user's photos goes through here (temp file + rename,
placement that never overwrites, the folder lock, the crash-test points), so the guarantees are reviewed in one
place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path

from .errors import EXIT_FAILED, FacetuiError

TEMP_PREFIX = ".facetui-tmp-"
_HASH_CHUNK = 1 << 20
_NAME_MAX = 255  # bytes in one file or folder name (ext4, APFS, NTFS)


def _read_umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


_UMASK = _read_umask()  # read once at import: os.umask can only be read by setting it

# --- test hook ---------------------------------------------------------------------------------
# Crash tests need deterministic points to die at. With FACETUI_TEST_CRASH_AT="<point>@<n>[,<point>@<n>...]" set, the
# n-th time this process reaches <point> it sends itself FACETUI_TEST_CRASH_SIGNAL (default SIGKILL; SIGINT is a
# Ctrl-C at that very moment). Unset, it costs one environment look-up.
# Points: "copy" (a photo's temp copy written, not yet linked), "link" (the copy has its real name, the temp name not yet
# removed), "write:<file name>" (an atomic write's temp file written, not yet renamed), "replaced:<file name>" (renamed),
# "row" (a report row written).
_CRASH_ENV = "FACETUI_TEST_CRASH_AT"
_crash_hits: dict[str, int] = {}


def crash_point(point: str) -> None:
    spec = os.environ.get(_CRASH_ENV)
    if not spec:
        return
    targets = {want: n for want, _, n in (item.strip().rpartition("@") for item in spec.split(","))}
    if point not in targets:
        return
    _crash_hits[point] = _crash_hits.get(point, 0) + 1
    if str(_crash_hits[point]) == targets[point]:
        import signal

        sig = getattr(signal, os.environ.get("FACETUI_TEST_CRASH_SIGNAL", "SIGKILL"))
        os.kill(os.getpid(), sig)


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


class NameSyncs:
    """Folder syncs grouped: a filed photo's data is synced before it gets its real name (a power cut never leaves a
    torn photo under a real name), but the sync of the folder that makes the new *name* durable can wait a little.
    Handed to place_file/remove_own_copies, this collects those folders; ``sync()`` syncs them (the run calls it
    just before it syncs its report, so a report row that survives a power cut names files that survived it).
    Nothing changes for a kill -9: the names are in the kernel either way; only a power cut can lose the last
    moment's names, and a rerun files those photos again (an identical file already there is a no-op)."""

    def __init__(self) -> None:
        self._pending: set[str] = set()

    def add(self, folder: Path) -> None:
        self._pending.add(os.fspath(folder))

    def sync(self) -> None:
        while self._pending:
            fsync_dir(Path(self._pending.pop()))


def _name_changed(folder: Path, names: NameSyncs | None) -> None:
    if names is None:
        fsync_dir(folder)
    else:
        names.add(folder)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = os.stat(path).st_mode & 0o7777  # a file we replace keeps its permissions
    except OSError:
        mode = 0o666 & ~_UMASK  # a new one gets what open() would give it (mkstemp makes 0600)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, mode)
        except OSError:
            pass
        crash_point("write:" + path.name)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    crash_point("replaced:" + path.name)
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _unlink_quietly(p: str | Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def file_stamp(*paths: Path) -> tuple | None:
    """(mtime_ns, size, inode) of each file, None for a missing one: equal stamps mean unchanged files (an atomic
    rewrite changes the inode). None when one cannot be stat'ed: treat as changed."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            out.append(None)
            continue
        except OSError:
            return None
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def display_name(p: str | Path) -> str:
    """A printable form of a path whose bytes may not be valid UTF-8 (undecodable bytes become U+FFFD)."""
    return os.fsencode(str(p)).decode("utf-8", "replace")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# Names that Windows (and so SMB/exFAT shares) refuse, whatever the extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|]')
_PERSON_MAX = 120  # characters, and at most _PERSON_MAX_BYTES bytes, so "<name> (12).jpg"-style names still fit
_PERSON_MAX_BYTES = 200


def _encodable(c: str) -> str:
    try:
        os.fsencode(c)
        return c
    except UnicodeError:  # a lone surrogate that is not an escaped file-name byte
        return "_"


def safe_person_name(name: str) -> str:
    """A folder name for a person that can never leave the output folder ('' when nothing usable is left)."""
    name = unicodedata.normalize("NFC", str(name))
    name = "".join(_encodable(c) if "\ud800" <= c <= "\udfff" else c for c in name)
    name = _BAD_CHARS.sub("_", name).strip().strip(".").strip()
    if not name or set(name) <= {"_", "."}:
        return ""
    if name.split(".")[0].strip().upper() in _RESERVED:
        name = "_" + name
    name = name[:_PERSON_MAX]
    while len(os.fsencode(name)) > _PERSON_MAX_BYTES:
        name = name[:-1]
    return name.rstrip(" .") or "_"


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
        tag = f" ({i}){ext}"
        room = _NAME_MAX - len(os.fsencode(tag))
        short = stem
        while len(os.fsencode(short)) > room:  # a 255-byte name still gets its " (1)"
            short = short[:-1]
        yield dest_dir / f"{short}{tag}"


class OutsideOutput(FacetuiError, OSError):
    """A folder facetui would write into is a link (or sits behind one) that leads out of the folder it belongs to:
    refused, so a link planted in a shared output folder cannot steer copies elsewhere."""

    exit_code = EXIT_FAILED


def check_inside(dest_dir: Path, root: Path | None = None) -> None:
    """Raise OutsideOutput unless ``dest_dir``, with every link resolved, lies inside ``root`` resolved (default:
    ``dest_dir``'s parent, i.e. the output folder for ``<output>/<Person>``). ``root`` itself may be a link: the
    output folder is the user's choice; a link below it to a place inside it is fine too."""
    dest_dir = Path(dest_dir)
    root = Path(root) if root is not None else dest_dir.parent
    real_root = os.path.realpath(root)
    real = os.path.realpath(dest_dir)
    if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
        return
    raise OutsideOutput(
        f"refused to write into {display_name(dest_dir)}: it is a link to {display_name(real)}, outside "
        f"{display_name(root)}; remove the link (a folder under the output must stay inside it)"
    )


def place_file(
    src: Path,
    dest_dir: Path,
    mode: str = "copy",
    name: str | None = None,
    *,
    names: NameSyncs | None = None,
    root: Path | None = None,
) -> tuple[Path, bool]:
    """File ``src`` into ``dest_dir`` without ever overwriting; return (destination, written).

    An identical file already there (same bytes, or a link to the same file) is a no-op
    (written=False); a different file with the same name makes us pick ``name (1).jpg`` and so on.
    The copy goes through a temp file and an atomic rename, so a crash never leaves a partial photo
    under a real name. ``src`` is only read. ``names`` groups the folder syncs (see NameSyncs); without it the
    new name is synced at once. A ``dest_dir`` that resolves outside ``root`` (default: its parent, the output
    folder) raises OutsideOutput (an OSError and a FacetuiError) before anything is written, whatever ``mode``.
    """
    src = Path(src)
    check_inside(dest_dir, root)
    dest_dir.mkdir(parents=True, exist_ok=True)
    check_inside(dest_dir, root)  # a link planted while the folder was made
    name = name or src.name
    for dest in _candidates(dest_dir, name):
        if os.path.lexists(dest):
            if _already_there(src, dest, mode):
                return dest, False
            continue
        if _create(src, dest, mode, names):
            return dest, True
        # lost a race with another writer: look at that name again
        if _already_there(src, dest, mode):
            return dest, False
    raise OSError(f"too many files named like {name} in {dest_dir}")


def _real_name(p: Path) -> str:
    """The path with its folder resolved but the last part kept (a link stays the link)."""
    p = Path(p)
    return os.path.join(os.path.realpath(p.parent), p.name)


def remove_own_copies(src: Path, dest_dir: Path, mode: str = "copy", *, names: NameSyncs | None = None) -> list[Path]:
    """Delete the copies of ``src`` that an earlier run filed in ``dest_dir`` (same bytes, or a link to it).

    Used when a photo once filed under Unknown is now recognised: the original still exists, so removing
    facetui's own identical copy loses nothing. Files with other content are never touched.
    """
    removed = []
    if not dest_dir.is_dir() or not Path(src).exists():
        return removed
    try:
        check_inside(dest_dir)
    except OutsideOutput:
        return removed  # a link out of the output: nothing there is ours to delete
    for dest in _candidates(dest_dir, Path(src).name):
        if not os.path.lexists(dest):
            break
        if _real_name(dest) == _real_name(src):
            continue  # the input itself (e.g. re-sorting the Unknown folder): inputs are never touched
        if _already_there(src, dest, "symlink" if dest.is_symlink() else "copy"):
            os.unlink(dest)
            removed.append(dest)
    if removed:
        _name_changed(dest_dir, names)
    return removed


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


def _create(src: Path, dest: Path, mode: str, names: NameSyncs | None = None) -> bool:
    """Create ``dest`` atomically; False when the name was taken meanwhile."""
    if mode == "symlink":
        tmp = dest.parent / f"{TEMP_PREFIX}{os.getpid()}-{dest.name[:40]}.lnk"
        _unlink_quietly(tmp)
        os.symlink(src.absolute(), tmp)
        return _link_into_place(tmp, dest, names)
    if mode == "hardlink":
        tmp = dest.parent / f"{TEMP_PREFIX}{os.getpid()}-{dest.name[:40]}.lnk"
        _unlink_quietly(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            return _create(src, dest, "copy", names)  # other filesystem: fall back to a copy
        return _link_into_place(tmp, dest, names)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, _HASH_CHUNK)
            crash_point("copy")
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(src, tmp, follow_symlinks=True)
        return _link_into_place(Path(tmp), dest, names)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _link_into_place(tmp: Path, dest: Path, names: NameSyncs | None = None) -> bool:
    """Give ``tmp`` the name ``dest`` only if that name is free; never replaces an existing file.

    A regular file is hard-linked to the new name (fails if taken) and the temp name dropped; where
    the filesystem has no hard links, and for symlinks, a rename after a check does the same job.
    """
    tmp = Path(tmp)
    try:
        if not tmp.is_symlink():
            try:
                os.link(tmp, dest)
                crash_point("link")
                _name_changed(dest.parent, names)
                return True
            except FileExistsError:
                return False
            except OSError:
                pass  # no hard links here: fall through to rename
        if os.path.lexists(dest):
            return False
        os.rename(tmp, dest)
        _name_changed(dest.parent, names)
        return True
    finally:
        if os.path.lexists(tmp):
            _unlink_quietly(tmp)


def remove_stale_temps(folder: Path, recursive: bool = True) -> int:
    """Delete temp files that an interrupted run of ours left (only our own prefix); return how many."""
    n = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            if f.startswith(TEMP_PREFIX):
                _unlink_quietly(Path(root) / f)
                n += 1
        if not recursive:
            break
    return n


LOCK_NAME = ".facetui.lock"


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock."""


@contextlib.contextmanager
def folder_lock(folder: Path):
    """Hold an exclusive lock on ``folder/.facetui.lock`` (the OS drops it if the process dies). Raises
    FolderBusy at once when another process holds it, OSError when the file cannot be opened or locked."""
    fd = os.open(Path(folder) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held elsewhere; any other failure (no locks on this file system) stays an OSError
            raise FolderBusy(str(folder)) from None
        yield
    finally:
        os.close(fd)
