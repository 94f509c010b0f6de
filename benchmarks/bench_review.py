#!/usr/bin/env python3
"""Clustering the unknown faces at library scale: time and peak memory at 4k, 20k and 100k faces.

    PYTHONPATH=src python benchmarks/bench_review.py                   # 4k, 20k, 100k (about 2 min)
    PYTHONPATH=src python benchmarks/bench_review.py --sizes 4000 --seeds /path/to/encodings.npz

The faces are synthetic, made from real dlib descriptors: the KB of `demo/lfw-calib/kb` (120 photos of 40 people,
built once into a temporary folder), or any facetui KB file given with --seeds. Each synthetic person is a real
descriptor moved a little, and each of their faces a further small move (two faces of one person sit about 0.45
apart, as two real photos of one person do). At 100k faces dozens of people share a seed and sit closer than real
strangers do (real unknown faces of lfw-library: nearest other person 0.52 at the median), so the large sizes are
harder than a real library: more groups to weigh, more merges refused. A
person has 1 to 12 faces (most have one or two, as in a library's unknowns); one face in ten shares its photo
with another face. Each size runs in a fresh process with facetui's clustering (`models.compare.linkage.cluster` at the
shipped `cluster_tol`, the exact path up to `EXACT_MAX` faces, nearest neighbours above) and prints the wall
time, the process's CPU time and its peak resident memory (ru_maxrss, the whole process with numpy and faiss).
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # benchlib: see its docstring

from benchlib import LFW, child_env
from benchlib.workspace import write_settings


def synthetic(seeds, n: int, rng):
    """``n`` faces of synthetic people around real descriptors, and each face's cannot-link set (same photo)."""
    import numpy as np

    seeds = np.asarray(seeds, np.float32)
    faces, person = [], []
    p = 0
    while len(faces) < n:
        centre = seeds[rng.integers(len(seeds))] + rng.normal(0.0, 0.025, seeds.shape[1]).astype(np.float32)
        k = min(int(rng.geometric(0.45)), 12)
        faces += list(centre + rng.normal(0.0, 0.028, (k, seeds.shape[1])).astype(np.float32))
        person += [p] * k
        p += 1
    x = np.asarray(faces[:n], np.float32)
    photo = np.arange(n)
    pairs = rng.choice(n, size=n // 10, replace=False)  # one face in ten shares a photo with the next one
    photo[pairs[pairs + 1 < n] + 1] = photo[pairs[pairs + 1 < n]]
    apart = [[(("photo", int(ph)), i)] for i, ph in enumerate(photo)]
    return x, np.asarray(person[:n]), apart


def child(seeds_path: str, n: int, tol: float) -> None:
    import numpy as np

    from facetui.core.models.compare import linkage

    seeds = np.load(seeds_path)["seeds"]
    x, person, apart = synthetic(seeds, n, np.random.default_rng(n))
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    groups = linkage.cluster(x, tol, apart)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pure = sum(1 for g in groups if len(set(person[g].tolist())) == 1)
    print(
        json.dumps(
            {
                "n": n,
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_mb": rss / 1024,
                "before_mb": base_rss / 1024,
                "groups": len(groups),
                "largest": max(len(g) for g in groups),
                "pure": pure / len(groups),
                "path": "exact" if n <= linkage.EXACT_MAX else "neighbours",
            }
        )
    )


def seeds_from(kb_file: Path | None, tmp: Path):
    from facetui.core.stores.kb import load_kb

    if kb_file is None:
        fields = {
            "dataset_dir": str(LFW / "kb"),
            "encodings_filename": str(tmp / "encodings.npz"),
            "cache_dir": str(tmp / "cache"),
        }
        write_settings(tmp / "settings.json", fields, indent=None)
        facetui = Path(sys.executable).with_name("facetui")
        subprocess.run(
            [str(facetui), "--settings", str(tmp / "settings.json"), "kb", "build"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        kb_file = tmp / "encodings.npz"
    return load_kb(kb_file).face_enc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="4000,20000,100000")
    ap.add_argument("--seeds", type=Path, help="a facetui KB file whose face descriptors seed the synthetic faces")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), float(args.child[2]))
        return
    import numpy as np

    from facetui.core.base.settings import SPEC_BY_KEY

    tol = float(SPEC_BY_KEY["cluster_tol"].default)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        seeds = seeds_from(args.seeds, tmp)
        np.savez(tmp / "seeds.npz", seeds=seeds)
        x, person, _ = synthetic(seeds, 2000, np.random.default_rng(0))
        same, diff = _spread(x, person)
        print(
            f"seeds: {len(seeds)} real descriptors; synthetic pairs: same person {same:.2f}, nearest other person "
            f"{diff:.2f} (median distances); cluster_tol {tol}"
        )
        print(
            f"{'faces':>8} {'path':>10} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'groups':>8} {'largest':>8} "
            f"{'one person':>10}"
        )
        env = child_env()
        for n in (int(s) for s in args.sizes.split(",")):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(tmp / "seeds.npz"), str(n), str(tol)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{r['n']:>8} {r['path']:>10} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['peak_mb']:>8.0f} "
                f"{r['groups']:>8} {r['largest']:>8} {r['pure']:>10.1%}",
                flush=True,
            )


def _spread(x, person):
    import numpy as np

    from facetui.core.models.compare.linkage import pairwise

    d = pairwise(x)
    np.fill_diagonal(d, np.inf)
    same_mask = person[:, None] == person[None, :]
    same = d[same_mask & np.isfinite(d)]
    other = np.where(same_mask, np.inf, d).min(axis=1)
    return float(np.median(same)), float(np.median(other))


if __name__ == "__main__":
    main()
