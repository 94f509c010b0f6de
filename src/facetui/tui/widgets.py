"""Small widgets the screens share: a capped, wrapping run log, a progress bar with count/rate/ETA, a quiet text input."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, ProgressBar, RichLog, Static

MAX_LOG_LINES = 5000  # screen lines (a wrapped entry takes several)
HANGING_INDENT = 4


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


class Hanging:
    """A Text wrapped at word boundaries to the width it is drawn at, its continuation lines indented."""

    def __init__(self, text: Text, indent: int = HANGING_INDENT) -> None:
        if "\t" in text.plain:  # wrap() expands tabs in its lines; expand them first so offsets match the text
            text = text.copy()
            text.expand_tabs()
        self.text = text
        self.indent = indent

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.text)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        lines = self.text.wrap(console, width, overflow="fold")
        indent = self.indent if width >= 4 * self.indent else 0
        if len(lines) <= 1 or not indent:
            yield self.text
            return
        first = lines[0]
        rest = self.text[len(first.plain) :]
        rest = rest[len(rest.plain) - len(rest.plain.lstrip(" \n")) :]
        out = first.copy()
        out.rstrip()
        for line in rest.wrap(console, width - indent, overflow="fold"):
            out.append("\n" + " " * indent)
            out.append_text(line)
        yield out


class RunLog(RichLog):
    """The scrolling per-file log, long lines wrapped with a hanging indent; keeps the last MAX_LOG_LINES screen lines
    so a run of 100k photos stays responsive."""

    def __init__(self, **kw) -> None:
        super().__init__(
            max_lines=MAX_LOG_LINES,
            wrap=True,
            min_width=20,  # RichLog's 78 would overflow 80 columns
            markup=False,
            highlight=False,
            auto_scroll=True,
            **kw,
        )

    def write(self, content, *args, **kw) -> RunLog:
        if isinstance(content, Text):
            content = Hanging(content)
        return super().write(content, *args, **kw)


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
