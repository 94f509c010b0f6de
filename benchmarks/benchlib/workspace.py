"""Settings files and workspaces for benchmark runs, and what a run left in its output (filed photos, report rows).

Every settings file starts from the repo's shipped ``settings.json`` and changes only what a benchmark names."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

from benchlib import DEMO, LFW, REPO

MODEL = "osnet_ain_x1_0"  # the body model of the benchmarks' workspaces (random-init weights: timing only)
KB_SMALL = 46  # the kb build case: a KB of this many lfw-calib photos on an empty cache


def write_settings(path: Path, fields: dict, indent: int | None = 2) -> Path:
    """The shipped settings.json with ``fields`` changed, written to ``path``; returns ``path``."""
    raw = json.loads((REPO / "settings.json").read_text())
    raw.update(fields)
    path.write_text(json.dumps(raw, indent=indent))
    return path


def update_settings(path: Path, fields: dict, indent: int | None = 2) -> Path:
    """The settings file at ``path`` with ``fields`` changed, in place; returns ``path``."""
    raw = json.loads(path.read_text())
    raw.update(fields)
    path.write_text(json.dumps(raw, indent=indent))
    return path


def make_workspace(root: Path, workers: int) -> Path:
    """Dataset (the demo KB photos), random-init OSNet weights, settings.json; returns the settings path."""
    from facetui.core.models.body.osnet import save_random_weights

    shutil.copytree(DEMO / "kb", root / "kb", ignore=shutil.ignore_patterns("*.npz", "*.pkl"))
    save_random_weights(root / "osnet_random.pt", MODEL, seed=0)
    fields = {
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
    return write_settings(root / "settings.json", fields)


def lfw_workspace(root: Path, weights: Path, workers: int) -> Path:
    """Settings for the small-photo cases: the lfw-calib KB (120 photos of 40 people) and its 120 queries (250 px),
    body recognition on with the random-init weights."""
    fields = {
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
    root.mkdir(parents=True, exist_ok=True)
    return write_settings(root / "settings.json", fields)


def labelled_set_settings(work: Path, root: Path = LFW, **extra) -> Path:
    """A settings file in ``work`` for sorting ``root``'s queries with a KB of its kb/ (faces only, 2 workers)."""
    fields = dict(
        dataset_dir=str(root / "kb"),
        process_dir=str(root / "query"),
        processed_dir=str(work / "out"),
        encodings_filename=str(work / "kb.npz"),
        cache_dir=str(work / "cache"),
        reid_weights="",
        workers=2,
        file_mode="copy",
        **extra,
    )
    return write_settings(work / "settings.json", fields)


def small_kb(dest: Path, n: int) -> Path:
    """The first n photos of the lfw-calib KB (people in name order), as a dataset folder of their own."""
    photos = sorted((LFW / "kb").glob("*/*.jpg"))[:n]
    for src in photos:
        (dest / src.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / src.parent.name / src.name)
    return dest


def report_rows(out: Path) -> list[list[str]]:
    """The rows of a run's report.csv, header left out, sorted (engines file in different orders)."""
    with open(out / "report.csv", newline="", encoding="utf-8") as f:
        return sorted(list(csv.reader(f))[1:])


def filed_names(out: Path) -> list[str]:
    """Every photo a run filed, as paths relative to its output folder, sorted."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg"))


def filed_hashes(out: Path) -> dict[str, str]:
    """Every photo a run filed (relative path) and its content's sha256."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.jpg"))}
