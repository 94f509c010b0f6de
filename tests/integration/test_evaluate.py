"""`facetui eval` on the real demo photos: its numbers equal a direct count over a real recognize run's filed output."""

from __future__ import annotations

import json
import os
import shutil
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest

from facetui.cli import main
from facetui.core.base.events import FileDone
from facetui.core.base.settings import load_settings
from facetui.core.evaluation.evaluate import evaluate, report_lines
from facetui.core.evaluation.kbadvice import kb_advice
from facetui.core.evaluation.scores import pick_marked, score
from facetui.core.evaluation.truth import EvalError, load_truth
from facetui.core.run.recognize import recognize
from facetui.core.stores.kb import load_kb
from support.helpers import DEMO, read_truth, run_all

SWEEP = [0.35, 0.5, 0.75]


@pytest.fixture(scope="module")
def ws(tmp_path_factory, built_workspace) -> Path:
    """One writable demo workspace for the module: the first eval warms its cache for every later run."""
    dst = tmp_path_factory.mktemp("eval") / "ws"
    shutil.copytree(built_workspace, dst, symlinks=True)
    return dst


@pytest.fixture(scope="module")
def no_margin(ws):
    """The demo settings with the plain nearest-photo rule (no margin, face_k 1) at face_tol 0.5, so looser
    tolerances do file strangers wrongly."""
    return load_settings(ws / "settings.json").replace(face_tol=0.5, face_margin=0.0, face_k=1)


@pytest.fixture(scope="module")
def full(ws, no_margin):
    """The default sweep, the KB advice and the rules, recorded to ws/out."""
    return evaluate(no_margin, DEMO / "truth.csv", input_dir=ws / "query", kb=True, rules=True)


def _direct_count(out: Path, truth: dict[str, set[str]]) -> dict[str, int]:
    """Score a filed output folder by looking at where each photo landed."""
    filed: dict[str, set[str]] = {}
    for folder in os.listdir(out):
        if (out / folder).is_dir():
            for f in os.listdir(out / folder):
                filed.setdefault(f, set()).add(folder)
    c = dict(appearances=0, found=0, wrong=0, unknown_photos=0, unknown_kept=0, exact=0, photos=len(truth))
    for name, want in truth.items():
        where = filed.get(name, set())
        people = where - {"Unknown"}
        c["appearances"] += len(want)
        c["found"] += len(people & want)
        c["wrong"] += len(people - want)
        c["unknown_photos"] += not want
        c["unknown_kept"] += not want and where == {"Unknown"}
        c["exact"] += where == (want or {"Unknown"})
    return c


def test_eval_numbers_equal_a_direct_count_over_filed_output(ws, no_margin, tmp_path, full):
    truth = read_truth()
    rep = evaluate(no_margin, DEMO / "truth.csv", input_dir=ws / "query", tolerances=SWEEP, record=False)
    assert rep.encoded == 0 and rep.cached == 9  # the module's first eval did the one encoding pass
    assert [s.value for s in rep.face.scores] == SWEEP  # the current 0.5 is in the sweep already
    for tol in SWEEP:
        out = tmp_path / f"out-{tol}"
        events = run_all(recognize(no_margin.replace(face_tol=tol), output_dir=out))
        assert all(e.result.cached for e in events if isinstance(e, FileDone))  # no re-encoding
        want = _direct_count(out, truth)
        s = rep.face.score_at(tol)
        got = {k: getattr(s, k) for k in want}
        assert got == want, tol
    # the sweep spans all three regimes, so each count was really exercised
    assert rep.face.score_at(0.35).found < 6 and rep.face.score_at(0.35).wrong == 0
    assert rep.face.score_at(0.5).exact == 9
    assert rep.face.score_at(0.75).wrong == 3 and rep.face.score_at(0.75).unknown_kept == 1


