"""How well review's clusters hold on labelled photos: BCubed precision and recall, the share of faces a user could
name safely, the largest and the largest mixed cluster, over a sweep of ``cluster_tol``, and the value to advise."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np

from ..base.events import UNKNOWN, FileResult
from ..models.compare import linkage

DEFAULT_CLUSTER_TOLS = tuple(round(0.35 + 0.025 * i, 3) for i in range(11))  # 0.35 .. 0.60
PURE = 0.9  # a cluster at least this much one person can be named with one key
PRECISION_FLOOR = 0.96  # the advice keeps BCubed precision at or above this (0.95 asked, and a margin)
_LFW_NAME = re.compile(r"^(?P<person>.+)_\d{4}$")  # LFW's <Name>_NNNN.jpg


@dataclass(frozen=True)
class ClusterScore:
    """One clustering of the labelled unknown faces, scored against their labels (unlabelled faces are clustered
    but not scored)."""

    tol: float
    precision: float  # BCubed: per labelled face, the share of its cluster's labelled faces that are its person
    recall: float  # BCubed: per labelled face, the share of its person's faces that are in its cluster
    nameable: float  # faces of people seen at least twice in a cluster of 2+ that is >= PURE their person
    largest: int
    largest_mixed: int  # the largest cluster under PURE one person (0: none)
    clusters: int
    faces: int  # labelled faces scored


@dataclass
class ClusterSweep:
    """``cluster_tol`` swept over the unknown faces an eval's labelled photos leave; ``marked`` is the advice."""

    scores: list[ClusterScore]
    current: float
    marked: float | None
    faces: int  # unknown faces with an encoding
    labelled: int
    from_names: int  # of them, labelled by an LFW-style file name (their photo's truth says Unknown)
    halves: tuple[tuple[float | None, ClusterScore | None], ...] = field(default_factory=tuple)
    """Per half of the people (by a hash of the name): the value that half alone advises, and the other half's
    score at it (held out)."""

    def at(self, tol: float) -> ClusterScore | None:
        return next((s for s in self.scores if np.isclose(s.tol, tol)), None)


def face_label(rel: str, expected: frozenset[str]) -> tuple[str, bool]:
    """(label, from the file name) of an unknown face of this photo: the photo's one expected person, else, for a
    photo labelled Unknown, the person an LFW-style file name (``<Name>_NNNN.jpg``) gives; '' when neither."""
    if len(expected) == 1:
        return next(iter(expected)), False
    if not expected:
        m = _LFW_NAME.match(PurePath(rel).stem)
        if m:
            return m.group("person"), True
    return "", False


def unknown_faces(
    results: Sequence[FileResult], encodings: Sequence[np.ndarray], expected: dict[str, frozenset[str]]
) -> tuple[np.ndarray, list[list[tuple]], list[str], int]:
    """The faces the decided ``results`` leave Unknown (``encodings[i]``: photo i's analysis encodings), with their
    cannot-links (same photo) and labels: (encodings, apart, labels, labels from file names)."""
    encs, apart, labels = [], [], []
    from_names = 0
    for r, enc in zip(results, encodings, strict=True):
        if r.error:
            continue
        for f in r.faces:
            if f.box is None or f.name != UNKNOWN or f.index >= len(enc):
                continue
            label, named = face_label(r.rel, expected.get(r.rel, frozenset()))
            encs.append(np.asarray(enc[f.index], np.float64))
            apart.append([(("photo", r.rel), f.index)])
            labels.append(label)
            from_names += bool(label) and named
    return np.asarray(encs, np.float64).reshape(-1, 128), apart, labels, from_names


def score_clusters(groups: list[list[int]], labels: Sequence[str], tol: float) -> ClusterScore:
    """BCubed precision and recall over the labelled faces, the nameable share, the largest and largest mixed."""
    per_person = Counter(lab for lab in labels if lab)
    precision, recall = [], []
    repeat = nameable = largest_mixed = 0
    for g in groups:
        members = [labels[i] for i in g if labels[i]]
        count = Counter(members)
        if members and count.most_common(1)[0][1] < PURE * len(members):
            largest_mixed = max(largest_mixed, len(g))
        for lab in members:
            precision.append(count[lab] / len(members))
            recall.append(count[lab] / per_person[lab])
            if per_person[lab] >= 2:
                repeat += 1
                nameable += len(members) >= 2 and count[lab] >= PURE * len(members)
    return ClusterScore(
        tol=tol,
        precision=float(np.mean(precision)) if precision else 1.0,
        recall=float(np.mean(recall)) if recall else 1.0,
        nameable=nameable / repeat if repeat else 0.0,
        largest=max((len(g) for g in groups), default=0),
        largest_mixed=largest_mixed,
        clusters=len(groups),
        faces=len(precision),
    )


def pick(scores: Sequence[ClusterScore]) -> float | None:
    """The value to advise: the most nameable faces with BCubed precision at or above PRECISION_FLOOR (the lower
    value on a tie); None when no value keeps that precision."""
    ok = [s for s in scores if s.precision >= PRECISION_FLOOR and s.faces]
    if not ok:
        return None
    return max(ok, key=lambda s: (round(s.nameable, 4), -s.tol)).tol


