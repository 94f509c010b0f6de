#!/usr/bin/env python3
"""GPU check: OSNet throughput and fp16 agreement, then the whole pipeline with body embeddings on the GPU.

    python tools/gpu_check.py                      # on a CUDA machine: about 2 minutes
    python tools/gpu_check.py --device cpu --quick # smoke run on any machine (no GPU needed)

1. OSNet (random-init weights: timing only) on real person crops: crops/s at batch 1, 16 and 64, fp32 and,
   on CUDA, fp16; the fp16-vs-fp32 cosine of every crop (facetui uses fp16 on CUDA only if it stays within 1e-3).
2. facetui end to end on the benchmark's photo folder (benchlib.photos.make_library): KB build, a cold run and a
   warm run, with OSNet on the chosen device and one dlib worker per core; photos/s and the per-stage split.
   --detector cnn on CUDA: the runs take the device stage (core/run/engines/device.py: the workers decode, the
   detector and the descriptor network run batched on the GPU), and one more cold run with the CNN in the CPU
   workers (FACETUI_DEVICE_STAGE=off) is the A/B: photos/s of both, and the stage's boxes (IoU) and descriptors
   (max difference) against the workers'. --stage-on-cpu runs the stage on the CPU (a smoke run of its mechanics).
   --ray F adds a cold run on the Ray engine (a local cluster of this machine, GPU actors of F of a GPU each:
   core/run/engines/ray/gpu.py) and checks that its report rows are the local engine's.
3. The CNN face detector (core/models/face/mmod/) on the device: its boxes on the demo photos against the CPU's
   (upsample 0 and 1), then photos/s at 800 and 2000 px, upsample 0 and 1, batches of 1, 8 and 32 photos of
   one size (--sections detect runs this part alone).

It never needs network access. Figures are printed and, with --json, written to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # benchlib: see its docstring

import gpu_check_osnet as osnet_check  # this folder's, first on sys.path when a script of it runs
from benchlib import DEMO
from benchlib.figures import cpu_cores, machine, stage_line
from benchlib.photos import make_library
from benchlib.workspace import MODEL, make_workspace, report_rows, update_settings

from facetui.core.models.body import encoder as body_encoder
from facetui.core.models.body import osnet

FP16_MIN_COSINE = 1 - 1e-3
STAGE_ENV = "FACETUI_DEVICE_STAGE"  # engines/device.py: "off" keeps the CNN in the workers, "cpu" forces the stage
MAX_DESCRIPTOR_DIFF = 1e-4  # the device stage's promise in fp32 (issue 14); boxes: IoU >= 0.99


def check_osnet(device: str, seconds: float, batches: list[int]) -> dict:
    import numpy as np
    import torch

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    crops_dir, _files, crops = osnet_check.load_crops(None)
    crops = crops + scene_crops()  # more real crops for the fp16 agreement
    precisions = ["fp32", "fp16"] if device == "cuda" else ["fp32"]
    out: dict = {"crops": len(crops), "crops_dir": str(crops_dir), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        weights = osnet.save_random_weights(Path(tmp) / "random.pt", MODEL, seed=0)
        encs = {
            p: body_encoder.load_body_encoder(MODEL, weights, device=device, half=(p == "fp16")) for p in precisions
        }
        ref = encs["fp32"].embed(crops, batch_size=16)
        if "fp16" in encs:
            cos = (ref * encs["fp16"].embed(crops, batch_size=16)).sum(axis=1)
            out["fp16_cosine_min"], out["fp16_cosine_mean"] = float(cos.min()), float(cos.mean())
            out["fp16_ok"] = bool(cos.min() >= FP16_MIN_COSINE)
            print(
                f"  fp16 vs fp32 cosine over {len(crops)} crops: min {cos.min():.6f}, mean {cos.mean():.6f} "
                f"-> {'within' if out['fp16_ok'] else 'OUTSIDE'} 1e-3"
            )
        one = np.concatenate([encs["fp32"].embed([c], batch_size=1) for c in crops])
        out["fp32_batch1_vs_16_max_abs"] = float(np.abs(one - ref).max())
        configs = [(p, b) for p in precisions for b in batches]
        print(f"  {'precision':>9} {'batch':>5} {'ms/crop':>8} {'crops/s':>9}")
        for p, b in configs:
            per_crop, calls = osnet_check.time_embed(encs[p], crops, b, seconds / len(configs), sync)
            out["rows"].append({"precision": p, "batch": b, "calls": calls, "crops_per_s": 1 / per_crop})
            print(f"  {p:>9} {b:>5} {1000 * per_crop:>8.2f} {1 / per_crop:>9.0f}")
    return out


def scene_crops() -> list:
    """The body regions facetui itself cuts around each face of the demo photos."""
    from facetui.core.models.analyze import FaceConfig, analyze_path

    out = []
    for p in sorted((DEMO / "query").glob("*.jpg")) + sorted((DEMO / "kb").rglob("*.jpg")):
        out.extend(analyze_path(p, FaceConfig(), True).body_crops or [])
    return out


def check_detector(device: str, quick: bool) -> dict:
    """The torch port of dlib's CNN face detector on ``device``: agreement with the CPU, then photos/s."""
    import numpy as np
    import torch
    from PIL import Image

    from facetui.core.models.face import files as face_files
    from facetui.core.models.face.mmod import detector as mmod_detector
    from facetui.core.models.images import load_image

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    model = face_files.models_dir() / face_files.CNN_DETECTOR
    det = mmod_detector.MmodDetector(model, device=device)
    cpu = det if device == "cpu" else mmod_detector.MmodDetector(model)
    paths = sorted((DEMO / "query").glob("*.jpg")) + sorted((DEMO / "kb").rglob("*.jpg"))
    out: dict = {"agreement": {}, "rows": []}
    for up in (0, 1):
        same = total = 0
        worst = 1.0
        for p in paths[:4] if quick else paths:
            rgb = load_image(p, resize_max=800).rgb
            a, b = det.detect(rgb, up), cpu.detect(rgb, up)
            total += max(len(a), len(b))
            same += sum(x[:4] == y[:4] for x, y in zip(a, b))
            for x in b:
                worst = min(worst, max((_iou(x, y) for y in a), default=0.0))
        out["agreement"][f"up{up}"] = {"boxes": total, "identical": same, "min_iou": worst}
        print(f"  upsample {up}: {same}/{total} boxes identical to the CPU's, min IoU {worst:.3f}")
    sizes = {"800 px": (800, 600), "2000 px": (2000, 1500)}
    batches = [1, 4] if quick else [1, 8, 32]
    print(f"  {'size':>7} {'up':>2} {'batch':>5} {'ms/photo':>9} {'photos/s':>9}")
    for label, (w, h) in sizes.items():
        imgs = [np.asarray(Image.open(p).convert("RGB").resize((w, h), Image.Resampling.BILINEAR)) for p in paths]
        for up in (0, 1):
            for b in batches:
                if device == "cpu" and (quick and (label != "800 px" or up) or b > 8):
                    continue  # a CPU smoke run: the small cases only
                try:
                    det.detect_batch(imgs[:b], up)  # warm-up (cuDNN picks its algorithms)
                    sync()
                    n, t = 0, time.perf_counter()
                    while n < max(2 * b, 8 if device == "cuda" else 2):
                        det.detect_batch([imgs[(n + i) % len(imgs)] for i in range(b)], up)
                        n += b
                    sync()
                    dt = (time.perf_counter() - t) / n
                except torch.cuda.OutOfMemoryError:
                    print(f"  {label:>7} {up:>2} {b:>5}  out of device memory")
                    torch.cuda.empty_cache()
                    continue
                out["rows"].append({"size": label, "upsample": up, "batch": b, "photos_per_s": 1 / dt})
                print(f"  {label:>7} {up:>2} {b:>5} {1000 * dt:>9.1f} {1 / dt:>9.1f}")
    return out


