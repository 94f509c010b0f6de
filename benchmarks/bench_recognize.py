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
import hashlib
import io
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
DEMO = REPO / "demo"
RESULT = "BENCH-RESULT "
MODEL = "osnet_ain_x1_0"

# stages that do the work: their CPU seconds add up to the ideal
WORK_STAGES = (
    "read",
    "decode",
    "detect",
    "sharpness",
    "align",
    "encode",
    "crops",
    "body",
    "hash",
    "cache",
    "match",
    "file_io",
)
# what the per-stage table groups them into (the split)
GROUPS = {
    "decode": ("read", "decode"),
    "detect": ("detect", "sharpness", "align"),
    "encode": ("encode",),
    "body": ("crops", "body"),
    "match": ("match",),
    "file I/O": ("file_io",),
    "hash+cache": ("hash", "cache"),
}


# --------------------------------------------------------------------------------------------- photo folder


def source_photos() -> list[Path]:
    found = sorted((DEMO / "query").glob("*.jpg")) + sorted((DEMO / "kb").glob("*/*.jpg"))
    found += sorted((DEMO / "scenes").glob("*.jpg"))
    return found


# long side of the variants: the demo's own sizes (<= 800) and the larger sizes photo libraries hold
LONG_SIDES = (None, 1024, 2048, 3024, 4032)


