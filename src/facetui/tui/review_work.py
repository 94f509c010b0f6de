"""The review's disk work, run in the review and clusters screens' thread workers: each function reads or changes the
session and the files and returns the message to post, never touching a widget.

The session is not thread-safe, and a worker of a closed screen may still be running (a thread cannot be stopped), so
every use of it holds the lock that the review screen shares with its clusters view.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from ..core.base.fsutil import display_name
from ..core.base.settings import Settings
from ..core.base.textsafe import terminal_safe
from ..core.models.images import ImageLoadError
from ..core.review.clusters import Cluster
from ..core.review.clusters import find_clusters as group_faces
from ..core.review.order import cluster_order
from ..core.review.session import ReviewError, ReviewItem, ReviewSession
from .messages import ClustersFound, ClusterThumb, Decided, ItemLoaded, PreviewReady, QueueReloaded, SessionOpened
from .photos import first_readable, render_face, render_photo

PREVIEW_SIDE = 2400  # pixels: the full-size preview's rendition
CLUSTER_FACE_SIDE = 160  # pixels: a thumbnail in the clusters view's grid


def open_session(settings: Settings, output_dir: Path) -> SessionOpened:
    """The review session of the latest run in ``output_dir``, with the KB's names (loading the KB here) and the
    queue in the order the screen walks it: cluster by cluster, biggest first (clustering once, here)."""
    try:
        session = ReviewSession(settings, output_dir)
        people = tuple(session.kb.people)
        order = tuple(cluster_order(session))
    except (ReviewError, OSError, RuntimeError) as e:
        return SessionOpened(None, str(e))
    return SessionOpened(session, people=people, order=order)


def load_item(session: ReviewSession, lock: threading.Lock, item: ReviewItem) -> ItemLoaded:
    """One face's candidates (against the KB as it is now, from the embedding cache) and its pictures."""
    with lock:
        face_c, body_c = session.candidates(item)
        r = session.result(item)
        people = tuple(session.kb.people)
    src = first_readable([r.path, *r.destinations])
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
    back: tuple[ReviewItem, ...] = ()
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
                back = _back(session, outcome)
    except (ReviewError, OSError) as e:
        return Decided(None, str(e), undo=op == "undo")
    return Decided(outcome, undo=op == "undo", back=back)


def _back(session: ReviewSession, outcome) -> tuple[ReviewItem, ...]:
    """The faces an undo put back in the queue (a face of a photo no longer filed under Unknown is not)."""
    keys = {(e.file, e.face) for e in outcome.entries}
    return tuple(it for it in session.items if it.key in keys)


def preview(session: ReviewSession, item: ReviewItem, shown) -> PreviewReady:
    """The photo of ``item`` at full size; ``shown`` (the screen's rendition) when it cannot be read again."""
    r = session.result(item)
    src = first_readable([r.path, *r.destinations])
    try:
        photo = render_photo(src, item.box, side=PREVIEW_SIDE)[0] if src else shown
    except ImageLoadError:
        photo = shown
    return PreviewReady(item.key, photo, terminal_safe(f"{display_name(r.rel)} · escape: back"))


def reload_queue(session: ReviewSession, lock: threading.Lock, items: list[ReviewItem]) -> QueueReloaded:
    """Read the report and the log again (the clusters view may have decided faces); where each of ``items`` stands."""
    try:
        with lock:
            session.reload()
            pending = {it.key for it in session.items}
            status = {it.key: "" if it.key in pending else (session.status(it) or "none") for it in items}
            asked = {it.key for it in items}
            new = tuple(it for it in session.items if it.key not in asked)
    except (ReviewError, OSError) as e:
        return QueueReloaded({}, str(e))
    return QueueReloaded(status, new=new)


def find_clusters(session: ReviewSession, lock: threading.Lock) -> ClustersFound:
    """The unknown faces grouped by likeness at cluster_tol, biggest group first, with the KB's names."""
    tol = session.settings.cluster_tol
    try:
        with lock:
            session.reload()
            clusters = group_faces(session)
            people = tuple(session.kb.people)
    except (ReviewError, OSError, RuntimeError) as e:
        return ClustersFound([], str(e), tol=tol)
    return ClustersFound(clusters, people=people, tol=tol)


def cluster_thumbs(
    session: ReviewSession, lock: threading.Lock, token: object, items: list[ReviewItem], cancelled: threading.Event
) -> Iterator[ClusterThumb]:
    """One thumbnail message per face of ``items`` (a cluster's shown faces), in order, until ``cancelled`` is set
    (the user moved to another cluster); a face whose photo cannot be read gets None."""
    with lock:
        sources = [(it.box, [session.result(it).path, *session.result(it).destinations]) for it in items]
    for pos, (box, paths) in enumerate(sources):
        if cancelled.is_set():
            return
        src = first_readable(paths)
        image = None
        if src is not None:
            try:
                image = render_face(src, box, side=CLUSTER_FACE_SIDE)
            except ImageLoadError:
                image = None
        yield ClusterThumb(token, pos, image)


def decide_cluster(
    session: ReviewSession,
    lock: threading.Lock,
    op: str,
    cluster: Cluster | None = None,
    person: str = "",
    left_out: tuple[ReviewItem, ...] = (),
) -> Decided:
    """A group decision, each one undo away: ``op`` "name" (every face of ``cluster`` to ``person`` but those
    ``left_out``, which stay Unknown and are told "not ``person``"), "split" (``left_out`` kept apart from the
    cluster's other faces in every later grouping) or "undo" (the last decision taken back)."""
    try:
        with lock:
            if op == "name" and cluster is not None:
                outcome = session.assign_many(list(cluster.items), person, exclude=list(left_out))
            elif op == "split" and cluster is not None:
                out = {it.key for it in left_out}
                outcome = session.split(list(left_out), [it for it in cluster.items if it.key not in out])
            else:
                outcome = session.undo()
    except (ReviewError, OSError) as e:
        return Decided(None, str(e), undo=op == "undo")
    return Decided(outcome, undo=op == "undo")
