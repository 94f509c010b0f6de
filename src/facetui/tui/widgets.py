"""Small widgets the screens share: a capped run log, a progress bar with count/rate/ETA, a quiet text input."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, ProgressBar, RichLog, Static

MAX_LOG_LINES = 5000


class FieldInput(Input):
    """An Input whose cursor does not blink under test, so snapshots are stable."""

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.cursor_blink = False


class YesNo(Widget, can_focus=True):
    """A true/false field drawn as ``[x] yes`` / ``[ ] no``: readable without colour, toggled with space or enter."""

    BINDINGS = [Binding("space,enter", "toggle", "Toggle", show=False, id="toggle")]
    DEFAULT_CSS = "YesNo { height: 1; width: 1fr; } YesNo:focus { background: $accent 30%; }"
    value: reactive[bool] = reactive(False)

    def __init__(self, value: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.value = value

    def render(self) -> Text:
        return Text("[x] yes" if self.value else "[ ] no")

    def action_toggle(self) -> None:
        self.value = not self.value


class Choice(Widget, can_focus=True):
    """One of a few values, drawn as ``‹ hog ›  1/2``; right, space or enter picks the next, left the previous."""

    BINDINGS = [
        Binding("right,space,enter", "step(1)", "Next", show=False, id="choice-next"),
        Binding("left", "step(-1)", "Previous", show=False, id="choice-previous"),
    ]
    DEFAULT_CSS = "Choice { height: 1; width: 1fr; } Choice:focus { background: $accent 30%; }"
    value: reactive[str] = reactive("")

    def __init__(self, choices: tuple[str, ...], value: str, **kw) -> None:
        super().__init__(**kw)
        self.choices = choices
        self.value = value

    def render(self) -> Text:
        i = self.choices.index(self.value) if self.value in self.choices else -1
        text = Text("‹ ")
        text.append(self.value, "bold")
        text.append(" ›")
        text.append(f"  {i + 1}/{len(self.choices)}  (←/→ to change)", "dim")
        return text

    def action_step(self, delta: int) -> None:
        i = self.choices.index(self.value) if self.value in self.choices else 0
        self.value = self.choices[(i + delta) % len(self.choices)]


class RunLog(RichLog):
    """The scrolling per-file log; keeps the last MAX_LOG_LINES lines so a run of 100k photos stays responsive."""

    def __init__(self, **kw) -> None:
        super().__init__(max_lines=MAX_LOG_LINES, wrap=False, markup=False, highlight=False, auto_scroll=True, **kw)


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def stats_line(done: int, total: int, elapsed: float, finished: bool = False, unit: str = "files") -> str:
    """``6/9 files · 2.0/s · ETA 0:02`` (the time taken once finished)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = [f"{done}/{total} {unit}"]
    parts.append(f"{rate:.1f}/s" if rate else "-/s")
    if finished:
        parts.append(f"took {format_eta(elapsed)}")
    elif rate and total:
        parts.append(f"ETA {format_eta((total - done) / rate)}")
    else:
        parts.append("ETA -:--")
    return " · ".join(parts)


class RunProgress(Horizontal):
    """A progress bar plus count, rate and ETA; the owner passes elapsed seconds (from the app's clock)."""

    def __init__(self, unit: str = "files", **kw) -> None:
        super().__init__(**kw)
        self.unit = unit

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1, show_eta=False, id="bar")
        yield Static("", id="stats")

    def reset(self, total: int) -> None:
        self.query_one(ProgressBar).update(total=max(total, 1), progress=0)
        self.query_one("#stats", Static).update(stats_line(0, total, 0.0, unit=self.unit))

    def show(self, done: int, total: int, elapsed: float, finished: bool = False) -> None:
        self.query_one(ProgressBar).update(total=max(total, 1), progress=done if total else 1)
        self.query_one("#stats", Static).update(stats_line(done, total, elapsed, finished, self.unit))

    @property
    def percentage(self) -> float:
        return self.query_one(ProgressBar).percentage or 0.0
