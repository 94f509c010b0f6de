"""The candidate decision rules an eval compares on the same encodings (the seed's nearest photo, a margin, several
KB photos that must agree), each at its best safe setting and at the settings in use, and the lines that say so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .scores import Score
from .tune import GRID_LAP, GRID_MARGIN, GRID_TOL, Combo, Search, tune


@dataclass(frozen=True)
class RuleScore:
    """One candidate rule: the best it does with no wrong filing (tuned) and what it does at the settings in use."""

    rule: str  # short id: "nearest", "nearest+margin", "agree2", "agree3"
    what: str  # what the rule is, in words
    tuned: Combo | None  # its best setting with no wrong filing (None: it files someone wrongly everywhere)
    tuned_score: Score | None
    untuned_score: Score  # at the face_tol, face_margin and lap_var_thresh in use


CANDIDATES = (
    # (id, words, face_k, margins searched; None = the margins of the grid)
    ("nearest", "nearest KB photo, no margin (the seed's rule)", 1, (0.0,)),
    ("nearest+margin", "nearest KB photo + margin (face_k 1)", 1, None),
    ("agree2", "2 KB photos of the person agree + margin (face_k 2)", 2, None),
    ("agree3", "3 KB photos of the person agree + margin (face_k 3)", 3, None),
)


def compare_rules(search: Search, current: Combo) -> list[RuleScore]:
    """Each candidate rule tuned over face_tol, its margins and lap_var_thresh, and scored at the settings in use."""
    out = []
    for rule, what, k, margins in CANDIDATES:
        if k not in search.faces.best:
            continue
        t = tune(search, current, tols=GRID_TOL, margins=margins or GRID_MARGIN, ks=(k,), laps=GRID_LAP)
        here = Combo(current.face_tol, 0.0 if margins == (0.0,) else current.face_margin, k, current.lap_var_thresh)
        best = t.best_by_k.get(k)
        out.append(RuleScore(rule, what, best[0] if best else None, best[1] if best else None, search.score(here)))
    return out


def rule_lines(rules: Sequence[RuleScore], nearest_right: int | None = None) -> list[str]:
    """The candidate rules side by side: tuned (best with no wrong filing) and at the settings in use."""
    if not rules:
        return []
    lines = ["Rules compared on the same encodings (tuned: best with no wrong filing; untuned: at your settings):"]
    for r in rules:
        u = r.untuned_score
        tuned = (
            f"tuned {r.tuned_score.found}/{r.tuned_score.appearances} at face_tol {r.tuned.face_tol:g}, "
            f"margin {r.tuned.face_margin:g}, gate {r.tuned.lap_var_thresh:g}"
            if r.tuned and r.tuned_score
            else "tuned: none in the grid files nothing wrongly"
        )
        lines.append(f"  {r.what}: {tuned}; untuned {u.found}/{u.appearances} with {u.wrong} wrong")
    if nearest_right is not None and rules:
        lines.append(
            f"  ceiling: the nearest KB person is right for {nearest_right} of {rules[0].untuned_score.appearances}"
        )
    return lines
