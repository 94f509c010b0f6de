"""`facetui recognize`: sort a folder of photos by person, headless, one line per photo and a summary."""

from __future__ import annotations

from .console import drive


def run(settings, args) -> int:
    from ..core.run.recognize import recognize

    return drive(lambda cancel: recognize(settings, args.input, args.output, cancel), quiet=args.quiet)
