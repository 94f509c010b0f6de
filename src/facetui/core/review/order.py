"""The order the review walks its queue in: cluster by cluster, biggest first, so that faces alike come in a row."""

from __future__ import annotations

from .clusters import find_clusters
from .session import ReviewItem, ReviewSession


def cluster_order(session: ReviewSession) -> list[ReviewItem]:
    """The faces waiting in ``session.items``, cluster by cluster (biggest first, each from its most central face
    outwards, as :func:`find_clusters` gives them), then those no cluster holds (no face found, no encoding) in
    report order. Every waiting face comes exactly once; a clustered face no longer waiting is left out."""
    waiting = {it.key: it for it in session.items}
    out: list[ReviewItem] = []
    for c in find_clusters(session):
        for it in c.items:
            if waiting.pop(it.key, None) is not None:
                out.append(it)
    return out + list(waiting.values())
