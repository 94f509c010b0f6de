#!/usr/bin/env python3
"""The local engine and the Ray engine side by side, on the bench folder (`make bench ENGINE=ray`).

    python benchmarks/bench_engines.py                      # 200 photos: local, then Ray started for the run
    python benchmarks/bench_engines.py --address HOST:PORT  # Ray: join a running cluster (e.g. two nodes)
    python benchmarks/bench_engines.py --photos 40 --sizes native   # a quick look

Each engine sorts the same folder cold (empty cache, fresh output) in a process of its own, with body recognition
on (random-init OSNet weights: timing only). Printed per engine: the whole process's wall time, the loop (first
photo filed to the last) in photos/s, the time to the first photo's line, and the driver's own CPU per photo
(hash, cache, decide, file, report: the part one writer does for the whole cluster, so 1 / that is the ceiling
of photos/s a cluster can reach with one writer). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # benchlib: see its docstring

from benchlib import child_env
from benchlib.photos import LONG_SIDES, make_library
from benchlib.workspace import make_workspace, update_settings

DRIVER_STAGES = ("hash", "cache", "match", "file_io")


def child(engine: str, settings_path: str, address: str) -> None:
    """One engine's cold run in this process; prints one JSON line."""
    t_start = time.perf_counter()
    from facetui.core.base.events import FileDone, RunFinished
    from facetui.core.base.settings import load_settings
    from facetui.core.run.recognize import recognize
    from facetui.core.run.timings import Timings

    s = load_settings(settings_path)
    s = s.replace(engine=engine, ray_address=address)
    timings = Timings()
    first = last = None
    n = errors = 0
    summary = None
    for ev in recognize(s, timings=timings):
        if isinstance(ev, FileDone):
            now = time.perf_counter()
            first = first or now
            last = now
            n += 1
            errors += bool(ev.result.error)
        elif isinstance(ev, RunFinished):
            summary = ev.summary
    driver = sum(timings.seconds.get(k, 0.0) for k in DRIVER_STAGES)
    out = {
        "engine": engine,
        "photos": n,
        "errors": errors,
        "unknown": summary.unknown if summary else None,
        "first_line_s": round(first - t_start, 2) if first else None,
        "loop_s": round(last - first, 2) if first and last else None,
        "photos_per_s": round((n - 1) / (last - first), 2) if first and last and last > first else None,
        "driver_ms_per_photo": round(1000 * driver / max(1, n), 2),
        "per_stage_ms": {k: round(1000 * timings.seconds.get(k, 0.0) / max(1, n), 2) for k in DRIVER_STAGES},
    }
    print(json.dumps(out), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--sizes", choices=("mixed", "native"), default="mixed", help="phone-sized variants or not")
    ap.add_argument("--address", default="", help="Ray cluster to join (default: start a local Ray for the run)")
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--workers", type=int, default=0, help="workers / Ray actors (default: one per CPU)")
    ap.add_argument("--child", nargs=3, metavar=("ENGINE", "SETTINGS", "ADDRESS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="facetui-engines-") as tmp:
        root = Path(tmp)
        lib = make_library(root / "photos", args.photos, LONG_SIDES if args.sizes == "mixed" else (None,))
        sp = make_workspace(root, args.workers)
        env = child_env()
        subprocess.run(
            [sys.executable, "-m", "facetui.cli", "kb", "build", "--settings", str(sp)],
            env=env,
            check=True,
            capture_output=True,
        )
        print(f"{lib['photos']} photos, {lib['mean_megapixels']} MP on average; {os.cpu_count()} CPUs here")
        rows = []
        for engine in args.engines.split(","):
            update_settings(sp, {"cache_dir": f"cache-{engine}", "processed_dir": f"out-{engine}"}, indent=None)
            t = time.perf_counter()
            r = subprocess.run(
                [sys.executable, __file__, "--child", engine, str(sp), args.address if engine == "ray" else ""],
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - t
            lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
            if r.returncode or not lines:
                print(f"{engine}: failed ({r.returncode})\n{r.stderr[-2000:]}")
                continue
            out = json.loads(lines[-1])
            out["process_s"] = round(wall, 2)
            rows.append(out)
        print(
            f"{'engine':8} {'process s':>9} {'first line s':>12} {'loop photos/s':>13} {'driver ms/photo':>15}  errors"
        )
        for o in rows:
            print(
                f"{o['engine']:8} {o['process_s']:>9} {o['first_line_s']:>12} {o['photos_per_s']:>13} "
                f"{o['driver_ms_per_photo']:>15}  {o['errors']}"
            )
        for o in rows:
            print(f"  {o['engine']} driver stages, ms per photo: {o['per_stage_ms']}")
        if len(rows) == 2 and rows[0]["photos_per_s"] and rows[1]["photos_per_s"]:
            print(f"ray / local loop photos/s: {rows[1]['photos_per_s'] / rows[0]['photos_per_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
