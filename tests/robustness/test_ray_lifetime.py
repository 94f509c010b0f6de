"""A Ray the run started itself ends with the run: the driver of `facetui recognize --engine ray` killed with SIGKILL
leaves none of the local cluster's processes (GCS, raylet, agents, workers) alive a little later."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from support.cli_runs import REPO, alive, cli_cmd, cli_env, copy_workspace, end_session, session_pids, wait_for

RAY_GONE_WITHIN_S = 30.0


@pytest.mark.ray
def test_sigkill_of_a_driver_that_started_its_own_ray_leaves_no_ray_process(built_workspace, tmp_path):
    pytest.importorskip("ray", reason="needs the ray extra")
    sp = copy_workspace(
        built_workspace, tmp_path / "ws", engine="ray", workers=1, cache_dir=str(tmp_path / "cold-cache")
    )
    proc = subprocess.Popen(
        cli_cmd("recognize", settings=sp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=cli_env({"RAY_ADDRESS": ""}),
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        for line in proc.stdout:  # the first photo analysed on the cluster: Ray and its worker are up
            if "→" in line:
                break
        else:
            raise AssertionError(proc.communicate())
        before = session_pids(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert wait_for(lambda: not alive(before), timeout=RAY_GONE_WITHIN_S, every=0.5), [
            open(f"/proc/{p}/cmdline").read().replace("\0", " ")[:120] for p in alive(before)
        ]
    finally:
        end_session(proc)  # never leave its processes to the next test, whatever happened
