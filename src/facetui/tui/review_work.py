"""The review's disk work, run in the review and clusters screens' thread workers: each function reads or changes the
session and the files and returns the message to post, never touching a widget.

The session is not thread-safe, and a worker of a closed screen may still be running (a thread cannot be stopped), so
every use of it holds the lock that the review screen shares with its clusters view.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..core.base.fsutil import display_name
from ..core.base.settings import Settings
from ..core.models.images import ImageLoadError
from ..core.review.clusters import Cluster
from ..core.review.clusters import find_clusters as group_faces
from ..core.review.session import ReviewError, ReviewItem, ReviewSession
from .messages import ClusterFaces, ClustersFound, Decided, ItemLoaded, PreviewReady, QueueReloaded, SessionOpened
from .photos import _readable, render_photo

PREVIEW_SIDE = 2400  # pixels: the full-size preview's rendition
CLUSTER_FACE_SIDE = 200  # pixels: a face crop in the clusters view


def open_session(settings: Settings, output_dir: Path) -> SessionOpened:
    """The review session of the latest run in ``output_dir``, with the KB's names (loading the KB here)."""
    try:
        session = ReviewSession(settings, output_dir)
        people = tuple(session.kb.people)
    except (ReviewError, OSError) as e:
        return SessionOpened(None, str(e))
    return SessionOpened(session, people=people)


def load_item(session: ReviewSession, lock: threading.Lock, item: ReviewItem) -> ItemLoaded:
    """One face's candidates (against the KB as it is now, from the embedding cache) and its pictures."""
    with lock:
        face_c, body_c = session.candidates(item)
        r = session.result(item)
        people = tuple(session.kb.people)
    src = _readable([r.path, *r.destinations])
    photo = face = None
    error = ""
    if src is None:
        error = "photo not found (original and copies are gone)"
    else:
        try:
            photo, face = render_photo(src, item.box)
        except ImageLoadError as e:
            error = str(e)
    return ItemLoaded(item.key, photo, face, face_c, body_c, error, people)


def decide(session: ReviewSession, lock: threading.Lock, op: str, item: ReviewItem | None, person: str = "") -> Decided:
    """``op`` ("assign", "none", "reject" or "undo") on ``item``: files moved, the log, the KB and the report."""
    try:
        with lock:
            if op == "assign":
                outcome = session.assign(item, person)
            elif op == "none":
                outcome = session.mark_none(item)
            elif op == "reject":
                outcome = session.reject(item, person)
            else:
                outcome = session.undo()
    except (ReviewError, OSError) as e:
        return Decided(None, str(e), undo=op == "undo")
    return Decided(outcome, undo=op == "undo")


def preview(session: ReviewSession, item: ReviewItem, shown) -> PreviewReady:
    """The photo of ``item`` at full size; ``shown`` (the screen's rendition) when it cannot be read again."""
    r = session.result(item)
    src = _readable([r.path, *r.destinations])
    try:
        photo = render_photo(src, item.box, side=PREVIEW_SIDE)[0] if src else shown
    except ImageLoadError:
        photo = shown
    return PreviewReady(item.key, photo, f"{display_name(r.rel)} · escape: back")


def reload_queue(session: ReviewSession, lock: threading.Lock, items: list[ReviewItem]) -> QueueReloaded:
    """Read the report and the log again (the clusters view may have decided faces); where each of ``items`` stands."""
    try:
        with lock:
            session.reload()
            pending = {it.key for it in session.items}
            status = {it.key: "" if it.key in pending else (session.status(it) or "none") for it in items}
    except (ReviewError, OSError) as e:
        return QueueReloaded({}, str(e))
    return QueueReloaded(status)


def find_clusters(session: ReviewSession, lock: threading.Lock) -> ClustersFound:
    """The unknown faces grouped by likeness, biggest group first, with the KB's names."""
    try:
        with lock:
            session.reload()
            clusters = group_faces(session)
            people = tuple(session.kb.people)
    except (ReviewError, OSError, RuntimeError) as e:
        return ClustersFound([], str(e))
    return ClustersFound(clusters, people=people)


def cluster_faces(session: ReviewSession, index: int, cluster: Cluster, shown: int) -> ClusterFaces:
    """Crops of the first ``shown`` faces of the ``index``-th cluster (those whose photo can still be read)."""
    faces = []
    for it in cluster.items[:shown]:
        r = session.result(it)
        src = _readable([r.path, *r.destinations])
        if src is None:
            continue
        try:
            _, crop = render_photo(src, it.box, side=CLUSTER_FACE_SIDE)
        except ImageLoadError:
            continue
        if crop is not None:
            faces.append(crop)
    return ClusterFaces(index, faces)


def decide_cluster(
    session: ReviewSession, lock: threading.Lock, cluster: Cluster | None, person: str | None
) -> Decided:
    """Every face of ``cluster`` to ``person`` (one decision), or with ``person`` None the last decision undone."""
    try:
        with lock:
            if person and cluster is not None:
                outcome = session.assign_many(list(cluster.items), person)
            else:
                outcome = session.undo()
    except (ReviewError, OSError) as e:
        return Decided(None, str(e))
    return Decided(outcome, undo=person is None)
