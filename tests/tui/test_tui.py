"""Pilot tests of the Textual app: the real keys over the demo photos, with the real face models and files on disk."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from facetui.core.stores.kb import load_kb
from facetui.core.stores.report import REPORT_NAME, read_rows
from facetui.tui.app import FacetuiApp
from facetui.tui.commands import COMMANDS
from facetui.tui.dialogs import ConfirmDialog, ErrorDialog
from facetui.tui.kb_screen import KbBuildScreen
from facetui.tui.recognition_screen import RecognitionScreen
from facetui.tui.settings_screen import SettingsScreen
from facetui.tui.suggest import PathSuggester
from facetui.tui.widgets import HANGING_INDENT, RunProgress, stats_line
from support.helpers import read_truth
from support.tui import SIZE, log_lines, make_app, notifications, run, shown, sort_in_app, wait_until

QUERY = sorted(read_truth())  # q01.jpg ... q09.jpg


def expected_copies(files) -> set[str]:
    """{'Person/qNN.jpg', ...} that truth.csv says these files should produce."""
    truth = read_truth()
    return {f"{p}/{f}" for f in files for p in (truth[f] or {"Unknown"})}


def filed(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*.jpg")}


# -- recognition --------------------------------------------------------------------------------------------------


def test_recognition_run_reaches_100_percent_and_files_every_photo(workspace):
    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=SIZE) as pilot:
            screen = await sort_in_app(app, pilot)
            assert screen.error == ""
            assert screen.query_one(RunProgress).percentage == 1.0
            lines = log_lines(screen)
            assert [ln.split(" ")[0] for ln in lines] == QUERY  # one line per photo, in order
            assert lines[0].startswith("q01.jpg → Barack_Obama | Face: [Barack_Obama:0.")
            assert screen.summary.done == 9 and not screen.summary.aborted
            summary = shown(screen.query_one("#summary"))
            assert "Batch done. 9 files, Unknown = 4 (44.44%)." in summary
            assert "Report: " in summary and REPORT_NAME in summary
            assert app.active_run is None

    run(go())
    out = workspace / "out"
    assert filed(out) == expected_copies(QUERY)
    assert {r["file"] for r in read_rows(out / REPORT_NAME)} == set(QUERY)


def test_abort_while_a_gate_holds_the_run_stops_after_that_file(workspace):
    k = 4
    reached, release = threading.Event(), threading.Event()

    def hook(i: int) -> None:  # the core calls this before deciding file i; hold the first run in file k
        if i == k and not reached.is_set():
            reached.set()
            release.wait(60)

    async def go():
        app = make_app(workspace / "settings.json", pipeline_hook=hook)
        async with app.run_test(size=SIZE) as pilot:
            try:
                await pilot.press("r")
                screen = app.screen
                await pilot.press("enter")
                await wait_until(pilot, reached.is_set, f"the gate at file {k}")
                await wait_until(pilot, lambda: len(log_lines(screen)) == k - 1, f"{k - 1} log lines")
                assert screen.running
                await pilot.press("escape")
                assert screen.stopping
                assert "Stopping after the current file" in shown(screen.query_one("#status"))
                assert isinstance(app.screen, RecognitionScreen)  # escape aborted, it did not go back
            finally:
                release.set()
            await wait_until(pilot, lambda: screen.summary is not None, "the aborted run to end")
            s = screen.summary
            assert s.aborted and s.done == k and s.total == 9
            assert [ln.split(" ")[0] for ln in log_lines(screen)] == QUERY[:k]
            assert f"Aborted after {k} of 9 files." in shown(screen.query_one("#summary"))
            out = workspace / "out"
            assert {r["file"] for r in read_rows(out / REPORT_NAME)} == set(QUERY[:k])
            assert filed(out) == expected_copies(QUERY[:k])
            # enter reruns cleanly: every photo, no duplicate copies of the first k
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.summary is not None and not screen.running, "the rerun")
            assert screen.summary.done == 9 and not screen.summary.aborted

    run(go())
    out = workspace / "out"
    assert filed(out) == expected_copies(QUERY)
    assert {r["file"] for r in read_rows(out / REPORT_NAME)} == set(QUERY)


def test_quit_during_a_run_asks_first_then_aborts_cleanly(workspace):
    reached, release = threading.Event(), threading.Event()

    def hook(i: int) -> None:
        if i == 2:
            reached.set()
            release.wait(60)

    async def go():
        app = make_app(workspace / "settings.json", pipeline_hook=hook)
        async with app.run_test(size=SIZE) as pilot:
            try:
                await pilot.press("r", "enter")
                await wait_until(pilot, reached.is_set, "the gate")
                await pilot.press("q")
                assert isinstance(app.screen, ConfirmDialog)
                await pilot.press("n")  # keep running
                assert isinstance(app.screen, RecognitionScreen) and app.active_run is not None
                await pilot.press("q")
                # "yes" waits for the run to stop, which the gate holds: press in a task, or the two wait on each other
                answer = asyncio.ensure_future(pilot.press("y"))
                await wait_until(pilot, lambda: app.quitting, "the quit")
            finally:
                release.set()
            await answer
            await wait_until(pilot, lambda: app.return_value is not None, "the app to exit")
            assert app.return_value == 0

    run(go())
    out = workspace / "out"
    assert {r["file"] for r in read_rows(out / REPORT_NAME)} == set(QUERY[:2])
    assert filed(out) == expected_copies(QUERY[:2])


def test_one_run_at_a_time_and_only_the_app_sets_it(workspace):
    """While a recognition run is held at file 2, the KB build and the calibration sweep refuse to start (the key
    grayed out, and a start from the palette told why); a start that fails its checks does not hold the run."""
    reached, release = threading.Event(), threading.Event()

    def hook(i: int) -> None:
        if i == 2:
            reached.set()
            release.wait(60)

    async def go():
        app = make_app(workspace / "settings.json", pipeline_hook=hook)
        async with app.run_test(size=SIZE) as pilot:
            try:
                await pilot.press("r", "enter")
                recognition = app.screen
                await wait_until(pilot, reached.is_set, "the gate")
                assert app.active_run is recognition
                with pytest.raises(AttributeError):
                    app.active_run = None  # the app's to change (claim_run / release_run), not a screen's
                for key in ("k", "c"):
                    await pilot.press(key)
                    other = app.screen
                    assert other is not recognition and other.check_action("start", ()) is None  # grayed out
                    other.action_start()  # as the palette's "now" command does
                    await pilot.pause()
                    assert not other.running and app.active_run is recognition
                    assert "A run is already going" in notifications(app)[-1]
                await pilot.press("r")
            finally:
                release.set()
            await wait_until(pilot, lambda: recognition.summary is not None, "the run to end")
            assert app.active_run is None
            recognition.query_one("#input").value = ""  # fails its checks: nothing starts, nothing is held
            recognition.action_start()
            assert not recognition.running and app.active_run is None
            await pilot.press("k", "enter")
            kb = app.screen
            await wait_until(pilot, lambda: kb.summary is not None, "the KB build to end")
            assert isinstance(kb, KbBuildScreen) and not kb.summary.aborted and app.active_run is None

    run(go())


def test_long_log_lines_wrap_whole_at_80_columns(workspace):
    """At 80 columns every line shows to its end (the top-3s of every face), continuation lines indented."""
    from facetui.core.run.render import format_line
    from facetui.core.stores.report import read_results

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("r", "enter")
            screen = app.screen
            await wait_until(pilot, lambda: screen.summary is not None or screen.error, "the run to end")
            log = screen.log_widget
            width = log.scrollable_content_region.width
            rows = [strip.text.rstrip() for strip in log.lines]
            assert max(len(r) for r in rows) <= width and log.virtual_size.width <= width  # nothing past the edge
            assert len(rows) > 9 and rows[0].startswith("q01.jpg") and rows[1].startswith(" " * HANGING_INDENT)
            assert rows[1].strip()[0].isalpha()  # a wrapped candidate, not a new file's line
            return log_lines(screen)

    entries = run(go())
    out = workspace / "out"
    assert entries == [format_line(r) for r in read_results(out / REPORT_NAME, out)]  # each line whole


def test_u_opens_the_one_face_review_and_does_nothing_while_it_is_open(workspace):
    """The lead's keys at 80x24 (r, enter, u): the review, not its clusters view; u again stacks nothing."""
    from facetui.tui.clusters_screen import ClustersScreen
    from facetui.tui.review_screen import ReviewScreen

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("r", "enter")
            run_screen = app.screen
            await wait_until(pilot, lambda: run_screen.summary is not None, "the run to end")
            await pilot.press("u")
            review = app.screen
            assert type(review) is ReviewScreen
            await wait_until(
                pilot, lambda: review.current is not None and review._shown == review.current.key, "the first face"
            )
            assert shown(review.query_one("#review-title")).startswith("Review unknowns · 1 of 9 ")
            assert app.check_action("review", ()) is False  # off, so the footer drops it too
            depth = len(app.screen_stack)
            await pilot.press("u")
            await pilot.pause(0.1)
            assert app.screen is review and len(app.screen_stack) == depth
            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(app.screen, ClustersScreen), "the clusters view")
            clusters = app.screen
            await pilot.press("u")
            await pilot.pause(0.1)
            assert app.screen is clusters and len(app.screen_stack) == depth + 1
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is review, "back to the review")
            await pilot.press("escape")
            assert app.screen is run_screen and app.check_action("review", ()) is True

    run(go())


