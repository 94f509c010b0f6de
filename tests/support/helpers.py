"""What the tests share besides fixtures: where the repo and the demo photos are, the demo's labels, a private
workspace maker and a generator drain. Import it as ``from support.helpers import ...`` (conftest.py holds fixtures only)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo"


def read_truth(path: Path = DEMO / "truth.csv") -> dict[str, set[str]]:
    """truth.csv as {file: {people}}; an empty set means Unknown."""
    with open(path, newline="") as f:
        return {
            r["file"]: set() if r["expected"] == "Unknown" else set(r["expected"].split(";")) for r in csv.DictReader(f)
        }


def write_settings(root: Path, **overrides) -> Path:
    """``root/settings.json``: the shipped settings with the workspace's folders (kb, query, out, cache), one worker,
    and ``overrides``; returns its path."""
    raw = json.loads((REPO / "settings.json").read_text())
    raw.update(
        {"dataset_dir": "kb", "process_dir": "query", "processed_dir": "out", "cache_dir": "cache", "workers": 1}
    )
    raw.update(overrides)
    path = root / "settings.json"
    path.write_text(json.dumps(raw, indent=2))
    return path


def make_workspace(root: Path, **overrides) -> Path:
    """Copy the demo photos under ``root`` and write a settings.json there; return the settings path."""
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("kb", "query", "bodies", "scenes"):
        if not (root / sub).exists():
            shutil.copytree(DEMO / sub, root / sub)
    path = write_settings(root, **overrides)
    return path


def run_all(gen):
    """Drain a core event generator into a list."""
    return list(gen)


def filed(out: Path) -> dict[str, str]:
    """{person/file: sha256 of the copy} for every photo filed under ``out``."""
    got = {}
    for person in sorted(os.listdir(out)):
        if (out / person).is_dir():
            for f in os.listdir(out / person):
                got[f"{person}/{f}"] = hashlib.sha256((out / person / f).read_bytes()).hexdigest()
    return got


LEFT_OUT = "Barack_Obama"  # the person the review tests leave out of the KB, so his photos wait in Unknown/


LFW_CALIB = DEMO / "lfw-calib"  # 41 LFW people: kb/<Person>/ (3 photos each), query/ and truth.csv (40 strangers)


def _lfw_names() -> dict[str, str]:
    """lfw-calib's query file (c012.jpg) -> its LFW file name (Person_Name_0003.jpg)."""
    with open(LFW_CALIB / "sources.csv", newline="") as f:
        return {r["file"]: Path(r["lfw_image"]).name for r in csv.DictReader(f)}


def lfw_photos(person: str) -> list[tuple[Path, str]]:
    """Every lfw-calib photo of ``person`` (its KB ones, then its query ones), as (photo, LFW file name)."""
    kb = [(p, p.name) for p in sorted((LFW_CALIB / "kb" / person).glob("*.jpg"))]
    queried = [(LFW_CALIB / "query" / f, n) for f, n in sorted(_lfw_names().items()) if n.startswith(person + "_")]
    return kb + queried


def lfw_strangers(n: int) -> list[tuple[Path, str]]:
    """The first ``n`` lfw-calib query photos of nobody in its KB, as (photo, LFW file name)."""
    truth, names = read_truth(LFW_CALIB / "truth.csv"), _lfw_names()
    return [(LFW_CALIB / "query" / f, names[f]) for f in sorted(truth) if not truth[f]][:n]


def make_no_kb_workspace(root: Path, people: list[str], strangers: int = 4, **overrides) -> tuple[Path, dict[str, str]]:
    """A workspace where nobody has built a KB: ``query/`` holds every lfw-calib photo of ``people`` and ``strangers``
    photos of others, each under its LFW name (``Person_Name_0003.jpg``); ``dataset_dir`` is an empty folder and the
    KB file does not exist. Returns (settings path, {query file: person, "" for a stranger})."""
    query = root / "query"
    query.mkdir(parents=True)
    (root / "kb").mkdir()
    truth: dict[str, str] = {}
    photos = [(p, n, person) for person in people for p, n in lfw_photos(person)]
    photos += [(p, n, "") for p, n in lfw_strangers(strangers)]
    for p, name, person in photos:
        shutil.copy2(p, query / name)
        truth[name] = person
    path = write_settings(root, **overrides)
    return path, truth


def folders_by_file(out: Path) -> dict[str, set[str]]:
    """{photo file name: the folders of ``out`` it is filed in} (Unknown among them), the report and logs aside."""
    got: dict[str, set[str]] = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        for f in folder.iterdir():
            if f.is_file() and not f.name.startswith("."):
                got.setdefault(f.name, set()).add(folder.name)
    return got
