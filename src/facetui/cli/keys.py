"""`facetui keys`: the app's key bindings by id, with keymap.toml (beside the settings file) applied and checked."""

from __future__ import annotations

from pathlib import Path

from ..core.base.errors import EXIT_OK, EXIT_SETUP
from .console import say


def run(args) -> int:
    settings_path = args.settings
    from ..tui.keymap import KEYMAP_NAME, bindings, load_keymap  # Textual: the app's bindings

    path = Path(settings_path).expanduser().absolute().parent / KEYMAP_NAME
    keymap, problems = load_keymap(path)
    rows = [(bid, keymap.get(bid, keys), where, what) for bid, (keys, where, what) in bindings().items()]
    w_id, w_keys = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    say(f"{'id':<{w_id}}  {'keys':<{w_keys}}  where: what")
    for bid, keys, where, what in rows:
        say(f"{bid:<{w_id}}  {keys:<{w_keys}}  {where}: {what}" + ("  (keymap)" if bid in keymap else ""))
    say("", f"keymap: {path}" + ("" if path.is_file() else " (none; write one to rebind keys by id)"))
    for line in problems:
        say(f"facetui: {line}", err=True)
    return EXIT_SETUP if problems else EXIT_OK
