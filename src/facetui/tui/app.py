"""The Textual app: modes for Home, Settings, KB build, Recognition and Calibrate, app-wide keys, quitting safely mid-run."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.worker import Worker

from ..core.base.errors import FacetuiError
from ..core.base.settings import Settings, SettingsError, from_dict, load_settings
from ..core.base.textsafe import terminal_safe
from .calibrate_screen import CalibrateScreen
from .commands import FacetuiCommands
from .dialogs import ConfirmDialog, ErrorDialog
from .facts import DeviceInfo, probe_device
from .home_screen import HomeScreen
from .kb_screen import KbBuildScreen
from .keymap import KEYMAP_NAME, load_keymap
from .messages import SettingsChanged
from .recognition_screen import RecognitionScreen
from .run_screen import RunScreen
from .settings_screen import SettingsScreen

# What the quit question calls each run (by the running screen's KIND).
RUN_WHAT = {"recognition": "recognition", "kb": "KB build", "calibrate": "calibration sweep"}


def load_or_default(path: Path) -> tuple[Settings, str]:
    """The settings in ``path``, or the defaults (resolved next to it) and the reason they are not loaded."""
    try:
        return load_settings(path), ""
    except SettingsError as e:
        return from_dict({}, path), str(e)


class FacetuiApp(App[int]):
    """facetui's terminal app. ``clock``, ``device_probe`` and ``pipeline_hook`` exist for tests."""

    CSS_PATH = "facetui.tcss"
    TITLE = "facetui"
    MODES = {
        "home": HomeScreen,
        "settings": SettingsScreen,
        "kb": KbBuildScreen,
        "recognition": RecognitionScreen,
        "calibrate": CalibrateScreen,
    }
    DEFAULT_MODE = "home"
    COMMANDS = App.COMMANDS | {FacetuiCommands}
    BINDINGS = [
        Binding("h", "show('home')", "Home", id="home"),
        Binding("s", "show('settings')", "Settings", id="settings"),
        Binding("k", "show('kb')", "KB", id="kb"),
        Binding("r", "show('recognition')", "Recognise", id="recognition"),
        Binding("u", "review", "Review", id="review"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("c", "show('calibrate')", "Calibrate", id="calibrate"),  # after q: at 80 columns q stays in the footer
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit-now"),
    ]

    def __init__(
        self,
        settings_path: Path | str,
        *,
        clock: Callable[[], float] | None = None,
        device_probe: Callable[[], DeviceInfo] | None = None,
        pipeline_hook: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self.settings_path = Path(settings_path).expanduser().absolute()
        self.settings, self.settings_error = load_or_default(self.settings_path)
        self.clock = clock or time.monotonic
        self.device_probe = device_probe or probe_device
        self.device_info: DeviceInfo | None = None
        self.pipeline_hook = pipeline_hook  # passed to the core as on_file: tests hold a run there
        self._active_run: RunScreen | CalibrateScreen | None = None
        self.quitting = False

    def on_mount(self) -> None:
        keymap, problems = load_keymap(self.settings_path.parent / KEYMAP_NAME)
        if keymap:
            self.set_keymap(keymap)
        for line in problems:
            self.notify(terminal_safe(line), severity="warning", timeout=10, markup=False)
        if self.settings_error:
            missing = "not found" in self.settings_error
            self.push_screen(
                ErrorDialog(
                    "Settings not loaded",
                    f"{self.settings_error}\n\nfacetui runs with the default settings"
                    + (
                        " for now; save in Settings (s) to create the file."
                        if missing
                        else "; saving in Settings (s) replaces the file with a valid one."
                    ),
                )
            )
        for w in self.settings.warnings:
            self.notify(terminal_safe(w), severity="warning", markup=False)

    # -- navigation ---------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ModalScreen) and action in ("show", "review"):
            return False
        if action == "show" and parameters and parameters[0] == self.current_mode and self._at_mode_base():
            return False  # hide the key of the screen already shown
        if action == "review" and self._in_review():
            return False  # already reviewing: u does nothing (and no second review screen is stacked)
        if action == "review" and self.active_run is not None and self.active_run.KIND == "recognition":
            return None  # the report is being written
        return True

    def _at_mode_base(self) -> bool:
        return len(self.screen_stack) <= 1

    def _in_review(self) -> bool:
        """Whether the review screen (or its clusters view) is open in the current mode."""
        return any(getattr(s, "IS_REVIEW", False) for s in self.screen_stack)

    def action_show(self, mode: str) -> None:
        if isinstance(self.screen, ModalScreen):
            return
        while not self._at_mode_base() and not isinstance(self.screen, ModalScreen):
            self.pop_screen()  # e.g. leave the review screen before switching
        self.switch_mode(mode)
        self.refresh_bindings()

    def action_review(self) -> None:
        try:
            from .review_screen import ReviewScreen  # written separately; optional
        except ImportError:
            self.notify("review is not available", severity="warning")
            return
        self.push_screen(ReviewScreen(self.settings))

    def run_screen(self, kind: str) -> RunScreen | CalibrateScreen | None:
        stack = self._screen_stacks.get(kind) or []
        return stack[0] if stack and isinstance(stack[0], (RunScreen, CalibrateScreen)) else None

    async def action_start(self, kind: str) -> None:
        """Switch to a run screen and start it (the command palette's 'now' commands)."""
        self.action_show(kind)
        screen = self.run_screen(kind)
        if screen is not None:
            self.call_after_refresh(screen.action_start)

    def action_abort(self) -> None:
        if self.active_run is None:
            self.notify("Nothing is running.")
            return
        self.active_run.action_abort()

    def action_save_settings(self) -> None:
        self.action_show("settings")
        self.call_after_refresh(lambda: self.screen.run_action("save"))

    def action_apply_calibration(self) -> None:
        self.action_show("calibrate")
        self.call_after_refresh(lambda: self.screen.run_action("apply"))

    def action_discard_settings(self) -> None:
        self.action_show("settings")
        self.call_after_refresh(lambda: self.screen.run_action("cancel"))

    # -- the one run at a time --------------------------------------------------------------------------------------
    # Claimed by a call, not a message: a message is handled later, so two quick starts (enter on one run screen,
    # then on another) could both find no run going. These two methods are the only writers of the run state.
    @property
    def active_run(self) -> RunScreen | CalibrateScreen | None:
        """The screen whose run (KB build, recognition, calibration sweep) is going, or None."""
        return self._active_run

    def claim_run(self, screen: RunScreen | CalibrateScreen) -> bool:
        """Make ``screen`` the running screen; False (and the user told why) when another run is going."""
        if self._active_run is not None:
            self.notify("A run is already going; abort it first (escape on its screen).", severity="warning")
            return False
        self._active_run = screen
        self.refresh_bindings()
        return True

    def release_run(self, screen: RunScreen | CalibrateScreen) -> None:
        """``screen``'s run has ended (or did not start): another may start."""
        if self._active_run is screen:
            self._active_run = None
        self.refresh_bindings()

    # -- settings and errors ------------------------------------------------------------------------------------
    def on_settings_changed(self, message: SettingsChanged) -> None:
        self.settings = message.settings
        self.settings_error = ""

    def report_worker_error(self, worker: Worker) -> None:
        """The one place a failed worker lands: user errors as a notification, anything else as a dialog."""
        err = worker.error
        if err is None:
            return
        if isinstance(err, (FacetuiError, OSError)):  # a message meant for the user: a notification, not a crash
            text = str(err) if not isinstance(err, OSError) else f"{err.strerror or err}: {err.filename or ''}"
            self.notify(terminal_safe(text), title="Cannot do that", severity="error", timeout=12, markup=False)
        else:
            self.push_screen(
                ErrorDialog(
                    "Unexpected error",
                    f"{type(err).__name__}: {err}\n\n(in {worker.name or 'a background task'}; the app keeps running)",
                )
            )

    # -- quitting -----------------------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        if self.active_run is None:
            self.exit(0)
            return
        if self.quitting:
            return
        what = RUN_WHAT.get(self.active_run.KIND, "run")
        self.push_screen(
            ConfirmDialog(
                f"A {what} is running. Stop it after the current file and quit?", yes="Stop and quit", no="Keep running"
            ),
            self._quit_answered,
        )

    def _quit_answered(self, yes: bool | None) -> None:
        if yes:
            self.quitting = True
            self.run_worker(self._abort_then_exit(), group="quit", exclusive=True)

    async def _abort_then_exit(self) -> None:
        run = self.active_run
        if run is not None:
            run.action_abort()
            await run.wait_for_run()
        self.exit(0)


def preload_images() -> None:
    """Import textual-image now, before Textual owns the terminal.

    On its first import textual-image asks the terminal for its graphics protocols and cell size (``ESC [ c``,
    ``ESC _ G ...``) and reads the answer from stdin. Once Textual runs, its input thread reads stdin too and takes
    (part of) the answer as key presses: ``[?1;2c`` reached the review screen as the keys ``1``, ``2`` and ``c``.
    If the query fails here (say stdin is not a terminal), the import is retried without it: half-blocks.
    """
    try:
        import textual_image.widget

        return
    except Exception:  # any failure of the terminal query only costs the graphics protocols
        pass
    saved = sys.__stdin__
    sys.__stdin__ = None  # textual-image then skips the queries: no Sixel or Kitty graphics, half-blocks
    try:
        import textual_image.widget  # noqa: F401
    except Exception:  # the review screen then says it is not available
        pass
    finally:
        sys.__stdin__ = saved


def run_app(settings_path: Path) -> int:
    """Open the app on ``settings_path``; the exit status for the command line."""
    preload_images()
    result = FacetuiApp(settings_path).run()
    return result if isinstance(result, int) else 0
