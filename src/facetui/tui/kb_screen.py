"""KB build: encode dataset_dir/<Person>/* into the knowledge base, one log line per photo, with progress and abort."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from ..core.base.events import RunSummary
from ..core.base.settings import Settings
from .lines import short_path
from .run_screen import RunScreen


class KbBuildScreen(RunScreen):
    KIND = "kb"
    VERB = "Building"
    UNIT = "photos"
    SUB_TITLE = "KB build"

    def compose_inputs(self) -> ComposeResult:
        yield Static("", id="kb-where", markup=False)

    def refresh_view(self) -> None:
        s = self.app.settings
        self.query_one("#kb-where", Static).update(
            f"Dataset {short_path(s.dataset_dir)}/<Person>/  →  KB {short_path(s.kb_path)}"
        )
        super().refresh_view()

    def ready_text(self) -> str:
        return "Ready: enter builds or updates the KB (unchanged photos are reused)."

    def start_text(self) -> str:
        return f"the KB from {short_path(self.app.settings.dataset_dir)}"

    def prepare(self) -> tuple | None:
        return (self.app.settings,)

    @work(thread=True, exclusive=True, group="kb-build", exit_on_error=False)
    def launch(self, settings: Settings) -> None:
        from ..core.run.kbbuild import build_kb

        self.drive(lambda cancel: build_kb(settings, cancel))

    def finished_text(self, s: RunSummary) -> str:
        if s.aborted:
            return f"Aborted after {s.done} of {s.total} photos: the previous KB is unchanged. Enter runs again."
        return f"KB ready: {s.people} people, {s.faces} faces, {s.bodies} bodies. r sorts photos with it."
