"""Extra acceptance rules that an eval measures across the face_tol sweep (a margin, a minimum face size), and the lines that say what each did."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from .events import UNKNOWN, FileResult
from .kb import KnowledgeBase
from .decide import Decider
from .runner import Item
from .scores import score
from .settings import Settings

RULE_MARGINS = (0.0, 0.05, 0.10, 0.15, 0.20)
RULE_MIN_FACE_PX = (0, 40, 60, 80, 100)


@dataclass(frozen=True)
class RuleScore:
    """What an extra acceptance rule does across the face_tol sweep, compared with no rule."""

    rule: str  # "margin", "min_face_px", or "none" (the baseline: face_margin 0)
    value: float
    safe_values: tuple[float, ...]  # face_tol values with zero wrong filings under the rule
    best_safe_found: int  # the best recall (appearances found) among those
    removed: int  # wrong filings removed, summed over the sweep
    lost: int  # appearances lost, summed over the sweep

    @property
    def helps(self) -> bool:
        return self.removed > 0 and self.lost == 0


def drop_small_faces(r: FileResult, min_face_px: int) -> FileResult:
    """Send a face accepted by face distance to Unknown when its box is smaller than ``min_face_px``
    (original pixels, shorter side): the minimum face size rule, measured but not a setting."""
    if r.error or min_face_px <= 0:
        return r
    faces, changed = [], False
    for f in r.faces:
        if f.via == "face" and f.box is not None:
            t, right, b, left = f.box
            if min(b - t, right - left) < min_face_px:
                f = replace(f, name=UNKNOWN, via="")
                changed = True
        faces.append(f)
    if not changed:
        return r
    people = tuple(sorted({f.name for f in faces if f.name != UNKNOWN}))
    return replace(r, faces=tuple(faces), people=people)


def consider_rules(settings: Settings, kb: KnowledgeBase, items: list[tuple[Item, str]],
                   expected: dict[str, frozenset[str]], values: Sequence[float]) -> list[RuleScore]:
    """Measure a margin rule (face_margin) and a minimum face size over the face_tol values, each against
    no rule at all (face_margin 0); the photos are decided again, never re-encoded."""
    def decide_all(tol: float, margin: float) -> list[FileResult]:
        decider = Decider(kb, settings.replace(face_tol=tol, face_margin=margin))
        return [decider.decide(item, rel) for item, rel in items]

    base = {v: decide_all(v, 0.0) for v in values}
    base_scores = {v: score(base[v], expected, v) for v in values}
    out = []
    for rule, rule_values in (("margin", RULE_MARGINS[1:]), ("min_face_px", RULE_MIN_FACE_PX[1:])):
        for rv in rule_values:
            safe, removed, lost, best = [], 0, 0, -1
            for v in values:
                if rule == "margin":
                    res = decide_all(v, rv)
                else:
                    res = [drop_small_faces(r, int(rv)) for r in base[v]]
                s = score(res, expected, v)
                removed += base_scores[v].wrong - s.wrong
                lost += base_scores[v].found - s.found
                if s.wrong == 0:
                    safe.append(v)
                    best = max(best, s.found)
            out.append(RuleScore(rule, rv, tuple(safe), best, removed, lost))
    base_safe = [v for v in values if base_scores[v].wrong == 0]
    out.insert(0, RuleScore("none", 0.0, tuple(base_safe),
                            max((base_scores[v].found for v in base_safe), default=-1), 0, 0))
    return out


def rule_lines(rules: Sequence[RuleScore]) -> list[str]:
    """What each extra rule did over the face_tol sweep, against no rule."""
    if not rules:
        return []
    base = next(r for r in rules if r.rule == "none")
    lines = ["Rules considered, against no rule (no wrong filings at face_tol " + _span(base.safe_values) + "):"]
    for r in rules:
        if r.rule == "none":
            continue
        what = (f"face_margin {r.value:g} (best person must beat the next by {r.value:g})" if r.rule == "margin"
                else f"min face {r.value:g} px (not a setting)")
        gain = ", higher best recall" if r.best_safe_found > base.best_safe_found else ""
        lines.append(f"  {what}: removes {r.removed} wrong filing(s), loses {r.lost} appearance(s) over the sweep; "
                     f"no wrong filings at {_span(r.safe_values)}{gain}")
    return lines


def _span(values: Sequence[float]) -> str:
    if not values:
        return "no value"
    return f"{min(values):g}" if len(values) == 1 else f"{min(values):g}..{max(values):g}"
