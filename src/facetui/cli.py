"""Command line: no subcommand opens the Textual app; subcommands run the same core headless."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from . import __version__

EXIT_OK, EXIT_SETUP, EXIT_ABORTED = 0, 2, 130


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--settings", type=Path, default=Path("settings.json"), metavar="PATH",
                        help="settings file (default: ./settings.json); relative paths in it resolve against its folder")
    p = argparse.ArgumentParser(
        prog="facetui", parents=[common],
        description="Sort a photo library by the people in it. With no command, opens the terminal app.",
        epilog="Examples:\n  facetui kb build\n  facetui recognize --input ~/Photos/2024 --output ~/Sorted\n"
               "  facetui review --list\n  facetui   (opens the app)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"facetui {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    kb = sub.add_parser("kb", help="knowledge base commands", parents=[common])
    kbsub = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    kbsub.add_parser("build", parents=[common],
                     help="encode dataset_dir/<Person>/* into the KB (incremental: only new or changed photos)")
    kbsub.add_parser("show", parents=[common], help="print who is in the KB and how many faces/bodies each")

    rec = sub.add_parser("recognize", parents=[common], help="sort a folder of photos by person (headless)")
    rec.add_argument("--input", type=Path, help="folder to sort (default: process_dir)")
    rec.add_argument("--output", type=Path, help="where to file copies (default: processed_dir)")
    rec.add_argument("--quiet", action="store_true", help="print only the summary")

    sett = sub.add_parser("settings", parents=[common], help="check the settings file, or print the settings reference")
    sett.add_argument("--reference", action="store_true", help="print every setting with its default and meaning (Markdown)")
    return p


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except AttributeError:
            pass
    args = _parser().parse_args(argv)
    if args.command is None:
        from .tui.app import run_app  # noqa: PLC0415 (Textual only when the app is wanted)

        return run_app(args.settings)
    if args.command == "settings" and args.reference:
        from .core.settings import settings_reference_markdown  # noqa: PLC0415

        print(settings_reference_markdown())
        return EXIT_OK
    from .core.settings import SettingsError, load_settings  # noqa: PLC0415

    try:
        settings = load_settings(args.settings)
    except SettingsError as e:
        print(f"facetui: {e}", file=sys.stderr)
        return EXIT_SETUP
    for w in settings.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.command == "settings":
        print(f"{settings.source}: ok")
        return EXIT_OK
    if args.command == "kb" and args.kb_command == "show":
        return _kb_show(settings)
    if args.command == "kb":
        from .core.kbbuild import build_kb  # noqa: PLC0415

        return _drive(lambda cancel: build_kb(settings, cancel), quiet=False)
    if args.command == "recognize":
        from .core.pipeline import recognize  # noqa: PLC0415

        return _drive(lambda cancel: recognize(settings, args.input, args.output, cancel), quiet=args.quiet)
    return EXIT_SETUP


def _kb_show(settings) -> int:
    from .core.kbbuild import kb_status  # noqa: PLC0415

    st = kb_status(settings)
    if not st["ok"]:
        print(f"facetui: {st['error']}", file=sys.stderr)
        return EXIT_SETUP
    print(f"KB {st['path']}: {st['people']} people, {st['faces']} faces, {st['bodies']} bodies, "
          f"built {st['built_at']}{' (stale: dataset changed since)' if st['stale'] else ''}")
    for name, c in st["counts"].items():
        print(f"  {name}: {c['faces']} faces, {c['bodies']} bodies")
    return EXIT_OK


class _Progress:
    """A one-line progress bar with rate and ETA on stderr, drawn only on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.shown = False

    def update(self, i: int, total: int) -> None:
        if not self.tty or not total:
            return
        el = time.monotonic() - self.t0
        rate = i / el if el > 0 else 0.0
        eta = (total - i) / rate if rate > 0 else 0.0
        width = 30
        fill = int(width * i / total)
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {i}/{total} {rate:.1f}/s ETA {eta:.0f}s ")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()


def _drive(make_events, quiet: bool) -> int:
    """Run a core generator with Ctrl-C wired to its cancellation flag, printing each event."""
    from .core.events import FileDone, KbImageDone, Notice, RunFinished, RunStarted  # noqa: PLC0415
    from .core.pipeline import SetupError  # noqa: PLC0415
    from .core.render import kb_line, summary_lines  # noqa: PLC0415
    from .core.report import format_line  # noqa: PLC0415

    cancel = threading.Event()

    def on_sigint(_sig, _frm):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping after the current file (Ctrl-C again to quit at once)...", file=sys.stderr)

    old = signal.signal(signal.SIGINT, on_sigint)
    bar = _Progress()
    status = EXIT_OK
    try:
        events: Iterator = make_events(cancel)
        for ev in events:
            if isinstance(ev, RunStarted):
                what = "Recognition" if ev.kind == "recognize" else "KB build"
                print(f"[Scan] {what}: {ev.total} files in '{ev.input_dir}'"
                      + (f" -> '{ev.output_dir}'" if ev.output_dir else "") + f" (device {ev.device})")
                for n in ev.notices:
                    print(f"[Note] {n}")
            elif isinstance(ev, FileDone):
                bar.clear()
                if not quiet:
                    print(format_line(ev.result), flush=True)
                bar.update(ev.index, ev.total)
            elif isinstance(ev, KbImageDone):
                bar.clear()
                if not quiet:
                    print(kb_line(ev), flush=True)
                bar.update(ev.index, ev.total)
            elif isinstance(ev, Notice):
                bar.clear()
                print(f"[{ev.level.capitalize()}] {ev.text}", file=sys.stderr if ev.level == "error" else sys.stdout)
            elif isinstance(ev, RunFinished):
                bar.clear()
                for line in summary_lines(ev.summary):
                    print(line)
                if ev.summary.aborted:
                    status = EXIT_ABORTED
    except SetupError as e:
        bar.clear()
        print(f"facetui: {e}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        bar.clear()
        print("facetui: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    finally:
        signal.signal(signal.SIGINT, old)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
