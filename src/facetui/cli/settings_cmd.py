"""`facetui settings`: check the settings file (every problem named), or print the settings reference."""

from __future__ import annotations

from ..core.base.errors import EXIT_OK
from .console import say


def run(args) -> int:
    if args.reference:
        from ..core.base.settings import settings_reference_markdown

        say(*settings_reference_markdown().splitlines())
        return EXIT_OK
    from . import load_settings_for

    settings = load_settings_for(args)
    say(f"{settings.source}: ok")
    return EXIT_OK
