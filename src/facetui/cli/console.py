"""What every headless command shares on the terminal: the one printer (``say``: each line made terminal-safe), the
progress bar, Ctrl-C (and SIGTERM, SIGHUP) wired to the core's cancellation flag, and the loop that prints a core
run's events."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

from ..core.base.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, FacetuiError
from ..core.base.textsafe import terminal_safe


def say(*lines: object, err: bool = False, flush: bool = False) -> None:
    """Print each of ``lines`` on a line of its own, made terminal-safe (control and bidi characters escaped, see
    ``core.base.textsafe``): every CLI command prints through here. A newline inside a line is shown as ``\\n``, so a
    message of several lines is handed over as several lines. Where the reader has gone (a closed pipe, a hung-up
    terminal) the rest goes to /dev/null: the run still finishes its files and its report."""
    stream = sys.stderr if err else sys.stdout
    try:
        for line in lines:
            print(terminal_safe(line), file=stream)
        if flush:
            stream.flush()
    except OSError:  # BrokenPipeError, or EIO from a terminal that hung up
        _to_devnull(stream)


def _to_devnull(stream) -> None:
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, stream.fileno())
        os.close(fd)
    except (OSError, ValueError):
        pass


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


# the signals that stop a run as Ctrl-C does: a plain `kill` (a job scheduler, a timeout) and a dropped terminal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_HOW = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP (the terminal hung up)"}


class StopFlag(threading.Event):
    """The core's cancellation flag, set by a stop signal; ``signum`` says which one came first."""

    signum: int = signal.SIGINT

    def status(self) -> int:
        """The exit status of a run this stopped: 128 + the signal's number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""
        return 128 + int(self.signum)


def ctrl_c_sets_cancel():
    """Wire Ctrl-C, SIGTERM and SIGHUP to a cancellation flag (a StopFlag): the first stops the run after the current
    photo, a second quits at once (KeyboardInterrupt). Returns (the flag, what restore_sigint puts back)."""
    cancel = StopFlag()

    def on_stop(sig, _frm):
        if sig == signal.SIGHUP:
            _quiet_if_terminal()
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.signum = sig
        cancel.set()
        why = "" if sig == signal.SIGINT else f"{_HOW[sig]}: "
        say("", f"{why}stopping after the current file ({_HOW[sig].split()[0]} again to quit at once)...", err=True)

    _start_resource_tracker()
    old = {}
    for sig in STOP_SIGNALS:
        try:
            old[sig] = signal.signal(sig, on_stop)
        except (ValueError, OSError):  # not the main thread: Ctrl-C stays Python's
            pass
    return cancel, old


def restore_sigint(cancel: threading.Event, old) -> None:
    """Put back the handlers ctrl_c_sets_cancel replaced; once a run was stopped, a further stop signal on the way
    out is ignored (it must not end us with a traceback and status -2 while the summary is printed)."""
    for sig, handler in old.items():
        signal.signal(sig, signal.SIG_IGN if cancel.is_set() else handler)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (the worker pool's helper process) now, ignoring SIGHUP, which it
    keeps across its exec: a terminal's hang-up reaches its whole process group, and a tracker killed by it would be
    relaunched with a traceback per semaphore while the run stops. It ends when this process does."""
    try:
        from multiprocessing import resource_tracker

        old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            resource_tracker.ensure_running()
        finally:
            signal.signal(signal.SIGHUP, old)
    except (ValueError, OSError):  # not the main thread, or no tracker here
        pass


def _quiet_if_terminal() -> None:
    """After a hang-up the terminal is gone and writing to it fails: send stdout and stderr to /dev/null there."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream.isatty():
                _to_devnull(stream)
        except (OSError, ValueError):
            pass


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
                say(
                    f"[Scan] {what}: {ev.total} files in '{ev.input_dir}'"
                    + (f" -> '{ev.output_dir}'" if ev.output_dir else "")
                    + f" (device {ev.device})"
                )
                say(*(f"[Note] {n}" for n in ev.notices))
            elif isinstance(ev, FileDone):
                bar.clear()
                if not quiet:
                    say(format_line(ev.result), flush=True)
                bar.update(ev.index, ev.total)
                progress[:] = [ev.index, ev.total]
            elif isinstance(ev, KbImageDone):
                bar.clear()
                if not quiet:
                    say(kb_line(ev), flush=True)
                bar.update(ev.index, ev.total)
                progress[:] = [ev.index, ev.total]
            elif isinstance(ev, Notice):
                bar.clear()
                say(f"[{ev.level.capitalize()}] {ev.text}", err=ev.level == "error")
            elif isinstance(ev, RunFinished):
                bar.clear()
                say(*summary_lines(ev.summary))
                if ev.summary.aborted:  # by a stop signal (128 + its number), or by itself, e.g. on a full disk (1)
                    status = cancel.status() if cancel.is_set() else EXIT_FAILED
    except FacetuiError:
        bar.clear()
        raise
    except KeyboardInterrupt:
        bar.clear()
        done = f" after {progress[0]} of {progress[1]} files" if progress[1] else ""
        say(f"facetui: interrupted{done} (the report lists what was filed; a rerun does the rest)", err=True)
        return cancel.status() if cancel.is_set() else EXIT_ABORTED
    finally:
        restore_sigint(cancel, old)
    return status