def sweep_clusters(
    encs: np.ndarray,
    apart: list[list[tuple]],
    labels: list[str],
    current: float,
    tols: Sequence[float] | None = None,
    from_names: int = 0,
) -> ClusterSweep:
    """Cluster the unknown faces at each value (and the one in use) and score each; advise on all the people, and
    check the choice on held-out halves: each half of the people clustered alone advises a value, scored on the
    other half clustered alone."""
    values = sorted({round(float(t), 4) for t in (tols or DEFAULT_CLUSTER_TOLS)} | {round(float(current), 4)})
    scores = _scores(encs, apart, labels, values)
    half = np.array([_half(lab) for lab in labels], bool)
    per_half = []
    for h in (False, True):
        rows = np.nonzero(half == h)[0]
        sub = [labels[i] for i in rows]
        per_half.append((rows, sub, _scores(encs[rows], [apart[i] for i in rows], sub, values)))
    halves = []
    for h in (0, 1):
        chosen = pick(per_half[h][2])
        held = next((s for s in per_half[1 - h][2] if s.tol == chosen), None)
        halves.append((chosen, held))
    return ClusterSweep(
        scores=scores,
        current=float(current),
        marked=pick(scores),
        faces=len(labels),
        labelled=sum(1 for lab in labels if lab),
        from_names=from_names,
        halves=tuple(halves),
    )


def _scores(encs: np.ndarray, apart: list[list[tuple]], labels: list[str], values: list[float]) -> list[ClusterScore]:
    return [score_clusters(linkage.cluster(encs, t, apart), labels, t) for t in values]


def _half(label: str) -> int:
    """Which half of the people a label falls in (unlabelled faces: the first)."""
    return hashlib.md5(label.encode()).digest()[0] & 1 if label else 0


def _unlabelled(sw: ClusterSweep) -> str:
    return (
        f"Clusters: none of the {sw.faces} unknown faces has a label (a photo of one expected person, or an "
        "LFW-style <Name>_NNNN file name): nothing to score."
    )


def cluster_sweep_lines(sw: ClusterSweep) -> list[str]:
    """The clusters section of an eval's text."""
    if not sw.labelled:
        return [_unlabelled(sw)]
    lines = [
        f"Clusters of the unknown faces (review --clusters): {sw.faces} faces, {sw.labelled} labelled"
        + (f" ({sw.from_names} by LFW-style file names)" if sw.from_names else "")
        + f"; nameable = in a cluster of 2+ that is {PURE:.0%} their person",
        f"  {'cluster_tol':>11} {'precision':>9} {'recall':>7} {'nameable':>8} {'largest':>7} {'mixed':>5} "
        f"{'clusters':>8}",
    ]
    for s in sw.scores:
        mark = " <- advised" if sw.marked is not None and np.isclose(s.tol, sw.marked) else ""
        mark += " (in use)" if np.isclose(s.tol, sw.current) else ""
        lines.append(
            f"  {s.tol:>11.3f} {s.precision:>9.3f} {s.recall:>7.3f} {s.nameable:>8.1%} {s.largest:>7} "
            f"{s.largest_mixed:>5} {s.clusters:>8}{mark}"
        )
    if sw.marked is None:
        lines.append(f"  No value keeps BCubed precision at {PRECISION_FLOOR:.2f}: no cluster_tol advised.")
    else:
        lines.append(
            f"  Advised cluster_tol: {sw.marked:g} (the most nameable faces with precision >= {PRECISION_FLOOR:.2f})."
        )
    for h, (chosen, held) in enumerate(sw.halves, 1):
        if chosen is None or held is None:
            lines.append(f"  Half {h} of the people alone advises nothing.")
        else:
            lines.append(
                f"  Half {h} of the people alone advises {chosen:g}; on the other half there: precision "
                f"{held.precision:.3f}, nameable {held.nameable:.1%}, largest mixed {held.largest_mixed}."
            )
    return lines


def cluster_summary_lines(sw: ClusterSweep) -> list[str]:
    """The same measures in two lines (the calibrate screen): the value in use and the advice."""

    def measures(s: ClusterScore) -> str:
        return (
            f"precision {s.precision:.3f}, recall {s.recall:.3f}, nameable {s.nameable:.1%}, largest {s.largest}, "
            f"largest mixed {s.largest_mixed}"
        )

    if not sw.labelled:
        return [_unlabelled(sw)]
    now = sw.at(sw.current)
    lines = [
        f"Clusters of {sw.faces} unknown faces ({sw.labelled} labelled) at cluster_tol {sw.current:g}: "
        + (measures(now) if now else "not measured")
    ]
    best = sw.at(sw.marked) if sw.marked is not None else None
    if best is None:
        lines.append(f"Clusters: no cluster_tol keeps BCubed precision at {PRECISION_FLOOR:.2f}; none advised.")
    elif not np.isclose(best.tol, sw.current):
        lines.append(f"Clusters advised at cluster_tol {best.tol:g}: {measures(best)}.")
    return lines
