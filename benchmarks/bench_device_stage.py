#!/usr/bin/env python3
"""What the local device stage costs the run's own process per photo, with an instant "GPU".

    python benchmarks/bench_device_stage.py               # 200 photos of the bench folder
    python benchmarks/bench_device_stage.py --photos 60   # a quick look

On a GPU box the run's process is one Python process (one GIL) that does the writer's work (hash, cache, decide,
file, report) and the device stage's share that is not on the GPU. That share, not the GPU, caps photos/s once
the GPU is fast enough. Here the stage runs with ``FACETUI_DEVICE_STAGE=cpu`` and a detector and a descriptor
network that answer at once (``--faces`` boxes across the middle of each photo, zero descriptors), so what is left is the CPU
work around them: the decoded pixels coming from the workers, the chips, their sharpness, and the writer. Printed:
the run process's CPU per photo (all its threads), the share of it in the writer's stages, and 1 / that CPU (the
ceiling one run process puts on photos/s). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # benchlib: see its docstring

from benchlib.photos import make_library
from benchlib.workspace import make_workspace

WRITER_STAGES = ("hash", "cache", "match", "file_io")


class _InstantDetector:
    """``faces`` face boxes in a row across the middle of each photo, at once (each a fifth of the short side)."""

    def __init__(self, faces: int) -> None:
        self.faces = faces

    def detect_batch(self, images, upsample=0):
        from facetui.core.models.face.mmod.boxes import Detection

        out = []
        for im in images:
            h, w = im.shape[:2]
            s = min(h, w) // 5
            step = w // (self.faces + 1)
            xs = [step * (i + 1) for i in range(self.faces)]
            out.append([Detection(x - s // 2, h // 2 - s // 2, x + s // 2, h // 2 + s // 2, 1.0) for x in xs])
        return out


class _InstantNet:
    def encode(self, views):
        return np.zeros((len(views), 128), dtype=np.float64)


def _cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)  # this process, every thread (not the workers)
    return r.ru_utime, r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--workers", type=int, default=0, help="decode workers (0: one per core)")
    ap.add_argument("--faces", type=int, default=1, help="faces the instant detector finds in each photo")
    args = ap.parse_args()
    os.environ["FACETUI_DEVICE_STAGE"] = "cpu"
    from facetui.core.base.events import FileDone
    from facetui.core.base.settings import load_settings
    from facetui.core.models.face import preload as face_preload
    from facetui.core.run.kbbuild import build_kb
    from facetui.core.run.recognize import recognize
    from facetui.core.run.timings import Timings

    face_preload.models_on = lambda device: (_InstantDetector(args.faces), _InstantNet())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sp = make_workspace(work / "ws", workers=args.workers)
        make_library(work / "photos", args.photos)
        s = load_settings(sp).replace(reid_weights=None)
        list(build_kb(s))  # with the real models (HOG)
        s = s.replace(detector="cnn", upsample=0)
        timings = Timings()
        n, first, c0 = 0, None, (0.0, 0.0)
        for ev in recognize(s, work / "photos", work / "out", timings=timings):
            if isinstance(ev, FileDone):
                if first is None:
                    first, c0 = time.perf_counter(), _cpu()  # from the first photo: the pool has started
                n += 1
        loop, c1 = time.perf_counter() - first, _cpu()
    user, system = ((b - a) / max(1, n - 1) for a, b in zip(c0, c1))
    per = user + system
    writer = sum(timings.seconds.get(k, 0.0) for k in WRITER_STAGES) / max(1, n)
    print(
        f"device stage with an instant GPU, {n} photos, {args.faces} faces each, {args.workers or os.cpu_count()} "
        f"workers: "
        f"{(n - 1) / loop:.1f} photos/s here; the run process's CPU {1000 * per:.2f} ms per photo "
        f"(user {1000 * user:.2f}, system {1000 * system:.2f}; the writer's stages {1000 * writer:.2f}) -> at most {1 / per:.0f} photos/s from one run process"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
