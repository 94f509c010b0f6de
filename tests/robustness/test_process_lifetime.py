"""No process outlives its run: `facetui recognize` killed (SIGKILL) or stopped (SIGTERM, SIGHUP) while its worker
processes are busy leaves none of its processes (the forkserver, the workers) alive a few seconds later, and a
stop signal ends the run as Ctrl-C does, with the summary and 128 + the signal's number."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from facetui.core.run.engines.worker import HOLD_ENV
from support.cli_runs import (
    REPO,
    alive,
    cli_cmd,
    cli_env,
    copy_workspace,
    end_session,
    report_rows,
    session_pids,
    wait_for,
)

GONE_WITHIN_S = 5.0


@pytest.fixture
def busy_run(built_workspace, tmp_path):
    """`facetui recognize` with two workers, in a session of its own, started and held until both workers are busy
    with a photo (the hold hook); yields (the process, its session's pids then, the output folder)."""
    sp = copy_workspace(built_workspace, tmp_path / "ws", workers=2, cache_dir=str(tmp_path / "cold-cache"))
    hold = tmp_path / "hold"
    hold.mkdir()
    proc = subprocess.Popen(
        cli_cmd("recognize", settings=sp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=cli_env({HOLD_ENV: str(hold)}),
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: len(os.listdir(hold)) >= 2, timeout=180, proc=proc), proc.communicate()
        before = session_pids(proc.pid)
        workers = {int(p) for p in os.listdir(hold)}
        assert workers <= before and len(before) >= 4, (before, workers)  # the run, the forkserver, 2 workers
        yield proc, before, tmp_path / "ws" / "out"
    finally:
        end_session(proc)  # never leave its processes to the next test, whatever happened


def gone(pids: set[int]) -> bool:
    return wait_for(lambda: not alive(pids), timeout=GONE_WITHIN_S, every=0.1)


def test_sigkill_of_the_run_leaves_no_process_of_it(busy_run):
    proc, before, _out = busy_run
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert gone(before), f"still alive {GONE_WITHIN_S}s after kill -9 of the run: {sorted(alive(before))}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_stops_the_run_as_ctrl_c_does(busy_run, sig):
    """SIGTERM to the run's process (a plain kill, a scheduler), SIGHUP to its whole process group (what a terminal
    that hangs up sends): the run waits for the photos in hand, as after one Ctrl-C, then ends with its summary, the
    report of what was done and status 128 + the signal's number; none of its processes is left."""
    proc, before, out = busy_run
    if sig == signal.SIGHUP:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    time.sleep(1.0)
    assert proc.poll() is None, proc.communicate()  # it waits for the photos in hand
    hold = out.parent.parent / "hold"
    workers = {int(p) for p in os.listdir(hold)}
    assert alive(workers) == workers  # they still have their photos to finish
    (hold / "release").touch()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, (proc.returncode, stdout, stderr)
    assert "stopping after the current file" in stderr and "Traceback" not in stderr, stderr
    head = [ln for ln in stdout.splitlines() if ln.startswith("Aborted after ")]
    assert head, stdout
    done = int(head[0].split()[2])
    assert done < 9, head
    assert len({r["file"] for r in report_rows(out / "report.csv")}) == done
    assert gone(before), f"still alive {GONE_WITHIN_S}s after the run ended: {sorted(alive(before))}"
