"""`facetui status`: the settings in use, the KB, and the last runs (from their manifests)."""

from __future__ import annotations

from ..core.base.errors import EXIT_OK
from .console import say


def run(settings, args) -> int:
    from ..core.base.settings import SPECS
    from ..core.run.kbbuild import kb_status
    from ..core.stores.manifest import describe_run, recent_runs

    say(f"Settings: {settings.source}")
    for spec in SPECS:
        v = getattr(settings, spec.key)
        v = ", ".join(v) if isinstance(v, tuple) else ("" if v is None else v)
        say(f"  {spec.key:<20} {v}")
    st = kb_status(settings)
    if st["ok"]:
        say(
            f"KB: {st['path']}: {st['people']} people, {st['faces']} faces, {st['bodies']} bodies, built "
            f"{st['built_at']}, fingerprint {st['fingerprint']}{' (stale: dataset changed since)' if st['stale'] else ''}"
        )
    else:
        say(f"KB: {st['error']}")
    runs = recent_runs(settings)
    if not runs:
        say("Last run: none recorded")
    for i, (path, m) in enumerate(runs):
        say(f"{'Last run' if i == 0 else 'Earlier'}: {describe_run(m)} ({path})")
    return EXIT_OK