def test_the_margin_setting_is_scored_as_recognize_applies_it(ws, no_margin, tmp_path, full):
    s = no_margin.replace(face_tol=0.75, face_margin=0.1)
    rep = evaluate(s, DEMO / "truth.csv", input_dir=ws / "query", tolerances=[0.75], record=False)
    run_all(recognize(s, output_dir=tmp_path / "out"))
    want = _direct_count(tmp_path / "out", read_truth())
    sc = rep.face.score_at(0.75)
    assert {k: getattr(sc, k) for k in want} == want
    assert sc.wrong == 0 and sc.found == 6  # the margin drops the three stranger filings, keeps every match


def test_marked_tolerance_has_zero_wrong_filings_and_best_recall(full):
    sw = full.face
    assert [round(s.value, 2) for s in sw.scores] == [round(0.30 + 0.05 * i, 2) for i in range(11)]
    assert any(s.wrong for s in sw.scores)  # the sweep reaches tolerances that file strangers
    marked = sw.score_at(sw.marked)
    assert marked.wrong == 0
    assert marked.found == max(s.found for s in sw.scores if s.wrong == 0) == 6
    assert sw.current == 0.5 and sw.score_at(0.5).wrong == 0
    text = "\n".join(report_lines(full))
    assert "<- best with no wrong filings" in text and "current" in text


def test_eval_records_a_table_and_a_manifest(ws, full):
    out = ws / "out"
    assert full.report_path == out / "eval.csv" and full.manifest_path == out / "eval-run.toml"
    rows = (out / "eval.csv").read_text().splitlines()
    n = sum(len(sw.scores) for sw in full.sweeps)
    assert rows[0].startswith("setting,value,recall") and len(rows) == 1 + n
    assert {r.split(",")[0] for r in rows[1:]} == {"face_tol", "face_margin", "face_k", "lap_var_thresh"}
    with open(out / "eval-run.toml", "rb") as f:
        m = tomllib.load(f)
    assert m["run"]["kind"] == "eval" and m["run"]["status"] == "completed"
    assert m["counts"]["marked"] == full.face.marked and m["counts"]["photos"] == 9
    assert m["eval"]["kb_advice"]["pairs"] == 55
    assert len(m["eval"]["scores"]) == n
    assert m["eval"]["tuning"]["advice_found"] == 6 and m["eval"]["tuning"]["nearest_right"] == 6


