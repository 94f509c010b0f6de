"""For the workers' forkserver only (workerstart's preload list): when the run that started it ends, the server
leaves at once instead of tearing down torch and dlib (~0.3 s), during which it still held the run's stdout and
stderr, so a pipe reading facetui's output (``facetui recognize | tee log``, the benchmark) waited for it.
Imported anywhere else it does nothing."""

from __future__ import annotations

import atexit
import os
import sys


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


if _preloaded_by_forkserver():
    atexit.register(_leave_now)  # the server's children leave through os._exit and never run it
