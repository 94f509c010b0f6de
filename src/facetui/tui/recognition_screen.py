"""Recognition: choose input and output folders, sort the photos, watch each file's line, the progress and the summary."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label

from ..core.base.events import RunSummary
from ..core.base.settings import SPEC_BY_KEY, Settings, SettingsError, check_value
from .lines import short_path
from .run_screen import RunScreen
from .suggest import PathSuggester
from .widgets import FieldInput


class RecognitionScreen(RunScreen):
    KIND = "recognition"
    VERB = "Sorting"
    SUB_TITLE = "Recognition"

    def __init__(self) -> None:
        super().__init__()
        self._seen: Settings | None = None

    def compose_inputs(self) -> ComposeResult:
        base = self._base()
        with Horizontal(classes="folder-row"):
            yield Label("Input ", classes="folder-label")
            yield FieldInput(
                id="input",
                compact=True,
                suggester=PathSuggester(base),
                placeholder="folder of photos to sort (relative to the settings file)",
            )
        with Horizontal(classes="folder-row"):
            yield Label("Output", classes="folder-label")
            yield FieldInput(
                id="output", compact=True, suggester=PathSuggester(base), placeholder="where copies are filed by person"
            )

    def _base(self) -> Path:
        src = self.app.settings.source
        return src.parent if src is not None else Path.cwd()

    def refresh_view(self) -> None:
        s = self.app.settings
        if s is not self._seen and not self.running:
            raw = s.to_json_dict()
            self.query_one("#input", Input).value = str(raw["process_dir"])
            self.query_one("#output", Input).value = str(raw["processed_dir"])
            for inp in self.query(FieldInput):
                if isinstance(inp.suggester, PathSuggester):
                    inp.suggester.base = self._base()
            self._seen = s
        super().refresh_view()

    def _folders(self) -> tuple[Path, Path]:
        """The typed folders, resolved like the settings (relative to the settings file); SettingsError if empty."""
        base = self._base()
        inp = check_value(SPEC_BY_KEY["process_dir"], self.query_one("#input", Input).value, base)
        out = check_value(SPEC_BY_KEY["processed_dir"], self.query_one("#output", Input).value, base)
        return inp, out

    def ready_text(self) -> str:
        try:
            inp, out = self._folders()
        except SettingsError:
            return "Ready: type the input and output folders, then press enter."
        return f"Ready: enter sorts {short_path(inp)} into {short_path(out)}."

    def start_text(self) -> str:
        try:
            inp, out = self._folders()
        except SettingsError:
            return "..."
        return f"{short_path(inp)} into {short_path(out)}"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def on_input_changed(self, event: Input.Changed) -> None:
        if not self.running:
            self.set_status(self.ready_text())

    def prepare(self) -> tuple | None:
        try:
            inp, out = self._folders()
        except SettingsError as e:
            self.notify(str(e), title="Cannot start", severity="error")
            return None
        return self.app.settings, inp, out, self.app.pipeline_hook

    @work(thread=True, exclusive=True, group="recognition", exit_on_error=False)
    def launch(self, settings: Settings, inp: Path, out: Path, hook) -> None:
        from ..core.run.recognize import recognize

        self.drive(lambda cancel: recognize(settings, inp, out, cancel, on_file=hook))

    def finished_text(self, s: RunSummary) -> str:
        where = f" Report: {short_path(s.report_path)}." if s.report_path else ""
        if s.aborted:
            return f"Aborted after {s.done} of {s.total} files.{where} Enter runs again."
        return f"Done: {s.done} files, {s.unknown} Unknown.{where} u reviews the unknowns."