def test_kb_leave_one_out_counts_add_up_to_the_pairs(ws, full):
    k = full.kb
    kb = load_kb(ws / "kb" / "encodings.npz")
    n = len(kb.face_names)
    assert k.faces == n == 11 and k.pairs == n * (n - 1) // 2 == 55
    same_pairs = sum(c["faces"] * (c["faces"] - 1) // 2 for c in kb.counts().values())
    assert len(k.same) == same_pairs == 7 and len(k.diff) == 55 - 7
    hist = k.histogram()
    assert sum(s for _, _, s, _ in hist) == 7 and sum(d for *_, d in hist) == 48
    # brute force: the worst genuine best match and the nearest impostor
    d = np.linalg.norm(kb.face_enc[:, None] - kb.face_enc[None], axis=2)
    names = np.array(kb.face_names)
    gen = [d[i][(names == names[i]) & (np.arange(n) != i)].min() for i in range(n)]
    imp = min(d[i][names != names[i]].min() for i in range(n))
    assert k.low == pytest.approx(max(gen)) and k.high == pytest.approx(imp)
    assert k.separated and k.low < k.tolerance <= k.high
    assert k.genuine_recall(k.tolerance) == 1.0
    assert "Separating tolerance" in "\n".join(report_lines(full))


def test_kb_advice_without_a_gap_files_nobody_wrongly():
    from facetui.core.stores.kb import KnowledgeBase

    kb = KnowledgeBase()
    base = np.zeros(128)
    for name, x in (("A", 0.0), ("A", 0.6), ("B", 0.5), ("B", 1.2)):
        v = base.copy()
        v[0] = x
        kb.add_face(name, v, f"{name}{x}")
    k = kb_advice(kb)
    assert not k.separated and k.high == pytest.approx(0.1)  # A@0.6 and B@0.5 are the nearest pair
    assert k.tolerance <= k.high and k.genuine_recall(k.tolerance) == 0.0


def test_rules_are_compared_on_the_same_encodings(full):
    by = {r.rule: r for r in full.rules}
    assert set(by) == {"nearest", "nearest+margin", "agree2", "agree3"}
    for r in by.values():  # on the demo every rule can file all six appearances with no wrong filing
        assert r.tuned_score.found == 6 and r.tuned_score.wrong == 0 and r.untuned_score.appearances == 6
    assert by["nearest"].tuned.face_margin == 0.0  # the seed's rule has no margin to tune
    text = "\n".join(report_lines(full))
    assert (
        "Rules compared on the same encodings" in text and "ceiling: the nearest KB person is right for 6 of 6" in text
    )


def test_folder_of_person_subfolders_as_labels(ws, no_margin, tmp_path):
    labels = tmp_path / "labels"
    for person, name in (("Barack_Obama", "q01.jpg"), ("Kit_Harington", "q04.jpg"), ("Unknown", "q08.jpg")):
        (labels / person).mkdir(parents=True)
        shutil.copy(ws / "query" / name, labels / person / name)
    truth = load_truth(labels)
    assert truth.expected == {
        "Barack_Obama/q01.jpg": {"Barack_Obama"},
        "Kit_Harington/q04.jpg": {"Kit_Harington"},
        "Unknown/q08.jpg": frozenset(),
    }
    rep = evaluate(no_margin, labels, tolerances=[0.5, 0.75], record=False)
    assert rep.cached == 3  # same content, so the cache answers even under another name
    s = rep.face.score_at(0.5)
    assert (s.found, s.appearances, s.wrong, s.unknown_kept, s.exact) == (2, 2, 0, 1, 3)
    assert rep.face.score_at(0.75).wrong == 1  # the stranger in q08 goes to Alex_Lacamoire
    assert rep.face.marked == 0.5


def test_truth_problems_are_reported(ws, no_margin, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,who\nq01.jpg,Barack_Obama\n")
    with pytest.raises(EvalError, match="file,expected"):
        evaluate(no_margin, bad, input_dir=ws / "query", record=False)
    odd = tmp_path / "odd.csv"
    odd.write_text("file,expected\nq01.jpg,Barack_Obama\nmissing.jpg,Unknown\nq03.jpg,Lin_Manuel\n")
    rep = evaluate(no_margin, odd, input_dir=ws / "query", tolerances=[0.5], record=False)
    assert rep.photos == 2
    assert any("not found" in n and "missing.jpg" in n for n in rep.notices)
    assert any("not in the KB" in n and "Lin_Manuel" in n for n in rep.notices)
    assert any("no label" in n for n in rep.notices)  # the other 7 demo photos
    assert rep.face.score_at(0.5).wrong == 1  # q03 is Alex_Lacamoire, who the truth does not name
    with pytest.raises(EvalError, match="nothing to evaluate"):
        evaluate(no_margin, None, record=False)


def test_pick_marked_breaks_ties_towards_the_middle():
    from facetui.core.evaluation.scores import Score

    def s(v, found, wrong):
        return Score(
            value=v, photos=5, appearances=4, found=found, wrong=wrong, unknown_photos=1, unknown_kept=1, exact=0
        )

    scores = [s(0.3, 2, 0), s(0.4, 4, 0), s(0.5, 4, 0), s(0.6, 4, 0), s(0.7, 4, 1)]
    assert pick_marked(scores) == 0.5
    assert pick_marked([s(0.3, 2, 1)]) is None
    assert score([], {}, 0.5).recall == 0.0


def test_aborted_eval_says_so(ws, no_margin, tmp_path):
    cancel = threading.Event()

    def stop(i, total):
        if i == 2:
            cancel.set()

    rep = evaluate(
        no_margin,
        DEMO / "truth.csv",
        input_dir=ws / "query",
        tolerances=[0.5],
        output_dir=tmp_path,
        cancel=cancel,
        on_progress=stop,
    )
    assert rep.aborted and rep.face.scores[0].photos == 2
    with open(tmp_path / "eval-run.toml", "rb") as f:
        assert tomllib.load(f)["run"]["status"] == "aborted"


def test_cli_eval_prints_the_table_and_the_kb_advice(ws, capsys, tmp_path, full):
    rc = main(
        [
            "eval",
            "--settings",
            str(ws / "settings.json"),
            "--truth",
            str(DEMO / "truth.csv"),
            "--input",
            str(ws / "query"),
            "--kb",
            "--tols",
            "0.4:0.6:0.1",
            "--output",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "face_tol" in out and "0.40" in out and "0.60" in out and "0.35" not in out.split("KB leave")[0]
    assert f"Separating tolerance: face_tol = {full.kb.tolerance:g}" in out
    assert (tmp_path / "eval-run.toml").is_file() and (tmp_path / "eval.csv").is_file()
    assert main(["eval", "--settings", str(ws / "settings.json")]) == 2
    assert main(["eval", "--settings", str(ws / "settings.json"), "--kb", "--tols", "x"]) == 2


def test_eval_compares_the_detectors_each_with_its_own_kb(ws, capsys, tmp_path):
    from facetui.core.evaluation.detectors import compare_detectors, detector_lines

    settings = load_settings(ws / "settings.json").replace(cache_dir=tmp_path / "cache")  # cold: times compared
    kb_before = (settings.kb_path.read_bytes(), settings.kb_path.stat().st_mtime_ns)
    scores = compare_detectors(
        settings, DEMO / "truth.csv", ["hog", "cnn"], input_dir=ws / "query", output_dir=tmp_path
    )
    assert [d.detector for d in scores] == ["hog", "cnn"]
    for d in scores:  # on the demo both file every photo right (README, Which detector)
        sc = d.score
        assert (sc.found, sc.appearances, sc.wrong, sc.unknown_kept, sc.exact) == (6, 6, 0, 4, 9), d
        assert d.kb_faces == 11 and d.kb_path == (tmp_path / "eval-detectors" / d.detector / "encodings.npz")
        assert load_kb(d.kb_path).meta["detector"] == d.detector  # each scored with a KB its own detector built
    assert scores[1].faces >= scores[0].faces >= 15
    assert scores[0].analysed == scores[1].analysed == 20  # cold: the time comparison is fair
    assert "Here they file alike; hog takes " in "\n".join(detector_lines(settings, scores))
    assert (settings.kb_path.read_bytes(), settings.kb_path.stat().st_mtime_ns) == kb_before  # the KB in use
    raw = json.loads((ws / "settings.json").read_text())
    (ws / "settings-detectors.json").write_text(json.dumps({**raw, "cache_dir": str(tmp_path / "cache")}))
    args = ["eval", "--settings", str(ws / "settings-detectors.json"), "--truth", str(DEMO / "truth.csv")]
    args += ["--input", str(ws / "query"), "--output", str(tmp_path)]
    assert main([*args, "--detectors", "cnn,hog"]) == 0  # the same KBs and cache: nothing analysed again
    out = capsys.readouterr().out
    assert out.index("\ncnn ") < out.index("\nhog ") and "alike (time not compared: photos came from the cache)" in out
    assert main([*args, "--detectors", "sift"]) == 2 and main([*args, "--detectors", "hog", "--apply"]) == 2
    stop = threading.Event()
    stop.set()
    aborted = compare_detectors(settings, DEMO / "truth.csv", ["hog"], input_dir=ws / "query", cancel=stop)
    assert [d.score for d in aborted] == [None]
