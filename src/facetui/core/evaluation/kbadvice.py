"""The KB's own tolerance advice: leave-one-out distances between its face rows, the tolerance that separates same-person from different-person matches, and the lines that show it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..base.fsutil import display_name
from ..stores.kb import KnowledgeBase


@dataclass
class KbAdvice:
    """Leave-one-out over the KB's face rows: pair distance distributions and the tolerance that separates them."""

    people: int
    faces: int
    same: np.ndarray  # distances of every same-person pair
    diff: np.ndarray  # distances of every different-person pair
    genuine_best: list[tuple[str, str, float]]  # (source, person, distance to the nearest other photo of them)
    nearest_impostor: list[tuple[str, str, str, float]]  # (source, person, other person, distance)
    low: float | None  # the worst genuine best match: a tolerance must be above it to find everyone
    high: float | None  # the nearest impostor: a tolerance must not exceed it to file nobody wrongly
    tolerance: float | None
    singletons: tuple[str, ...] = ()  # people with one photo: no genuine match to measure

    @property
    def pairs(self) -> int:
        return self.faces * (self.faces - 1) // 2

    @property
    def separated(self) -> bool:
        return self.low is not None and self.high is not None and self.low < self.high

    def genuine_recall(self, tol: float) -> float:
        if not self.genuine_best:
            return 0.0
        return sum(d < tol for *_, d in self.genuine_best) / len(self.genuine_best)

    def histogram(self, step: float = 0.05) -> list[tuple[float, float, int, int]]:
        """(low, high, same pairs, different pairs) per bin; the bins hold every pair exactly once."""
        allv = np.concatenate([self.same, self.diff])
        if not len(allv):
            return []
        idx_s = np.floor(self.same / step + 1e-9).astype(int)
        idx_d = np.floor(self.diff / step + 1e-9).astype(int)
        lo_i, hi_i = int(np.floor(allv.min() / step + 1e-9)), int(np.floor(allv.max() / step + 1e-9))
        n = hi_i - lo_i + 1
        cs = np.bincount(idx_s - lo_i, minlength=n) if len(idx_s) else np.zeros(n, int)
        cd = np.bincount(idx_d - lo_i, minlength=n) if len(idx_d) else np.zeros(n, int)
        return [
            (round((lo_i + k) * step, 4), round((lo_i + k + 1) * step, 4), int(cs[k]), int(cd[k])) for k in range(n)
        ]


def kb_advice(kb: KnowledgeBase) -> KbAdvice:
    """Leave each KB face out in turn, match it against the rest, and find the tolerance that separates
    same-person from different-person matches (the midpoint of the gap; without a gap, just below the
    nearest impostor, so that nobody is filed wrongly)."""
    x = np.asarray(kb.face_enc, np.float64).reshape(-1, 128)
    names = list(kb.face_names)
    srcs = list(kb.face_sources)
    n = len(names)
    d2 = (x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2.0 * x @ x.T
    d = np.sqrt(np.maximum(d2, 0.0))
    np.fill_diagonal(d, 0.0)
    arr = np.asarray(names, dtype=object)
    same_m = arr[:, None] == arr[None, :]
    iu = np.triu_indices(n, 1)
    same = d[iu][same_m[iu]]
    diff = d[iu][~same_m[iu]]
    genuine, impostor = [], []
    for i in range(n):
        s_mask = same_m[i].copy()
        s_mask[i] = False
        if s_mask.any():
            genuine.append((srcs[i], names[i], float(d[i][s_mask].min())))
        o_mask = ~same_m[i]
        if o_mask.any():
            j = int(np.where(o_mask)[0][np.argmin(d[i][o_mask])])
            impostor.append((srcs[i], names[i], names[j], float(d[i, j])))
    counts: dict[str, int] = {}
    for nm in names:
        counts[nm] = counts.get(nm, 0) + 1
    low = max(g[2] for g in genuine) if genuine else None
    high = float(diff.min()) if len(diff) else None
    tol = None
    if low is not None and high is not None:
        if low < high:
            mid = (low + high) / 2
            tol = round(mid, 2) if low < round(mid, 2) <= high else mid
        else:
            tol = math.floor(high * 100) / 100
    return KbAdvice(
        people=len(counts),
        faces=n,
        same=same,
        diff=diff,
        genuine_best=genuine,
        nearest_impostor=impostor,
        low=low,
        high=high,
        tolerance=tol,
        singletons=tuple(sorted(k for k, c in counts.items() if c == 1)),
    )


def kb_lines(k: KbAdvice, width: int = 40) -> list[str]:
    """The leave-one-out advice: counts, a text histogram of the two distributions, the separating tolerance."""
    lines = [
        f"KB leave-one-out: {k.people} people, {k.faces} faces, {k.pairs} pairs "
        f"({len(k.same)} same-person, {len(k.diff)} different-person)."
    ]
    hist = k.histogram()
    if hist:
        top = max(max(s, d) for _, _, s, d in hist) or 1
        lines.append(f"{'distance':>11} {'same':>5} {'diff':>5}  (# same person, = different people)")
        marked = False
        for lo, hi, s, d in hist:
            if k.tolerance is not None and not marked and k.tolerance < hi:
                lines.append(f"{'-' * 11} tolerance {k.tolerance:g} {'-' * 11}")
                marked = True
            bar = "#" * (math.ceil(width * s / top) if s else 0) + "=" * (math.ceil(width * d / top) if d else 0)
            lines.append(f"{lo:.2f}-{hi:.2f} {s:>5} {d:>5}  {bar}")
    if k.genuine_best:
        worst = max(k.genuine_best, key=lambda g: g[2])
        lines.append(
            f"Nearest other photo of the same person: {min(g[2] for g in k.genuine_best):.3f} to "
            f"{worst[2]:.3f} (worst: {display_name(worst[0])})."
        )
    if k.nearest_impostor:
        near = min(k.nearest_impostor, key=lambda g: g[3])
        lines.append(f"Nearest other person: {near[3]:.3f} ({display_name(near[0])} ~ {near[2]}).")
    if k.singletons:
        lines.append(f"One photo only (no same-person distance to measure): {', '.join(k.singletons)}.")
    if k.tolerance is None:
        lines.append("No tolerance advice: it needs two photos of at least one person and at least two people.")
    elif k.separated:
        lines.append(
            f"Separating tolerance: face_tol = {k.tolerance:g} (midway in the gap {k.low:.3f} .. {k.high:.3f}; "
            "distances between single photos, the scale of face_k 1)."
        )
    else:
        lines.append(
            f"The distributions overlap ({k.low:.3f} > {k.high:.3f}): face_tol = {k.tolerance:g} files nobody "
            f"wrongly but finds {100 * k.genuine_recall(k.tolerance):.0f}% of the KB's own photos."
        )
    return lines
