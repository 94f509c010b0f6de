"""How one setting's values score against the labels: a Score per value, the Sweep over the values with the one it marks, and the sweep's table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..base.events import UNKNOWN, FileResult
from ..base.fsutil import display_name

# settings whose lowest value accepts the most (face_tol accepts more as it grows)
LOOSE_FIRST = frozenset({"body_tol", "face_margin", "face_k", "lap_var_thresh"})


@dataclass(frozen=True)
class Score:
    """How one setting value did over the labelled photos."""

    value: float
    photos: int  # photos scored
    appearances: int  # known-person appearances in the truth (a photo of two known people counts 2)
    found: int  # of those, the photo was filed under the person
    wrong: int  # filings under a person who is not in the photo
    unknown_photos: int  # photos with nobody known in them
    unknown_kept: int  # of those, filed as Unknown
    exact: int  # photos filed under exactly the right people (or Unknown)
    errors: int = 0  # photos that could not be read or analysed

    @property
    def recall(self) -> float:
        return self.found / self.appearances if self.appearances else 0.0


def score(results: Sequence[FileResult], expected: dict[str, frozenset[str]], value: float) -> Score:
    """Count one value's decisions against the truth."""
    apps = found = wrong = unk = kept = exact = errors = 0
    for r in results:
        want = expected[r.rel]
        apps += len(want)
        unk += not want
        if r.error:
            errors += 1
            continue
        got = set(r.people)
        found += len(got & want)
        wrong += len(got - want)
        kept += not want and not got
        exact += got == want
    return Score(
        value=value,
        photos=len(results),
        appearances=apps,
        found=found,
        wrong=wrong,
        unknown_photos=unk,
        unknown_kept=kept,
        exact=exact,
        errors=errors,
    )


def pick_marked(scores: Sequence[Score]) -> float | None:
    """The value with the highest recall among those with zero wrong filings.

    Ties are broken towards the middle of the tied values (the lower middle when there are two), so the
    advice sits as far as the sweep allows from both the misses below and the wrong filings above.
    """
    safe = [s for s in scores if s.wrong == 0 and s.photos]
    if not safe:
        return None
    best = max(s.found for s in safe)
    tied = sorted(s.value for s in safe if s.found == best)
    return tied[(len(tied) - 1) // 2]


@dataclass
class Sweep:
    """One setting swept over values: a Score per value, the marked value and the value in use."""

    key: str
    scores: list[Score]
    marked: float | None
    current: float
    results: dict[float, list[FileResult]] = field(default_factory=dict, repr=False)

    def score_at(self, value: float) -> Score | None:
        return next((s for s in self.scores if math.isclose(s.value, value)), None)

    def mistakes(self, value: float, expected: dict[str, frozenset[str]]) -> list[tuple[str, str, str]]:
        """(file, expected, got) for each photo not filed exactly right at ``value``."""
        out = []
        for r in self.results.get(_key(self.results, value), []):
            want = expected[r.rel]
            got = set(r.people)
            if r.error or got != want:
                out.append((r.rel, _label(want), "Error: " + r.error if r.error else _label(got)))
        return out


def _key(d: dict[float, object], value: float) -> float:
    return next((k for k in d if math.isclose(k, value)), value)


def _label(people) -> str:
    return ";".join(sorted(people)) or UNKNOWN


def _num(v: float) -> str:
    return f"{v:.2f}" if math.isclose(round(v, 2), v) else f"{v:g}"


def pct(a: int, b: int) -> str:
    """``a`` of ``b`` as a whole percentage ("-" of nothing)."""
    return f"{100.0 * a / b:.0f}%" if b else "-"


def value_text(key: str, v) -> str:
    """A setting's value as sweeps, advice and change lines show it: face_k a whole number (2, not 2.00),
    lap_var_thresh a sharpness (0, 60, 120), tolerances and margins with two decimals."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if key == "face_k":
        return str(int(round(v)))
    if key == "lap_var_thresh":
        return f"{v:g}"
    return _num(v)


def sweep_lines(sw: Sweep, expected: dict[str, frozenset[str]] | None = None) -> list[str]:
    """The sweep as a small table, the marked value and the setting in use pointed out."""
    w = max(9, len(sw.key))
    lines = [f"{sw.key:>{w}}  {'recall':>14}  {'wrong filings':>13}  {'unknowns kept':>13}  {'exactly right':>13}"]
    for s in sw.scores:
        marks = []
        if sw.marked is not None and math.isclose(s.value, sw.marked):
            marks.append("best with no wrong filings")
        if math.isclose(s.value, sw.current):
            marks.append("current")
        lines.append(
            f"{value_text(sw.key, s.value):>{w}}  {f'{s.found}/{s.appearances} {pct(s.found, s.appearances):>4}':>14}  "
            f"{s.wrong:>13}  {f'{s.unknown_kept}/{s.unknown_photos}':>13}  "
            f"{f'{s.exact}/{s.photos}':>13}" + (f"  <- {', '.join(marks)}" if marks else "")
        )
    loose_first = sw.key in LOOSE_FIRST
    if sw.marked is None:
        lines.append(
            f"Every {sw.key} value in the sweep files some photo under a wrong person: try "
            + ("higher values." if loose_first else "lower values.")
        )
    else:
        m = sw.score_at(sw.marked)
        assert m is not None
        same = math.isclose(sw.marked, sw.current)
        lines.append(
            f"Advice: {sw.key} = {value_text(sw.key, sw.marked)} (recall {pct(m.found, m.appearances)}, no wrong filings)"
            + ("; that is the setting in use." if same else f"; the setting in use is {sw.current:g}.")
        )
        loosest = sw.scores[0] if loose_first else sw.scores[-1]
        if (
            sw.key in ("face_tol", "body_tol")
            and loosest.wrong == 0
            and loosest.found == m.found
            and len(sw.scores) > 1
        ):
            lines.append(
                f"  The loosest value in the sweep ({loosest.value:g}) files nothing wrongly, so the limit lies "
                "beyond it: the advice is the middle of the safe values seen; widen the sweep to find it."
            )
    if expected is not None:
        for v, what in ((sw.current, "the setting in use"), (sw.marked, "the advised value")):
            if v is None or (what == "the advised value" and math.isclose(v, sw.current)):
                continue
            wrong = sw.mistakes(v, expected)
            lines.append(f"Not exactly right at {sw.key} {v:g} ({what}): " + ("none" if not wrong else f"{len(wrong)}"))
            lines += [f"  {display_name(f)}: expected {e}, got {g}" for f, e, g in wrong]
    return lines
