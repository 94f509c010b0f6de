"""What the calibrate screen says: a setting's value, the table's rows and marks, the joint search's line, the notes
under the table, the finished line, and the labels and photos it starts from (no widget here)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from ..core.base.settings import Settings
from ..core.evaluation.clusterscore import cluster_summary_lines
from ..core.evaluation.scores import pct, value_text
from .lines import short_path
from .widgets import format_eta

if TYPE_CHECKING:
    from ..core.evaluation.evaluate import EvalReport
    from ..core.evaluation.scores import Sweep
    from ..core.evaluation.tune import Tuning

TRUTH_NAME = "truth.csv"


def num(v: Any) -> str:
    """A tolerance or margin as the table and the change lines show it (0.5 -> "0.50", 80.0 -> "80")."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if math.isclose(round(v, 2), v) and abs(v) < 10:
        return f"{v:.2f}"
    return f"{v:g}"


def default_labels(settings: Settings) -> tuple[str, str, bool]:
    """(labels text, photos text, KB only) to start from: ``truth.csv`` beside (or inside) process_dir when there is
    one, with process_dir as the photos; else the KB's own measurement. Paths as typed: relative to the settings file."""
    base = settings.source.parent if settings.source is not None else Path.cwd()
    photos = settings.process_dir
    photos_text = str(settings.to_json_dict()["process_dir"])
    for cand in (photos.parent / TRUTH_NAME, photos / TRUTH_NAME):
        if cand.is_file():
            return rel_text(cand, base), photos_text, False
    return "", photos_text, True


def rel_text(p: Path, base: Path) -> str:
    """``p`` relative to ``base`` when it lies under it (as a user would type it there), else as it is."""
    try:
        return Path(p).relative_to(base).as_posix()
    except ValueError:
        return str(p)


def resolve(text: str, base: Path) -> Path | None:
    """A typed path (relative to the settings file's folder, ``~`` expanded); None when empty."""
    text = text.strip()
    if not text:
        return None
    try:
        p = Path(text).expanduser()
    except RuntimeError:
        p = Path(text)
    return p if p.is_absolute() else base / p


def advised_value(rep: EvalReport, key: str) -> float | None:
    """The value the advice gives ``key`` (the joint search's combination, body_tol from its sweep); None when the
    advice leaves the key out."""
    v = rep.advice.get(key)
    return None if v is None else float(v)


def mark_text(sw: Sweep, value: float, advised: float | None) -> str:
    """ "advised": the advice's value (what a writes); "best alone": the best value with no wrong filing when only
    this key changes (the sweep's own pick), shown where the joint advice differs; "in use": the value in use."""
    marks = []
    if advised is not None and math.isclose(value, advised):
        marks.append("advised")
    elif sw.marked is not None and math.isclose(value, sw.marked):
        marks.append("best alone")
    if math.isclose(value, sw.current):
        marks.append("in use")
    return ("← " + ", ".join(marks)) if marks else ""


def tuning_text(t: Tuning) -> str:
    """The joint search in one line (of the notes' three at 100 columns): appearances found and wrong filings with the
    settings in use and with the advice, and the ceiling (the right person is the nearest KB person)."""
    n = t.appearances
    cur = t.current_score
    text = f"Joint search: in use finds {cur.found}/{n} ({cur.wrong} wrong), "
    if t.best is None or t.best_score is None:
        text += "no combination without a wrong filing; "
    else:
        b = t.best_score
        text += f"advice {b.found}/{n} ({b.wrong} wrong); "
    return text + f"no rule finds more than {t.nearest_right}/{n}"


def change_text(changes: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k} {value_text(k, a)} -> {value_text(k, b)}" for k, (a, b) in changes.items())


