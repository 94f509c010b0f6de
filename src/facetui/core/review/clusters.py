"""Clusters of unknown faces: dlib's Chinese-whispers grouping of the 128-d encodings, biggest group first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base.events import UNKNOWN, Candidates
from ..base.fsutil import display_name
from ..models.matcher import face_scores, top_k
from .session import ReviewItem, ReviewSession


def cluster_encodings(encodings: np.ndarray, threshold: float) -> list[list[int]]:
    """Group rows of ``encodings`` whose chains of pairwise distances stay below ``threshold``.

    Uses ``dlib.chinese_whispers_clustering`` (an edge joins two faces closer than the threshold). Returns lists
    of row indices, biggest group first, ties broken by the earliest row; each list is in row order.
    """
    enc = np.asarray(encodings, np.float64).reshape(-1, 128)
    if not len(enc):
        return []
    if len(enc) == 1:
        return [[0]]
    import dlib  # heavy; only when clustering

    labels = dlib.chinese_whispers_clustering([dlib.vector(row.tolist()) for row in enc], float(threshold))
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(int(lab), []).append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


@dataclass(frozen=True)
class Cluster:
    """Unknown faces that look like one person, and the KB people nearest to them as a group."""

    items: tuple[ReviewItem, ...]
    candidates: Candidates  # (person, mean distance over the members) best first

    @property
    def photos(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(it.rel for it in self.items))


def unknown_faces(session: ReviewSession) -> tuple[list[ReviewItem], np.ndarray]:
    """Every face still Unknown in the latest report (in any photo) that has a cached encoding."""
    items, encs = [], []
    for r in session.results.values():
        if r.error:
            continue
        for f in r.faces:
            if f.box is None or f.name != UNKNOWN:
                continue
            it = ReviewItem(r.rel, r.sha256, f.index, f.box)
            enc = session.encoding(it)
            if enc is not None:
                items.append(it)
                encs.append(enc)
    return items, np.asarray(encs, np.float64).reshape(-1, 128)


def find_clusters(session: ReviewSession, threshold: float | None = None, min_size: int = 1) -> list[Cluster]:
    """Cluster the unknown faces of the session's output folder; ``threshold`` defaults to the face tolerance."""
    thr = session.settings.face_tol if threshold is None else threshold
    items, encs = unknown_faces(session)
    out = []
    bank = session.bank
    for group in cluster_encodings(encs, thr):
        if len(group) < min_size:
            continue
        cands: Candidates = ()
        if len(bank):
            mean = face_scores(bank, encs[group], session.settings.face_k).mean(axis=0)
            cands = top_k(mean, bank.people)
        out.append(Cluster(tuple(items[i] for i in group), cands))
    return out


def cluster_lines(clusters: list[Cluster], threshold: float) -> list[str]:
    """``facetui review --clusters``: one header line per cluster and one line per face."""
    if not clusters:
        return ["No unknown faces to cluster."]
    lines = []
    for n, c in enumerate(clusters, 1):
        near = "[" + ", ".join(f"{p}:{d:.2f}" for p, d in c.candidates) + "]"
        lines.append(
            f"Cluster {n}: {len(c.items)} face{'s' if len(c.items) != 1 else ''} in {len(c.photos)} "
            f"photo{'s' if len(c.photos) != 1 else ''} (threshold {threshold:.2f}) | nearest: {near}"
        )
        for it in c.items:
            lines.append(f"  {display_name(it.rel)} face {it.face}")
    return lines
