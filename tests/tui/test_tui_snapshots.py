"""Snapshots (pytest-textual-snapshot) of each screen at 80x24, with a stepping clock so rate and ETA are stable.

Regenerate after a deliberate change with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import threading

import pytest

from facetui.core.stores.kb import load_kb, save_kb
from facetui.tui.app import FacetuiApp
from facetui.tui.facts import DeviceInfo
from support.tui import StepClock, wait_until

SIZE = (80, 24)
BUILT_AT = "2025-01-01T09:30:00+00:00"


@pytest.fixture
def snap_ws(workspace, monkeypatch):
    """The demo workspace as the working folder (paths show relative) with a KB whose build time is fixed."""
    kb_file = workspace / "kb" / "encodings.npz"
    kb = load_kb(kb_file)
    kb.meta["built_at"] = BUILT_AT
    save_kb(kb, kb_file)
    _fix_manifest_times(workspace)
    monkeypatch.chdir(workspace)
    return workspace


def _fix_manifest_times(ws) -> None:
    """The KB build's run manifest, as Home shows it under "Last run", with a fixed time in UTC."""
    import datetime as dt
    import os
    import time
    import tomllib

    import tomli_w

    from facetui.core.base.settings import load_settings
    from facetui.core.stores.manifest import manifest_path

    os.environ["TZ"] = "UTC"
    time.tzset()
    p = manifest_path(load_settings(ws / "settings.json"), "kb")
    m = tomllib.loads(p.read_text())
    fixed = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    for key in ("started", "ended"):
        if key in m["run"]:
            m["run"][key] = fixed
    m["run"]["elapsed_s"] = 7.5
    p.write_text(tomli_w.dumps(m))


def make_app(ws, **kw) -> FacetuiApp:
    return FacetuiApp(
        ws / "settings.json",
        clock=StepClock(),
        device_probe=lambda: DeviceInfo(torch_cuda=False, dlib_cuda=False),
        **kw,
    )


async def settle(pilot, cond) -> None:
    """Wait for ``cond`` (support.tui.wait_until), then a moment for the screen to draw it."""
    await wait_until(pilot, cond, "the screen to settle")
    await pilot.pause(0.1)


def test_home(snap_compare, snap_ws):
    app = make_app(snap_ws)

    async def ready(pilot):
        await settle(pilot, lambda: app.screen.facts is not None and app.device_info is not None)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_settings(snap_compare, snap_ws):
    assert snap_compare(make_app(snap_ws), terminal_size=SIZE, press=["s"])


def test_settings_bad_value(snap_compare, snap_ws):
    app = make_app(snap_ws)

    async def type_bad(pilot):
        await pilot.press("s")
        app.screen.query_one("#field-face_tol").focus()
        await pilot.press("ctrl+a", "ctrl+k", *"2.5")

    assert snap_compare(app, terminal_size=SIZE, run_before=type_bad)


def test_recognition_finished(snap_compare, snap_ws):
    app = make_app(snap_ws)

    async def run(pilot):
        await pilot.press("r", "enter")
        await settle(pilot, lambda: app.screen.summary is not None)

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_recognition_quit_asks_mid_run(snap_compare, snap_ws):
    """Mid-run at file 4 (3 done, frozen ETA) with the quit question open."""
    reached = threading.Event()
    app = make_app(snap_ws, pipeline_hook=lambda i: hold(i))

    def hold(i: int) -> None:
        if i == 4:
            reached.set()
            cancelled = app.active_run.worker.cancelled_event  # set when the app closes after the snapshot
            cancelled.wait(60)

    async def run(pilot):
        await pilot.press("r", "enter")
        await settle(pilot, lambda: reached.is_set() and app.screen.done == 3)
        await pilot.press("q")

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_kb_build_finished(snap_compare, snap_ws):
    app = make_app(snap_ws)

    async def run(pilot):
        await pilot.press("k", "enter")
        await settle(pilot, lambda: app.screen.summary is not None)

    assert snap_compare(app, terminal_size=SIZE, run_before=run)
