"""Home: where things stand at a glance (settings file, KB, folders, device, body recognition) and what to do next."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from .base import FacetuiScreen
from .facts import HomeFacts, gather_home_facts
from .lines import short_path
from .messages import DeviceProbed, HomeFactsReady

KEYS_HELP = (
    "r  sort photos (recognition)      k  build or update the KB\n"
    "u  review the unknowns            s  settings\n"
    "c  calibrate face_tol by eye      ctrl+p  all commands\n"
    "q  quit"
)


def _built(at: str) -> str:
    try:
        dt = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return str(at)
    return dt.strftime("%Y-%m-%d %H:%M") + (" UTC" if dt.utcoffset() is not None and not dt.utcoffset() else "")


class HomeScreen(FacetuiScreen):
    SUB_TITLE = "Home"

    def __init__(self) -> None:
        super().__init__()
        self.facts: HomeFacts | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Reading the folders...", id="facts")
        yield Static("", id="next")
        yield Static(KEYS_HELP, id="keys", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.app.device_info is None:
            self.probe()

    def refresh_view(self) -> None:
        self.gather(self.app.settings)

    @work(thread=True, exclusive=True, group="home-facts", exit_on_error=False)
    def gather(self, settings) -> None:
        self.post_message(HomeFactsReady(gather_home_facts(settings)))

    @work(thread=True, exclusive=True, group="device-probe", exit_on_error=False)
    def probe(self) -> None:
        self.post_message(DeviceProbed(self.app.device_probe()))

    def on_home_facts_ready(self, message: HomeFactsReady) -> None:
        self.facts = message.facts
        self.render_facts()

    def on_device_probed(self, message: DeviceProbed) -> None:
        self.app.device_info = message.info
        self.render_facts()

    def render_facts(self) -> None:
        f, s, app = self.facts, self.app.settings, self.app
        if f is None:
            return
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold", no_wrap=True)
        t.add_column()
        src = Text(short_path(s.source))
        if app.settings_error:
            src.append(f"  (not used: {app.settings_error})", "red")
        t.add_row("Settings", src)
        kb = f.kb
        if kb.get("ok"):
            line = Text(
                f"{kb['people']} people · {kb['faces']} faces · {kb['bodies']} bodies · built {_built(kb['built_at'])}"
            )
            line.append(
                " · stale: the dataset changed" if kb["stale"] else " · up to date",
                "yellow" if kb["stale"] else "green",
            )
            line.append(f"\n{short_path(kb['path'])}", "dim")
        elif _no_kb_yet(kb):
            line = Text(
                "none yet: a run files every photo under Unknown/; name the people in Review's clusters", "yellow"
            )
        else:
            line = Text(f"not usable: {kb.get('error', '?')}", "red")
        t.add_row("KB", line)
        t.add_row("Dataset", self._folder_line(s.dataset_dir, None))
        t.add_row("Input", self._folder_line(f.input.path, f.input.photos if f.input.exists else None))
        out = Text(short_path(f.output.path))
        if f.output.exists:
            out.append(f"  {f.output.photos} copies filed, {f.output.unknown} in Unknown")
            if f.report:
                out.append(" · report.csv", "dim")
        else:
            out.append("  not created yet (the first run creates it)", "dim")
        t.add_row("Output", out)
        dev = app.device_info
        t.add_row("Device", Text(dev.describe() if dev else "checking...", "" if dev else "dim"))
        t.add_row("Bodies", Text(f.body, "green" if f.body_on else "dim"))
        t.add_row("Last run", Text(f.last_run or "none yet", "" if f.last_run else "dim"))
        self.query_one("#facts", Static).update(t)
        self.query_one("#next", Static).update(self._next_step(f))

    @staticmethod
    def _folder_line(path, photos: int | None) -> Text:
        line = Text(short_path(path))
        if photos is None and not path.is_dir():
            line.append("  folder not found", "red")
        elif photos is not None:
            line.append(f"  {photos} photo{'s' if photos != 1 else ''}")
        return line

    def _next_step(self, f: HomeFacts) -> Text:
        app = self.app
        if app.active_run is not None:
            kind = app.active_run.KIND
            what = {"recognition": "recognition", "calibrate": "calibration sweep"}.get(kind, "KB build")
            key = {"recognition": "r", "calibrate": "c"}.get(kind, "k")
            return Text(f"A {what} is running: press {key} to watch it.", "bold")
        if _no_kb_yet(f.kb) and f.input.exists:
            return Text(
                "Next: press k to build the knowledge base from the dataset folder, or r to sort "
                f"{f.input.photos} photos with none (all to Unknown/), then u and c to name the clusters.",
                "bold yellow",
            )
        if not f.kb.get("ok"):
            return Text("Next: press k to build the knowledge base from the dataset folder.", "bold yellow")
        if f.kb.get("stale"):
            return Text("Next: the dataset changed since the KB was built; press k to update it.", "bold yellow")
        if not f.input.exists:
            return Text("Next: the input folder is missing; press s to set process_dir.", "bold yellow")
        return Text(
            f"Next: press r to sort {f.input.photos} photos from {short_path(f.input.path)} "
            f"into {short_path(f.output.path)}.",
            "bold",
        )


def _no_kb_yet(kb: dict) -> bool:
    """No KB file at all (not a damaged one): recognize runs without one."""
    return not kb.get("ok") and not Path(kb.get("path", "")).exists()
