"""bench_recognize.py's "small" cases: whole ``facetui`` processes as the user waits for them, on the bundled
lfw-calib set (120 photos of 250 px, body on with random-init weights), and their table. A part of
bench_recognize.py, not a script of its own."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from benchlib import LFW
from benchlib.measure import run_cli
from benchlib.photos import make_small_library
from benchlib.workspace import KB_SMALL, lfw_workspace, small_kb, update_settings


def whole_process_cases(
    work: Path,
    weights: Path,
    workers: int,
    many: int = 0,
    seeds: tuple[str, ...] = (),
    run_seed: Callable[[dict], dict] | None = None,
) -> dict:
    """The kb build and small-photo cases, each a fresh `facetui` process as the user waits for it: a KB of the
        first 46 lfw-calib KB photos on an empty cache (no record of the weights file either: a new user's first
        build); the whole lfw-calib KB built on an empty cache, then again with nothing changed; the seed's loop
        (``seeds``) on its 120 queries; the queries sorted (none of them is in the cache: cold), then again into a new
        output with another face_tol (every photo cached: warm). ``run_seed`` runs one seed loop in a child process
    (bench_recognize's run_child)."""
    assert run_seed is not None or not seeds, "the seed loops need run_seed"
    out: dict[str, dict] = {}
    # prepared models (dlib's detector, the ONNX networks) in a folder of this bench: the first case finds none,
    # as on a machine facetui never ran on; the others find them, as every later run does
    models = {"FACETUI_MODELS_DIR": str(work / "models-small")}
    for name, folder in ((f"kb-{KB_SMALL}-new", "lfw46-new"), (f"kb-{KB_SMALL}", "lfw46")):
        sp46 = lfw_workspace(work / folder, weights, workers)
        update_settings(sp46, {"dataset_dir": str(small_kb(work / folder / "kb", KB_SMALL))})
        out[name] = {**run_cli(name, "kb", "build", settings=sp46, env=models), "photos": KB_SMALL}
    sp = lfw_workspace(work / "lfw", weights, workers)
    out["kb-cold"] = {**run_cli("kb-cold", "kb", "build", settings=sp, env=models), "photos": 120}
    out["kb-same"] = {**run_cli("kb-same", "kb", "build", settings=sp, env=models), "photos": 120}
    for mode in seeds:  # the seed's loop on the same 120 queries, against the KB just built
        spec = {"mode": mode, "settings": str(sp), "input": str(LFW / "query"), "output": str(work / "lfw" / mode)}
        if mode == "seed-1t":
            spec["torch_threads"] = 1
        r = run_seed(spec)
        out[f"small-{mode}"] = {**r, "first_line_s": None, "first_photo_s": None}
    out["small-cold"] = {
        **run_cli("small-cold", "recognize", "--output", str(work / "lfw" / "out-cold"), settings=sp, env=models),
        "photos": 120,
    }
    # the A/B: torch instead of ONNX Runtime for the networks (a cache of its own, so none of it is cached either)
    sp_torch = work / "lfw" / "settings-torch.json"
    sp_torch.write_text(sp.read_text())
    update_settings(sp_torch, {"cache_dir": str(work / "lfw" / "cache-torch")})
    out["small-cold-torch"] = {
        **run_cli(
            "small-cold-torch",
            "recognize",
            "--output",
            str(work / "lfw" / "out-cold-torch"),
            settings=sp_torch,
            env={**models, "FACETUI_CPU_RUNTIME": "torch"},
        ),
        "photos": 120,
    }
    update_settings(sp, {"face_tol": 0.45})
    out["small-warm"] = {
        **run_cli("small-warm", "recognize", "--output", str(work / "lfw" / "out-warm"), settings=sp, env=models),
        "photos": 120,
    }
    if many:
        make_small_library(work / "lfw-many", many)
        inp = ["--input", str(work / "lfw-many")]
        out[f"small-{many}-cold"] = {
            **run_cli(
                "many-cold", "recognize", *inp, "--output", str(work / "lfw" / "out-mc"), settings=sp, env=models
            ),
            "photos": many,
        }
        out[f"small-{many}-warm"] = {
            **run_cli(
                "many-warm", "recognize", *inp, "--output", str(work / "lfw" / "out-mw"), settings=sp, env=models
            ),
            "photos": many,
        }
    return out


def report_whole(results: dict) -> None:
    whole = results.get("whole")
    if not whole:
        return
    print("\nwhole process, as the user waits for it (lfw-calib: 120 photos of 250 px, body on, random-init OSNet):")
    print(
        f"  {'case':<16} {'photos':>6} {'wall s':>7} {'photos/s':>9} {'1st line s':>10} {'1st photo s':>11} "
        f"{'CPU s':>6} {'others':>7} {'RSS MB':>7}"
    )
    for name, r in whole.items():
        if name.startswith("small-seed"):
            print(
                f"  {name:<16} {r['photos']:>6} {r['process_s']:>7.2f} {r['photos'] / r['loop_s']:>9.1f} "
                f"{'-':>10} {'-':>11} {r['ours_cpu_s']:>6.1f} {r['others_cores']:>7.2f} {r['tree_peak_mb']:>7.0f}"
                f"   (loop {r['loop_s']:.2f} s)"
            )
            continue
        pps = r["photos"] / r["process_s"] if r["process_s"] > 0 else math.inf
        fp = f"{r['first_photo_s']:.2f}" if r.get("first_photo_s") is not None else "-"
        fl = f"{r['first_line_s']:.2f}" if r.get("first_line_s") is not None else "-"
        print(
            f"  {name:<16} {r['photos']:>6} {r['process_s']:>7.2f} {pps:>9.1f} {fl:>10} {fp:>11} "
            f"{r['ours_cpu_s']:>6.1f} {r['others_cores']:>7.2f} {r.get('tree_peak_mb', math.nan):>7.0f}"
        )
    print(
        f"  (kb-{KB_SMALL}-new: the first {KB_SMALL} lfw-calib KB photos on an empty cache on a machine with no "
        f"prepared models (ONNX exports included); kb-{KB_SMALL}: the same with them;\n   kb-cold: the whole "
        "lfw-calib KB on an empty cache; kb-same: rebuilt with nothing changed; small-seed*: the seed's loop on its "
        "120 queries (wall: the whole child);\n   small-cold: facetui on them, none cached; small-cold-torch: the "
        "same with torch instead of ONNX Runtime; small-warm: the same again into a new output\n   with another "
        "face_tol, all cached; small-N: N flipped/re-encoded variants of them, cold then warm; RSS: peak of the "
        "whole process tree)"
    )
    seeds = [r for n, r in whole.items() if n.startswith("small-seed")]
    if seeds and "small-cold" in whole:
        seed = min(seeds, key=lambda r: r["loop_s"])
        cold = whole["small-cold"]
        print(
            f"  small-cold, whole process, against the faster seed loop ({seed['mode']}, {seed['loop_s']:.1f} s): "
            f"{seed['loop_s'] / cold['process_s']:.2f}x (target >= 2)"
        )