def notes_text(rep: EvalReport, changes: dict[str, tuple[Any, Any]], settings_path: Path) -> str:
    """The lines under the table: the joint search, the advice (``changes``: what ``a`` would write to
    ``settings_path``), the sweeps that file someone wrongly at every value, the KB's own measure, the run's notices."""
    lines: list[str] = []
    if rep.aborted:
        lines.append("Aborted: the advice of a partial sweep is not applied.")
    if rep.tuning is not None:
        lines.append(tuning_text(rep.tuning))
    if rep.sweeps and not rep.aborted:
        if changes:
            lines.append("Advice: " + change_text(changes) + " · a writes it to " + short_path(settings_path) + ".")
        elif rep.advice:
            lines.append(
                "Advice: keep the settings in use ("
                + ", ".join(f"{k} {value_text(k, v)}" for k, v in rep.advice.items())
                + ")."
            )
        for sw in rep.sweeps:
            if sw.marked is None:
                lines.append(f"{sw.key}: every value in the sweep files some photo under a wrong person.")
    if rep.kb is not None:
        k = rep.kb
        if k.tolerance is not None:
            gap = f" (gap {k.low:.3f} .. {k.high:.3f})" if k.separated else " (no gap: just below the nearest impostor)"
            lines.append(
                f"KB leave-one-out: {k.people} people, {k.faces} faces; separating face_tol "
                f"{num(k.tolerance)}{gap}. Shown, not applied: set face_tol in Settings (s)."
            )
        else:
            lines.append(f"KB leave-one-out: {k.people} people, {k.faces} faces; too few to measure a tolerance.")
    if rep.clusters is not None:
        lines += cluster_summary_lines(rep.clusters)
    lines += [n for n in rep.notices if n and not n.startswith(("body recognition off", "aborted after"))]
    return "\n".join(lines)


def table_rows(rep: EvalReport) -> tuple[list[tuple[str, tuple[Text, ...]]], int]:
    """The table's rows, (key, cells) one per value swept, and the row to put the cursor on: the advised face_tol,
    else the face_tol in use."""
    rows: list[tuple[str, tuple[Text, ...]]] = []
    cursor = in_use = None
    for sw in rep.sweeps:
        want = advised_value(rep, sw.key)
        for i, s in enumerate(sw.scores):
            advised = want is not None and math.isclose(s.value, want)
            if sw is rep.face:
                if advised:
                    cursor = len(rows)
                if math.isclose(s.value, sw.current):
                    in_use = len(rows)
            rows.append(
                (
                    f"{sw.key}={s.value!r}",
                    (
                        Text(sw.key if i == 0 else "", "bold"),
                        Text(value_text(sw.key, s.value), "bold" if advised else ""),
                        Text(f"{s.found}/{s.appearances} {pct(s.found, s.appearances):>4}"),
                        Text(str(s.wrong), "red" if s.wrong else ""),
                        Text(f"{s.unknown_kept}/{s.unknown_photos}"),
                        Text(f"{s.exact}/{s.photos}"),
                        Text(mark_text(sw, s.value, want), "bold green" if advised else ""),
                    ),
                )
            )
    return rows, cursor if cursor is not None else (in_use or 0)


def sweep_of_row(rep: EvalReport, row: int) -> Sweep | None:
    """The sweep whose values the table's ``row`` lies among."""
    if row < 0:
        return None
    for sw in rep.sweeps:
        if row < len(sw.scores):
            return sw
        row -= len(sw.scores)
    return None


def finished_text(rep: EvalReport, elapsed: float, done: int, saved: str) -> str:
    """The status line once a sweep has ended (``done`` photos analysed in ``elapsed`` seconds; ``saved``: what the
    last apply wrote)."""
    took = f" in {format_eta(elapsed)}"
    table = f" Eval table: {short_path(rep.report_path)}." if rep.report_path else ""
    if rep.aborted:
        face = rep.face
        scored = face.scores[0].photos if face is not None and face.scores else done
        return (
            f"Aborted after {scored} of {rep.photos} photos: the scores cover those only and are not "
            f"applied. Enter runs again."
        )
    if rep.truth is None:
        what = "KB measured" + took + "."
    else:
        what = f"Done: {rep.photos} labelled photos scored{took}.{table}"
    return what + (f" {saved}" if saved else "")