PRELOAD_SCRIPT = """
import sys
from pathlib import Path
from facetui.tui import app as tui_app

before = "textual_image.widget" in sys.modules
if sys.argv[2] == "broken":
    sys.modules["textual_image.widget"] = None  # the import fails
seen = []
tui_app.FacetuiApp.run = lambda self: seen.append(sys.modules.get("textual_image.widget") is not None) or 3
print("RESULT", before, seen, tui_app.run_app(Path(sys.argv[1])), sys.__stdin__ is not None)
"""


@pytest.mark.parametrize("case", ["ok", "broken"])
def test_run_app_imports_textual_image_before_textual_takes_the_terminal(workspace, case):
    """textual-image asks the terminal about graphics when first imported; under Textual the answer arrived as keys
    (``[?1;2c``: the c opened the clusters view). run_app imports it first; a failed import does not stop the app."""
    out = subprocess.run(
        [sys.executable, "-c", PRELOAD_SCRIPT, str(workspace / "settings.json"), case],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    loaded = "True" if case == "ok" else "False"
    assert f"RESULT False [{loaded}] 3 True" in out.stdout, out.stdout + out.stderr


def test_with_no_kb_the_recognition_screen_sorts_everything_into_unknown_and_says_why(workspace):
    (workspace / "kb" / "encodings.npz").unlink()

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=SIZE) as pilot:
            screen = await sort_in_app(app, pilot)
            assert screen.error == "" and screen.summary.unknown == 9
            assert "no KB people yet (no KB at " in shown(screen.query_one("#notices"))
            assert "Note: no KB people yet" in shown(screen.query_one("#summary"))

    run(go())
    assert filed(workspace / "out") == {f"Unknown/{f}" for f in QUERY}


