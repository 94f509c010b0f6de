"""`facetui kb build` (dataset_dir/<Person>/* into the KB, incrementally) and `facetui kb show`."""

from __future__ import annotations

from ..core.base.errors import EXIT_OK, EXIT_SETUP
from .console import drive, say


def run(settings, args) -> int:
    if args.kb_command == "show":
        return show(settings)
    from ..core.run.kbbuild import build_kb

    return drive(lambda cancel: build_kb(settings, cancel), quiet=False)


def show(settings) -> int:
    from ..core.run.kbbuild import kb_status

    st = kb_status(settings)
    if not st["ok"]:
        say(f"facetui: {st['error']}", err=True)
        return EXIT_SETUP
    say(
        f"KB {st['path']}: {st['people']} people, {st['faces']} faces, {st['bodies']} bodies, "
        f"built {st['built_at']}{' (stale: dataset changed since)' if st['stale'] else ''}"
    )
    say(*(f"  {name}: {c['faces']} faces, {c['bodies']} bodies" for name, c in st["counts"].items()))
    return EXIT_OK
