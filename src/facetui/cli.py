"""Command line: no subcommand opens the Textual app; subcommands run the same core headless."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from . import __version__

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_ABORTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    # --settings may stand before or after the command; SUPPRESS keeps a subparser from resetting it to the default
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--settings", type=Path, default=argparse.SUPPRESS, metavar="PATH",
                        help="settings file (default: ./settings.json); relative paths in it resolve against its folder")
    p = argparse.ArgumentParser(
        prog="facetui",
        description="Sort a photo library by the people in it. With no command, opens the terminal app.",
        epilog="Examples:\n  facetui kb build\n  facetui recognize --input ~/Photos/2024 --output ~/Sorted\n"
               "  facetui review --list\n  facetui   (opens the app)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", type=Path, default=Path("settings.json"), metavar="PATH",
                   help="settings file (default: ./settings.json); relative paths in it resolve against its folder")
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

    rev = sub.add_parser("review", parents=[common],
                         help="the unknowns of the latest run: list them, cluster them, or file one by name (headless)")
    rev.add_argument("--output", type=Path, help="the run's output folder (default: processed_dir)")
    what = rev.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="print each unknown face with its top-3 candidates (default)")
    what.add_argument("--clusters", action="store_true",
                      help="print the unknown faces grouped by similarity (threshold face_tol), biggest group first")
    what.add_argument("--assign", nargs=2, metavar=("FILE", "NAME"),
                      help="file FILE (as the report names it) under NAME, log it and add the face to the KB")
    what.add_argument("--undo", action="store_true", help="take back the last review decision")
    rev.add_argument("--face", type=int, metavar="N", help="with --assign: the face index (default: the largest unknown face)")

    ev = sub.add_parser("eval", parents=[common],
                        help="score the settings on labelled photos: sweeps of face_tol, face_margin, face_k and "
                             "lap_var_thresh, and the best combination with no wrong filing (files nothing)")
    ev.add_argument("--truth", type=Path, metavar="FILE",
                    help="labels: a CSV 'file,expected' (people joined by ';', or Unknown), or a folder of <Person>/ folders")
    ev.add_argument("--input", type=Path, help="folder the CSV's files are in (default: process_dir)")
    ev.add_argument("--kb", action="store_true",
                    help="also (or only) advise a tolerance from the KB itself: leave each KB photo out in turn")
    ev.add_argument("--tols", metavar="LIST", help="face_tol values: '0.4,0.5,0.6' or 'start:stop:step' (default 0.3:0.8:0.05)")
    ev.add_argument("--rules", action="store_true",
                    help="also compare the candidate decision rules (nearest photo, margin, several KB photos agreeing)")
    ev.add_argument("--apply", action="store_true",
                    help="write the advised settings into the settings file (prints each change; other keys kept)")
    ev.add_argument("--output", type=Path, help="where eval.csv and eval-run.toml go (default: processed_dir)")

    sub.add_parser("status", parents=[common], help="the settings in use, the KB, and the last run (from its manifest)")

    sub.add_parser("keys", parents=[common],
                   help="the app's key bindings by id, with keymap.toml (beside the settings file) applied and checked")

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
    if args.command == "keys":
        return _keys(args.settings)
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
    if args.command == "review":
        return _review(settings, args)
    if args.command == "eval":
        return _eval(settings, args)
    if args.command == "status":
        return _status(settings)
    return EXIT_SETUP


def _review(settings, args) -> int:
    from .core.review import ReviewError, ReviewSession  # noqa: PLC0415

    try:
        session = ReviewSession(settings, args.output)
    except ReviewError as e:
        print(f"facetui: {e}", file=sys.stderr)
        return EXIT_SETUP
    try:
        if args.clusters:
            from .core.clusters import cluster_lines, find_clusters  # noqa: PLC0415

            lines = cluster_lines(find_clusters(session), settings.face_tol)
        elif args.assign:
            lines = [session.assign(session.item_for(args.assign[0], args.face), args.assign[1]).message]
        elif args.undo:
            lines = [session.undo().message]
        else:
            photos = len({it.rel for it in session.items})
            lines = [f"{len(session.items)} unknown face(s) in {photos} photo(s) to review in {session.output_dir}"]
            lines += session.list_lines()
    except ReviewError as e:
        print(f"facetui: {e}", file=sys.stderr)
        return EXIT_SETUP
    finally:
        session.close()
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:  # `facetui review --list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _keys(settings_path: Path) -> int:
    from .tui.keymap import KEYMAP_NAME, bindings, load_keymap  # noqa: PLC0415 (Textual: the app's bindings)

    path = Path(settings_path).expanduser().absolute().parent / KEYMAP_NAME
    keymap, problems = load_keymap(path)
    rows = [(bid, keymap.get(bid, keys), where, what) for bid, (keys, where, what) in bindings().items()]
    w_id, w_keys = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    print(f"{'id':<{w_id}}  {'keys':<{w_keys}}  where: what")
    for bid, keys, where, what in rows:
        print(f"{bid:<{w_id}}  {keys:<{w_keys}}  {where}: {what}" + ("  (keymap)" if bid in keymap else ""))
    print(f"\nkeymap: {path}" + ("" if path.is_file() else " (none; write one to rebind keys by id)"))
    for line in problems:
        print(f"facetui: {line}", file=sys.stderr)
    return EXIT_SETUP if problems else EXIT_OK


def _parse_tols(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            n = int(round((stop - start) / step))
            return [round(start + i * step, 6) for i in range(n + 1)]
        vals = [float(x) for x in text.replace(" ", "").split(",") if x]
        if not vals:
            raise ValueError
        return vals
    except ValueError:
        raise ValueError(f"--tols {text!r}: give values like 0.4,0.5,0.6 or start:stop:step like 0.3:0.8:0.05") from None


def _eval(settings, args) -> int:
    from .core.evaluate import evaluate, report_lines  # noqa: PLC0415
    from .core.pipeline import SetupError  # noqa: PLC0415

    if args.truth is None and not args.kb:
        print("facetui: eval needs labels (--truth FILE or folder) and/or --kb", file=sys.stderr)
        return EXIT_SETUP
    try:
        tols = _parse_tols(args.tols)
    except ValueError as e:
        print(f"facetui: {e}", file=sys.stderr)
        return EXIT_SETUP
    if tols and any(not 0 <= t <= 2 for t in tols):
        print("facetui: --tols values must lie from 0 to 2", file=sys.stderr)
        return EXIT_SETUP
    cancel, old = _ctrl_c_sets_cancel()
    bar = _Progress()
    try:
        rep = evaluate(settings, args.truth, input_dir=args.input, kb=args.kb, tolerances=tols, rules=args.rules,
                       output_dir=args.output, cancel=cancel, on_progress=bar.update)
    except SetupError as e:
        bar.clear()
        print(f"facetui: {e}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        bar.clear()
        print("facetui: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    finally:
        _restore_sigint(cancel, old)
    bar.clear()
    for line in report_lines(rep):
        print(line)
    if args.apply and not rep.aborted:
        return _apply(settings, rep)
    return EXIT_ABORTED if rep.aborted else EXIT_OK


def _apply(settings, rep) -> int:
    from .core.evaluate import apply_advice  # noqa: PLC0415
    from .core.settings import SettingsError  # noqa: PLC0415

    if not rep.advice:
        print("Nothing to apply: the eval has no advice (no setting files nothing wrongly).")
        return EXIT_OK
    try:
        new, lines = apply_advice(settings, rep.advice)
    except SettingsError as e:
        print(f"facetui: {e}", file=sys.stderr)
        return EXIT_SETUP
    if not lines:
        print(f"Applied: the settings in {settings.source} already are the advice.")
        return EXIT_OK
    print(f"Applied to {new.source}:")
    for line in lines:
        print(f"  {line}")
    return EXIT_OK


def _status(settings) -> int:
    from .core.kbbuild import kb_status  # noqa: PLC0415
    from .core.manifest import describe_run, recent_runs  # noqa: PLC0415
    from .core.settings import SPECS  # noqa: PLC0415

    print(f"Settings: {settings.source}")
    for spec in SPECS:
        v = getattr(settings, spec.key)
        v = ", ".join(v) if isinstance(v, tuple) else ("" if v is None else v)
        print(f"  {spec.key:<20} {v}")
    st = kb_status(settings)
    if st["ok"]:
        print(f"KB: {st['path']}: {st['people']} people, {st['faces']} faces, {st['bodies']} bodies, built "
              f"{st['built_at']}, fingerprint {st['fingerprint']}{' (stale: dataset changed since)' if st['stale'] else ''}")
    else:
        print(f"KB: {st['error']}")
    runs = recent_runs(settings)
    if not runs:
        print("Last run: none recorded")
    for i, (path, m) in enumerate(runs):
        print(f"{'Last run' if i == 0 else 'Earlier'}: {describe_run(m)} ({path})")
    return EXIT_OK


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


def _ctrl_c_sets_cancel():
    """Wire Ctrl-C to a cancellation flag: the first press stops after the current photo, a second quits at once."""
    cancel = threading.Event()

    def on_sigint(_sig, _frm):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping after the current file (Ctrl-C again to quit at once)...", file=sys.stderr)

    return cancel, signal.signal(signal.SIGINT, on_sigint)


def _restore_sigint(cancel: threading.Event, old) -> None:
    # once Ctrl-C was pressed, another one on the way out must not end us with a traceback and status -2
    signal.signal(signal.SIGINT, signal.SIG_IGN if cancel.is_set() else old)


def _drive(make_events, quiet: bool) -> int:
    """Run a core generator with Ctrl-C wired to its cancellation flag, printing each event."""
    from .core.events import FileDone, KbImageDone, Notice, RunFinished, RunStarted  # noqa: PLC0415
    from .core.pipeline import SetupError  # noqa: PLC0415
    from .core.render import kb_line, summary_lines  # noqa: PLC0415
    from .core.report import format_line  # noqa: PLC0415

    cancel, old = _ctrl_c_sets_cancel()
    bar = _Progress()
    status = EXIT_OK
    progress = [0, 0]  # files done, total: for the line a second Ctrl-C leaves
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
                progress[:] = [ev.index, ev.total]
            elif isinstance(ev, KbImageDone):
                bar.clear()
                if not quiet:
                    print(kb_line(ev), flush=True)
                bar.update(ev.index, ev.total)
                progress[:] = [ev.index, ev.total]
            elif isinstance(ev, Notice):
                bar.clear()
                print(f"[{ev.level.capitalize()}] {ev.text}", file=sys.stderr if ev.level == "error" else sys.stdout)
            elif isinstance(ev, RunFinished):
                bar.clear()
                for line in summary_lines(ev.summary):
                    print(line)
                if ev.summary.aborted:  # by Ctrl-C (130), or stopped by itself, e.g. on a full disk (1)
                    status = EXIT_ABORTED if cancel.is_set() else EXIT_FAILED
    except SetupError as e:
        bar.clear()
        print(f"facetui: {e}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        bar.clear()
        done = f" after {progress[0]} of {progress[1]} files" if progress[1] else ""
        print(f"facetui: interrupted{done} (the report lists what was filed; a rerun does the rest)", file=sys.stderr)
        return EXIT_ABORTED
    finally:
        _restore_sigint(cancel, old)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