def test_home_with_no_kb_offers_to_sort_without_one_and_a_damaged_kb_is_not_usable(workspace):
    kb = workspace / "kb" / "encodings.npz"
    kb.unlink()

    async def go() -> tuple[str, str]:
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause(0.2)
            return shown(app.screen.query_one("#facts")), shown(app.screen.query_one("#next"))

    facts, nxt = run(go())
    assert "none yet" in facts and "not usable" not in facts
    assert "or r to sort 9 photos with none" in nxt
    kb.write_bytes(b"not a KB")
    facts, nxt = run(go())
    assert "not usable" in facts and nxt.startswith("Next: press k to build")


def test_a_setup_error_is_shown_and_the_app_keeps_going(workspace):
    (workspace / "kb" / "encodings.npz").write_bytes(b"not a KB")  # a damaged KB (none at all is fine: all Unknown)

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("r")
            screen = app.screen
            await pilot.press("enter")
            await wait_until(pilot, lambda: bool(screen.error), "the error")
            await pilot.pause(0.1)
            assert "KB" in screen.error
            assert any(screen.error in n for n in notifications(app))
            assert "Could not start" in shown(screen.query_one("#status"))
            assert app.active_run is None and not screen.running
            await pilot.press("escape")  # back to Home: the app still answers
            assert app.current_mode == "home"

    run(go())
    assert not (workspace / "out" / REPORT_NAME).exists()


SPAWN_SCRIPT = """
import asyncio, sys
from pathlib import Path
from facetui.tui.app import FacetuiApp
from facetui.tui.facts import DeviceInfo

async def main():
    app = FacetuiApp(Path(sys.argv[1]), device_probe=lambda: DeviceInfo(torch_cuda=False))
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("r")
        screen = app.screen
        await pilot.press("enter")
        for _ in range(2400):
            await pilot.pause(0.05)
            if screen.summary is not None or screen.error:
                break
        print("RESULT", screen.summary.done if screen.summary else screen.error)

asyncio.run(main())
"""


