"""Command line: no subcommand opens the Textual app; each subcommand is one module over the same core, found in
COMMANDS and imported only when asked for, so `--help` and the app start without loading models."""

from __future__ import annotations

import importlib
import sys

from ..core.base.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_SETUP, FacetuiError, exit_code
from .console import say
from .parser import build_parser

__all__ = ["COMMANDS", "EXIT_ABORTED", "EXIT_FAILED", "EXIT_OK", "EXIT_SETUP", "main"]

_parser = build_parser  # the name tests and older callers use

# command -> (module under facetui.cli that runs it, whether it gets the settings loaded first)
COMMANDS: dict[str, tuple[str, bool]] = {
    "kb": ("kb", True),
    "recognize": ("recognize", True),
    "review": ("review", True),
    "eval": ("eval", True),
    "status": ("status", True),
    "settings": ("settings_cmd", False),
    "keys": ("keys", False),
}


def load_settings_for(args):
    """The settings file the command line names, its warnings printed once."""
    from ..core.base.settings import load_settings, update_raw

    settings = load_settings(args.settings)
    changes = {
        k: v
        for k, v in (("engine", getattr(args, "engine", None)), ("ray_address", getattr(args, "address", None)))
        if v is not None
    }
    if changes:  # --engine / --address: for this run only, checked like the file's values
        settings = update_raw(settings, changes)
    say(*(f"warning: {w}" for w in settings.warnings), err=True)
    return settings


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except AttributeError:
            pass
    sys.excepthook = _safe_excepthook  # a bug's traceback, too, shows a file name's control characters escaped
    args = build_parser().parse_args(argv)
    if args.command is None:
        from ..tui.app import run_app  # Textual only when the app is wanted

        return run_app(args.settings)
    module, needs_settings = COMMANDS[args.command]
    command = importlib.import_module(f"{__name__}.{module}")
    try:
        return command.run(load_settings_for(args), args) if needs_settings else command.run(args)
    except FacetuiError as e:
        say(f"facetui: {e}", err=True)
        return exit_code(e)


def _safe_excepthook(kind, value, tb) -> None:
    """Python's traceback for an error nobody caught, each of its lines made terminal-safe."""
    import traceback

    text = "".join(traceback.format_exception(kind, value, tb))
    say(*text.rstrip("\n").split("\n"), err=True)