def make_library(dest: Path, n: int, sizes: tuple[int | None, ...] = LONG_SIDES) -> dict:
    """Write n JPEG variants of the demo photos into dest (v0000_q01.jpg ...); every file's sha256 differs."""
    from PIL import Image, ImageOps

    dest.mkdir(parents=True, exist_ok=True)
    sources = source_photos()
    imgs = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in sources]
    seen: set[str] = set()
    pixels: list[int] = []
    sides: list[int] = []
    for i in range(n):
        k, j = divmod(i, len(sources))
        im = imgs[j]
        side = sizes[(k // 2) % len(sizes)]
        if side is not None:
            f = side / max(im.size)
            im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.LANCZOS)
        if k % 2:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        quality = 92 - 2 * (k // 10)
        while True:
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=quality)
            data = buf.getvalue()
            sha = hashlib.sha256(data).hexdigest()
            if sha not in seen:
                break
            quality -= 1  # identical bytes: re-encode differently
        seen.add(sha)
        (dest / f"v{i:04d}_{sources[j].stem}.jpg").write_bytes(data)
        pixels.append(im.width * im.height)
        sides.append(max(im.size))
    mb = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
    return {
        "photos": n,
        "distinct_sha256": len(seen),
        "mb": round(mb, 1),
        "mean_megapixels": round(sum(pixels) / len(pixels) / 1e6, 2),
        "max_long_side": max(sides),
    }


# --------------------------------------------------------------------------------------------- workspace


def make_workspace(root: Path, workers: int) -> Path:
    """Dataset (the demo KB photos), random-init OSNet weights, settings.json; returns the settings path."""
    from facetui.core.models.bodies import save_random_weights

    shutil.copytree(DEMO / "kb", root / "kb", ignore=shutil.ignore_patterns("*.npz", "*.pkl"))
    save_random_weights(root / "osnet_random.pt", MODEL, seed=0)
    raw = json.loads((REPO / "settings.json").read_text())
    raw.update(
        {
            "dataset_dir": "kb",
            "process_dir": "photos",
            "processed_dir": "out",
            "cache_dir": "kb-cache",
            "reid_model": MODEL,
            "reid_weights": "osnet_random.pt",
            "device": "cpu",
            "workers": workers,
            "file_mode": "copy",
        }
    )
    sp = root / "settings.json"
    sp.write_text(json.dumps(raw, indent=2))
    return sp


# --------------------------------------------------------------------------------------------- whole process

LFW = DEMO / "lfw-calib"
PHOTO_LINE = re.compile(r"[^\[ ].*: \d+ faces?, (kept|reused|skipped)")  # a kb build's per-photo line


def lfw_workspace(root: Path, weights: Path, workers: int) -> Path:
    """Settings for the small-photo cases: the lfw-calib KB (120 photos of 40 people) and its 120 queries (250 px),
    body recognition on with the random-init weights."""
    raw = json.loads((REPO / "settings.json").read_text())
    raw.update(
        {
            "dataset_dir": str(LFW / "kb"),
            "process_dir": str(LFW / "query"),
            "processed_dir": str(root / "out"),
            "encodings_filename": str(root / "kb.npz"),
            "cache_dir": str(root / "cache"),
            "reid_model": MODEL,
            "reid_weights": str(weights),
            "device": "cpu",
            "workers": workers,
            "file_mode": "copy",
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    sp = root / "settings.json"
    sp.write_text(json.dumps(raw, indent=2))
    return sp


def run_cli(name: str, *args: str, settings: Path, env: dict[str, str] | None = None) -> dict:
    """``facetui ARGS`` as a user runs it, timed from launch to exit: whole-process wall time, time to the first
    per-photo line, CPU and peak RSS of the whole process tree (the forkserver and its workers are sampled: facetui
    never reaps them, so os.times() does not see them)."""
    cmd = [sys.executable, "-m", "facetui.cli", *args, "--settings", str(settings)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    watch = CpuWatch(sample_tree=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)
    first_line = first_photo = None
    lines = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - t0
        if first_line is None:
            first_line = now
        if first_photo is None and (" → " in line or PHOTO_LINE.match(line)):
            first_photo = now
        lines += 1
    rc = proc.wait()
    wall = time.perf_counter() - t0
    cpu = watch.stop()
    if rc != 0:
        raise SystemExit(f"facetui {' '.join(args)} failed (exit {rc})")
    return {
        "mode": name,
        "process_s": wall,
        "first_line_s": first_line,
        "first_photo_s": first_photo,
        "lines": lines,
        **cpu,
    }


def make_small_library(dest: Path, n: int) -> None:
    """n LFW-size photos (250 px) from the lfw-calib queries: flipped and re-encoded variants, every sha256 new."""
    from PIL import Image, ImageOps

    dest.mkdir(parents=True, exist_ok=True)
    sources = sorted((LFW / "query").glob("*.jpg"))
    imgs = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in sources]
    seen: set[str] = set()
    for i in range(n):
        k, j = divmod(i, len(sources))
        im = imgs[j].transpose(Image.Transpose.FLIP_LEFT_RIGHT) if k % 2 else imgs[j]
        quality = 95 - k // 2
        while True:
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=max(quality, 5))
            sha = hashlib.sha256(buf.getvalue()).hexdigest()
            if sha not in seen:
                break
            quality -= 1
        seen.add(sha)
        (dest / f"s{i:04d}_{sources[j].stem}.jpg").write_bytes(buf.getvalue())


KB_SMALL = 46  # the kb build case: a KB of this many photos on an empty cache


def small_kb(dest: Path, n: int) -> Path:
    """The first n photos of the lfw-calib KB (people in name order), as a dataset folder of their own."""
    photos = sorted((LFW / "kb").glob("*/*.jpg"))[:n]
    for src in photos:
        (dest / src.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / src.parent.name / src.name)
    return dest


def whole_process_cases(work: Path, weights: Path, workers: int, many: int = 0, seeds: tuple[str, ...] = ()) -> dict:
    """The kb build and small-photo cases, each a fresh `facetui` process as the user waits for it: a KB of the
    first 46 lfw-calib KB photos on an empty cache (no record of the weights file either: a new user's first
    build); the whole lfw-calib KB built on an empty cache, then again with nothing changed; the seed's loop
    (``seeds``) on its 120 queries; the queries sorted (none of them is in the cache: cold), then again into a new
    output with another face_tol (every photo cached: warm)."""
    out: dict[str, dict] = {}
    # prepared models (dlib's detector, the ONNX networks) in a folder of this bench: the first case finds none,
    # as on a machine facetui never ran on; the others find them, as every later run does
    models = {"FACETUI_MODELS_DIR": str(work / "models-small")}
    for name, folder in ((f"kb-{KB_SMALL}-new", "lfw46-new"), (f"kb-{KB_SMALL}", "lfw46")):
        sp46 = lfw_workspace(work / folder, weights, workers)
        raw = json.loads(sp46.read_text())
        raw["dataset_dir"] = str(small_kb(work / folder / "kb", KB_SMALL))
        sp46.write_text(json.dumps(raw, indent=2))
        out[name] = {**run_cli(name, "kb", "build", settings=sp46, env=models), "photos": KB_SMALL}
    sp = lfw_workspace(work / "lfw", weights, workers)
    out["kb-cold"] = {**run_cli("kb-cold", "kb", "build", settings=sp, env=models), "photos": 120}
    out["kb-same"] = {**run_cli("kb-same", "kb", "build", settings=sp, env=models), "photos": 120}
    for mode in seeds:  # the seed's loop on the same 120 queries, against the KB just built
        spec = {"mode": mode, "settings": str(sp), "input": str(LFW / "query"), "output": str(work / "lfw" / mode)}
        if mode == "seed-1t":
            spec["torch_threads"] = 1
        r = run_child(spec)
        out[f"small-{mode}"] = {**r, "first_line_s": None, "first_photo_s": None}
    out["small-cold"] = {
        **run_cli("small-cold", "recognize", "--output", str(work / "lfw" / "out-cold"), settings=sp, env=models),
        "photos": 120,
    }
    # the A/B: torch instead of ONNX Runtime for the networks (a cache of its own, so none of it is cached either)
    sp_torch = work / "lfw" / "settings-torch.json"
    raw = json.loads(sp.read_text())
    raw["cache_dir"] = str(work / "lfw" / "cache-torch")
    sp_torch.write_text(json.dumps(raw, indent=2))
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
    raw = json.loads(sp.read_text())
    raw["face_tol"] = 0.45
    sp.write_text(json.dumps(raw, indent=2))
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


# --------------------------------------------------------------------------------------------- memory


def _proc_tree(pid: int) -> tuple[list[int], dict[int, list[bytes]]]:
    """pid's live descendants (not pid itself) and every process's /proc stat fields after the name."""
    kids: dict[int, list[int]] = {}
    stats: dict[int, list[bytes]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return [], {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        stats[int(name)] = fields
        kids.setdefault(int(fields[1]), []).append(int(name))  # fields[1] is the parent's pid
    out, stack = [], list(kids.get(pid, []))
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out, stats


def tree_rss_bytes(pid: int) -> tuple[int, int]:
    """Resident memory of pid and all its descendants, and of the largest descendant, from /proc (0 where
    /proc is missing)."""
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    desc, stats = _proc_tree(pid)
    rss = {p: int(stats[p][21]) * page for p in [pid, *desc] if p in stats}  # resident pages
    return sum(rss.values()), max((rss[p] for p in desc if p in rss), default=0)


def descendants_cpu_s() -> float:
    """CPU seconds of this process's live descendants and of the children they reaped: the forkserver's workers
    are its children, not ours, so os.times() never sees them."""
    tick = os.sysconf("SC_CLK_TCK")
    desc, stats = _proc_tree(os.getpid())
    # utime, stime, cutime, cstime are fields 14-17 of /proc/PID/stat (11-14 after the name)
    return sum(sum(int(x) for x in stats[p][11:15]) for p in desc if p in stats) / tick


def run_child(spec: dict, sample_s: float = 0.2) -> dict:
    """Run one configuration in a fresh interpreter; add its peak RSS (whole process tree, sampled)."""
    t0 = time.perf_counter()
    # PYTHONPATH, not only the child's sys.path: the worker processes' forkserver (Python 3.11's ignores the
    # parent's sys.path) would otherwise import whichever facetui is installed, not this checkout's
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE, text=True, cwd=REPO, env=env
    )
    peak = peak_one = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_one
        while not done.wait(sample_s):
            tree, one = tree_rss_bytes(proc.pid)
            peak, peak_one = max(peak, tree), max(peak_one, one)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    process_s = time.perf_counter() - t0
    done.set()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {spec['mode']} failed (exit {proc.returncode})")
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith(RESULT))
    res = json.loads(line[len(RESULT) :])
    res["process_s"] = process_s  # the whole child: interpreter, imports, set-up, loop, shut-down
    res["tree_peak_mb"] = peak / 2**20
    # worker processes are the forkserver's children, so getrusage in the run does not see them: sampled here
    res["worker_peak_mb"] = max(res.get("worker_peak_mb", 0), peak_one / 2**20)
    return res


class CpuWatch:
    """CPU seconds used on the whole machine and by this process tree between start() and stop(), from /proc/stat
    and os.times(): what other programs took from the cores during a measurement.

    With ``sample_tree`` it also samples this process's descendants every 0.1 s until stop(): the CPU of those that
    our children do not reap (a forkserver and its workers outlive the facetui process that started them, so
    os.times() never sees them; each one's last tenth of a second can be missed) and the tree's peak RSS."""

    def __init__(self, sample_tree: bool = False) -> None:
        self._seen: dict[tuple[int, bytes], float] = {}  # (pid, start time) -> its own CPU seconds, last seen
        self._peak = 0
        self._done = threading.Event()
        self._sampler = None
        self.start()
        if sample_tree:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    def _sample(self) -> None:
        me, tick = os.getpid(), os.sysconf("SC_CLK_TCK")
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            desc, stats = _proc_tree(me)
            self._peak = max(self._peak, sum(int(stats[p][21]) * page for p in desc if p in stats))
            for p in desc:
                f = stats.get(p)
                if f is not None and int(f[1]) != me:  # our own children are reaped by us: os.times() has them
                    self._seen[(p, f[19])] = (int(f[11]) + int(f[12])) / tick  # utime + stime; f[19]: start time
            if self._done.wait(0.1):
                return

    @staticmethod
    def _machine_busy() -> float:
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except OSError:
            return math.nan
        # user nice system idle iowait irq softirq steal: all but idle and iowait kept the cores from us
        return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system + descendants_cpu_s()

    def start(self) -> None:
        self.t0, self.busy0, self.ours0 = time.perf_counter(), self._machine_busy(), self._ours()
        self.children0 = sum(os.times()[2:4])

    def stop(self) -> dict:
        wall = time.perf_counter() - self.t0
        ours = self._ours() - self.ours0
        out = {}
        if self._sampler is not None:
            self._done.set()
            self._sampler.join()
            ours = (
                sum(os.times()[2:4]) - self.children0 + sum(self._seen.values())
            )  # reaped children + the rest, sampled
            out["tree_peak_mb"] = self._peak / 2**20
        others = max(0.0, self._machine_busy() - self.busy0 - ours)
        return {"ours_cpu_s": ours, "others_cores": others / wall if wall > 0 else 0.0, **out}


def own_rss() -> dict:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"main_peak_mb": me, "worker_peak_mb": kids}


# --------------------------------------------------------------------------------------------- the seed's loop


class SeedReid:
    """The seed's TorchreidBodyExtractor as it is called: one PIL image per call, resized to 256x128."""

    def __init__(self, weights: Path):
        from facetui.core.models.bodies import load_body_encoder

        self.enc = load_body_encoder(MODEL, weights, "cpu", freeze=False)  # the seed runs torchreid's eager model

    def __call__(self, pil_img):
        import numpy as np
        from PIL import Image

        x = np.asarray(pil_img.resize((128, 256), Image.Resampling.BILINEAR))
        return self.enc.embed([x], batch_size=1)[0]


def seed_detect_and_align(fr, img_np, desired_size=160, resize_max=800, lap_var_thresh=80.0, tm=None):
    """The seed's face_encoder.detect_and_align_faces, re-created: downscale, HOG detect, 5-point landmarks,
    sharpness gate, rotate so the eyes are level, crop a square chip. Returns [{'bbox', 'aligned'}]."""
    import numpy as np
    from PIL import Image

    from facetui.core.models.images import sharpness

    clock = time.process_time
    t = clock()
    h, w = img_np.shape[:2]
    s = min(1.0, resize_max / max(h, w))
    small = img_np if s >= 1.0 else np.asarray(Image.fromarray(img_np).resize((round(w * s), round(h * s))))
    tm["decode"] += clock() - t  # the resize belongs to decoding the photo into a working size
    t = clock()
    locs = fr.face_locations(small, number_of_times_to_upsample=1, model="hog")
    tm["detect"] += clock() - t
    t = clock()
    out = []
    marks = fr.face_landmarks(small, locs, model="small") if locs else []
    for (top, right, bottom, left), lm in zip(locs, marks):
        face = small[max(top, 0) : bottom, max(left, 0) : right]
        if face.size == 0 or sharpness(face) < lap_var_thresh:
            continue
        le, re = np.mean(lm["left_eye"], axis=0), np.mean(lm["right_eye"], axis=0)
        angle = math.degrees(math.atan2(re[1] - le[1], re[0] - le[0]))
        cx, cy = (left + right) / 2, (top + bottom) / 2
        half = 0.65 * max(bottom - top, right - left)
        box = (int(cx - half), int(cy - half), int(cx + half), int(cy + half))
        region = Image.fromarray(small).crop(box)  # pads outside the photo with black
        chip = region.rotate(angle, resample=Image.Resampling.BILINEAR).resize((desired_size, desired_size))
        out.append({"bbox": tuple(int(round(v / s)) for v in (top, right, bottom, left)), "aligned": np.asarray(chip)})
    tm["align"] += clock() - t
    return out


def child_seed(spec: dict) -> dict:
    """One file per call, serial, as the seed's FolderWorker.run does it."""
    import numpy as np
    import torch
    from PIL import Image

    from facetui.core.base.settings import load_settings
    from facetui.core.stores.kb import load_kb

    t_start = time.perf_counter()
    if spec.get("torch_threads"):
        torch.set_num_threads(spec["torch_threads"])
    settings = load_settings(Path(spec["settings"]))
    inp, outp = Path(spec["input"]), Path(spec["output"])
    import face_recognition as fr  # the seed used its API

    kb = load_kb(settings.kb_path)
    known_faces = list(kb.face_enc)
    known_face_names = list(kb.face_names)
    bodies_t = torch.as_tensor(np.asarray(kb.body_enc, dtype=np.float32)) if len(kb.body_names) else None
    known_body_names = list(kb.body_names)
    reid = SeedReid(settings.reid_weights)
    outp.mkdir(parents=True, exist_ok=True)
    exts = tuple(settings.valid_exts)
    files = sorted(f for f in os.listdir(inp) if f.lower().endswith(exts))
    tm = {k: 0.0 for k in ("read", "decode", "detect", "align", "encode", "body", "match", "file_io")}
    clock = time.process_time
    unknown = 0
    t_loop = time.perf_counter()
    c_loop = clock()
    watch = CpuWatch()
    for fname in files:
        path = inp / fname
        face_name = body_name = "Unknown"
        t = clock()
        img_np = fr.load_image_file(str(path))  # decode #1
        tm["decode"] += clock() - t
        aligned = seed_detect_and_align(fr, img_np, 160, settings.resize_max, settings.lap_var_thresh, tm)
        if aligned:
            t = clock()
            best = max(aligned, key=lambda d: (d["bbox"][1] - d["bbox"][3]) * (d["bbox"][2] - d["bbox"][0]))
            chip = best["aligned"]
            hh, ww = chip.shape[:2]
            ents = fr.face_encodings(chip, known_face_locations=[(0, ww, hh, 0)], num_jitters=1, model="small")
            t2 = clock()
            tm["encode"] += t2 - t
            if ents and known_faces:
                dists = fr.face_distance(known_faces, ents[0])
                order = np.argsort(dists)[:3]
                if dists[order[0]] < settings.face_tol:
                    face_name = known_face_names[order[0]]
            tm["match"] += clock() - t2
        if bodies_t is not None and bodies_t.numel() > 0:
            t = clock()
            with Image.open(path) as img:  # decode #2
                rgb = img.convert("RGB")
            t2 = clock()
            tm["decode"] += t2 - t
            feat = reid(rgb)
            t3 = clock()
            tm["body"] += t3 - t2
            q = torch.tensor(feat).unsqueeze(0)
            sims = torch.nn.functional.cosine_similarity(q, bodies_t).detach().cpu().numpy()
            order = np.argsort(-sims)[:3]
            if sims[order[0]] > settings.body_tol:
                body_name = known_body_names[order[0]]
            tm["match"] += clock() - t3
        final = face_name if face_name != "Unknown" else body_name
        unknown += final == "Unknown"
        t = clock()
        (outp / final).mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(path), str(outp / final / fname))
        tm["file_io"] += clock() - t
    loop_s = time.perf_counter() - t_loop
    cpu = watch.stop()
    return {
        **cpu,
        "mode": spec["mode"],
        "photos": len(files),
        "torch_threads": torch.get_num_threads(),
        "loop_s": loop_s,
        "total_s": time.perf_counter() - t_start,
        "loop_cpu_s": clock() - c_loop,
        "timings": tm,
        "unknown": unknown,
        **own_rss(),
    }


