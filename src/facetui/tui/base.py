"""What every facetui screen shares (the single worker-error route, a hook to refresh when shown again), and what
the screens that run one core job in a thread worker share (abort, back, waiting for the worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.screen import Screen, ScreenResultType
from textual.worker import Worker, WorkerState

from ..core.base.textsafe import terminal_safe

if TYPE_CHECKING:
    from .app import FacetuiApp


class FacetuiScreen(Screen[ScreenResultType]):
    """A screen of the app; a failed worker on any of them lands in ``FacetuiApp.report_worker_error``."""

    # For checkers only: at run time ``app`` stays Textual's own property. The review and clusters screens, hosted
    # by a bare App in their tests, use only App's own API on it.
    if TYPE_CHECKING:
        app: FacetuiApp

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        report = getattr(self.app, "report_worker_error", None)
        if report is not None:
            report(event.worker)
        else:  # a screen hosted by a bare App (the review screen's tests): still said, not swallowed
            self.notify(
                terminal_safe(f"{type(event.worker.error).__name__}: {event.worker.error}"),
                severity="error",
                markup=False,
            )

    def on_screen_resume(self, _event: events.ScreenResume) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        """Re-read whatever may have changed while the screen was hidden (settings, files on disk)."""


class JobScreen(FacetuiScreen[ScreenResultType]):
    """A screen that runs one core job at a time in a thread worker (``self.worker``), with ``running`` and
    ``stopping`` flags and a ``set_status`` line; abort hands the core its cancellation flag."""

    STOP_TEXT = "Stopping after the current file..."  # what abort says, in the job's own unit

    worker: Worker | None = None
    running = False
    stopping = False

    def action_abort(self) -> None:
        """Set the core's cancellation flag: the job stops after the item in hand."""
        if not self.running or self.worker is None:
            return
        self.worker.cancelled_event.set()
        if not self.stopping:
            self.stopping = True
            self.set_status(self.STOP_TEXT)
            self.notify(self.STOP_TEXT, title="Abort")

    def action_back(self) -> None:
        self.app.action_show("home")

    async def wait_for_run(self) -> None:
        """Wait until the worker has left (its end-of-job message is then posted)."""
        if self.worker is not None:
            try:
                await self.worker.wait()
            except Exception:  # its error is reported by the worker handler
                pass
