"""What the TUI tests share: an app with a fixed device at the Pilot tests' terminal size, waits and readers of what
a screen shows, the review screen over an empty app, and a stepping clock for stable rates."""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

from textual.app import App

from facetui.tui.app import FacetuiApp
from facetui.tui.face_grid import FaceGrid
from facetui.tui.facts import DeviceInfo
from facetui.tui.review_screen import ReviewScreen
from facetui.tui.widgets import HANGING_INDENT

SIZE = (100, 32)  # the terminal of the app's Pilot tests (the review and snapshot tests set their own)


def fixed_device() -> DeviceInfo:
    return DeviceInfo(torch_cuda=False, dlib_cuda=False)


def make_app(settings_path: Path, **kw) -> FacetuiApp:
    return FacetuiApp(settings_path, device_probe=fixed_device, **kw)


def run(coro):
    return asyncio.run(coro)


async def wait_until(pilot, cond, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def sort_in_app(app, pilot):
    """Open Recognition (``r``), start a run (enter) and wait for it to end; the recognition screen."""
    from facetui.tui.recognition_screen import RecognitionScreen

    await pilot.press("r")
    screen = app.screen
    assert isinstance(screen, RecognitionScreen)
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen.summary is not None or screen.error, "the run to end")
    return screen


def log_lines(screen) -> list[str]:
    """The log's entries: a long line wraps onto indented screen lines, joined back here."""
    entries: list[str] = []
    for strip in screen.log_widget.lines:
        text = strip.text.rstrip()
        if entries and text.startswith(" " * HANGING_INDENT):
            entries[-1] += " " + text.strip()
        else:
            entries.append(text)
    return entries


def shown(widget) -> str:
    """What a Static shows, as plain text (Rich tables included)."""
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    console.print(widget.content)
    return console.export_text()


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


class ReviewApp(App):
    """The review screen pushed over an empty app, as the real app does on `u`."""

    def __init__(self, settings, image_mode: str | None = "halfcell") -> None:
        super().__init__()
        self.settings = settings
        self.image_mode = image_mode

    def on_mount(self) -> None:
        self.push_screen(ReviewScreen(self.settings, image_mode=self.image_mode))


def sync(test):
    """Run an async Pilot test with asyncio.run (no asyncio plugin needed), as ``run`` does."""

    @functools.wraps(test)
    def wrapper(*args, **kw):
        return asyncio.run(test(*args, **kw))

    return wrapper


async def settle(pilot) -> None:
    """Let the screen's thread workers finish and their messages land (a worker may start another)."""
    for _ in range(6):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def thumbs_shown(pilot) -> bool:
    """Wait (up to 10 s) for every shown tile of the clusters grid to get its thumbnail (made a moment after a group
    is highlighted, in a worker); True when they all did."""
    grid = pilot.app.screen.query_one(FaceGrid)
    for _ in range(200):
        await pilot.app.workers.wait_for_complete()
        if all(t.thumb.image is not None for t in grid.tiles[: len(grid.faces)]):
            return True
        await pilot.pause(0.05)
    return False


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


class StepClock:
    """Each reading is half a second after the last, so a run of n files shows 2.0/s whatever the machine."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 0.5
        return self.t
