"""What every headless command shares on the terminal: the progress bar, Ctrl-C wired to the core's cancellation
flag, and the loop that prints a core run's events."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator

from ..core.base.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, FacetuiError


class Progress:
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


def ctrl_c_sets_cancel():
    """Wire Ctrl-C to a cancellation flag: the first press stops after the current photo, a second quits at once."""
    cancel = threading.Event()

    def on_sigint(_sig, _frm):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping after the current file (Ctrl-C again to quit at once)...", file=sys.stderr)

    return cancel, signal.signal(signal.SIGINT, on_sigint)


def restore_sigint(cancel: threading.Event, old) -> None:
    # once Ctrl-C was pressed, another one on the way out must not end us with a traceback and status -2
    signal.signal(signal.SIGINT, signal.SIG_IGN if cancel.is_set() else old)


def drive(make_events, quiet: bool) -> int:
    """Run a core generator with Ctrl-C wired to its cancellation flag, printing each event."""
    from ..core.base.events import FileDone, KbImageDone, Notice, RunFinished, RunStarted
    from ..core.run.render import format_line, kb_line, summary_lines

    cancel, old = ctrl_c_sets_cancel()
    bar = Progress()
    status = EXIT_OK
    progress = [0, 0]  # files done, total: for the line a second Ctrl-C leaves
    try:
        events: Iterator = make_events(cancel)
        for ev in events:
            if isinstance(ev, RunStarted):
                what = "Recognition" if ev.kind == "recognize" else "KB build"
                print(
                    f"[Scan] {what}: {ev.total} files in '{ev.input_dir}'"
                    + (f" -> '{ev.output_dir}'" if ev.output_dir else "")
                    + f" (device {ev.device})"
                )
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
    except FacetuiError:
        bar.clear()
        raise
    except KeyboardInterrupt:
        bar.clear()
        done = f" after {progress[0]} of {progress[1]} files" if progress[1] else ""
        print(f"facetui: interrupted{done} (the report lists what was filed; a rerun does the rest)", file=sys.stderr)
        return EXIT_ABORTED
    finally:
        restore_sigint(cancel, old)
    return status