def _iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)


def run_pipeline(
    device: str,
    photos: int,
    work: Path,
    batches: list[int],
    detector: str = "hog",
    stage_on_cpu: bool = False,
    ray_gpu_fraction: float | None = None,
) -> dict:
    from facetui.core.base.events import FileDone, RunFinished, RunStarted
    from facetui.core.base.settings import load_settings
    from facetui.core.run.kbbuild import build_kb
    from facetui.core.run.recognize import recognize
    from facetui.core.run.timings import Timings

    sp = make_workspace(work / "ws", workers=0)
    update_settings(sp, {"device": device, "detector": detector})
    lib = make_library(work / "photos", photos)
    settings = load_settings(sp)
    t = time.perf_counter()
    for ev in build_kb(settings):
        if isinstance(ev, RunFinished):
            kb = ev.summary
    print(f"  KB: {kb.faces} faces, {kb.bodies} bodies in {time.perf_counter() - t:.1f} s")
    out: dict = {"library": lib}
    runs = [(f"cold-b{b}", settings.face_tol, b) for b in batches[1:]] + [
        ("cold", settings.face_tol, batches[0]),
        ("warm", 0.45, batches[0]),
    ]
    if detector == "cnn":
        runs.insert(0, ("cold-workers", settings.face_tol, batches[0]))  # the A/B: the CNN in the CPU workers
    if ray_gpu_fraction is not None:  # the Ray engine on a local cluster of this machine's CPUs and GPUs
        runs.append(("cold-ray", settings.face_tol, batches[0]))
        if stage_on_cpu:
            from facetui.core.run.engines.ray.cluster import TEST_GPUS_ENV

            os.environ[TEST_GPUS_ENV] = "1"  # a pretend GPU: the GPU actors' mechanics on the CPU
    for name, tol, batch in runs:
        os.environ.pop(STAGE_ENV, None)
        if name == "cold-workers":
            os.environ[STAGE_ENV] = "off"
        elif stage_on_cpu:
            os.environ[STAGE_ENV] = "cpu"
        timed = Timings()
        cache = work / ("cache" if name in ("cold", "warm") else f"cache-{name}")
        s = settings.replace(cache_dir=cache, face_tol=tol, kb_batch_size=batch)
        if name == "cold-ray":
            s = s.replace(engine="ray", ray_address="", ray_gpu_fraction=ray_gpu_fraction)
        t0 = time.perf_counter()
        n = 0
        for ev in recognize(s, work / "photos", work / f"out-{name}", timings=timed):
            if isinstance(ev, RunStarted):
                t_loop, dev, notices = time.perf_counter(), ev.device, ev.notices
            elif isinstance(ev, FileDone):
                n += 1
            elif isinstance(ev, RunFinished):
                summary = ev.summary
        loop = time.perf_counter() - t_loop
        timings = timed.seconds
        engine = _engine_of(work / f"out-{name}")
        r = {
            "photos": n,
            "loop_s": loop,
            "total_s": time.perf_counter() - t0,
            "photos_per_s": n / loop,
            "device": dev,
            "errors": summary.errors,
            "timings": timings,
            "engine": engine,
        }
        out[name] = r
        body = ""
        if timings.get("body_crops") and not timings.get("body_wall"):
            body = f", body {timings['body_crops']:.0f} crops embedded where they were cut"
        elif timings.get("body_crops"):
            body = (
                f", body {timings['body_crops']:.0f} crops in {timings['body_wall']:.2f} s wall "
                f"({timings['body_crops'] / max(timings['body_wall'], 1e-9):.0f} crops/s)"
            )
        print(
            f"  {name} (batch {batch}): {n} photos in {loop:.1f} s = {n / loop:.1f} photos/s (total {r['total_s']:.1f} s, OSNet on "
            f"{dev}{body}; faces: {_stage_words(engine)})"
        )
        if name == "cold":
            print("  " + stage_line("cold", r).strip())
            for note in notices:
                print(f"    notice: {note}")
    os.environ.pop(STAGE_ENV, None)
    if "cold-ray" in out:
        same = report_rows(work / "out-cold-ray") == report_rows(work / "out-cold")
        out["ray_same_report"] = same
        print(f"  cold-ray: {'the same report rows as' if same else 'REPORT ROWS DIFFER from'} the local engine's")
    if "cold-workers" in out and out["cold"]["engine"].get("stage") == "device":
        out["stage_agreement"] = stage_agreement(settings, work / "photos", work / "cache", work / "cache-cold-workers")
    return out


