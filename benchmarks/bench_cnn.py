#!/usr/bin/env python3
"""Face detection cost per photo on one CPU thread: HOG, dlib's own CNN detector and facetui's port of it (its
network in ONNX Runtime, as a CPU run has it, and in torch, as CUDA has it).

    PYTHONPATH=src python benchmarks/bench_cnn.py            # 3 photos at 800 px, 10 at 250 px (about 3 min)
    PYTHONPATH=src python benchmarks/bench_cnn.py --big 1 --small 4 --no-process   # a quicker look

Photos are loaded as facetui loads them (long side at most 800 px): the demo query photos (800 px) and the LFW
calibration photos (250 x 250). Each detector runs on the same photos at upsample 0 and 1, after one warm-up
call; the figures are CPU seconds per photo (process time, so other load on the machine does not inflate them)
with the wall time beside it, and how many faces each found. Torch and ONNX Runtime run on one thread, as in a
worker process. The port's breakdown (pyramid_up, pyramid image and network, boxes) shows where its time goes.

Then whole processes as the user waits for them (about 3 min, skipped with --no-process): `facetui kb build` of the
demo KB (11 photos) and `facetui recognize` of the demo queries (9 photos, up to 800 px), cold (own workspace and
empty cache), the shipped settings with each detector (upsample 1, the workers the machine's cores allow): HOG,
the CNN port as a run has it, the same with every network in torch (`FACETUI_CPU_RUNTIME=torch`: the workers
import torch), and dlib's own CNN (`FACETUI_CNN_DETECTOR=dlib`). The networks' ONNX files are made first where this machine has none (a first run
makes them once). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # benchlib: see its docstring

from benchlib import REPO, child_env
from benchlib.workspace import write_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", type=int, default=3, help="800 px photos (demo/query)")
    ap.add_argument("--small", type=int, default=10, help="250 px photos (demo/lfw-calib/query)")
    ap.add_argument("--no-process", action="store_true", help="skip the whole-process runs")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from facetui.core.models.face import detect as face_detect
    from facetui.core.models.face import files as face_files
    from facetui.core.models.images import load_image

    big = sorted((REPO / "demo" / "query").glob("*.jpg"))[: args.big]
    small = sorted((REPO / "demo" / "lfw-calib" / "query").glob("*.jpg"))[: args.small]
    sets = {
        "800 px": [load_image(p, resize_max=800).rgb for p in big],
        "250 px": [load_image(p, resize_max=800).rgb for p in small],
    }
    from facetui.core.models.face.mmod import detector as mmod_detector
    from facetui.core.models.runtime import prepared

    # the ONNX files in this machine's folder, as on any machine facetui ran on before (the first run makes them)
    prepared.use_dir(prepared.machine_dir())
    dlib_cnn = face_files.load_model(face_files.CNN_DETECTOR)
    port = mmod_detector.onnx_detector(face_files.models_dir() / face_files.CNN_DETECTOR)
    if port is None:
        sys.exit("the CNN detector's network did not load in ONNX Runtime")
    port_torch = mmod_detector.MmodDetector(face_files.models_dir() / face_files.CNN_DETECTOR)
    detectors = {
        "HOG": lambda rgb, up: face_detect.detect_faces(rgb, "hog", up),
        "CNN (onnx)": lambda rgb, up: port.detect(rgb, up),
        "CNN (torch)": lambda rgb, up: port_torch.detect(rgb, up),
        "CNN (dlib)": lambda rgb, up: [d.rect for d in dlib_cnn(rgb, up)],
    }
    print(f"torch {torch.__version__} on {torch.get_num_threads()} thread; seconds per photo: CPU (wall)")
    print(f"{'photos':<16} {'upsample':>8}  " + "  ".join(f"{n:>22}" for n in detectors) + "  dlib/onnx")
    for label, imgs in sets.items():
        if not imgs:
            continue
        for up in (0, 1):
            cells, cpu = [], {}
            for name, fn in detectors.items():
                fn(imgs[0], up)  # warm-up (first-call allocations, lazy loads)
                c0, w0, found = time.process_time(), time.perf_counter(), 0
                for rgb in imgs:
                    found += len(fn(rgb, up))
                c, w = (time.process_time() - c0) / len(imgs), (time.perf_counter() - w0) / len(imgs)
                cpu[name] = c
                cells.append(f"{c:6.3f} ({w:6.3f}) {found:3d} faces")
            print(
                f"{label + ' x' + str(len(imgs)):<16} {up:>8}  "
                + "  ".join(f"{x:>22}" for x in cells)
                + f"  {cpu['CNN (dlib)'] / cpu['CNN (onnx)']:8.1f}x"
            )
    for name, det in (("onnx", port), ("torch", port_torch)):
        breakdown(name, det, sets)
    if not args.no_process:
        processes()


PROCESS_CASES = {  # label: (detector setting, extra environment)
    "HOG": ("hog", {}),
    "CNN (port)": ("cnn", {}),
    "CNN (torch)": ("cnn", {"FACETUI_CPU_RUNTIME": "torch"}),
    "CNN (dlib)": ("cnn", {"FACETUI_CNN_DETECTOR": "dlib"}),
}


def processes() -> None:
    """`kb build` and `recognize` of the demo as whole processes with each detector, cold, as a user runs them."""
    demo = REPO / "demo"
    n_kb, n_query = len(list((demo / "kb").glob("*/*.jpg"))), len(list((demo / "query").glob("*.jpg")))
    print(f"\nwhole processes, cold, {os.cpu_count()} cores: wall seconds (per photo); faces in the KB | photos filed")
    print(f"{'detector':<12} {'kb build of ' + str(n_kb):>22} {'recognize of ' + str(n_query):>22}  result")
    walls = {}
    for label, (detector, extra) in PROCESS_CASES.items():
        with tempfile.TemporaryDirectory(prefix="bench-cnn-") as tmp:
            ws = Path(tmp)
            shutil.copytree(demo / "kb", ws / "kb", ignore=shutil.ignore_patterns("encodings.npz", "kb-run.toml"))
            fields = {
                "dataset_dir": str(ws / "kb"),
                "process_dir": str(demo / "query"),
                "processed_dir": str(ws / "out"),
                "cache_dir": str(ws / "cache"),
                "detector": detector,
            }
            write_settings(ws / "settings.json", fields, indent=None)
            env = child_env(extra)
            for k in ("FACETUI_CNN_DETECTOR", "FACETUI_CPU_RUNTIME"):
                if k not in extra:
                    env.pop(k, None)
            times, outs = [], []
            for cmd in (["kb", "build"], ["recognize"]):
                t = time.perf_counter()
                r = subprocess.run(
                    [sys.executable, "-m", "facetui.cli", *cmd, "--settings", str(ws / "settings.json")],
                    capture_output=True,
                    text=True,
                    env=env,
                )
                times.append(time.perf_counter() - t)
                if r.returncode != 0:
                    sys.exit(f"{label} {' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
                outs.append(r.stdout)
            kb_line = next((ln for ln in outs[0].splitlines() if ln.startswith("KB built:")), "?")
            done = next((ln for ln in outs[1].splitlines() if ln.startswith("Batch done.")), "?")
            walls[label] = times
            print(
                f"{label:<12} {times[0]:9.1f} s ({times[0] / n_kb:5.2f}) {times[1]:11.1f} s ({times[1] / n_query:5.2f})"
                f"  {kb_line.split(',')[1].strip()} | {done.split(' Elapsed')[0].removeprefix('Batch done. ')}"
            )
    port, dlib_ = walls["CNN (port)"], walls["CNN (dlib)"]
    print(f"CNN (dlib) / CNN (port): kb build {dlib_[0] / port[0]:.1f}x, recognize {dlib_[1] / port[1]:.1f}x")


def breakdown(name, port, sets) -> None:
    """Where the port's CPU time goes, per photo."""
    from facetui.core.models.face.mmod import boxes as mmod_boxes

    print(f"\nport ({name}), CPU seconds per photo: pyramid_up | pyramid image + network | boxes and NMS")
    for label, imgs in sets.items():
        for up in (0, 1):
            t_prep = t_net = t_box = 0.0
            shape = (0, 0)
            for rgb in imgs:
                c = time.process_time()
                p = port._prepare(rgb, up)
                t_prep += time.process_time() - c
                if p is None:
                    continue
                c = time.process_time()
                scores = port._scores([p])
                t_net += time.process_time() - c
                c = time.process_time()
                mmod_boxes.boxes_from_scores(scores[0], p.rects, port.weights, up)
                t_box += time.process_time() - c
                shape = p.shape
            if imgs:
                n, area = len(imgs), shape[0] * shape[1] / (imgs[-1].shape[0] * imgs[-1].shape[1])
                print(
                    f"  {label:<7} upsample {up}: {t_prep / n:.3f} | {t_net / n:.3f} | {t_box / n:.4f}"
                    f"   (pyramid image {shape[0]}x{shape[1]} = {area:.1f}x the photo's pixels)"
                )


if __name__ == "__main__":
    main()