@pytest.mark.slow
def test_a_run_with_worker_processes_starts_inside_the_app(tmp_path, built_workspace):
    """Under Textual sys.stderr has no file descriptor; spawning the core's worker pool must still work.

    A fresh process (the resource tracker is per process), two workers, a cold cache, two photos.
    """
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(built_workspace, ws, ignore=shutil.ignore_patterns("cache", "out"))
    (ws / "two").mkdir()
    for name in QUERY[:2]:
        shutil.copy(ws / "query" / name, ws / "two" / name)
    raw = json.loads((ws / "settings.json").read_text())
    raw.update({"workers": 2, "process_dir": "two", "cache_dir": "cold-cache"})
    (ws / "settings.json").write_text(json.dumps(raw))
    out = subprocess.run(
        [sys.executable, "-c", SPAWN_SCRIPT, str(ws / "settings.json")], capture_output=True, text=True, timeout=300
    )
    assert "RESULT 2" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    assert filed(ws / "out") == expected_copies(QUERY[:2])


def test_the_log_keeps_only_the_last_lines(workspace, monkeypatch):
    """Thousands of files must not grow the log without bound (the cap is lowered here to keep the test quick)."""
    from facetui.core.base.events import FaceResult, FileDone, FileResult, RunStarted
    from facetui.tui import widgets
    from facetui.tui.messages import CoreEvent

    monkeypatch.setattr(widgets, "MAX_LOG_LINES", 50)
    n = 400

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("r")
            screen = app.screen
            screen.post_message(CoreEvent(RunStarted("recognize", n, workspace, workspace, False, "cpu")))
            for i in range(1, n + 1):
                face = FaceResult(0, (1, 2, 3, 4), 100.0, face=(("A", 0.3),), name="A", via="face")
                result = FileResult(workspace / f"p{i}.jpg", f"p{i}.jpg", faces=(face,), people=("A",))
                screen.post_message(CoreEvent(FileDone(i, n, result)))
            await wait_until(pilot, lambda: screen.done == n, "the messages")
            lines = log_lines(screen)
            assert len(lines) == 50
            assert lines[-1].startswith(f"p{n}.jpg → A") and lines[0].startswith(f"p{n - 49}.jpg")

    run(go())


def test_an_unexpected_worker_error_opens_a_dialog_not_a_crash(workspace):
    def hook(i: int) -> None:
        if i == 2:
            raise RuntimeError("simulated fault in file 2")

    async def go():
        app = make_app(workspace / "settings.json", pipeline_hook=hook)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("r")
            screen = app.screen
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog), "the error dialog")
            assert "simulated fault in file 2" in shown(app.screen.query_one(".dialog-text"))
            assert app.active_run is None and not screen.running and screen.error
            await pilot.press("enter")  # closes the dialog; the app carries on
            assert app.screen is screen
            assert app.return_value is None

    run(go())


def test_a_broken_settings_file_opens_with_a_dialog_and_the_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"face_tol": 0.5,')

    async def go():
        app = make_app(path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.2)
            assert isinstance(app.screen, ErrorDialog)
            assert "is not valid JSON" in shown(app.screen.query_one(".dialog-text"))
            await pilot.press("enter")
            home = app.screen
            await wait_until(pilot, lambda: home.facts is not None, "home facts")
            assert "not used:" in shown(home.query_one("#facts"))

    run(go())
    assert path.read_text() == '{"face_tol": 0.5,'  # nothing written behind the user's back


# -- KB build -----------------------------------------------------------------------------------------------------


def test_kb_build_from_home_writes_a_kb_the_core_loads(workspace):
    kb_file = workspace / "kb" / "encodings.npz"
    kb_file.unlink()

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=SIZE) as pilot:
            assert app.current_mode == "home"
            await pilot.press("k")
            screen = app.screen
            assert isinstance(screen, KbBuildScreen)
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.summary is not None or screen.error, "the KB build")
            assert screen.error == ""
            assert screen.summary.people == 5 and screen.summary.faces == 11 and not screen.summary.aborted
            assert len(log_lines(screen)) == 11  # one line per dataset photo
            await pilot.press("h")
            home = app.screen
            await wait_until(pilot, lambda: home.facts is not None and home.facts.kb.get("ok"), "home facts")
            assert "5 people" in shown(home.query_one("#facts"))
            assert "KB build" in home.facts.last_run and "completed" in home.facts.last_run  # from kb-run.toml
            assert "Last run" in shown(home.query_one("#facts"))

    run(go())
    kb = load_kb(kb_file)
    assert sorted(kb.people) == ["Alex_Lacamoire", "Barack_Obama", "Joe_Biden", "Kit_Harington", "Rose_Leslie"]


