#!/usr/bin/env python3
"""Speed and memory of recognition against the seed's FolderWorker loop, on one machine, in one run.

    python benchmarks/bench_recognize.py            # 200 photos, then 1000 for memory (about 10 min on 2 cores)
    python benchmarks/bench_recognize.py --quick    # 24 photos, then 48: a smoke run of every step

It makes a folder of photos from the bundled demo photos (resized, flipped and re-encoded variants, so every
content hash differs), builds the KB with a random-init OSNet state dict (body timing only: its matches mean
nothing), then runs each configuration in its own subprocess so that each has its own peak RSS:

  seed     a serial re-creation of the seed's loop: decode with face_recognition, detect + align, encode the
           largest face, decode again with PIL, OSNet on the whole photo one call per file, copy;
  seed-1t  the same with one torch thread (faster on a busy CPU); ratios use the faster of the two seeds;
  cold     facetui ``recognize`` into a fresh output with an empty cache;
  cold-dlib  the same, with dlib's own face descriptor network instead of facetui's torch port of it (A/B);
  warm     the same again with another face_tol (cache full);
  cold-big / warm-big  the larger folder, for peak RSS as the folder grows;
  match    a KB of 10,000 faces against 1,000 query faces;
  small    whole `facetui` processes as the user waits for them, on the bundled lfw-calib set (120 photos of
           250 px, body on with the random-init weights): ``kb build`` of its first 46 KB photos on an empty cache
           (first on a machine with no prepared models, the ONNX exports included, then again with them), of all
           120, and again with nothing changed; the seed's loop on its 120 queries (--small-seed: both
           by default), then facetui ``recognize`` of them cold and again with another face_tol (all cached),
           each with its wall time, time to the first log line and to the first photo's line (and the cold
           run with torch instead of ONNX Runtime, FACETUI_CPU_RUNTIME=torch, as the A/B); then 1,000
           variants of those photos (--small-many) cold and warm.

The folder mixes the demo photos' own sizes (<= 800 px) with phone-sized variants (--sizes): decoding costs
what a real library's photos cost. "loop" times run from the first file to the last (after models are loaded,
as the seed's inner loop); "total" adds the set-up (KB, models); "process" is the whole child process from launch
to exit (interpreter start, imports, set-up, loop, shut-down). CPU seconds per stage come from the processes
that did the work; the 2-core ideal is their sum divided by the cores. "others" says how many cores other
programs on the machine kept busy meanwhile: figures taken while it is well above 0 understate facetui's speed.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # benchlib: see its docstring

from benchlib import measure
from benchlib.figures import cpu_cores, load_avg, machine, stage_line, work_cpu
from benchlib.measure import CpuWatch, own_rss, print_result
from benchlib.photos import LONG_SIDES, make_library, source_photos
from benchlib.workspace import MODEL, make_workspace
from seed_loop import child_seed
from whole_process import report_whole, whole_process_cases


def run_child(spec: dict) -> dict:
    """One configuration in a child process of this script (``--child``), with its peak RSS."""
    return measure.run_child(Path(__file__), spec)


# --------------------------------------------------------------------------------------------- facetui


def child_facetui(spec: dict) -> dict:
    from facetui.core.base.events import FileDone, RunFinished, RunStarted
    from facetui.core.base.settings import load_settings
    from facetui.core.run.recognize import recognize
    from facetui.core.run.timings import Timings

    if spec.get("face_encoder"):  # the A/B run: dlib's own descriptor network instead of the torch port
        from facetui.core.models.face import encode as face_encode

        os.environ[face_encode.ENCODER_ENV] = spec["face_encoder"]  # inherited by the worker processes
    t_start = time.perf_counter()
    c_start = time.process_time()
    settings = load_settings(Path(spec["settings"]))
    settings = settings.replace(
        cache_dir=Path(spec["cache"]),
        face_tol=spec.get("face_tol", settings.face_tol),
        workers=spec.get("workers", settings.workers),
    )
    timings = Timings()
    t_loop = done = 0
    cached = 0
    summary = None
    for ev in recognize(settings, Path(spec["input"]), Path(spec["output"]), timings=timings):
        if isinstance(ev, RunStarted):
            t_loop = time.perf_counter()
            c_loop = time.process_time()
            watch = CpuWatch()
            notices = list(ev.notices)
        elif isinstance(ev, FileDone):
            done += 1
            cached += ev.result.cached
        elif isinstance(ev, RunFinished):
            summary = ev.summary
            cpu = watch.stop()  # the worker pool has been shut down and waited for by now
    t_end = time.perf_counter()
    rss = own_rss()
    return {
        **cpu,
        "mode": spec["mode"],
        "photos": done,
        "cached": cached,
        "loop_s": t_end - t_loop,
        "total_s": t_end - t_start,
        "setup_s": t_loop - t_start,
        "main_loop_cpu_s": time.process_time() - c_loop,
        "main_setup_cpu_s": c_loop - c_start,
        "timings": timings.seconds,
        "unknown": summary.unknown,
        "errors": summary.errors,
        "notices": notices,
        **rss,
    }


def child_kb(spec: dict) -> dict:
    from facetui.core.base.events import RunFinished
    from facetui.core.base.settings import load_settings
    from facetui.core.run.kbbuild import build_kb

    t = time.perf_counter()
    s = None
    for ev in build_kb(load_settings(Path(spec["settings"]))):
        if isinstance(ev, RunFinished):
            s = ev.summary
    return {"mode": "kb", "faces": s.faces, "bodies": s.bodies, "people": s.people, "s": time.perf_counter() - t}


def child_match(spec: dict) -> dict:
    """A KB of kb_faces faces (n people) against q query faces: distances, best per person, top-3 per face."""
    import numpy as np

    from facetui.core.models.compare.matcher import Bank, body_similarities, face_distances, top_k

    rng = np.random.default_rng(0)
    n_kb, n_q, people = spec["kb_faces"], spec["queries"], spec["people"]
    kb = rng.normal(0, 0.09, (n_kb, 128))  # dlib encodings: about unit length, components near +-0.1
    names = [f"person_{i % people:04d}" for i in range(n_kb)]
    q = rng.normal(0, 0.09, (n_q, 128))
    body_kb = rng.normal(0, 1, (n_kb, 512)).astype(np.float32)
    body_q = rng.normal(0, 1, (n_q, 512)).astype(np.float32)
    best = {}
    for _rep in range(3):
        t0 = time.perf_counter()
        bank = Bank.build(kb, names)
        t1 = time.perf_counter()
        d = face_distances(bank, q)
        t2 = time.perf_counter()
        top = [top_k(row, bank.people) for row in d]
        t3 = time.perf_counter()
        bbank = Bank.build(body_kb, names, normalise=True)
        s = body_similarities(bbank, body_q)
        tops = [top_k(row, bbank.people, higher_is_better=True) for row in s]
        t4 = time.perf_counter()
        for k, v in {"build_s": t1 - t0, "distances_s": t2 - t1, "top3_s": t3 - t2, "body_s": t4 - t3}.items():
            best[k] = min(best.get(k, math.inf), v)
    # check against a brute-force loop on a few queries
    for i in range(5):
        dd = np.linalg.norm(kb - q[i], axis=1)
        ref = {n: float(dd[[j for j in range(n_kb) if names[j] == n]].min()) for n in (top[i][0][0],)}
        assert abs(ref[top[i][0][0]] - top[i][0][1]) < 1e-9
    assert len(tops) == n_q
    return {"mode": "match", **spec, **best, "face_total_s": best["build_s"] + best["distances_s"] + best["top3_s"]}


# --------------------------------------------------------------------------------------------- report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=200, help="photos in the main folder (default 200)")
    ap.add_argument("--big", type=int, default=1000, help="photos in the folder for the RSS-growth check (0: skip)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 24 and 48 photos")
    ap.add_argument("--workers", type=int, default=0, help="facetui workers (0: one per core, the default setting)")
    ap.add_argument("--skip-seed", action="store_true", help="leave out the seed loop (its figures are then missing)")
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    ap.add_argument(
        "--sizes",
        default=",".join("native" if x is None else str(x) for x in LONG_SIDES),
        help="long sides of the variants, in turn ('native': the demo photo's own, <= 800 px); default %(default)s",
    )
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated runs to do (seed,seed-1t,cold,cold-dlib,warm,big,match,small); default all",
    )
    ap.add_argument(
        "--small-many",
        type=int,
        default=1000,
        help="LFW-size photos in the larger small-photo case (default 1000; 0: skip)",
    )
    ap.add_argument(
        "--small-seed",
        choices=("both", "seed", "seed-1t", "none"),
        default="both",
        help="the seed loops run beside the small photos (default both; the faster one is the reference)",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        fn = {"seed": child_seed, "seed-1t": child_seed, "kb": child_kb, "match": child_match}.get(
            spec["mode"], child_facetui
        )
        print_result(fn(spec))
        return 0
    if args.quick:
        args.photos, args.big = 24, 48 if args.big else 0
        args.small_many = min(args.small_many, 240)
    cores = cpu_cores()
    sizes = tuple(None if x == "native" else int(x) for x in args.sizes.split(","))
    only = (
        set(args.only.split(","))
        if args.only
        else {"seed", "seed-1t", "cold", "cold-dlib", "warm", "big", "match", "small"}
    )
    if args.skip_seed:
        only -= {"seed", "seed-1t"}
    work = args.keep or Path(tempfile.mkdtemp(prefix="facetui-bench-"))
    results: dict = {"machine": machine(), "cores": cores, "load_before": load_avg()}
    try:
        print(f"facetui benchmark on {results['machine']}; load average {results['load_before']}; work in {work}")
        # prepared models (dlib's detector, the ONNX networks) in this bench's own folders, not the user's cache
        os.environ.setdefault("FACETUI_MODELS_DIR", str(work / "models"))
        for old in (
            ("ws", "photos", "photos-big", "lfw", "lfw46", "lfw46-new", "models", "models-small")
            + tuple(p.name for p in work.glob("out-*"))
            + tuple(p.name for p in work.glob("cache*"))
        ):
            shutil.rmtree(work / old, ignore_errors=True)  # a kept folder starts afresh
        work.mkdir(parents=True, exist_ok=True)
        sp = make_workspace(work / "ws", args.workers)
        if "small" in only:
            small_seeds = {"both": ("seed", "seed-1t"), "none": ()}.get(args.small_seed, (args.small_seed,))
            if args.skip_seed:
                small_seeds = ()
            results["whole"] = whole_process_cases(
                work, work / "ws" / "osnet_random.pt", args.workers, args.small_many, small_seeds, run_child
            )
        if not only - {"small", "match"}:
            only.add("skip-big")
        else:
            lib = make_library(work / "photos", args.photos, sizes)
            results["library"] = lib
            print(
                f"photos: {lib['photos']} JPEG variants of {len(source_photos())} demo photos ({lib['mb']} MB, "
                f"mean {lib['mean_megapixels']} MP, long sides {args.sizes}; {lib['distinct_sha256']} distinct "
                "sha256)"
            )
            kb = run_child({"mode": "kb", "settings": str(sp)})
            print(f"KB: {kb['faces']} faces, {kb['bodies']} bodies (random-init {MODEL}: timing only), {kb['s']:.1f} s")
        base = {"settings": str(sp), "input": str(work / "photos"), "workers": args.workers}
        runs: dict[str, dict] = {}
        # the seed as written (torch's default threads), and with one torch thread, which wins on a busy CPU:
        # the ratios use the faster of the two
        if "seed" in only:
            runs["seed"] = run_child({**base, "mode": "seed", "output": str(work / "out-seed")})
        if "seed-1t" in only:
            runs["seed-1t"] = run_child(
                {**base, "mode": "seed-1t", "output": str(work / "out-seed-1t"), "torch_threads": 1}
            )
        if "cold" in only or "warm" in only:
            runs["cold"] = run_child(
                {**base, "mode": "cold", "output": str(work / "out-cold"), "cache": str(work / "cache")}
            )
        if "cold-dlib" in only:
            runs["cold-dlib"] = run_child(
                {
                    **base,
                    "mode": "cold-dlib",
                    "output": str(work / "out-cold-dlib"),
                    "cache": str(work / "cache-dlib"),
                    "face_encoder": "dlib",
                }
            )
        if "warm" in only:
            runs["warm"] = run_child(
                {
                    **base,
                    "mode": "warm",
                    "output": str(work / "out-warm"),
                    "cache": str(work / "cache"),
                    "face_tol": 0.45,
                }
            )
        if args.big and "big" in only and "skip-big" not in only:
            make_library(work / "photos-big", args.big, sizes)
            big = {**base, "input": str(work / "photos-big")}
            runs["cold-big"] = run_child(
                {**big, "mode": "cold-big", "output": str(work / "out-cold-big"), "cache": str(work / "cache-big")}
            )
            runs["warm-big"] = run_child(
                {
                    **big,
                    "mode": "warm-big",
                    "output": str(work / "out-warm-big"),
                    "cache": str(work / "cache-big"),
                    "face_tol": 0.45,
                }
            )
        if "match" in only:
            results["match"] = run_child({"mode": "match", "kb_faces": 10_000, "queries": 1_000, "people": 500})
        results["runs"] = runs
        results["load_after"] = load_avg()
        report(results, cores)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def report(results: dict, cores: int) -> None:
    report_whole(results)
    runs = results["runs"]
    if "cold" not in runs:
        for name, r in runs.items():
            print(f"{name}: {r.get('photos', '')} photos, whole process {r.get('process_s', 0):.1f} s")
        return
    for r in runs.values():
        r["photos_per_s"] = r["photos"] / r["loop_s"] if r["loop_s"] > 0 else math.inf
    seeds = [runs[k] for k in ("seed", "seed-1t") if k in runs]
    seed = max(seeds, key=lambda r: r["photos_per_s"]) if seeds else None
    print()
    print(
        f"{'run':<9} {'photos':>6} {'loop s':>7} {'photos/s':>9} {'total s':>8} {'process s':>9} {'vs seed':>8} "
        f"{'peak RSS MB (tree / main / 1 worker)':>37} {'others':>7}"
    )
    for name, r in runs.items():
        ratio = f"{r['photos_per_s'] / seed['photos_per_s']:7.2f}x" if seed else "      -"
        wk = f"{r['worker_peak_mb']:.0f}" if r.get("worker_peak_mb", 0) > 1 else "-"
        print(
            f"{name:<9} {r['photos']:>6} {r['loop_s']:>7.1f} {r['photos_per_s']:>9.2f} {r['total_s']:>8.1f} "
            f"{r.get('process_s', math.nan):>9.1f} {ratio:>8} {r['tree_peak_mb']:>21.0f} / {r['main_peak_mb']:.0f} / {wk:>4} {r['others_cores']:>7.2f}"
        )
    if seed:
        print(
            f"(vs seed: against the faster seed run, {seed['mode']}; seed = torch's default "
            f"{runs.get('seed', {}).get('torch_threads', '?')} threads, seed-1t = 1 thread)"
        )
    print("(others: cores that other programs on the machine kept busy during the loop, on average)")
    print("\nCPU per photo by stage (where the work ran; decode includes reading the file):")
    for name, r in runs.items():
        print(stage_line(name, r))
    cold = runs["cold"]
    ideal = work_cpu(cold["timings"]) / cores
    cold["ideal_loop_s"] = ideal
    eff = ideal / cold["loop_s"]
    print(
        f"\n{cores}-core ideal for cold: {work_cpu(cold['timings']):.1f} s of stage CPU / {cores} = {ideal:.1f} s "
        f"({cold['photos'] / ideal:.2f} photos/s); cold runs at {100 * eff:.0f}% of it"
    )
    ww = cold["timings"].get("worker_wall", 0.0)
    if ww:
        n_workers = cold.get("workers_used") or cores
        print(
            f"  workers busy {100 * ww / (n_workers * cold['loop_s']):.0f}% of the loop; this process tree used "
            f"{cold['ours_cpu_s'] / cold['loop_s']:.2f} cores, other programs {cold['others_cores']:.2f}; "
            f"ideal on the cores left to us: {100 * work_cpu(cold['timings']) / max(0.5, cores - cold['others_cores']) / cold['loop_s']:.0f}%"
        )
    ws = cold["timings"].get("worker_start", 0.0)
    if ws:
        print(
            f"  worker start-up (interpreter, imports, dlib models): {ws:.1f} s CPU over all workers, "
            f"outside the ideal; main loop blocked on workers {cold['timings'].get('wait_wall', 0):.1f} s"
        )
    if cold["timings"].get("body_crops"):
        print(
            f"  body: {cold['timings']['body_crops']:.0f} crops in batches, "
            f"{1000 * cold['timings']['body'] / cold['timings']['body_crops']:.1f} ms CPU per crop"
        )
    for r in seeds:
        print(
            f"  {r['mode']} loop: {r['loop_cpu_s']:.1f} s CPU in {r['loop_s']:.1f} s wall "
            f"({1000 * r['loop_cpu_s'] / r['photos']:.0f} ms CPU per photo, torch threads {r['torch_threads']})"
        )
    print(f"  cold loop: {work_cpu(cold['timings']) / cold['photos'] * 1000:.0f} ms of stage CPU per photo")
    if seed:
        rs, rc = seed["photos_per_s"], cold["photos_per_s"]
        rw = runs["warm"]["photos_per_s"] if "warm" in runs else math.nan
        results["summary"] = {"cold_vs_seed": rc / rs, "cold_vs_ideal": eff, "warm_vs_seed": rw / rs}
        print(
            f"\ncold / seed = {rc / rs:.2f}x (target >= 2)   cold / ideal = {100 * eff:.0f}% (target >= 85%)   "
            f"warm / seed = {rw / rs:.0f}x (target >= 50)"
        )
    if "cold-big" in runs:
        a, b = runs["cold"], runs["cold-big"]
        print(
            f"\npeak RSS as the folder grows: {a['photos']} photos {a['tree_peak_mb']:.0f} MB, "
            f"{b['photos']} photos {b['tree_peak_mb']:.0f} MB (whole process tree, sampled every 0.2 s; "
            f"main {a['main_peak_mb']:.0f} -> {b['main_peak_mb']:.0f} MB)"
        )
        if "warm" in runs and "warm-big" in runs:
            wa, wb = runs["warm"], runs["warm-big"]
            print(f"  warm: {wa['tree_peak_mb']:.0f} MB -> {wb['tree_peak_mb']:.0f} MB")
    m = results.get("match")
    if m:
        print(
            f"\nmatching: KB of {m['kb_faces']} faces ({m['people']} people) vs {m['queries']} query faces: "
            f"{1000 * m['face_total_s']:.0f} ms (bank {1000 * m['build_s']:.0f}, distances "
            f"{1000 * m['distances_s']:.0f}, top-3 {1000 * m['top3_s']:.0f}); bodies (512-d) {1000 * m['body_s']:.0f} ms"
        )
    print(f"load average before {results['load_before']}, after {results['load_after']}")


if __name__ == "__main__":
    sys.exit(main())
