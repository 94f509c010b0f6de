"""What an eval leaves on disk: eval.csv (one row per value scored) and its findings in eval-run.toml."""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING

from ..base.fsutil import atomic_write_text
from ..stores.manifest import RunManifest

if TYPE_CHECKING:
    from .report import EvalReport


def score_rows(rep: EvalReport) -> list[dict]:
    """One row per value of each sweep: the columns of eval.csv, and the manifest's ``scores``."""
    rows = []
    for sw in rep.sweeps:
        for s in sw.scores:
            rows.append(
                {
                    "setting": sw.key,
                    "value": s.value,
                    "recall": round(s.recall, 4),
                    "found": s.found,
                    "appearances": s.appearances,
                    "wrong": s.wrong,
                    "unknown_kept": s.unknown_kept,
                    "unknown_photos": s.unknown_photos,
                    "exact": s.exact,
                    "photos": s.photos,
                    "errors": s.errors,
                    "marked": sw.marked is not None and math.isclose(s.value, sw.marked),
                    "current": math.isclose(s.value, sw.current),
                }
            )
    return rows


def write_record(rep: EvalReport, manifest: RunManifest | None) -> None:
    """Write eval.csv (where ``rep.report_path`` says) and finish the run manifest with the findings; what cannot
    be written becomes a notice in ``rep``."""
    rows = score_rows(rep)
    if rep.report_path is not None:
        buf = io.StringIO()
        cols = list(rows[0]) if rows else ["setting"]
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        try:
            atomic_write_text(rep.report_path, buf.getvalue())
        except OSError as e:
            rep.notices.append(f"eval table not written to {rep.report_path}: {e.strerror or e}")
            rep.report_path = None
    if manifest is None:
        return
    face = rep.face
    counts = {
        "photos": rep.photos,
        "scored": face.scores[0].photos if face and face.scores else 0,
        "encoded": rep.encoded,
        "cached": rep.cached,
        "errors": face.scores[0].errors if face and face.scores else 0,
    }
    if face is not None:
        counts["current"] = face.current
        if face.marked is not None:
            counts["marked"] = face.marked
    ev: dict = {"truth": str(rep.truth.source) if rep.truth else "", "scores": rows}
    if rep.kb is not None:
        k = rep.kb
        ev["kb_advice"] = {
            "faces": k.faces,
            "people": k.people,
            "pairs": k.pairs,
            "same_pairs": int(len(k.same)),
            "different_pairs": int(len(k.diff)),
            "genuine_worst": k.low,
            "impostor_nearest": k.high,
            "tolerance": k.tolerance,
            "separated": k.separated,
            "singletons": list(k.singletons),
        }
        counts["kb_tolerance"] = k.tolerance
    if rep.rules:
        ev["rules"] = [
            {
                "rule": r.rule,
                "untuned_found": r.untuned_score.found,
                "untuned_wrong": r.untuned_score.wrong,
                "tuned_found": r.tuned_score.found if r.tuned_score else -1,
                "tuned": r.tuned.as_settings() if r.tuned else {},
            }
            for r in rep.rules
        ]
    if rep.tuning is not None:
        t = rep.tuning
        ev["tuning"] = {
            "combinations": t.combos,
            "safe": t.safe,
            "nearest_right": t.nearest_right,
            "appearances": t.appearances,
            "current_found": t.current_score.found,
            "current_wrong": t.current_score.wrong,
            "advice": t.best.as_settings() if t.best else {},
            "advice_found": t.best_score.found if t.best_score else -1,
        }
    manifest.finish(
        aborted=rep.aborted, counts=counts, report_path=rep.report_path, notices=rep.notices, extra={"eval": ev}
    )
    if manifest.error:
        rep.notices.append(manifest.error)
