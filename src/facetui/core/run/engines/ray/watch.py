"""The watchdog of a local Ray cluster that a run started itself (cluster.py starts it as a process of its own):
it ends the cluster's processes once the run's process is gone, however that went (kill -9 included).

Ray ties its GCS and raylet to the driver with a parent-death signal, but its agents (the dashboard and runtime-env
agents, renamed ``ray::DashboardAgent``...) outlive them. So this process records the run's descendants every
second while it lives; when its stdin (a pipe only the run's process holds) reaches EOF, it kills every recorded
process that is still the same process (same start time). Linux only (/proc); elsewhere it only waits.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

SNAPSHOT_S = 1.0


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """{pid: start time} of every live descendant of ``root``."""
    parent_of: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parent_of[int(entry)] = st
    found: dict[int, int] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, (ppid, _) in parent_of.items() if ppid in frontier and pid not in found}
        found.update({pid: parent_of[pid][1] for pid in frontier})
    return found


def kill_recorded(seen: dict[int, int]) -> None:
    for pid, started in seen.items():
        st = _stat(pid)
        if pid != os.getpid() and st is not None and st[1] == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def main(run_pid: int) -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):  # whatever reaches the group, clean up first
        signal.signal(sig, signal.SIG_IGN)
    seen: dict[int, int] = {}
    stdin = sys.stdin.fileno()
    while True:
        if os.path.isdir("/proc"):
            seen.update(descendants(run_pid))
        ready, _, _ = select.select([stdin], [], [], SNAPSHOT_S)
        if ready and not os.read(stdin, 4096):
            break
    time.sleep(0.5)  # a process Ray was starting at that moment
    kill_recorded(seen)


if __name__ == "__main__":
    main(int(sys.argv[1]))