def test_command_palette_starts_a_kb_build(workspace):
    kb_file = workspace / "kb" / "encodings.npz"
    kb_file.unlink()

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+p")
            await pilot.press(*"build the kb now")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: isinstance(app.screen, KbBuildScreen) and app.screen.summary is not None, "the KB build"
            )

    run(go())
    assert len(load_kb(kb_file).people) == 5


def test_every_key_has_an_id_and_a_palette_command():
    from facetui.tui.home_screen import HomeScreen
    from facetui.tui.run_screen import RunScreen

    palette = {action for _, _, action in COMMANDS}
    covers = {
        "start": "start('recognition')",
        "back": "show('home')",
        "save": "save_settings",
        "cancel": "discard_settings",
    }
    for owner in (FacetuiApp, HomeScreen, RunScreen, SettingsScreen):
        for b in owner.__dict__.get("BINDINGS", []):  # our own, not Textual's tab/shift+tab
            assert b.id, f"{owner.__name__}: binding {b.key} has no id"
            assert covers.get(b.action, b.action) in palette, f"no palette command for {b.action}"


# -- settings -----------------------------------------------------------------------------------------------------


async def _type_into(pilot, screen, key: str, text: str) -> None:
    field = screen.query_one(f"#field-{key}")
    field.focus()
    await pilot.press("ctrl+a", "ctrl+k", *text)


def test_settings_edit_saves_refuses_bad_values_and_cancel_leaves_the_file(workspace):
    path = workspace / "settings.json"
    raw = json.loads(path.read_text())
    raw["my_note"] = "a key facetui does not know"
    path.write_text(json.dumps(raw, indent=2))

    async def go():
        app = make_app(path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("s")
            screen = app.screen
            assert isinstance(screen, SettingsScreen)
            # a good edit saves
            await _type_into(pilot, screen, "face_tol", "0.45")
            await pilot.press("ctrl+s")
            await pilot.pause(0.1)
            saved = json.loads(path.read_text())
            assert saved["face_tol"] == 0.45
            assert saved["my_note"] == "a key facetui does not know"
            assert app.settings.face_tol == 0.45
            before = path.read_bytes()
            # a bad value is refused as you type, with the core's message, and not saved
            await _type_into(pilot, screen, "face_tol", "3.5")
            msg = "setting 'face_tol' = 3.5 is not valid: a number from 0 to 2"
            assert shown(screen.query_one("#error-face_tol")).strip() == msg
            await pilot.press("ctrl+s")
            await pilot.pause(0.1)
            assert path.read_bytes() == before
            assert msg in notifications(app)
            # cancel leaves the file as it was and the form back at the saved value
            await _type_into(pilot, screen, "resize_max", "640")
            await pilot.press("escape")
            assert app.current_mode == "home"
            assert path.read_bytes() == before
            await pilot.press("s")
            assert screen.query_one("#field-face_tol").value == "0.45"
            assert screen.query_one("#field-resize_max").value == "800"

    run(go())
    assert json.loads(path.read_text())["resize_max"] == 800


def test_review_key_without_the_review_screen_says_so(workspace, monkeypatch):
    monkeypatch.setitem(sys.modules, "facetui.tui.review_screen", None)  # import fails

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("u")
            await pilot.pause(0.1)
            assert "review is not available" in notifications(app)
            assert app.current_mode == "home"

    run(go())


# -- small parts --------------------------------------------------------------------------------------------------


def test_path_suggester_completes_folder_names(workspace):
    sug = PathSuggester(workspace)
    assert run(sug.get_suggestion("qu")) == "query/"
    assert run(sug.get_suggestion("kb/Bar")) == "kb/Barack_Obama/"
    assert run(sug.get_suggestion("zzz")) is None
    assert run(PathSuggester(workspace, dirs_only=False).get_suggestion("settings.j")) == "settings.json"


def test_stats_line_counts_rate_and_eta():
    assert stats_line(3, 9, 1.5) == "3/9 files · 2.0/s · ETA 0:03"
    assert stats_line(0, 9, 0.0) == "0/9 files · -/s · ETA -:--"
    assert stats_line(9, 9, 4.5, finished=True) == "9/9 files · 2.0/s · took 0:04"
