"""Low-quality faces on the real demo: matched and reported (quality, candidates, the rule that decided), never
silently dropped; the seed's old settings still find the demo's people; eval --apply writes its advice."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, ImageFilter

from facetui.cli import main
from facetui.cli.review import list_lines
from facetui.core.base.events import FileDone
from facetui.core.base.settings import load_settings
from facetui.core.models.analyze import FaceConfig, analyze_path
from facetui.core.review.session import ReviewSession
from facetui.core.run.recognize import recognize
from facetui.core.run.render import format_line
from facetui.core.stores.report import REPORT_NAME, read_rows
from support.helpers import DEMO, read_truth, run_all


def _blurred_copy(src: Path, dst: Path, frac: float) -> None:
    """A copy of ``src`` blurred by a Gaussian of ``frac`` times its largest face's width."""
    a = analyze_path(src, FaceConfig(), False)
    t, r, b, l = max(a.boxes, key=lambda x: (x[2] - x[0]) * (x[1] - x[3]))
    buf = io.BytesIO()
    Image.open(src).convert("RGB").filter(ImageFilter.GaussianBlur(frac * (r - l))).save(buf, "JPEG", quality=95)
    dst.write_bytes(buf.getvalue())


def test_low_quality_and_too_poor_faces_are_reported_with_their_candidates(workspace):
    q = workspace / "query"
    _blurred_copy(q / "q01.jpg", q / "q01-blurred.jpg", 0.03)
    _blurred_copy(q / "q01.jpg", q / "q01-very-blurred.jpg", 0.08)
    s = load_settings(workspace / "settings.json")
    done = {e.result.rel: e.result for e in run_all(recognize(s)) if isinstance(e, FileDone)}
    rows = {r["file"]: r for r in read_rows(s.processed_dir / REPORT_NAME)}
    blurred, very = rows["q01-blurred.jpg"], rows["q01-very-blurred.jpg"]
    # both faces are still matched: Obama is the top candidate, the quality is flagged, the rule is named
    for row in (blurred, very):
        assert row["face_1"] == "Barack_Obama" and float(row["face_1_dist"]) > 0
        assert row["quality"] in ("low", "poor") and row["rule"]
    assert blurred["quality"] == "low" and "low-quality face" in blurred["rule"]
    assert very["quality"] == "poor" and very["decision"] == "Unknown" and "too poor" in very["skipped"]
    assert "low quality" in format_line(done["q01-blurred.jpg"])
    # the sharp original is untouched by all this
    assert rows["q01.jpg"]["quality"] == "" and rows["q01.jpg"]["decision"] == "Barack_Obama"
    # a face too poor to use waits in review with its candidates
    session = ReviewSession(s)
    listed = [line for line in list_lines(session) if line.startswith("q01-very-blurred.jpg")]
    assert listed and "Barack_Obama" in listed[0] and "too poor" in listed[0]


def test_the_seeds_settings_with_lap_var_thresh_80_still_find_the_demos_people(workspace):
    raw = json.loads((workspace / "settings.json").read_text())
    raw.update({"face_tol": 0.5, "face_margin": 0.1, "lap_var_thresh": 80.0})
    raw.pop("face_k", None)
    (workspace / "settings.json").write_text(json.dumps(raw))
    s = load_settings(workspace / "settings.json")
    assert s.lap_var_thresh == 80.0 and not s.warnings
    done = {e.result.rel: set(e.result.people) for e in run_all(recognize(s)) if isinstance(e, FileDone)}
    assert done == read_truth(DEMO / "truth.csv")


def test_a_gate_from_another_unit_is_warned_about_not_silently_used(workspace):
    raw = json.loads((workspace / "settings.json").read_text())
    raw["lap_var_thresh"] = 5000.0
    (workspace / "settings.json").write_text(json.dumps(raw))
    s = load_settings(workspace / "settings.json")
    assert any("lap_var_thresh 5000" in w and "low quality" in w for w in s.warnings)


def test_eval_apply_writes_the_advice_and_keeps_every_other_key(workspace, capsys):
    sp = workspace / "settings.json"
    raw = json.loads(sp.read_text())
    raw.update({"face_tol": 0.40, "my_note": "kept as is"})  # 0.40 misses people the advice finds
    sp.write_text(json.dumps(raw))
    args = ["eval", "--settings", str(sp), "--truth", str(DEMO / "truth.csv"), "--input", str(workspace / "query")]
    assert main(args + ["--apply"]) == 0
    out = capsys.readouterr().out
    assert "Applied to" in out and "face_tol: 0.4 ->" in out
    after = json.loads(sp.read_text())
    s = load_settings(sp)
    assert s.face_tol > 0.40 and after["my_note"] == "kept as is"
    assert {k: v for k, v in after.items() if k not in ("face_tol", "face_margin", "face_k", "lap_var_thresh")} == {
        k: v for k, v in raw.items() if k not in ("face_tol", "face_margin", "face_k", "lap_var_thresh")
    }
    # the advice now in the file finds everyone; applying again changes nothing
    assert main(args + ["--apply"]) == 0
    assert "already are the advice" in capsys.readouterr().out
