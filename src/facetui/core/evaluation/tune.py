"""The joint search over the settings that decide (face_tol, face_margin, face_k, lap_var_thresh): each labelled
photo's faces reduced once per face_k to a few numbers, every combination of the grid scored with numpy exactly as
decide.Decider would decide, and the best combination with no wrong filing picked.

An eval decides its photos again for every value it shows; for a grid of thousands of combinations that would
take minutes, so this module replays the rule on arrays instead. tests/integration/test_accuracy.py checks that it counts exactly
what the Decider files, combination by combination.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..models.compare.matcher import body_similarities, face_scores, top_k
from ..models.face.detect import box_area
from ..models.face.quality import POOR_BELOW
from ..run.analyzer import Item
from ..run.decide import Decider, strict_rule
from .scores import Score

GRID_TOL = tuple(round(0.40 + 0.01 * i, 2) for i in range(26))  # 0.40 .. 0.65
GRID_MARGIN = tuple(round(0.01 * i, 2) for i in range(16))  # 0 .. 0.15
GRID_K = (1, 2, 3)
GRID_LAP = (0.0, 60.0, 120.0, 240.0)


@dataclass(frozen=True)
class Combo:
    """One setting of every key that decides (their settings names)."""

    face_tol: float
    face_margin: float
    face_k: int
    lap_var_thresh: float

    def as_settings(self) -> dict[str, float | int]:
        return asdict(self)

    def text(self) -> str:
        return (
            f"face_tol {self.face_tol:g}, face_margin {self.face_margin:g}, face_k {self.face_k}, "
            f"lap_var_thresh {self.lap_var_thresh:g}"
        )


@dataclass
class Tuning:
    """What the joint search found: the best safe combination overall and for each face_k, and the ceiling."""

    combos: int  # combinations scored
    safe: int  # of those, with no wrong filing
    current: Combo
    current_score: Score
    best: Combo | None = None
    best_score: Score | None = None
    best_by_k: dict[int, tuple[Combo, Score]] = field(default_factory=dict)
    nearest_right: int = 0  # appearances whose person is the nearest KB person for some face (k=1): the ceiling
    appearances: int = 0


@dataclass
class _Faces:
    """Every face of the labelled photos as flat arrays (a faceless photo is one row that only its body decides)."""

    photo: np.ndarray  # (F,) photo index
    q: np.ndarray  # (F,) sharpness, +inf for a faceless row
    area: np.ndarray  # (F,) box area, -1 for a faceless row
    body: np.ndarray  # (F,) person index the body region accepts (sim > body_tol), -1 for none
    faceless: np.ndarray  # (F,) bool
    best: dict[int, np.ndarray]  # face_k -> (F,) best person index (-1: no candidate)
    s1: dict[int, np.ndarray]  # face_k -> (F,) best score (+inf: none)
    gap: dict[int, np.ndarray]  # face_k -> (F,) next person's score minus the best (+inf: no second person)
    few: dict[int, np.ndarray]  # face_k -> (F,) the best person has fewer KB photos than face_k (stricter rule)


class Search:
    """The labelled photos prepared for scoring any combination quickly."""

    def __init__(
        self,
        decider: Decider,
        items: Sequence[tuple[Item, str]],
        expected: dict[str, frozenset[str]],
        ks: Sequence[int] = GRID_K,
    ):
        self.decider = decider
        self.settings = decider.settings
        self.people = list(decider.faces.people)
        body_people = list(decider.bodies.people) if decider.bodies is not None else []
        names = sorted(set(self.people) | set(body_people) | {p for v in expected.values() for p in v})
        self.index = {n: i for i, n in enumerate(names)}
        n_photos = len(items)
        self.want = np.zeros((n_photos, len(names)), bool)
        self.error = np.zeros(n_photos, bool)
        self.apps = sum(len(expected[rel]) for _, rel in items)
        self.unknown_photos = sum(not expected[rel] for _, rel in items)
        for p, (item, rel) in enumerate(items):
            for person in expected[rel]:
                self.want[p, self.index[person]] = True
            self.error[p] = bool(item.analysis.error)
        self.want_count = self.want.sum(1)
        self.faces = self._flatten(items, ks)

    def _flatten(self, items, ks) -> _Faces:
        d, s = self.decider, self.settings
        photo, q, area, body, faceless = [], [], [], [], []
        best = {k: [] for k in ks}
        s1 = {k: [] for k in ks}
        gap = {k: [] for k in ks}
        few = {k: [] for k in ks}
        for p, (item, _) in enumerate(items):
            a = item.analysis
            if a.error:
                continue
            sims = None
            if item.body is not None and d.bodies is not None and len(item.body):
                sims = body_similarities(d.bodies, item.body)
            rows = max(1, len(a.boxes))
            for i in range(rows):
                photo.append(p)
                has_face = bool(a.boxes)
                faceless.append(not has_face)
                q.append(a.sharpness[i] if has_face else np.inf)
                area.append(box_area(a.boxes[i]) if has_face else -1)
                bc = top_k(sims[i], d.bodies.people, 1, higher_is_better=True) if sims is not None else ()
                body.append(self.index[bc[0][0]] if bc and bc[0][1] > s.body_tol else -1)
            for k in ks:
                if not a.boxes:
                    best[k].append(-1)
                    s1[k].append(np.inf)
                    gap[k].append(np.inf)
                    few[k].append(False)
                    continue
                sc = face_scores(d.faces, a.encodings, k)
                for i in range(len(a.boxes)):
                    c = top_k(sc[i], d.faces.people, 2) if len(d.faces) else ()
                    best[k].append(self.index[c[0][0]] if c else -1)
                    s1[k].append(c[0][1] if c else np.inf)
                    gap[k].append(c[1][1] - c[0][1] if len(c) > 1 else np.inf)
                    few[k].append(bool(c) and d.kb_photos.get(c[0][0], k) < k)
        arr = lambda v, t=np.float64: np.asarray(v, dtype=t)  # noqa: E731
        return _Faces(
            photo=arr(photo, np.int64),
            q=arr(q),
            area=arr(area),
            body=arr(body, np.int64),
            faceless=arr(faceless, bool),
            best={k: arr(v, np.int64) for k, v in best.items()},
            s1={k: arr(v) for k, v in s1.items()},
            gap={k: arr(v) for k, v in gap.items()},
            few={k: arr(v, bool) for k, v in few.items()},
        )

    def _usable(self, lap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(usable, poor, body_allowed) per face row for this gate, following the multi_face policy."""
        f = self.faces
        poor = ~f.faceless & (lap > 0) & (f.q < min(POOR_BELOW, lap))
        usable = ~f.faceless & ~poor
        body_allowed = f.faceless | poor
        if self.settings.multi_face == "largest" and len(f.photo):
            usable_area = np.where(usable, f.area, -np.inf)
            order = np.lexsort((-usable_area, f.photo))  # per photo, the largest usable face first
            first = np.ones(len(order), bool)
            first[1:] = f.photo[order][1:] != f.photo[order][:-1]
            chosen = np.zeros(len(f.photo), bool)
            chosen[order[first]] = True
            usable &= chosen
            # a photo with no usable face: only its largest face's body may decide
            any_usable = np.bincount(f.photo, weights=usable, minlength=len(self.error)) > 0
            face_area = np.where(f.faceless, -np.inf, f.area)
            order = np.lexsort((-face_area, f.photo))
            largest = np.zeros(len(f.photo), bool)
            largest[order[first]] = True
            body_allowed = f.faceless | (poor & ~any_usable[f.photo] & largest)
        return usable, poor, body_allowed

    def names(self, c: Combo) -> np.ndarray:
        """(F,) person index each face row is filed under for this combination (-1: Unknown)."""
        f = self.faces
        usable, poor, body_allowed = self._usable(c.lap_var_thresh)
        low = usable & (c.lap_var_thresh > 0) & (f.q < c.lap_var_thresh)
        strict = low | f.few[c.face_k]  # as Decider.face_rule: a low-quality face, or a person with too few KB photos
        strict_tol, strict_margin = strict_rule(c.face_tol, c.face_margin)
        tol = np.where(strict, strict_tol, c.face_tol)
        margin = np.where(strict, strict_margin, c.face_margin)
        s1, gap, best = f.s1[c.face_k], f.gap[c.face_k], f.best[c.face_k]
        face_ok = usable & (best >= 0) & (s1 < tol) & (gap >= margin)
        return np.where(face_ok, best, np.where((usable | body_allowed) & (f.body >= 0), f.body, -1))

    def score(self, c: Combo) -> Score:
        """The Score the Decider's filings would get under this combination."""
        f = self.faces
        n = self.names(c)
        ok = n >= 0
        pairs = np.unique(f.photo[ok] * len(self.index) + n[ok])
        ph, person = pairs // len(self.index), pairs % len(self.index)
        right = self.want[ph, person]
        n_photos = len(self.error)
        got = np.bincount(ph, minlength=n_photos)
        wrong_per = np.bincount(ph[~right], minlength=n_photos)
        fine = ~self.error
        return Score(
            value=c.face_tol,
            photos=n_photos,
            appearances=self.apps,
            found=int(right.sum()),
            wrong=int((~right).sum()),
            unknown_photos=self.unknown_photos,
            unknown_kept=int(np.sum(fine & (self.want_count == 0) & (got == 0))),
            exact=int(np.sum(fine & (wrong_per == 0) & (got == self.want_count))),
            errors=int(self.error.sum()),
        )

    def nearest_right(self) -> int:
        """Appearances whose person is the nearest KB person (face_k 1) of some face: what no rule can beat."""
        f = self.faces
        k1 = min(f.best)
        ok = ~f.faceless & (f.best[k1] >= 0)
        pairs = np.unique(f.photo[ok] * len(self.index) + f.best[k1][ok])
        return int(self.want[pairs // len(self.index), pairs % len(self.index)].sum())


def tune(
    search: Search,
    current: Combo,
    tols: Sequence[float] = GRID_TOL,
    margins: Sequence[float] = GRID_MARGIN,
    ks: Sequence[int] = GRID_K,
    laps: Sequence[float] = GRID_LAP,
) -> Tuning:
    """Score every combination; the advice is the one that finds the most among those with no wrong filing one
    grid step around them (face_tol and face_margin), and among equals the one with the most good neighbours
    (the middle of a plateau, not its edge)."""
    if current.face_k not in search.faces.best:
        raise ValueError(f"the search was prepared without face_k {current.face_k}, the value in use")
    ks = [k for k in sorted(set(ks) | {current.face_k}) if k in search.faces.best]
    # the values in use join the grid, so that "keep what you have" is always among the answers
    tols = sorted(set(tols) | {current.face_tol})
    margins = sorted(set(margins) | ({current.face_margin} if len(margins) > 1 else set()))
    laps = sorted(set(laps) | {current.lap_var_thresh})
    grid = [Combo(t, m, k, lap) for k in ks for lap in laps for m in margins for t in tols]
    scores = {c: search.score(c) for c in grid}
    res = Tuning(
        combos=len(grid),
        safe=sum(s.wrong == 0 for s in scores.values()),
        current=current,
        current_score=search.score(current),
        nearest_right=search.nearest_right(),
        appearances=search.apps,
    )
    safe = [c for c, s in scores.items() if s.wrong == 0]
    if not safe:
        return res
    ti = {t: i for i, t in enumerate(tols)}
    mi = {m: i for i, m in enumerate(margins)}

    def around(c: Combo):
        for dt, dm in itertools.product((-1, 0, 1), repeat=2):
            i, j = ti[c.face_tol] + dt, mi[c.face_margin] + dm
            if (dt or dm) and 0 <= i < len(tols) and 0 <= j < len(margins):
                yield scores[Combo(tols[i], margins[j], c.face_k, c.lap_var_thresh)]

    def neighbours(c: Combo, found: int) -> int:
        return sum(s.wrong == 0 and s.found >= found - 1 for s in around(c))

    # advice keeps a safety distance: every neighbour one grid step away in face_tol and face_margin also files
    # nobody wrongly (tuned on half of lfw-calib, the edge of the safe region filed strangers in the other half;
    # benchmarks/accuracy_report.py measures it)
    roomy = [c for c in safe if all(s.wrong == 0 for s in around(c))]
    safe = roomy or safe

    def key(c: Combo):
        s = scores[c]
        return (
            s.found,
            neighbours(c, s.found),
            c.face_k == current.face_k,
            c.lap_var_thresh == current.lap_var_thresh,
            -abs(c.face_tol - current.face_tol),
            -abs(c.face_margin - current.face_margin),
        )

    for k in ks:
        in_k = [c for c in safe if c.face_k == k]
        if in_k:
            top = max(s for s in (scores[c].found for c in in_k))
            pick = max((c for c in in_k if scores[c].found == top), key=key)
            res.best_by_k[k] = (pick, scores[pick])
    top = max(scores[c].found for c in safe)
    res.best = max((c for c in safe if scores[c].found == top), key=key)
    res.best_score = scores[res.best]
    return res


def tuning_lines(t: Tuning) -> list[str]:
    """The joint search as the CLI prints it."""
    cur = t.current_score
    lines = [
        f"Joint search over face_tol, face_margin, face_k and lap_var_thresh: {t.combos} combinations, "
        f"{t.safe} with no wrong filing.",
        f"  in use:  {t.current.text()}: found {cur.found}/{cur.appearances}, {cur.wrong} wrong, "
        f"unknowns kept {cur.unknown_kept}/{cur.unknown_photos}, exactly right {cur.exact}/{cur.photos}",
    ]
    if t.best is None or t.best_score is None:
        lines.append(
            "  no combination in the grid files nothing wrongly: the KB may hold a look-alike or a mislabelled photo"
        )
    else:
        b = t.best_score
        lines.append(
            f"  advice:  {t.best.text()}: found {b.found}/{b.appearances}, no wrong filing, "
            f"unknowns kept {b.unknown_kept}/{b.unknown_photos}, exactly right {b.exact}/{b.photos}"
        )
    lines.append(
        f"  ceiling: the nearest KB person is the right one for {t.nearest_right} of {t.appearances} "
        "known appearances (no rule can file more)"
    )
    return lines
