"""The command palette (ctrl+p): one command for every action the keys offer."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import FacetuiApp

# (title, help, app action); the actions live on FacetuiApp so they work from any screen
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Home", "Where things stand: settings, KB, folders, device (h)", "show('home')"),
    ("Settings", "Edit settings.json as a form (s)", "show('settings')"),
    ("KB build screen", "Open the knowledge-base build screen (k)", "show('kb')"),
    ("Build the KB now", "Build or update the KB from the dataset folder", "start('kb')"),
    ("Recognition screen", "Open the recognition screen (r)", "show('recognition')"),
    ("Sort photos now", "Start recognition with the folders on the recognition screen", "start('recognition')"),
    (
        "Calibrate screen",
        "Sweep face_tol over labelled photos (or the KB), see the table and charts (c)",
        "show('calibrate')",
    ),
    ("Calibrate now", "Run the calibration sweep with the labels on the calibrate screen", "start('calibrate')"),
    (
        "Apply the calibration advice",
        "Write the advised values into the settings file, after showing the change",
        "apply_calibration",
    ),
    ("Abort the run", "Stop the running KB build, recognition or calibration after the current file (escape)", "abort"),
    ("Review unknowns", "Assign the photos filed under Unknown (u)", "review"),
    ("Save settings", "Save the settings form (ctrl+s on the settings screen)", "save_settings"),
    ("Discard settings changes", "Reset the settings form; the file is unchanged (escape there)", "discard_settings"),
    ("Quit", "Leave facetui; asks first while a run is going (q)", "quit"),
)


class FacetuiCommands(Provider):
    """Lists the app's actions; choosing one runs it as the key would."""

    def _command(self, action: str) -> Callable[[], object]:
        app = cast("FacetuiApp", self.app)
        return partial(app.run_action, action)

    async def discover(self) -> Hits:
        for title, help_text, action in COMMANDS:
            yield DiscoveryHit(title, self._command(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in COMMANDS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._command(action), help=help_text)
