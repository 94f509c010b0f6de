"""`facetui review`: the unknowns of the latest run, listed, clustered, or filed one by name; undo the last decision."""

from __future__ import annotations

import os
import sys

from ..core.base.errors import EXIT_OK


def run(settings, args) -> int:
    from ..core.review.session import ReviewSession

    session = ReviewSession(settings, args.output)
    try:
        if args.clusters:
            from ..core.review.clusters import cluster_lines, find_clusters

            lines = cluster_lines(find_clusters(session), settings.face_tol)
        elif args.assign:
            lines = [session.assign(session.item_for(args.assign[0], args.face), args.assign[1]).message]
        elif args.undo:
            lines = [session.undo().message]
        else:
            photos = len({it.rel for it in session.items})
            lines = [f"{len(session.items)} unknown face(s) in {photos} photo(s) to review in {session.output_dir}"]
            lines += session.list_lines()
    finally:
        session.close()
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:  # `facetui review --list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK
