"""Helpers for the bad-input, crash, safety and process-lifetime tests: run the real CLI in a subprocess, see which of
its processes live, and take exact snapshots of the folders it touched."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from facetui.core.base.fsutil import TEMP_PREFIX
from facetui.core.stores.report import COLUMNS, REPORT_NAME

REPO = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def cli_cmd(*args: str, settings: Path) -> list[str]:
    return [sys.executable, "-m", "facetui.cli", *args, "--settings", str(settings)]


def cli_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FACETUI_TEST_CRASH_AT", None)
    env.pop("FACETUI_TEST_CRASH_SIGNAL", None)
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra or {})
    return env


def run_cli(
    *args: str, settings: Path, env: dict[str, str] | None = None, timeout: float = 300, preexec_fn=None
) -> subprocess.CompletedProcess:
    """Run ``facetui <args> --settings <settings>`` to the end; stdout/stderr as text (undecodable bytes replaced)."""
    return subprocess.run(
        cli_cmd(*args, settings=settings),
        capture_output=True,
        timeout=timeout,
        cwd=REPO,
        env=cli_env(env),
        preexec_fn=preexec_fn,
        text=True,
        errors="replace",
    )


def start_cli(*args: str, settings: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        cli_cmd(*args, settings=settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=cli_env(env),
        text=True,
        errors="replace",
    )


def wait_for(cond, timeout: float = 120, proc: subprocess.Popen | None = None, every: float = 0.01) -> bool:
    """Poll ``cond()`` until true; False when ``proc`` ended first or time ran out."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if proc is not None and proc.poll() is not None:
            return bool(cond())
        time.sleep(every)
    return False


def kill_and_reap(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 120) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tree(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Everything under ``root`` (not following links): {relative bytes path: what it is, its content hash, mtime}.

    Regular files give ("file", sha256, size, mtime_ns, mode); links their target; FIFOs and the like their type.
    Names in ``skip`` (at any depth) are left out. An unreadable file (as a non-root user) gives its stat only.
    """
    root = Path(root)
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(os.fsencode(root)):
        dirs[:] = [d for d in dirs if os.fsdecode(d) not in skip]
        for name in sorted(dirs + files):
            if os.fsdecode(name) in skip:
                continue
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, os.fsencode(root))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                try:
                    digest = sha(Path(os.fsdecode(p)))
                except PermissionError:
                    digest = "unreadable"
                out[rel] = ("file", digest, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode), st.st_mtime_ns)
    return out


def contents(t: dict[str, tuple]) -> dict[str, tuple]:
    """A tree without times and modes: what two runs on different copies should agree on."""
    return {k: v[:2] for k, v in t.items()}


def temps(root: Path) -> list[str]:
    """Our temp files anywhere under ``root``."""
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.startswith(TEMP_PREFIX)]


def filed(out: Path) -> dict[str, set[str]]:
    """{file name: folders it was filed under} for the person folders of an output."""
    got: dict[str, set[str]] = {}
    for person in os.listdir(out):
        if (Path(out) / person).is_dir():
            for f in os.listdir(Path(out) / person):
                if not f.startswith(TEMP_PREFIX):
                    got.setdefault(f, set()).add(person)
    return got


def report_rows(path: Path) -> list[dict[str, str]]:
    """Every data row of a report as written (torn rows included, so a test can see them)."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        rows = list(csv.reader(f))
    assert rows and rows[0] == COLUMNS, f"bad header in {path}"
    return [dict(zip(COLUMNS, r)) for r in rows[1:]]


def data_rows(out: Path) -> int:
    """Complete rows in ``out``/report.csv so far (0 while it does not exist)."""
    try:
        data = (Path(out) / REPORT_NAME).read_bytes()
    except OSError:
        return 0
    return max(0, sum(1 for line in data.split(b"\n") if line.endswith(b",1")))


def comparable(rows: list[dict[str, str]]) -> list[tuple]:
    """Rows without the absolute source path (it names the copy of the workspace), in report order."""
    return [tuple(v for k, v in r.items() if k != "source") for r in rows]


def copy_workspace(src: Path, dst: Path, **overrides) -> Path:
    """A private copy of a built workspace with some settings changed; returns its settings path."""
    shutil.copytree(src, dst, symlinks=True)
    sp = dst / "settings.json"
    raw = json.loads(sp.read_text())
    raw.update(overrides)
    sp.write_text(json.dumps(raw, indent=2))
    return sp


def without_root_powers() -> None:
    """preexec_fn for root: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set before exec, so the
    child (still uid 0, owner of the test files) is refused a mode-000 file or a read-only folder like anyone else."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def permission_preexec():
    """(usable, preexec_fn): how to run a child that file permissions apply to; root must shed its powers first."""
    if not IS_ROOT:
        return True, None
    import tempfile

    fd, probe = tempfile.mkstemp()
    os.close(fd)
    os.chmod(probe, 0)
    try:
        r = subprocess.run(
            [sys.executable, "-c", f"open({probe!r}).close()"],
            preexec_fn=without_root_powers,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return False, None
    finally:
        os.unlink(probe)
    return "PermissionError" in r.stderr, without_root_powers


def session_pids(sid: int) -> set[int]:
    """The live processes (zombies left out) of session ``sid``, read from /proc."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, session, ...
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.add(int(entry))
    return pids


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def end_session(proc) -> None:
    """SIGKILL every live process of ``proc``'s session (``proc`` started with ``start_new_session``), then reap it."""
    for pid in alive(session_pids(proc.pid)):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if proc.poll() is None:
        proc.kill()
    proc.communicate()
