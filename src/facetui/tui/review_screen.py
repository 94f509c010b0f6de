"""The review screen: each unknown face with its photo, crop and candidates, decided with one key.

Why it is long: it has the most keys of any screen (assign 1-3, new name, none, skip, undo, batch, preview), each
a short action whose disk work is in review_work.py; the text is in review_text.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PIL import Image as PILImage
from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

from ..core.base.events import Candidates
from ..core.base.fsutil import display_name
from ..core.base.settings import Settings
from ..core.base.textsafe import terminal_safe
from ..core.review.session import ReviewItem, ReviewSession
from . import review_work
from .base import FacetuiScreen
from .clusters_screen import ASSIGN, ClustersScreen
from .messages import Decided, ItemLoaded, PreviewReady, QueueReloaded, SessionOpened
from .name_dialog import NameDialog
from .photos import image_class
from .preview_screen import PreviewScreen
from .review_text import candidates_text, done_text, face_text


class ReviewScreen(FacetuiScreen[None]):
    """Review the unknowns of the latest run one face at a time; what reads or writes the files runs in thread
    workers (``review_work``), and the screen changes when their message comes back."""

    DEFAULT_CSS = """
    ReviewScreen { layout: vertical; }
    ReviewScreen #review-title { height: auto; max-height: 2; background: $panel; padding: 0 1; }
    ReviewScreen #review-body { height: 1fr; }
    ReviewScreen #review-photo-pane { width: 2fr; height: 100%; align: center middle; }
    ReviewScreen #review-photo { width: auto; height: 1fr; }
    ReviewScreen #review-side { width: 1fr; min-width: 30; height: 100%; padding: 0 1; }
    ReviewScreen #review-face { width: auto; height: 12; }
    ReviewScreen #review-cands { height: 1fr; }
    ReviewScreen #review-keys { height: auto; color: $text-muted; }
    ReviewScreen #review-status { height: auto; min-height: 1; max-height: 2; background: $panel; padding: 0 1; }
    """

    BINDINGS = [
        Binding("1", "assign(1)", "candidate 1", id="review.assign_1", group=ASSIGN),
        Binding("2", "assign(2)", "candidate 2", id="review.assign_2", group=ASSIGN),
        Binding("3", "assign(3)", "candidate 3", id="review.assign_3", group=ASSIGN),
        Binding("n", "new_name", "new name", id="review.new_name"),
        Binding("x", "not_in_kb", "not in KB", id="review.not_in_kb"),
        Binding("r", "reject", "not #1", id="review.reject"),
        Binding("s", "skip", "skip", id="review.skip"),
        Binding("z", "undo", "undo", id="review.undo"),
        Binding("enter", "preview", "full size", id="review.preview"),
        Binding("c", "clusters", "clusters", id="review.clusters"),
        Binding("escape", "back", "back", id="review.back"),
    ]
    IS_REVIEW = True  # the app's review key (u) does nothing while this is open

    def __init__(self, settings: Settings, output_dir: Path | None = None, image_mode: str | None = None, **kw) -> None:
        super().__init__(**kw)
        self.settings = settings
        self.output_dir = Path(output_dir) if output_dir else None
        self.image_mode = image_mode
        self.session: ReviewSession | None = None
        self.lock = threading.Lock()  # held by every worker's use of the session (this screen's and the clusters')
        self.people: tuple[str, ...] = ()  # the KB's names, as the last worker read them (for the name dialog)
        self.stale = False  # the clusters view is open: it may decide faces of this queue
        self.queue: list[ReviewItem] = []
        self.done: dict[tuple, str] = {}  # item key -> who it went to, "none" or "skipped"
        self.pos = 0
        self.busy = True
        self._shown: tuple | None = None  # key of the item whose pictures and candidates are on screen
        self._choices: Candidates = ()
        self._photo: PILImage.Image | None = None

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        cls = image_class(self.image_mode)
        yield Static("Review unknowns: loading the latest report...", id="review-title", markup=False)
        with Horizontal(id="review-body"):
            with Vertical(id="review-photo-pane"):
                yield cls(None, id="review-photo")
            with Vertical(id="review-side"):
                yield cls(None, id="review-face")
                yield Static("", id="review-cands")
                # the footer's last keys, which an 80-column footer cuts off
                yield Static("c clusters · ⏎ full size\nesc back", id="review-keys", markup=False)
        yield Static("", id="review-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        out = self.output_dir or self.settings.processed_dir
        self.output_dir = Path(out)
        self._open(self.settings, self.output_dir)

    def on_unmount(self) -> None:
        session, lock = self.session, self.lock
        if session is None:
            return

        def close() -> None:  # once no worker of this screen (or of its clusters view) holds the session
            with lock:
                session.close()

        # an app worker: this screen's own are cancelled as it goes
        self.app.run_worker(close, thread=True, group="review-close", exit_on_error=False)

    def refresh_view(self) -> None:
        if self.stale and self.session is not None:  # back from the clusters view
            self.stale = False
            self.busy = True
            self.refresh_bindings()
            self._reload(self.session, list(self.queue))

    # -- workers: the disk work is in review_work, each posts the message it returns ---------------
    @work(thread=True, exclusive=True, group="review-open", exit_on_error=False)
    def _open(self, settings: Settings, output_dir: Path) -> None:
        self.post_message(review_work.open_session(settings, output_dir))

    @work(thread=True, exclusive=True, group="review-load", exit_on_error=False)
    def _load(self, session: ReviewSession, item: ReviewItem) -> None:
        self.post_message(review_work.load_item(session, self.lock, item))

    @work(thread=True, exclusive=True, group="review-decide", exit_on_error=False)
    def _decide(self, session: ReviewSession, op: str, item: ReviewItem | None, person: str = "") -> None:
        self.post_message(review_work.decide(session, self.lock, op, item, person))

    @work(thread=True, exclusive=True, group="review-preview", exit_on_error=False)
    def _preview(self, session: ReviewSession, item: ReviewItem, shown: PILImage.Image) -> None:
        self.post_message(review_work.preview(session, item, shown))

    @work(thread=True, exclusive=True, group="review-reload", exit_on_error=False)
    def _reload(self, session: ReviewSession, items: list[ReviewItem]) -> None:
        self.post_message(review_work.reload_queue(session, self.lock, items))

    # -- message handlers -----------------------------------------------------------------------
    @on(SessionOpened)
    def _opened(self, msg: SessionOpened) -> None:
        self.people = msg.people
        if msg.session is None:
            self._title(f"Review unknowns: {msg.error}")
            self._say("Run recognition first, then come back (escape).")
            self.query_one("#review-keys").display = False
            self.busy = False
            self.refresh_bindings()
            return
        self.session = msg.session
        self.queue = list(msg.order)  # cluster by cluster, biggest first: faces alike come in a row
        self.pos = 0
        self.busy = False
        self._show()

    @on(ItemLoaded)
    def _loaded(self, msg: ItemLoaded) -> None:
        item = self.current
        if item is None or item.key != msg.key:
            return  # the user moved on meanwhile
        self.people = msg.people
        self._shown = msg.key
        self._choices = msg.face_c or msg.body_c
        self._photo = msg.photo
        self.query_one("#review-photo").image = msg.photo
        self.query_one("#review-face").image = msg.face
        text = candidates_text(msg.face_c, msg.body_c, self._choices)
        if msg.error:
            text = f"[b]Cannot show the photo:[/b] {escape(terminal_safe(msg.error))}\n\n" + text
        self.query_one("#review-cands", Static).update(text)
        self.refresh_bindings()

    @on(Decided)
    def _decided(self, msg: Decided) -> None:
        self.busy = False
        if msg.outcome is None:
            self._say(f"Not done: {msg.error}")
            self.refresh_bindings()
            return
        self._say(msg.outcome.message)
        if msg.undo:
            self._append(msg.back)
            for e in msg.outcome.entries:
                self.done.pop((e.file, e.face), None)
            keys = [(e.file, e.face) for e in msg.outcome.entries]
            idx = next((i for i, it in enumerate(self.queue) if it.key in keys), None)
            if idx is not None:
                self.pos = idx
            self._show()
            return
        for e in msg.outcome.entries:
            key = (e.file, e.face)
            if e.op == "assign":
                self.done[key] = e.person
            elif e.op == "none":
                self.done[key] = "none"
        if msg.outcome.entries and msg.outcome.entries[0].op == "reject":
            self._show()  # same face, fresh candidates without the rejected one
        else:
            self._next()

    @on(QueueReloaded)
    def _reloaded(self, msg: QueueReloaded) -> None:
        """Faces decided in the clusters view leave this queue; faces undone there come back (at the end, if they
        were not in it)."""
        self.busy = False
        if msg.error:
            self._say(f"Cannot read the decisions again: {msg.error}")
        self._append(msg.new)
        for it in self.queue:
            status = msg.status.get(it.key)
            if status and it.key not in self.done:
                self.done[it.key] = status
            elif status == "" and self.done.get(it.key) not in (None, "skipped"):
                self.done.pop(it.key, None)
        self._show()

    @on(PreviewReady)
    def _preview_ready(self, msg: PreviewReady) -> None:
        item = self.current
        if item is None or item.key != msg.key or not self.is_current:
            return  # moved on meanwhile, or a dialog is open
        self.app.push_screen(PreviewScreen(msg.photo, msg.caption, self.image_mode))

    # -- navigation -------------------------------------------------------------------------------
    def _append(self, items) -> None:
        """Faces waiting again that the queue does not hold (decided before this screen opened) go at its end."""
        have = {it.key for it in self.queue}
        self.queue += [it for it in items if it.key not in have]

    @property
    def current(self) -> ReviewItem | None:
        if 0 <= self.pos < len(self.queue) and self.queue[self.pos].key not in self.done:
            return self.queue[self.pos]
        return None

    @property
    def remaining(self) -> int:
        return sum(1 for it in self.queue if it.key not in self.done)

    def _next(self) -> None:
        n = len(self.queue)
        for step in range(1, n + 1):
            i = (self.pos + step) % n
            if self.queue[i].key not in self.done:
                self.pos = i
                break
        self._show()

    def _show(self) -> None:
        if self.current is None and self.remaining:
            self._next()
            return
        item = self.current
        self._shown = None
        self._choices = ()
        if item is None:
            self._finished()
            return
        assert self.session is not None
        r, face = self.session.result(item), self.session.face(item)
        photo_faces = sum(1 for it in self.queue if it.rel == item.rel)
        self._title(
            f"Review unknowns · {self.pos + 1} of {len(self.queue)} ({self.remaining} left) · "
            + face_text(r.rel, item, face, photo_faces)
        )
        self.query_one("#review-cands", Static).update("loading...")
        self.query_one("#review-keys").display = True
        self._load(self.session, item)
        self.refresh_bindings()

    def _finished(self) -> None:
        self._title(
            done_text(self.done)
            if self.queue
            else "Review unknowns · nothing to review: no unknown faces in the latest run"
        )
        self.query_one("#review-photo").image = None
        self.query_one("#review-face").image = None
        self.query_one("#review-cands", Static).update("z: undo the last decision · c: clusters · escape: back")
        self.query_one("#review-keys").display = False  # said just above
        self.refresh_bindings()

    def _title(self, text: str) -> None:
        self.query_one("#review-title", Static).update(terminal_safe(text))

    def _say(self, text: str) -> None:
        self.query_one("#review-status", Static).update(terminal_safe(text))

    # -- actions ----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "back":
            return True
        if self.busy or self.session is None:
            return False
        ready = self.current is not None and self._shown == self.current.key
        if action == "assign":
            return ready and len(self._choices) >= int(parameters[0])
        if action == "reject":
            return ready and bool(self._choices)
        if action in ("new_name", "not_in_kb", "skip"):
            return self.current is not None
        if action == "preview":
            return ready and self._photo is not None
        return True

    def _start(self, op: str, item: ReviewItem | None, person: str = "") -> None:
        self.busy = True
        self.refresh_bindings()
        self._say(f"{op}...")
        assert self.session is not None
        self._decide(self.session, op, item, person)

    def action_assign(self, n: int) -> None:
        item = self.current
        if item is None or len(self._choices) < n:
            return
        self._start("assign", item, self._choices[n - 1][0])

    def action_new_name(self) -> None:
        item = self.current
        if item is None or self.session is None:
            return
        known = list(self.people)

        def named(name: str | None) -> None:
            if name and self.current is item:
                self._start("assign", item, name)

        self.app.push_screen(NameDialog(terminal_safe(f"Who is this? ({display_name(item.rel)})"), known), named)

    def action_not_in_kb(self) -> None:
        if self.current is not None:
            self._start("none", self.current)

    def action_reject(self) -> None:
        if self.current is not None and self._choices:
            self._start("reject", self.current, self._choices[0][0])

    def action_skip(self) -> None:
        item = self.current
        if item is None:
            return
        self.done[item.key] = "skipped"
        self._say(f"skipped {display_name(item.rel)} (asked again next time)")
        self._next()

    def action_undo(self) -> None:
        self._start("undo", None)

    def action_preview(self) -> None:
        item = self.current
        if item is None or self._photo is None or self.session is None:
            return
        self._preview(self.session, item, self._photo)  # PreviewReady opens it

    def action_clusters(self) -> None:
        if self.session is None:
            return
        self.stale = True  # refresh_view reads the queue again when this screen is shown again
        self.app.push_screen(ClustersScreen(self.session, self.lock, self.image_mode))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.dismiss(None)
