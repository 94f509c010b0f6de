#!/usr/bin/env python3
"""The Ray engine against the local one on the bundled labelled sets: the same filing and the same report rows?

    .venv/bin/python tools/ray_agreement.py                 # demo and lfw-calib, hog and cnn (a few minutes)
    .venv/bin/python tools/ray_agreement.py --detectors hog # a quicker look

For each set (the demo, lfw-calib) and detector, the KB is built three times with body embeddings on (random-init
OSNet: mechanics only): by the local engine (worker processes), by Ray's CPU actors, and by Ray with GPU actors;
then the queries are sorted cold the same three ways (faces only) with the local engine's KB. On a machine without a
GPU the local Ray declares one pretend GPU (FACETUI_TEST_RAY_GPUS=1) and the GPU actor runs on the CPU: the
stages and batches are Ray's, the arithmetic the CPU's. Prints per run: photos, errors, and whether the filed
files and the report rows (sorted) are the local engine's, and whether each KB is the local engine's (its
fingerprint: every embedding and name, to the bit). Not a test: it prints what it found.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # benchlib: see its docstring

from benchlib import DEMO, LFW
from benchlib.workspace import filed_hashes, labelled_set_settings, report_rows

SETS = {"demo": DEMO, "lfw-calib": LFW}


def _settings(work: Path, root: Path, detector: str):
    from facetui.core.base.settings import load_settings

    return load_settings(labelled_set_settings(work, root, detector=detector))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detectors", default="hog,cnn")
    args = ap.parse_args()
    os.environ.setdefault("FACETUI_TEST_RAY_GPUS", "1")  # used only where this run starts its own local Ray
    from facetui.core.base.events import FileDone
    from facetui.core.models.body.osnet import save_random_weights
    from facetui.core.run.kbbuild import build_kb
    from facetui.core.run.recognize import recognize
    from facetui.core.stores.kb import load_kb

    all_same = True
    for name, root in SETS.items():
        for detector in args.detectors.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                s = _settings(work, root, detector)
                engines = {
                    "local": {},
                    "ray-cpu": {"engine": "ray", "ray_gpu_fraction": 0.0},
                    "ray-gpu": {"engine": "ray", "ray_gpu_fraction": 1.0},
                }
                weights = save_random_weights(work / "osnet.pth", "osnet_x0_25")
                prints = {}
                for run, how in engines.items():
                    kb = work / f"kb-{run}.npz"
                    b = s.replace(encodings_filename=str(kb), reid_weights=weights, reid_model="osnet_x0_25", **how)
                    list(build_kb(b.replace(cache_dir=work / f"kbcache-{run}")))
                    prints[run] = load_kb(kb).fingerprint()
                    same = "" if run == "local" else f": {'same' if prints[run] == prints['local'] else 'DIFFERENT'}"
                    all_same &= prints[run] == prints["local"]
                    print(f"{name:9} {detector:3} {run:7}: KB with bodies {prints[run]}{same}", flush=True)
                s = s.replace(encodings_filename=str(work / "kb-local.npz"))
                runs = {run: s.replace(**how) for run, how in engines.items()}
                for run, rs in runs.items():
                    out = work / f"out-{run}"
                    t = time.perf_counter()
                    events = list(recognize(rs.replace(cache_dir=work / f"cache-{run}"), output_dir=out))
                    done = [e.result for e in events if isinstance(e, FileDone)]
                    errors = sum(bool(r.error) for r in done)
                    line = f"{name:9} {detector:3} {run:7}: {len(done)} photos, {errors} errors, "
                    line += f"{time.perf_counter() - t:5.1f} s"
                    if run != "local":
                        same_files = filed_hashes(out) == filed_hashes(work / "out-local")
                        same_rows = report_rows(out) == report_rows(work / "out-local")
                        all_same &= same_files and same_rows
                        line += f"; filing {'same' if same_files else 'DIFFERENT'}"
                        line += f", report {'same' if same_rows else 'DIFFERENT'}"
                    print(line, flush=True)
    print("every Ray run filed and reported as the local engine" if all_same else "SOME RAY RUNS DIFFER")
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
