#!/usr/bin/env python3
"""A node lost in the middle of a Ray run, simulated on this machine: a head and a second node of 1 CPU each, the
bundled lfw-calib queries (120 photos) sorted by `facetui recognize --engine ray --address HOST:PORT`, and the
second node's raylet killed (SIGKILL) once 20 photos are filed. The run must end by itself, with every photo filed
as the local engine files it (the photos in flight on the lost node redone on the head), and say so.

    .venv/bin/python tools/ray_lost_node.py        (from the repo root, after `make setup`; about a minute)

Ray 2.60's token authentication applies as in tools/ray_two_nodes.sh. It stops every Ray on this machine
(`ray stop --force`) before and after: do not run it beside a test suite. Not a test: it prints what happened.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # benchlib: see its docstring

from benchlib import REPO, SRC
from benchlib.workspace import filed_names, labelled_set_settings, report_rows, update_settings

VENV = Path(os.environ.get("VENV", REPO / ".venv"))
PORT = int(os.environ.get("PORT", "6391"))
KILL_AFTER = 20
NODE_NAME = "facetui-lost-node"


def sh(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=check)


def host() -> str:
    out = sh("hostname", "-I", check=False).stdout.split()
    return out[0] if out else "127.0.0.1"


def raylet_pid() -> int | None:
    """The second node's raylet (its command line names the node)."""
    out = sh("pgrep", "-f", f"raylet.*{NODE_NAME}", check=False).stdout.split()
    return int(out[0]) if out else None


def main() -> int:
    # no options; --help prints the docstring instead of stopping every Ray on this machine
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    ray = str(VENV / "bin" / "ray")
    facetui = [str(VENV / "bin" / "python"), "-m", "facetui.cli"]
    env = {"PYTHONPATH": str(SRC)}
    work = Path(tempfile.mkdtemp(prefix="facetui-lost-node-"))
    sp = labelled_set_settings(work)
    sh(*facetui, "kb", "build", "--settings", str(sp), env=env)
    t = time.perf_counter()
    sh(*facetui, "recognize", "--settings", str(sp), "--output", str(work / "out-local"), "--quiet", env=env)
    print(f"local engine: {time.perf_counter() - t:.1f} s")
    addr = f"{host()}:{PORT}"
    token = {"RAY_AUTH_MODE": "token"}
    sh(ray, "stop", "--force", check=False)
    try:
        sh(
            ray,
            "start",
            "--head",
            "--num-cpus=1",
            f"--port={PORT}",
            "--disable-usage-stats",
            "--include-dashboard=false",
        )
        sh(
            ray,
            "start",
            f"--address={addr}",
            "--num-cpus=1",
            f"--node-name={NODE_NAME}",
            "--disable-usage-stats",
            env=token,
        )
        time.sleep(3)
        print(sh(ray, "status", env=token, check=False).stdout.split("Pending:")[0].strip())
        cmd = [*facetui, "recognize", "--engine", "ray", "--address", addr, "--settings", str(sp)]
        cmd += ["--output", str(work / "out-ray")]
        # its own cache, so that every photo is analysed on the cluster
        update_settings(sp, {"cache_dir": str(work / "cache-ray")})
        t = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env, **token}
        )
        photos, killed_at, tail = 0, None, []
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-6:]
            if " → " in line:
                photos += 1
            if killed_at is None and photos >= KILL_AFTER:
                pid = raylet_pid()
                if pid is None:
                    print("the second node's raylet was not found; nothing killed")
                    killed_at = -1
                else:
                    os.kill(pid, signal.SIGKILL)
                    killed_at = time.perf_counter() - t
                    print(f"killed the second node's raylet (pid {pid}) at {killed_at:.1f} s, {photos} photos filed")
        rc = proc.wait(timeout=600)
        wall = time.perf_counter() - t
        print("\n".join(tail))
        same = filed_names(work / "out-ray") == filed_names(work / "out-local") and report_rows(
            work / "out-ray"
        ) == report_rows(work / "out-local")
        print(
            f"ray run: exit {rc}, {wall:.1f} s, {photos} photo lines; same filing and report as the local engine: {same}"
        )
        return 0 if rc == 0 and same and killed_at not in (None, -1) else 1
    finally:
        sh(ray, "stop", "--force", check=False)


if __name__ == "__main__":
    sys.exit(main())
