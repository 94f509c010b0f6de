"""Small modal dialogs: a yes/no question that dismisses a bool, and an error message."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..core.base.textsafe import terminal_safe


class ConfirmDialog(ModalScreen[bool]):
    """Ask one question; ``y``/enter on yes, ``n``/escape on no."""

    AUTO_FOCUS = "#no"
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="dialog-yes"),
        Binding("n,escape", "answer(False)", "No", id="dialog-no"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="dialog-screen")
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", variant="primary", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ErrorDialog(ModalScreen[None]):
    """Show an error that needs reading; enter or escape closes it."""

    AUTO_FOCUS = "#ok"
    BINDINGS = [Binding("escape,enter", "close", "Close", id="dialog-close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error"):
            yield Static(self.title_text, classes="dialog-title")
            # the message's own line breaks stay; any other control character (from a file name) is shown escaped
            text = "\n".join(terminal_safe(line) for line in self.message.split("\n"))
            yield Static(text, classes="dialog-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK (enter)", variant="primary", id="ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
