"""What every facetui screen shares: the single worker-error route and a hook to refresh when shown again."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import events
from textual.screen import Screen, ScreenResultType
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from .app import FacetuiApp


class FacetuiScreen(Screen[ScreenResultType]):
    """A screen of the app; a failed worker on any of them lands in ``FacetuiApp.report_worker_error``."""

    @property
    def fapp(self) -> FacetuiApp:
        return cast("FacetuiApp", self.app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        report = getattr(self.app, "report_worker_error", None)
        if report is not None:
            report(event.worker)
        else:  # a screen hosted by a bare App (the review screen's tests): still said, not swallowed
            self.notify(f"{type(event.worker.error).__name__}: {event.worker.error}", severity="error")

    def on_screen_resume(self, _event: events.ScreenResume) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        """Re-read whatever may have changed while the screen was hidden (settings, files on disk)."""
