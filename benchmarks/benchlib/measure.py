"""CPU seconds and peak memory of process trees (from /proc), child runs that report one JSON line, and
``facetui`` processes timed as the user waits for them."""

from __future__ import annotations

import json
import math
import os
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchlib import REPO, child_env

RESULT = "BENCH-RESULT "  # a child run's result line: this prefix, then its JSON
PHOTO_LINE = re.compile(r"[^\[ ].*: \d+ faces?, (kept|reused|skipped)")  # a kb build's per-photo line


def print_result(result: dict) -> None:
    """A child run's answer to ``run_child``: one line on stdout."""
    print(RESULT + json.dumps(result), flush=True)


def _proc_tree(pid: int) -> tuple[list[int], dict[int, list[bytes]]]:
    """pid's live descendants (not pid itself) and every process's /proc stat fields after the name."""
    kids: dict[int, list[int]] = {}
    stats: dict[int, list[bytes]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return [], {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        stats[int(name)] = fields
        kids.setdefault(int(fields[1]), []).append(int(name))  # fields[1] is the parent's pid
    out, stack = [], list(kids.get(pid, []))
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out, stats


def tree_rss_bytes(pid: int) -> tuple[int, int]:
    """Resident memory of pid and all its descendants, and of the largest descendant, from /proc (0 where
    /proc is missing)."""
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    desc, stats = _proc_tree(pid)
    rss = {p: int(stats[p][21]) * page for p in [pid, *desc] if p in stats}  # resident pages
    return sum(rss.values()), max((rss[p] for p in desc if p in rss), default=0)


def descendants_cpu_s() -> float:
    """CPU seconds of this process's live descendants and of the children they reaped: the forkserver's workers
    are its children, not ours, so os.times() never sees them."""
    tick = os.sysconf("SC_CLK_TCK")
    desc, stats = _proc_tree(os.getpid())
    # utime, stime, cutime, cstime are fields 14-17 of /proc/PID/stat (11-14 after the name)
    return sum(sum(int(x) for x in stats[p][11:15]) for p in desc if p in stats) / tick


def run_child(script: Path, spec: dict, sample_s: float = 0.2) -> dict:
    """Run ``script --child SPEC`` (one configuration) in a fresh interpreter and return the dict its last
    ``RESULT`` line holds (``print_result``), with the child's whole time and its peak RSS (whole process tree,
    sampled)."""
    t0 = time.perf_counter()
    # PYTHONPATH, not only the child's sys.path: the worker processes' forkserver (Python 3.11's ignores the
    # parent's sys.path) would otherwise import whichever facetui is installed, not this checkout's
    proc = subprocess.Popen(
        [sys.executable, str(script), "--child", json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=child_env(),
    )
    peak = peak_one = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_one
        while not done.wait(sample_s):
            tree, one = tree_rss_bytes(proc.pid)
            peak, peak_one = max(peak, tree), max(peak_one, one)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    process_s = time.perf_counter() - t0
    done.set()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {spec['mode']} failed (exit {proc.returncode})")
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith(RESULT))
    res = json.loads(line[len(RESULT) :])
    res["process_s"] = process_s  # the whole child: interpreter, imports, set-up, loop, shut-down
    res["tree_peak_mb"] = peak / 2**20
    # worker processes are the forkserver's children, so getrusage in the run does not see them: sampled here
    res["worker_peak_mb"] = max(res.get("worker_peak_mb", 0), peak_one / 2**20)
    return res


class CpuWatch:
    """CPU seconds used on the whole machine and by this process tree between start() and stop(), from /proc/stat
    and os.times(): what other programs took from the cores during a measurement.

    With ``sample_tree`` it also samples this process's descendants every 0.1 s until stop(): the CPU of those that
    our children do not reap (a forkserver and its workers outlive the facetui process that started them, so
    os.times() never sees them; each one's last tenth of a second can be missed) and the tree's peak RSS."""

    def __init__(self, sample_tree: bool = False) -> None:
        self._seen: dict[tuple[int, bytes], float] = {}  # (pid, start time) -> its own CPU seconds, last seen
        self._peak = 0
        self._done = threading.Event()
        self._sampler = None
        self.start()
        if sample_tree:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    def _sample(self) -> None:
        me, tick = os.getpid(), os.sysconf("SC_CLK_TCK")
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            desc, stats = _proc_tree(me)
            self._peak = max(self._peak, sum(int(stats[p][21]) * page for p in desc if p in stats))
            for p in desc:
                f = stats.get(p)
                if f is not None and int(f[1]) != me:  # our own children are reaped by us: os.times() has them
                    self._seen[(p, f[19])] = (int(f[11]) + int(f[12])) / tick  # utime + stime; f[19]: start time
            if self._done.wait(0.1):
                return

    @staticmethod
    def _machine_busy() -> float:
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except OSError:
            return math.nan
        # user nice system idle iowait irq softirq steal: all but idle and iowait kept the cores from us
        return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system + descendants_cpu_s()

    def start(self) -> None:
        self.t0, self.busy0, self.ours0 = time.perf_counter(), self._machine_busy(), self._ours()
        self.children0 = sum(os.times()[2:4])

    def stop(self) -> dict:
        wall = time.perf_counter() - self.t0
        ours = self._ours() - self.ours0
        out = {}
        if self._sampler is not None:
            self._done.set()
            self._sampler.join()
            ours = (
                sum(os.times()[2:4]) - self.children0 + sum(self._seen.values())
            )  # reaped children + the rest, sampled
            out["tree_peak_mb"] = self._peak / 2**20
        others = max(0.0, self._machine_busy() - self.busy0 - ours)
        return {"ours_cpu_s": ours, "others_cores": others / wall if wall > 0 else 0.0, **out}


def own_rss() -> dict:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"main_peak_mb": me, "worker_peak_mb": kids}


def run_cli(name: str, *args: str, settings: Path, env: dict[str, str] | None = None) -> dict:
    """``facetui ARGS`` as a user runs it, timed from launch to exit: whole-process wall time, time to the first
    per-photo line, CPU and peak RSS of the whole process tree (the forkserver and its workers are sampled: facetui
    never reaps them, so os.times() does not see them)."""
    cmd = [sys.executable, "-m", "facetui.cli", *args, "--settings", str(settings)]
    env = child_env(env)
    watch = CpuWatch(sample_tree=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)
    first_line = first_photo = None
    lines = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - t0
        if first_line is None:
            first_line = now
        if first_photo is None and (" → " in line or PHOTO_LINE.match(line)):
            first_photo = now
        lines += 1
    rc = proc.wait()
    wall = time.perf_counter() - t0
    cpu = watch.stop()
    if rc != 0:
        raise SystemExit(f"facetui {' '.join(args)} failed (exit {rc})")
    return {
        "mode": name,
        "process_s": wall,
        "first_line_s": first_line,
        "first_photo_s": first_photo,
        "lines": lines,
        **cpu,
    }
