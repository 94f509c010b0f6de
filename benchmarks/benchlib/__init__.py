"""What the benchmarks (benchmarks/) and the checks (tools/) share: the repo's paths, photo folders, workspaces
and settings files, timing and memory sampling, and the figures every report prints.

How a script imports it (the one way, in benchmarks/ and tools/ alike): its first lines put the repo's
``benchmarks/`` folder on ``sys.path``, then import the library, which puts this checkout's ``src/`` first::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from benchlib import REPO, measure, workspace  # noqa: E402

so a script measures this checkout's facetui, not whichever one is installed, wherever it is started from.
Child processes get the same through ``child_env()`` (PYTHONPATH: the worker processes' forkserver ignores the
parent's ``sys.path``). Modules: ``photos`` (photo folders made from the bundled demo photos), ``workspace``
(settings files, KB workspaces, what a run filed and reported), ``measure`` (CPU and peak memory of process
trees, child runs that report one JSON line, ``facetui`` processes timed as a user waits for them), ``figures``
(the machine, the cores, the load, CPU per stage). Nothing here imports facetui at import time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
DEMO = REPO / "demo"
LFW = DEMO / "lfw-calib"  # the bundled LFW calibration set: kb/ (120 photos of 40 people) and query/ (250 px)

if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with this checkout's src/ as PYTHONPATH, for a child process."""
    return {**os.environ, "PYTHONPATH": str(SRC), **(extra or {})}