def _engine_of(out_dir: Path) -> dict:
    """The engine a run recorded in its manifest (run.toml), {} where there is none."""
    import tomllib

    try:
        return tomllib.loads((out_dir / "run.toml").read_text()).get("engine", {})
    except (OSError, ValueError):
        return {}


def _stage_words(engine: dict) -> str:
    if engine.get("gpu_actors"):
        return f"Ray, {engine['gpu_actors']} GPU actors on {engine.get('gpu_device')}"
    if engine.get("name") == "ray":
        return "Ray CPU actors"
    if engine.get("stage") == "device":
        return f"device stage on {engine.get('device')}"
    return "in the CPU workers" if engine.get("started") else "cached or in this process"


def stage_agreement(settings, photos: Path, stage_cache: Path, workers_cache: Path) -> dict:
    """The device stage's analyses against the CPU workers' (both runs cold, the same face key): boxes matched
    in order (their count and the worst IoU) and the largest descriptor difference."""
    import hashlib

    import numpy as np

    from facetui.core.models.analyze import FaceConfig
    from facetui.core.stores.cache import EmbeddingCache

    key = FaceConfig.of(settings).key()
    a_cache, b_cache = EmbeddingCache(stage_cache), EmbeddingCache(workers_cache)
    n = counts_differ = 0
    worst_iou, worst_diff = 1.0, 0.0
    try:
        for p in sorted(photos.rglob("*.jpg")):
            sha = hashlib.sha256(p.read_bytes()).hexdigest()
            a, b = a_cache.get_analysis(sha, key), b_cache.get_analysis(sha, key)
            if a is None or b is None:
                continue
            n += 1
            if len(a.boxes) != len(b.boxes):
                counts_differ += 1
                continue
            for x, y in zip(a.boxes, b.boxes):  # (top, right, bottom, left) -> _iou's (left, top, right, bottom)
                worst_iou = min(worst_iou, _iou((x[3], x[0], x[1], x[2]), (y[3], y[0], y[1], y[2])))
            if len(a.boxes):
                worst_diff = max(worst_diff, float(np.abs(a.encodings - b.encodings).max()))
    finally:
        a_cache.close()
        b_cache.close()
    ok = counts_differ == 0 and worst_iou >= 0.99 and worst_diff <= MAX_DESCRIPTOR_DIFF
    print(
        f"  device stage vs CPU workers on {n} photos: {counts_differ} with another face count, worst box IoU "
        f"{worst_iou:.4f}, largest descriptor difference {worst_diff:.2e} -> {'OK' if ok else 'DIFFERENT'}"
    )
    return {"photos": n, "face_counts_differ": counts_differ, "min_iou": worst_iou, "max_diff": worst_diff, "ok": ok}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--osnet-seconds", type=float, default=40.0, help="time spent on the throughput table")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 24 photos, a few seconds of OSNet timing (batches 1 and 4 on a CPU)",
    )
    ap.add_argument(
        "--batches",
        default="16",
        help="kb_batch_size for the pipeline's cold run; more values add a cold run each (e.g. 16,64)",
    )
    ap.add_argument("--detector", default="hog", choices=["hog", "cnn"], help="face detector of the pipeline run")
    ap.add_argument(
        "--stage-on-cpu",
        action="store_true",
        help="--detector cnn: run the device stage on the CPU (FACETUI_DEVICE_STAGE=cpu), a smoke run of its mechanics",
    )
    ap.add_argument(
        "--ray",
        type=float,
        default=None,
        metavar="GPU_FRACTION",
        help="add a cold run with --engine ray on a local cluster (needs facetui[ray]), GPU actors of this share "
        "of a GPU (0: CPU actors only); with --stage-on-cpu one pretend GPU, its actors on the CPU",
    )
    ap.add_argument("--sections", default="osnet,pipeline,detect", help="which parts to run (comma-separated)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    if args.quick:
        args.photos, args.osnet_seconds = 24, 4.0
    t0 = time.perf_counter()
    import torch

    from facetui.core.models.face.encode import encoder_name
    from facetui.core.models.face.files import dlib_has_cuda

    device = body_encoder.resolve_device(args.device)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    print(
        f"gpu_check: torch {torch.__version__}, OSNet on {device} ({name}); dlib CUDA: {dlib_has_cuda()}; "
        f"face descriptors by {encoder_name()} (CPU workers); "
        f"{cpu_cores()} cores; {machine()}"
    )
    if args.device == "auto" and device != "cuda":
        print("  no CUDA GPU visible: running everything on the CPU")
    results: dict = {"device": device, "device_name": name, "torch": torch.__version__, "machine": machine()}
    if "osnet" in sections:
        print("1. OSNet throughput (random-init weights)")
        results["osnet"] = check_osnet(
            device, args.osnet_seconds, [1, 4] if args.quick and device == "cpu" else [1, 16, 64]
        )
    if "pipeline" in sections:
        print(f"2. pipeline on {args.photos} photos, {args.detector} face detector")
        work = Path(tempfile.mkdtemp(prefix="facetui-gpu-"))
        try:
            results["pipeline"] = run_pipeline(
                device,
                args.photos,
                work,
                [int(b) for b in args.batches.split(",")],
                args.detector,
                args.stage_on_cpu,
                args.ray,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if "detect" in sections:
        print(f"3. CNN face detector (torch port) on {device}")
        results["detect"] = check_detector(device, args.quick)
    results["total_s"] = time.perf_counter() - t0
    print(f"total {results['total_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
