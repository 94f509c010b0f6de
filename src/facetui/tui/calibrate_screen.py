"""Calibrate: sweep the deciding settings over labelled photos (or measure the KB alone) in a thread worker, show the
table and the charts, and write the advice into the settings file.

Why it is long: two modes (labelled sweep, KB alone) share one layout and one worker; the text and the charts are
already apart (calibrate_text.py, calibrate_plots.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Input, Label, Static
from textual.worker import Worker, get_current_worker

from ..core.base.settings import Settings, SettingsError, load_settings
from .base import JobScreen
from .calibrate_plots import DistancePlot, SweepPlot
from .calibrate_text import (
    advised_value,
    change_text,
    default_labels,
    finished_text,
    notes_text,
    resolve,
    sweep_of_row,
    table_rows,
    value_text,
)
from .dialogs import ConfirmDialog
from .lines import short_path
from .messages import AdviceApplied, CalibrationEnded, CalibrationProgress, SettingsChanged
from .run_screen import start_resource_tracker
from .suggest import PathSuggester
from .widgets import FieldInput, RunProgress, YesNo

if TYPE_CHECKING:
    from ..core.evaluation.evaluate import EvalReport
    from ..core.evaluation.scores import Sweep

COLUMNS = ("setting", "value", "recall", "wrong", "Unknown kept", "exactly right", "")


class CalibrateScreen(JobScreen):
    """Enter runs the sweep (progress, escape aborts after the current photo); ``a`` applies the advice."""

    STOP_TEXT = "Stopping after the current photo..."

    KIND = "calibrate"
    SUB_TITLE = "Calibrate"
    AUTO_FOCUS = "#calib-table"
    BINDINGS = [
        # priority: enter starts from the table and the fields alike (the table would take it as "select row")
        Binding("enter", "start", "Run", priority=True, id="calibrate.start"),
        Binding("escape", "abort", "Abort", priority=True, id="calibrate.abort"),
        Binding("escape", "back", "Back", show=False, id="calibrate.back"),  # h shows Home; room for q at 80
        Binding("a", "apply", "Apply", id="calibrate.apply"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.worker: Worker | None = None
        self.running = False
        self.stopping = False
        self.done = self.total = 0
        self.started_at = 0.0
        self.elapsed = 0.0
        self.report: EvalReport | None = None
        self.error = ""
        self.saved = ""  # what the last apply wrote, for the status line
        self.plot_key = ""  # the sweep the chart shows (the table row's)
        self._seen: Settings | None = None

    # -- layout -------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        base = self._base()
        yield Header()
        with Horizontal(classes="folder-row"):
            yield Label("Labels", classes="folder-label")
            yield FieldInput(
                id="truth",
                compact=True,
                suggester=PathSuggester(base, dirs_only=False),
                placeholder="truth CSV (file,expected) or a folder of <Person>/ folders",
            )
        with Horizontal(classes="folder-row"):
            yield Label("Photos", classes="folder-label")
            yield FieldInput(
                id="photos",
                compact=True,
                suggester=PathSuggester(base),
                placeholder="the folder the CSV's files are in",
            )
            yield Label(" KB only ", id="kb-only-label")
            yield YesNo(False, id="kb-only")
        yield Static("", id="status", markup=False)
        yield RunProgress("photos", id="progress")
        yield DataTable(id="calib-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="calib-notes", markup=False)
        with Horizontal(id="calib-plots"):
            yield SweepPlot(id="sweep-plot")
            yield DistancePlot(id="distance-plot")
        yield Footer(compact=True)

    def _base(self) -> Path:
        src = self.app.settings.source
        return src.parent if src is not None else Path.cwd()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for i, name in enumerate(COLUMNS):
            table.add_column(name, key=f"c{i}")
        self.query_one(RunProgress).reset(0)
        self.watch(self.query_one("#kb-only", YesNo), "value", self._kb_only_changed)
        self.refresh_view()

    def _kb_only_changed(self, kb_only: bool) -> None:
        for fid in ("#truth", "#photos"):
            self.query_one(fid, Input).disabled = kb_only  # not used by a KB-only measurement
        if not self.running and self.report is None and not self.error:
            self.set_status(self.ready_text())

    def refresh_view(self) -> None:
        s = self.app.settings
        if s is not self._seen and not self.running:
            truth, photos, kb_only = default_labels(s)
            self.query_one("#truth", Input).value = truth
            self.query_one("#photos", Input).value = photos
            self.query_one("#kb-only", YesNo).value = kb_only
            for inp in self.query(FieldInput):
                if isinstance(inp.suggester, PathSuggester):
                    inp.suggester.base = self._base()
            self._seen = s
        if self.report is not None and not self.running:
            self.show_notes(self.report)  # the advice is shown against the settings in use now
        self.show_status()
        if self.focused is None or isinstance(self.focused, Input):
            self.query_one(DataTable).focus()  # so the app's keys act as keys, not as text typed into a field
        self.refresh_bindings()

    # -- what the user chose ------------------------------------------------------------------------------------
    def choice(self) -> tuple[Path | None, Path | None, bool]:
        """(labels, photos, KB only) as typed, resolved like the settings (relative to the settings file)."""
        base = self._base()
        kb_only = self.query_one("#kb-only", YesNo).value
        truth = resolve(self.query_one("#truth", Input).value, base)
        photos = resolve(self.query_one("#photos", Input).value, base)
        return truth, photos, kb_only

    def ready_text(self) -> str:
        truth, photos, kb_only = self.choice()
        if kb_only:
            return "Ready: enter measures the KB's own same-person and different-person distances (leave-one-out)."
        if truth is None:
            return "Ready: type the labels (a truth CSV or a folder of <Person>/ folders), or turn on KB only."
        if truth.is_dir():
            return f"Ready: enter sweeps the settings over the labelled folders in {short_path(truth)}."
        return f"Ready: enter sweeps the settings over {short_path(photos)} labelled by {short_path(truth)}."

    def show_status(self) -> None:
        if self.running:
            return
        rep = self.report
        if self.error:
            self.set_status(f"Could not start: {self.error}", error=True)
        elif rep is not None:
            self.set_status(self.finished_text(rep))
        else:
            self.set_status(self.ready_text())

    def finished_text(self, rep: EvalReport) -> str:
        return finished_text(rep, self.elapsed, self.done, self.saved)

    def set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def on_input_changed(self, _event: Input.Changed) -> None:
        if not self.running and self.report is None and not self.error:
            self.set_status(self.ready_text())

    # -- actions ------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # while this sweep runs, start and apply are hidden (escape aborts); otherwise grayed out when they cannot act
        if action == "start":
            return False if self.running else (None if self.app.active_run is not None else True)
        if action == "abort":
            return self.running
        if action == "back":
            return not self.running
        if action == "apply":
            return False if self.running else (True if self.pending_changes() else None)
        return True

    def action_start(self) -> None:
        if not self.app.claim_run(self):
            return  # another run is going (the app said so)
        truth, photos, kb_only = self.choice()
        if not kb_only and truth is None:
            self.app.release_run(self)
            self.notify(
                "Type the labels (a truth CSV or a folder of <Person>/ folders), or turn on KB only.",
                title="Cannot start",
                severity="error",
            )
            self.query_one("#truth", Input).focus()
            return
        self.running, self.stopping = True, False
        self.done = self.total = 0
        self.report, self.error, self.saved = None, "", ""
        self.fill_table(None)
        self.query_one("#calib-notes", Static).update("")
        self.query_one(SweepPlot).show_sweep(None, "recall and wrong filings: sweeping...")
        self.query_one(DistancePlot).clear_distances("face distances: sweeping...")
        self.query_one(RunProgress).reset(0)
        self.set_status(
            "Calibrating: "
            + ("the KB (leave-one-out)" if kb_only else f"{short_path(truth)}")
            + " (escape aborts after the current photo)"
        )
        self.query_one(DataTable).focus()
        start_resource_tracker()
        self.started_at = self.app.clock()
        self.worker = self.launch(self.app.settings, None if kb_only else truth, photos, kb_only)
        self.refresh_bindings()

    # -- the thread side ----------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="calibrate", exit_on_error=False)
    def launch(self, settings: Settings, truth: Path | None, photos: Path | None, kb_only: bool) -> None:
        from ..core.evaluation.evaluate import evaluate  # the core's eval loads the models lazily

        worker = get_current_worker()
        report = None
        error = ""
        try:
            report = evaluate(
                settings,
                truth,
                input_dir=photos,
                kb=kb_only,
                clusters=truth is not None,  # review's clusters of the faces left Unknown, over cluster_tol
                record=True,
                cancel=worker.cancelled_event,
                on_progress=lambda i, n: self.post_message(CalibrationProgress(i, n)),
            )
        except BaseException as e:
            error = str(e) or type(e).__name__
            raise
        finally:
            self.post_message(CalibrationEnded(report, error))

    # -- messages from the worker -------------------------------------------------------------------------------
    def on_calibration_progress(self, message: CalibrationProgress) -> None:
        self.done, self.total = message.done, message.total
        self.query_one(RunProgress).show(message.done, message.total, self.app.clock() - self.started_at)

    def on_calibration_ended(self, message: CalibrationEnded) -> None:
        self.elapsed = self.app.clock() - self.started_at
        self.running = False
        self.app.release_run(self)
        rep = message.report
        if rep is None:
            self.error = message.error or "the sweep did not start"
            self.query_one(SweepPlot).show_sweep(None, "recall and wrong filings: nothing measured")
            self.query_one(DistancePlot).clear_distances("face distances: nothing measured")
        else:
            self.report = rep
            self.query_one(RunProgress).show(self.done if rep.photos else 0, rep.photos, self.elapsed, finished=True)
            self.fill_table(rep)
            self.show_notes(rep)
            self.show_distances(rep)
        self.show_status()
        self.refresh_bindings()

    # -- the results --------------------------------------------------------------------------------------------
    def fill_table(self, rep: EvalReport | None) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.plot_key = ""
        if rep is None:
            return
        rows, cursor = table_rows(rep)
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if rep.sweeps:
            table.move_cursor(row=cursor, animate=False)
            self.show_sweep(self.sweep_of_row(cursor))
        else:
            self.query_one(SweepPlot).show_sweep(
                None, "no sweep: KB only measures distances" if rep.truth is None else "no sweep"
            )

    def sweep_of_row(self, row: int) -> Sweep | None:
        return sweep_of_row(self.report, row) if self.report is not None else None

    def show_sweep(self, sw: Sweep | None) -> None:
        if sw is not None and sw.key != self.plot_key and self.report is not None:
            self.plot_key = sw.key
            self.query_one(SweepPlot).show_sweep(sw, advised=advised_value(self.report, sw.key))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_sweep(self.sweep_of_row(event.cursor_row))

    def show_distances(self, rep: EvalReport) -> None:
        same, diff = rep.distances()
        face = rep.face
        if face is not None:
            advised, current, source = advised_value(rep, "face_tol"), face.current, "labelled photos"
        else:
            advised = rep.kb.tolerance if rep.kb is not None else None
            current, source = self.app.settings.face_tol, "KB leave-one-out"
        if not len(same) and not len(diff):
            self.query_one(DistancePlot).clear_distances("face distances: none measured (no single-face photos)")
            return
        self.query_one(DistancePlot).show_distances(same, diff, advised, current, source)

    def show_notes(self, rep: EvalReport) -> None:
        text = notes_text(rep, self.pending_changes(), self.app.settings_path)
        self.query_one("#calib-notes", Static).update(text)

    # -- applying the advice ------------------------------------------------------------------------------------
    def pending_changes(self) -> dict[str, tuple[Any, Any]]:
        """{key: (value in use, advised value)} for each advised value that differs from the settings in use (the
        core's advice_changes, as eval --apply prints them); nothing for an aborted sweep."""
        rep = self.report
        if rep is None or rep.aborted:
            return {}
        from ..core.evaluation.evaluate import advice_changes  # imported by the sweep's worker already

        return {k: (old, new) for k, old, new in advice_changes(self.app.settings, rep.advice)}

    def action_apply(self) -> None:
        changes = self.pending_changes()
        if not changes:
            self.notify("Nothing to apply: run a sweep that advises a change first.", severity="warning")
            return
        path = self.app.settings_path
        self.app.push_screen(
            ConfirmDialog(
                f"Write the advice into {short_path(path)}?\n\n"
                + "\n".join(f"  {k}: {value_text(k, a)} -> {value_text(k, b)}" for k, (a, b) in changes.items())
                + "\n\nOther keys are kept.",
                yes="Apply",
                no="Keep as is",
            ),
            lambda yes: self.save_advice(path, self.app.settings, changes) if yes else None,
        )

    @work(thread=True, exclusive=True, group="calibrate-apply", exit_on_error=False)
    def save_advice(self, path: Path, in_use: Settings, changes: dict[str, tuple[Any, Any]]) -> None:
        """Write exactly the changes shown into the file as it is now (edits made elsewhere kept), atomically, with
        the core's apply_advice (as eval --apply)."""
        from ..core.evaluation.evaluate import apply_advice

        try:
            base = load_settings(path)
        except SettingsError:
            base = dataclasses.replace(in_use, source=path)  # missing or broken: written whole from the settings in use
        new, _ = apply_advice(base, {k: now for k, (_, now) in changes.items()})
        self.post_message(AdviceApplied(new, path, changes))

    def on_advice_applied(self, message: AdviceApplied) -> None:
        new = message.settings
        self.app.settings = new  # now, so a screen shown next sees it; the message tells anyone else
        self._seen = new  # the fields keep what was typed
        self.app.post_message(SettingsChanged(new))
        self.saved = f"Saved {change_text(message.changes)} to {short_path(message.path)}."
        self.notify(self.saved, title="Calibrate")
        if self.report is not None:
            self.show_notes(self.report)
        self.show_status()
        self.refresh_bindings()
