"""`facetui eval --clusters` on real LFW photos: the faces left Unknown clustered over cluster_tol, scored by the
people their LFW file names give, the advice, and --apply writing it."""

from __future__ import annotations

import json
import shutil

from facetui.cli import main
from facetui.core.base.settings import load_settings
from facetui.core.evaluation.evaluate import evaluate, report_lines
from facetui.core.run.kbbuild import build_kb
from support.helpers import LFW_CALIB, lfw_photos, lfw_strangers, run_all

KNOWN = ["Angelina_Jolie", "Hu_Jintao"]
UNKNOWN = ["Bill_Frist", "Clay_Aiken", "Igor_Ivanov", "John_Bolton", "Mike_Myers", "Norah_Jones"]


def test_eval_clusters_scores_the_unknown_faces_and_applies_its_advice(tmp_path, capsys):
    kb, query = tmp_path / "kb", tmp_path / "query"
    for person in KNOWN:
        shutil.copytree(LFW_CALIB / "kb" / person, kb / person)
    query.mkdir()
    rows = ["file,expected"]
    for p, name in [ph for person in UNKNOWN for ph in lfw_photos(person)] + lfw_strangers(8):
        shutil.copy2(p, query / name)
        rows.append(f"{name},Unknown")
    (tmp_path / "truth.csv").write_text("\n".join(rows) + "\n")
    raw = json.loads((LFW_CALIB.parents[1] / "settings.json").read_text())
    raw.update(dataset_dir="kb", process_dir="query", processed_dir="out", cache_dir="cache", workers=1)
    raw["cluster_tol"] = 0.3
    (tmp_path / "settings.json").write_text(json.dumps(raw))
    settings = load_settings(tmp_path / "settings.json")
    run_all(build_kb(settings))

    rep = evaluate(settings, tmp_path / "truth.csv", clusters=True, cluster_tols=[0.3, 0.45, 0.6])
    sw = rep.clusters
    assert sw is not None
    assert sw.labelled == sw.from_names >= 6 * 5 + 8  # every face labelled by its file name (the truth: Unknown)
    by_tol = {s.tol: s for s in sw.scores}
    assert set(by_tol) == {0.3, 0.45, 0.6}
    at = by_tol[0.45]
    assert at.precision >= 0.9 and at.nameable >= 0.5  # six people seen five times each
    assert by_tol[0.3].recall < at.recall  # a tighter tolerance splits people up
    assert by_tol[0.3].clusters > at.clusters
    assert sw.marked is not None and rep.advice["cluster_tol"] == sw.marked
    text = "\n".join(report_lines(rep))
    assert "Clusters of the unknown faces" in text and f"Advised cluster_tol: {sw.marked:g}" in text

    capsys.readouterr()
    code = main(
        [
            "eval",
            "--settings",
            str(settings.source),
            "--truth",
            str(tmp_path / "truth.csv"),
            "--cluster-tols",
            "0.3,0.45,0.6",
            "--apply",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"cluster_tol: 0.3 -> {sw.marked:g}" in out
    assert load_settings(settings.source).cluster_tol == sw.marked
