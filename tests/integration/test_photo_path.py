"""The life of one photo through `facetui recognize`: which modules it touches, and that no call goes back up.

A profiler follows every call from the run's start to the one photo's log line (analysed in process, workers=1, so
the per-photo map is seen too). Each facetui module gets its layer's rank; a call from a lower layer into a higher one (a
callback up the stack) fails the test, and so does a path that touches more modules than the limit.
"""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

from facetui.core.base.events import FileDone, RunStarted
from facetui.core.base.settings import load_settings
from facetui.core.run.kbbuild import build_kb
from facetui.core.run.recognize import recognize
from facetui.core.run.render import format_line
from support.helpers import make_workspace, run_all

RANK = {"base": 1, "models": 2, "stores": 3, "run": 4, "review": 5, "evaluation": 5, "cli": 6, "tui": 6}
# the same measure before the layers became packages (issue 12) gave 15. Issue 24 added three steps every photo
# takes: the engine factory (run.engines.base) at the first miss, here answering "no engine" (one worker: the photo
# is analysed in the run's thread); the shared job loop (run.jobloop); and Timings.stage, a context manager entered
# even when nothing is timed (run.timings): 17. Then models by task split the one faces module a photo went through
# into the steps it takes, each a file named for its step (face.files: dlib's models, looked up per photo;
# face.detect; face.encode), and the ONNX face network moved beside its torch form (face.resnet; runtime.onnxnets
# still runs it): 20. A reader follows the photo through more, smaller files; none is a detour.
MAX_MODULES = 21
SRC = str(Path(__file__).resolve().parents[2] / "src" / "facetui")


def _module(filename: str) -> str | None:
    if not filename.startswith(SRC):
        return None
    rel = Path(filename[len(SRC) + 1 :]).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


def _rank(mod: str) -> int:
    parts = mod.split(".")
    return RANK.get(parts[1] if parts[0] == "core" and len(parts) > 1 else parts[0], 0)


def test_one_photo_touches_few_modules_and_never_calls_up(tmp_path):
    """From RunStarted to the photo's FileDone rendered as its log line: the photo's whole path through the code."""
    settings = load_settings(make_workspace(tmp_path, workers=1))
    run_all(build_kb(settings))
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(sorted((tmp_path / "query").glob("*.jpg"))[0], folder)

    calls: dict[str, int] = {}
    up: set[tuple[str, str]] = set()

    def prof(frame, event, arg):
        if event != "call":
            return
        callee = _module(frame.f_code.co_filename)
        if callee is None:
            return
        calls[callee] = calls.get(callee, 0) + 1
        caller = _module(frame.f_back.f_code.co_filename) if frame.f_back else None
        if caller and _rank(callee) > _rank(caller) > 0:
            up.add((caller, callee))

    lines = []
    try:
        for ev in recognize(settings, input_dir=folder, output_dir=tmp_path / "out"):
            if isinstance(ev, RunStarted):
                threading.setprofile(prof)
                sys.setprofile(prof)
            elif isinstance(ev, FileDone):
                lines.append(format_line(ev.result))  # what both faces show for it
                sys.setprofile(None)
                threading.setprofile(None)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    assert len(lines) == 1
    path = sorted(calls)
    print(f"\nthe life of one photo touches {len(path)} facetui modules: {', '.join(path)}")
    assert up == set(), "calls from a lower layer into a higher one"
    assert len(path) < MAX_MODULES
