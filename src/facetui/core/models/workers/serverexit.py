"""For the workers' forkserver only (start.py's preload list): the server and every process it forks end with
the run's process, however that ends, and the server leaves at once when it is done.

- Parent death: a thread of the server polls its parent (the run's process) and ends the server as soon as it is
  gone (kill -9, a crash); every process the server forks (the analysis workers, the body set-up's check) gets the
  kernel's parent-death signal (SIGKILL, prctl PR_SET_PDEATHSIG on Linux), so it dies with the server. A parent-death
  signal cannot guard the server itself: it would fire when the run's *thread* that started the server ends, and
  that thread (the pool's feeder) ends with each run while the server is kept for the next.
- Leaving at once: when the run that started it ends, the server leaves without tearing down torch and dlib
  (~0.3 s), during which it still held the run's stdout and stderr, so a pipe reading facetui's output
  (``facetui recognize | tee log``, the benchmark) waited for it.

Imported anywhere else it does nothing.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time

POLL_S = 0.2  # how often the server looks whether the run's process is still there
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _preloaded_by_forkserver() -> bool:
    """Whether this import runs inside multiprocessing.forkserver.main (the server's preload)."""
    frame = sys._getframe()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith(os.path.join("multiprocessing", "forkserver.py")):
            return True
        frame = frame.f_back
    return False


def _leave_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


def _prctl():
    """libc's prctl, or None where there is none (not Linux)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent: int, sig: int = signal.SIGKILL, prctl=None) -> bool:
    """Have the kernel send ``sig`` to this process when the thread that forked it ends (Linux), and leave at once
    when ``parent`` is already gone. False where the platform has no parent-death signal."""
    prctl = prctl or _prctl()
    ok = prctl is not None and prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)
    return ok


def _watch_parent(parent: int) -> None:
    """End this server once ``parent`` is gone (the kernel then kills its children, see die_with_parent)."""
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os._exit(0)


def _guard_server() -> None:
    # a terminal's hang-up reaches its whole process group; the run's process decides what it means (it stops as
    # after Ctrl-C, and needs its workers for the photos in hand): the server and its children (SIG_IGN is
    # inherited) ignore it; they end with the run's process whatever way it ends
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    server, parent, prctl = os.getpid(), os.getppid(), _prctl()  # libc looked up once, not in every child
    threading.Thread(target=_watch_parent, args=(parent,), name="facetui-parent-watch", daemon=True).start()
    os.register_at_fork(after_in_child=lambda: die_with_parent(server, prctl=prctl))


if _preloaded_by_forkserver():
    atexit.register(_leave_now)  # the server's children leave through os._exit and never run it
    _guard_server()
