#!/usr/bin/env python3
"""Measure OSNet body-embedding throughput (crops/s at several batch sizes, fp32 and, on CUDA, fp16)
and how closely fp16 embeddings agree with fp32 ones.

Uses RANDOM weights saved to a temporary file (timing does not depend on the weights) and real
person crops. Nothing here says anything about recognition quality.

    python tools/gpu_check_osnet.py --device cuda --seconds-budget 90
    python tools/gpu_check_osnet.py --device cpu --seconds-budget 20   # quick smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # benchlib: see its docstring

from benchlib import REPO

from facetui.core.models.body import crops as body_crops
from facetui.core.models.body import encoder as body_encoder
from facetui.core.models.body import osnet

DEFAULT_CROP_DIRS = [
    REPO / "demo" / "bodies",
    REPO.parent / "shared" / "testdata" / "bodies",
    REPO / "shared" / "testdata" / "bodies",
]


def load_crops(crops_dir: Path | None):
    import numpy as np
    from PIL import Image

    dirs = [crops_dir] if crops_dir else DEFAULT_CROP_DIRS
    for d in dirs:
        files = sorted(p for p in Path(d).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if files:
            crops = []
            for f in files:
                img = np.asarray(Image.open(f).convert("RGB"))
                crops.append(body_crops.crop_for_reid(img, (0, img.shape[1], img.shape[0], 0)))
            return Path(d), files, crops
    sys.exit(f"no crop images found in {', '.join(str(d) for d in dirs)} (use --crops DIR)")


def time_embed(enc, crops, batch: int, seconds: float, sync) -> tuple[float, int]:
    """Seconds per crop for enc.embed on one batch of `batch` crops, averaged over as many calls as fit."""
    data = [crops[i % len(crops)] for i in range(batch)]
    for _ in range(2):  # warm-up: lazy init, cuDNN algorithm choice, allocator
        enc.embed(data, batch_size=batch)
    sync()
    calls, t0 = 0, time.perf_counter()
    while True:
        enc.embed(data, batch_size=batch)  # returns numpy, so each call waits for the GPU
        calls += 1
        elapsed = time.perf_counter() - t0
        if (elapsed >= seconds and calls >= 3) or calls >= 500:
            break
    sync()
    return (time.perf_counter() - t0) / (calls * batch), calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--seconds-budget", type=float, default=60.0, help="rough total time to spend (default 60)")
    ap.add_argument("--crops", type=Path, default=None, help="folder of person crops (searched recursively)")
    ap.add_argument("--model", default="osnet_ain_x1_0", choices=osnet.available_models())
    ap.add_argument("--batches", default="1,16,64", help="comma-separated batch sizes (default 1,16,64)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for CPU runs")
    ap.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = ap.parse_args()

    start = time.perf_counter()
    import numpy as np
    import torch

    try:
        device = body_encoder.resolve_device(args.device)
    except osnet.BodyModelError as e:
        sys.exit(f"error: {e}")
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    precisions = ["fp32", "fp16"] if device == "cuda" else ["fp32"]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    crops_dir, files, crops = load_crops(args.crops)

    dev_name = torch.cuda.get_device_name(0) if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"torch {torch.__version__}  device {device}: {dev_name}")
    print(f"model {args.model} (RANDOM weights)  crops: {len(crops)} from {crops_dir}")

    results = {
        "model": args.model,
        "device": device,
        "device_name": dev_name,
        "torch": torch.__version__,
        "n_crops": len(crops),
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        weights = osnet.save_random_weights(Path(tmp) / "random.pt", args.model, seed=0)
        encs = {
            p: body_encoder.load_body_encoder(
                args.model, weights, device=device, half=(p == "fp16"), num_threads=args.threads
            )
            for p in precisions
        }
        print(f"embedding dim {encs['fp32'].dim}")

        # Accuracy checks first (cheap), so they survive a tight budget.
        ref = encs["fp32"].embed(crops, batch_size=16)
        one = np.concatenate([encs["fp32"].embed([c], batch_size=1) for c in crops])
        results["fp32_batch1_vs_batch16_max_abs_diff"] = float(np.abs(one - ref).max())
        print(f"fp32 batch 1 vs batch 16: max |diff| = {results['fp32_batch1_vs_batch16_max_abs_diff']:.2e}")
        if "fp16" in encs:
            half = encs["fp16"].embed(crops, batch_size=16)
            cos = (ref * half).sum(axis=1)
            results["fp16_vs_fp32_min_cosine"] = float(cos.min())
            print(f"fp16 vs fp32 cosine: min {cos.min():.6f}  mean {cos.mean():.6f}")
        sims = ref @ ref.T
        off = sims[~np.eye(len(ref), dtype=bool)]
        if off.size:
            results["random_init_cross_cosine"] = [float(off.min()), float(off.mean()), float(off.max())]
            print(
                f"cosine between different crops (random init, meaningless for matching): "
                f"min {off.min():.4f} mean {off.mean():.4f} max {off.max():.4f}"
            )

        # Throughput: share what is left of the budget among the configurations still to run.
        configs = [(p, b) for p in precisions for b in batches]
        print()
        print(f"{'precision':>9} {'batch':>5} {'calls':>5} {'ms/crop':>9} {'crops/s':>9}")
        for i, (p, b) in enumerate(configs):
            left = args.seconds_budget - (time.perf_counter() - start)
            if left <= 0:
                print(f"{p:>9} {b:>5}   skipped: budget spent")
                continue
            slice_s = max(0.2, 0.7 * left / (len(configs) - i))
            per_crop, calls = time_embed(encs[p], crops, b, slice_s, sync)
            results["rows"].append(
                {
                    "precision": p,
                    "batch": b,
                    "calls": calls,
                    "ms_per_crop": per_crop * 1e3,
                    "crops_per_s": 1.0 / per_crop,
                }
            )
            print(f"{p:>9} {b:>5} {calls:>5} {per_crop * 1e3:>9.3f} {1.0 / per_crop:>9.1f}")
    results["total_s"] = time.perf_counter() - start
    print(
        f"\ntotal {results['total_s']:.1f} s (embed() timed end to end: numpy stack, copy to device, "
        f"normalise, forward, copy back)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
