"""The figures every report prints: the machine, its cores and load, and CPU per photo by stage."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# stages that do the work: their CPU seconds add up to the ideal
WORK_STAGES = (
    "read",
    "decode",
    "detect",
    "sharpness",
    "align",
    "encode",
    "crops",
    "body",
    "hash",
    "cache",
    "match",
    "file_io",
)
# what the per-stage table groups them into (the split)
GROUPS = {
    "decode": ("read", "decode"),
    "detect": ("detect", "sharpness", "align"),
    "encode": ("encode",),
    "body": ("crops", "body"),
    "match": ("match",),
    "file I/O": ("file_io",),
    "hash+cache": ("hash", "cache"),
}


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_avg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def machine() -> str:
    """One line: the CPU's name, the cores, the memory and Python's version."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(
            next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1]
        )
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{cpu}, {cpu_cores()} cores{mem}, Python {sys.version.split()[0]}"


def work_cpu(tm: dict) -> float:
    """CPU seconds of the stages that do the work, from a run's timings."""
    return sum(tm.get(k, 0.0) for k in WORK_STAGES)


def stage_line(name: str, r: dict) -> str:
    """A run's CPU per photo by stage group, one line (``r``: its "timings" and "photos")."""
    tm = r["timings"]
    n = max(1, r["photos"])
    cells = []
    for g, keys in GROUPS.items():
        v = sum(tm.get(k, 0.0) for k in keys)
        cells.append(f"{g} {1000 * v / n:6.1f}")
    extra = ""
    if tm.get("worker_start"):
        extra = f" | worker start {tm['worker_start']:.1f}s CPU in all"
    return f"  {name:<9} ms CPU per photo: " + "  ".join(cells) + extra
