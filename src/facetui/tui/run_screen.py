"""The shared shape of a run screen (KB build, recognition): start, a thread worker, live log, progress, abort, summary."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker, get_current_worker

from ..core.base.events import FileDone, KbImageDone, Notice, RunFinished, RunStarted, RunSummary
from .base import JobScreen
from .lines import kb_text, result_text, summary_text
from .messages import CoreEvent, RunEnded
from .widgets import RunLog, RunProgress


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with the real stderr, from the UI thread.

    Under Textual ``sys.stderr.fileno()`` is -1, and the tracker passes that fd to the process it spawns, so the
    core's first worker pool would fail with "bad value(s) in fds_to_keep". Started once here, it is reused.
    """
    from multiprocessing import resource_tracker

    saved = sys.stderr
    try:
        if sys.__stderr__ is not None:
            sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    except OSError:
        pass  # the run then reports its own error
    finally:
        sys.stderr = saved


class RunScreen(JobScreen):
    """Subclasses give the title, the inputs above the log, ``prepare`` (checks, returns the worker's args) and ``launch``."""

    BINDINGS = [
        Binding("enter", "start", "Start", id="start"),
        Binding("escape", "abort", "Abort", priority=True, id="abort"),
        Binding("escape", "back", "Back", id="back"),
    ]
    AUTO_FOCUS = "RunLog"
    KIND = ""  # "recognition" or "kb"
    VERB = "Run"
    UNIT = "files"

    def __init__(self) -> None:
        super().__init__()
        self.worker: Worker | None = None
        self.running = False
        self.stopping = False
        self.done = 0
        self.total = 0
        self.started_at = 0.0
        self.summary: RunSummary | None = None
        self.error = ""
        self.notes: list[str] = []

    # -- layout -------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_inputs()
        yield Static("", id="status", markup=False)
        yield RunProgress(self.UNIT, id="progress")
        yield Static("", id="notices", markup=False)
        yield RunLog(id="log")
        yield Static("", id="summary")
        yield Footer(compact=True)

    def compose_inputs(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one(RunProgress).reset(0)
        self.refresh_view()

    def refresh_view(self) -> None:
        if self.running:
            pass  # the run's own messages keep the status current
        elif self.summary is not None:
            self.set_status(self.finished_text(self.summary))
        elif self.error:
            self.set_status(f"Could not start: {self.error}", "error")
        else:
            self.set_status(self.ready_text())
        if self.focused is None or isinstance(self.focused, Input):
            self.log_widget.focus()  # so h/s/k/r/q act as keys, not as text typed into a folder field

    def ready_text(self) -> str:
        return "Ready: press enter to start."

    def set_status(self, text: str, style: str = "") -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(style == "error", "-error")

    @property
    def log_widget(self) -> RunLog:
        return self.query_one(RunLog)

    # -- actions ------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return None if self.app.active_run is not None else True
        if action == "abort":
            return self.running
        if action == "back":
            return not self.running
        return True

    def prepare(self) -> tuple | None:
        """Check what the user chose; return the arguments for ``launch`` or None (after saying why)."""
        raise NotImplementedError

    def launch(self, *args) -> Worker:
        raise NotImplementedError

    def action_start(self) -> None:
        if not self.app.claim_run(self):
            return  # another run is going (the app said so)
        args = self.prepare()
        if args is None:
            self.app.release_run(self)
            return
        self.running, self.stopping = True, False
        self.done = self.total = 0
        self.summary, self.error = None, ""
        self.log_widget.clear()
        self.query_one("#summary", Static).update("")
        self.notes = []
        self.query_one("#notices", Static).update("")
        self.query_one(RunProgress).reset(0)
        self.set_status(f"Starting: {self.start_text()}")
        self.log_widget.focus()
        start_resource_tracker()
        self.started_at = self.app.clock()
        self.worker = self.launch(*args)
        self.refresh_bindings()

    def start_text(self) -> str:
        return "checking..."

    # -- the thread side ----------------------------------------------------------------------------------------
    def drive(self, make_events: Callable[[object], Iterator[object]]) -> None:
        """Run in the thread worker: feed the core the worker's cancel flag and pass each event on as a CoreEvent;
        the finish's summary goes with the RunEnded posted on the way out."""
        worker = get_current_worker()
        summary: RunSummary | None = None
        error = ""
        try:
            for ev in make_events(worker.cancelled_event):
                if isinstance(ev, RunFinished):
                    summary = ev.summary
                else:
                    self.post_message(CoreEvent(ev))
        except BaseException as e:
            error = str(e) or type(e).__name__
            raise
        finally:
            self.post_message(RunEnded(summary, error))

    # -- messages from the worker -------------------------------------------------------------------------------
    def on_core_event(self, message: CoreEvent) -> None:
        match message.event:
            case RunStarted() as ev:
                self.run_began(ev)
            case FileDone() as ev:
                self.file_done(ev)
            case KbImageDone() as ev:
                self.kb_image_done(ev)
            case Notice() as ev:
                self.noticed(ev)

    def run_began(self, ev: RunStarted) -> None:
        self.total = ev.total
        self.query_one(RunProgress).reset(ev.total)
        self.notes = [n for n in ev.notices if n]
        self.query_one("#notices", Static).update("\n".join(self.notes))
        if not self.stopping:
            self.set_status(f"{self.VERB}: {self.start_text()} (escape aborts after the current file)")

    def advance(self, index: int, total: int) -> None:
        self.done, self.total = index, total
        self.query_one(RunProgress).show(index, total, self.app.clock() - self.started_at)

    def file_done(self, ev: FileDone) -> None:
        self.log_widget.write(result_text(ev.result))
        self.advance(ev.index, ev.total)

    def kb_image_done(self, ev: KbImageDone) -> None:
        self.log_widget.write(kb_text(ev))
        self.advance(ev.index, ev.total)

    def noticed(self, n: Notice) -> None:
        severity = "error" if n.level == "error" else ("warning" if n.level == "warning" else "information")
        self.notify(n.text, severity=severity)
        self.notes.append(n.text)
        self.query_one("#notices", Static).update("\n".join(self.notes))

    def on_run_ended(self, message: RunEnded) -> None:
        elapsed = self.app.clock() - self.started_at
        self.running = False
        self.app.release_run(self)
        s = message.summary
        if s is None:
            self.error = message.error or "the run did not start"
            self.set_status(f"Could not start: {self.error}", "error")
        else:
            s = dataclasses.replace(s, elapsed_s=elapsed)
            self.summary = s
            self.query_one(RunProgress).show(s.done, s.total, elapsed, finished=True)
            self.query_one("#summary", Static).update(summary_text(s))
            self.set_status(self.finished_text(s))
            self.run_finished(s)
            self.call_after_refresh(self.log_widget.scroll_end, animate=False)
        self.refresh_bindings()

    def finished_text(self, s: RunSummary) -> str:
        if s.aborted:
            return f"Aborted after {s.done} of {s.total}. Press enter to run again."
        return "Finished. Press enter to run again."

    def run_finished(self, summary: RunSummary) -> None:
        """A subclass hook (e.g. tell the user where the report is)."""
