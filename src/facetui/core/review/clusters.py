"""Clusters of unknown faces for review: the faces still Unknown grouped by :mod:`.linkage` at ``cluster_tol``,
biggest first, each with its faces ordered from the most central outwards and the KB people nearest to it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base.events import UNKNOWN, Candidates
from ..base.fsutil import display_name, file_stamp
from ..models.compare import linkage
from ..models.compare.matcher import face_scores, top_k
from ..stores.reviewlog import Entry, iou
from .session import ReviewItem, ReviewSession


@dataclass(frozen=True)
class Cluster:
    """Unknown faces that look like one person, the most central first, and the KB people nearest to them.

    ``spread[i]`` is the mean distance from ``items[i]`` to the other faces of the group, scaled as the clustering
    scales it (0 for a group of one); a face whose spread is over the tolerance the group was made at is an
    outlier, worth a look before naming.
    """

    number: int  # 1-based, biggest group first: what `review --clusters` prints and `--name-cluster N` takes
    items: tuple[ReviewItem, ...]
    spread: tuple[float, ...]
    candidates: Candidates  # (person, mean distance over the members) best first, no one a member rejected
    tol: float

    @property
    def photos(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(it.rel for it in self.items))

    def outlier(self, i: int) -> bool:
        return self.spread[i] > self.tol

    @property
    def outliers(self) -> tuple[ReviewItem, ...]:
        return tuple(it for i, it in enumerate(self.items) if self.outlier(i))


def unknown_faces(session: ReviewSession) -> tuple[list[ReviewItem], np.ndarray]:
    """Every face still Unknown in the latest report (in any photo, undecided) that has a cached encoding."""
    items, encs = [], []
    for r in session.results.values():
        if r.error:
            continue
        for f in r.faces:
            if f.box is None or f.name != UNKNOWN:
                continue
            it = ReviewItem(r.rel, r.sha256, f.index, f.box)
            if session.status(it) == "none":
                continue  # "not anyone": not asked again, not grouped again
            enc = session.encoding(it)
            if enc is not None:
                items.append(it)
                encs.append(enc)
    return items, np.asarray(encs, np.float64).reshape(-1, 128)


def apart_sets(items: list[ReviewItem], splits: list[Entry]) -> list[list[tuple]]:
    """Each face's cannot-links (see :data:`linkage.Apart`): its photo (two faces of one photo are two people) and
    the side it took in each split that the review log holds."""
    by_photo: dict[str, list[Entry]] = {}
    for e in splits:
        by_photo.setdefault(e.sha256, []).append(e)
    out = []
    for it in items:
        tags: list[tuple] = [(("photo", it.sha256), it.face)]
        for e in by_photo.get(it.sha256, ()):
            if e.box is not None and it.box is not None and iou(e.box, it.box) >= 0.5:
                tags.append((("split", e.batch), e.side))
        out.append(tags)
    return out


def find_clusters(session: ReviewSession, tol: float | None = None, min_size: int = 1) -> list[Cluster]:
    """Cluster the unknown faces of the session's output folder at ``tol`` (default: the cluster_tol setting).

    The session keeps the last result while its report, review log and KB are unchanged on disk (the review
    queue's order and the clusters screen then share one clustering)."""
    tol = session.settings.cluster_tol if tol is None else float(tol)
    stamp = file_stamp(session.report_path, session.log.path, session.settings.kb_path)
    key = (tol, min_size, stamp)
    if stamp is not None and session.grouped is not None and session.grouped[0] == key:
        return list(session.grouped[1])
    out = _find(session, tol, min_size)
    session.grouped = (key, tuple(out))
    return out


def _find(session: ReviewSession, tol: float, min_size: int) -> list[Cluster]:
    items, encs = unknown_faces(session)
    splits = [e for e in session.log.live() if e.op == "split"]
    grouping = linkage.group(encs, tol, apart_sets(items, splits))
    bank = session.bank
    scores = face_scores(bank, encs, session.settings.face_k) if len(bank) and len(encs) else None
    out: list[Cluster] = []
    for group in grouping.groups:
        if len(group) < min_size:
            continue
        members = [items[i] for i in group]
        spread = _spread(encs[group], grouping.scale[group])
        order = sorted(range(len(group)), key=lambda k: (spread[k], k))
        cands: Candidates = ()
        if scores is not None:
            rejected = set().union(*(session.rejected(it) for it in members))
            mean = scores[group].mean(axis=0)
            cands = tuple(c for c in top_k(mean, bank.people, k=3 + len(rejected)) if c[0] not in rejected)[:3]
        out.append(
            Cluster(
                number=len(out) + 1,
                items=tuple(members[k] for k in order),
                spread=tuple(float(spread[k]) for k in order),
                candidates=cands,
                tol=tol,
            )
        )
    return out


def _spread(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Each row's mean distance to the other rows, scaled as the clustering scales them (0 for one row)."""
    if len(x) < 2:
        return np.zeros(len(x))
    d = linkage.scaled_pairwise(x, scale)
    np.fill_diagonal(d, 0.0)
    return d.sum(axis=1) / (len(x) - 1)


def cluster_lines(clusters: list[Cluster]) -> list[str]:
    """``facetui review --clusters``: one header line per cluster, then one line per face (two spaces, the file)."""
    if not clusters:
        return ["No unknown faces to cluster."]
    lines = []
    for c in clusters:
        near = "[" + ", ".join(f"{p}:{d:.2f}" for p, d in c.candidates) + "]"
        n, k = len(c.items), len(c.photos)
        lines.append(
            f"Cluster {c.number}: {n} face{'s' if n != 1 else ''} in {k} photo{'s' if k != 1 else ''} "
            f"(cluster_tol {c.tol:g}) | nearest: {near}"
        )
        for i, it in enumerate(c.items):
            mark = f" | outlier: {c.spread[i]:.2f} from the others" if c.outlier(i) else ""
            far = f" ({c.spread[i]:.2f})" if n > 1 and not mark else ""
            lines.append(f"  {display_name(it.rel)} face {it.face}{far}{mark}")
    return lines