# --------------------------------------------------------------------------------------------- facetui


def child_facetui(spec: dict) -> dict:
    from facetui.core.base.events import FileDone, RunFinished, RunStarted
    from facetui.core.base.settings import load_settings
    from facetui.core.run.recognize import recognize
    from facetui.core.run.timings import Timings

    if spec.get("face_encoder"):  # the A/B run: dlib's own descriptor network instead of the torch port
        from facetui.core.models import faces

        os.environ[faces.ENCODER_ENV] = spec["face_encoder"]  # inherited by the worker processes
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

    from facetui.core.models.matcher import Bank, body_similarities, face_distances, top_k

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


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def work_cpu(tm: dict) -> float:
    return sum(tm.get(k, 0.0) for k in WORK_STAGES)


def stage_line(name: str, r: dict) -> str:
    tm = r["timings"]
    n = max(1, r["photos"])
    cells = []
    for g, keys in GROUPS.items():
        v = sum(tm.get(k, 0.0) for k in keys)
        cells.append(f"{g} {1000 * v / n:6.1f}")
    extra = ""
    if tm.get("worker_start"):
        extra = f" | worker start {tm['worker_start']:.1f}s CPU in all"
    return f"  {name:<9} ms CPU per photo: " + "  ".join(cells) + extra


def load_avg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


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
        print(RESULT + json.dumps(fn(spec)), flush=True)
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
                work, work / "ws" / "osnet_random.pt", args.workers, args.small_many, small_seeds
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


def machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(
            next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1]
        )
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{cpu}, {cpu_cores()} cores{mem}, Python {sys.version.split()[0]}"


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
