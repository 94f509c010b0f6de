#!/usr/bin/env python3
"""Face detection cost per photo on one CPU thread: HOG, dlib's own CNN detector and facetui's torch port of it.

    PYTHONPATH=src python benchmarks/bench_cnn.py            # 3 photos at 800 px, 10 at 250 px (about 3 min)
    PYTHONPATH=src python benchmarks/bench_cnn.py --big 1 --small 4    # a quicker look

Photos are loaded as facetui loads them (long side at most 800 px): the demo query photos (800 px) and the LFW
calibration photos (250 x 250). Each detector runs on the same photos at upsample 0 and 1, after one warm-up
call; the figures are CPU seconds per photo (process time, so other load on the machine does not inflate them)
with the wall time beside it, and how many faces each found. Torch runs on one thread, as in a worker process.
The torch port's breakdown (pyramid_up, pyramid image, network, boxes) shows where its time goes. Not a test:
it prints figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", type=int, default=3, help="800 px photos (demo/query)")
    ap.add_argument("--small", type=int, default=10, help="250 px photos (demo/lfw-calib/query)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from facetui.core.models import faces
    from facetui.core.models.images import load_image

    big = sorted((REPO / "demo" / "query").glob("*.jpg"))[: args.big]
    small = sorted((REPO / "demo" / "lfw-calib" / "query").glob("*.jpg"))[: args.small]
    sets = {
        "800 px": [load_image(p, resize_max=800).rgb for p in big],
        "250 px": [load_image(p, resize_max=800).rgb for p in small],
    }
    dlib_cnn = faces._model(faces.CNN_DETECTOR)
    port = faces._mmod_net()
    if port is None:
        sys.exit("the torch port of the CNN detector did not load")
    detectors = {
        "HOG": lambda rgb, up: faces.detect_faces(rgb, "hog", up),
        "CNN (torch)": lambda rgb, up: port.detect(rgb, up),
        "CNN (dlib)": lambda rgb, up: [d.rect for d in dlib_cnn(rgb, up)],
    }
    print(f"torch {torch.__version__} on {torch.get_num_threads()} thread; seconds per photo: CPU (wall)")
    print(f"{'photos':<16} {'upsample':>8}  " + "  ".join(f"{n:>22}" for n in detectors) + "  dlib/torch")
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
                + f"  {cpu['CNN (dlib)'] / cpu['CNN (torch)']:8.1f}x"
            )
    breakdown(port, sets)


def breakdown(port, sets) -> None:
    """Where the torch port's CPU time goes, per photo."""
    from facetui.core.models import mmod_net

    print("\ntorch port, CPU seconds per photo: pyramid_up | pyramid image + network | boxes and NMS")
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
                mmod_net.boxes_from_scores(scores[0], p.rects, port.weights, up)
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
