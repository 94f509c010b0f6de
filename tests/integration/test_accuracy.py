"""Accuracy at the shipped defaults on the labelled LFW calibration set, and the joint search that advises them:
the fast search must count exactly what the Decider files."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from facetui.core.base.settings import load_settings
from facetui.core.evaluation.evaluate import evaluate
from facetui.core.evaluation.scores import score
from facetui.core.evaluation.tune import GRID_K, GRID_LAP, GRID_MARGIN, GRID_TOL, Combo, Search
from facetui.core.run.decide import Decider
from facetui.core.run.kbbuild import build_kb
from facetui.core.stores.kb import load_kb
from support.helpers import DEMO, REPO, run_all

LFW = DEMO / "lfw-calib"


@pytest.fixture(scope="module")
def lfw(tmp_path_factory):
    """The LFW calibration set in a private folder, the shipped settings, its KB built, and one eval with --rules."""
    root = tmp_path_factory.mktemp("lfw")
    shutil.copytree(LFW / "kb", root / "kb")
    shutil.copytree(LFW / "query", root / "query")
    raw = json.loads((REPO / "settings.json").read_text())
    raw.update({"dataset_dir": "kb", "process_dir": "query", "processed_dir": "out", "cache_dir": "cache"})
    (root / "settings.json").write_text(json.dumps(raw))
    s = load_settings(root / "settings.json")
    run_all(build_kb(s))
    rep = evaluate(s, LFW / "truth.csv", input_dir=root / "query", rules=True, record=False)
    return s, rep


def test_shipped_defaults_find_most_known_people_and_file_nobody_wrongly(lfw):
    _, rep = lfw
    cur = rep.tuning.current_score
    # the floor the shipped defaults were chosen to clear (README, Accuracy): 72 of 80, no wrong filing,
    # every stranger kept Unknown; the nearest KB person is right for 79
    assert cur.appearances == 80 and cur.found >= 72 and cur.wrong == 0
    assert cur.unknown_photos == 40 and cur.unknown_kept == 40
    assert rep.tuning.nearest_right >= cur.found


def test_the_advice_files_nobody_wrongly_and_finds_at_least_as_many(lfw):
    _, rep = lfw
    t = rep.tuning
    assert t.best is not None and t.best_score.wrong == 0 and t.best_score.found >= t.current_score.found
    assert set(rep.advice) >= {"face_tol", "face_margin", "face_k", "lap_var_thresh"}
    assert {sw.key for sw in rep.sweeps} >= {"face_tol", "face_margin", "face_k", "lap_var_thresh"}


def test_the_fast_search_counts_exactly_what_the_decider_files(lfw):
    s, rep = lfw
    items = rep.items
    expected = {rel: rep.truth.expected[rel] for _, rel in items}
    rnd = random.Random(11)
    combos = [
        Combo(rnd.choice(GRID_TOL), rnd.choice(GRID_MARGIN), rnd.choice(GRID_K), rnd.choice(GRID_LAP + (5000.0,)))
        for _ in range(12)
    ]
    for policy in ("all", "largest"):
        decider = Decider(load_kb(s.kb_path), s.replace(multi_face=policy), memo={})
        search = Search(decider, items, expected)
        for c in combos:
            real = [
                decider.with_settings(decider.settings.replace(**c.as_settings())).decide(it, rel) for it, rel in items
            ]
            assert search.score(c) == score(real, expected, c.face_tol), (policy, c)


def test_several_kb_photos_agreeing_beats_the_seeds_nearest_photo_rule(lfw):
    _, rep = lfw
    by = {r.rule: r for r in rep.rules}
    assert set(by) == {"nearest", "nearest+margin", "agree2", "agree3"}
    assert by["agree2"].tuned_score.found > by["nearest"].tuned_score.found
    assert by["agree2"].untuned_score.wrong == 0
