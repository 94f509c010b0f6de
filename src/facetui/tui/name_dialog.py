"""The dialog that asks for a person's name, checked as a folder name while it is typed."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Static

from ..core.base.fsutil import check_person_name


class PersonName(Validator):
    def validate(self, value: str) -> ValidationResult:
        try:
            check_person_name(value)
        except ValueError as e:
            return self.failure(str(e))
        return self.success()


class NameDialog(ModalScreen[str | None]):
    """Ask for a person's name; dismisses the folder-safe form, or None when cancelled."""

    DEFAULT_CSS = """
    NameDialog { align: center middle; }
    NameDialog > Vertical { width: 60; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    NameDialog #name-error { color: $error; height: auto; }
    NameDialog #name-hint { color: $text-muted; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="name.cancel")]

    def __init__(self, prompt: str, known: list[str] | None = None) -> None:
        super().__init__()
        self.prompt = prompt
        self.known = sorted(known or [])

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.prompt, markup=False)
            yield Input(
                placeholder="Person name (a folder of that name in the output)",
                id="name-input",
                validators=[PersonName()],
                validate_on=["changed", "submitted"],
                suggester=SuggestFromList(self.known, case_sensitive=False) if self.known else None,
            )
            yield Static("", id="name-error")
            yield Static("enter: file it · escape: cancel", id="name-hint")

    def on_mount(self) -> None:
        inp = self.query_one(Input)
        if self.app.is_headless:
            inp.cursor_blink = False
        inp.focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        res = event.validation_result
        msg = "" if res is None or res.is_valid or not event.value else "; ".join(res.failure_descriptions)
        self.query_one("#name-error", Static).update(msg)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            safe = check_person_name(event.value)
        except ValueError as e:
            self.query_one("#name-error", Static).update(str(e))
            return
        self.dismiss(safe)

    def action_cancel(self) -> None:
        self.dismiss(None)
