"""`facetui review`: the unknowns of the latest run, listed, clustered, or filed one by name; undo the last decision."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ..core.base.errors import EXIT_OK
from .console import say

if TYPE_CHECKING:
    from ..core.review.session import ReviewSession


def run(settings, args) -> int:
    from ..core.review.session import ReviewSession

    session = ReviewSession(settings, args.output)
    try:
        if args.clusters:
            from ..core.review.clusters import cluster_lines, find_clusters

            lines = cluster_lines(find_clusters(session))
        elif args.name_cluster:
            lines = [name_cluster(session, args.name_cluster[0], args.name_cluster[1], args.exclude)]
        elif args.assign:
            lines = [session.assign(session.item_for(args.assign[0], args.face), args.assign[1]).message]
        elif args.undo:
            lines = [session.undo().message]
        else:
            photos = len({it.rel for it in session.items})
            lines = [f"{len(session.items)} unknown face(s) in {photos} photo(s) to review in {session.output_dir}"]
            lines += list_lines(session)
    finally:
        session.close()
    try:
        say(*lines, flush=True)
    except BrokenPipeError:  # `facetui review --list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def name_cluster(session: ReviewSession, number: str, name: str, exclude: list[str]) -> str:
    """``--name-cluster N NAME [--exclude FILE[:FACE]]``: cluster N as ``--clusters`` numbers it now."""
    from ..core.review.clusters import find_clusters
    from ..core.review.session import ReviewError

    try:
        n = int(number)
    except ValueError:
        raise ReviewError(
            f"--name-cluster takes the cluster's number as --clusters prints it, not {number!r}"
        ) from None
    clusters = find_clusters(session)
    if not 1 <= n <= len(clusters):
        raise ReviewError(f"there is no cluster {n}: --clusters lists {len(clusters)} now")
    cluster = clusters[n - 1]
    left_out = []
    for spec in exclude:
        rel, _, face = spec.rpartition(":")
        if not face.isdigit():  # no face index given (a ':' may be part of the name)
            rel, face = spec, ""
        photo = session.item_for(rel).rel  # the report's name for it (a bare file name is found too)
        hits = [it for it in cluster.items if it.rel == photo and (not face or it.face == int(face))]
        if len(hits) != 1:
            what = "is not in" if not hits else "has several faces in"
            raise ReviewError(f"{spec} {what} cluster {n}" + (": say which, as FILE:FACE" if hits else ""))
        left_out += hits
    return session.assign_many(list(cluster.items), name, exclude=left_out).message


def list_lines(session: ReviewSession) -> list[str]:
    """``facetui review --list``: each unknown face with its candidates, as the screen would show them."""
    from ..core.base.fsutil import display_name
    from ..core.run.render import format_candidates
    from ..core.stores.report import rel_to

    lines = []
    for it in session.items:
        r = session.result(it)
        face_c, body_c = session.candidates(it)
        where = ";".join(rel_to(d, session.output_dir) for d in r.destinations) or "-"
        what = f"face {it.face}" if it.face is not None else "whole photo"
        f = session.face(it)
        skipped = f" ({f.skipped})" if f is not None and f.skipped else ""
        if f is not None and f.quality == "low":
            skipped += " (low quality)"
        why = f" | why: {f.rule}" if f is not None and f.rule else ""
        lines.append(
            f"{display_name(r.rel)} [{what}{skipped}] in {where} | Face: {format_candidates(face_c)} | "
            f"Body: {format_candidates(body_c)}{why}"
        )
    return lines
