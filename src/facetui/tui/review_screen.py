"""The review screen: each unknown face with its photo, crop and candidates, decided with one key."""

from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..core.events import Candidates
from ..core.images import ImageLoadError
from ..core.review import ReviewError, ReviewItem, ReviewSession
from ..core.scan import display_name
from ..core.settings import Settings
from .clusters_screen import ASSIGN, ClustersScreen
from .name_dialog import NameDialog
from .photos import _readable, image_class, render_photo
from .preview_screen import PreviewScreen
from .review_messages import Decided, ItemLoaded, SessionOpened


def candidates_text(face_c: Candidates, body_c: Candidates, numbered: Candidates) -> str:
    """The candidate block: the numbered choices with their scores, then the body scores when faces lead."""
    by_face = bool(numbered) and numbered == face_c
    width = max((len(n) for n, _ in (*face_c, *body_c)), default=0)
    lines = [f"[b]{i}[/b]  {name:<{width}}  {score:.2f}" for i, (name, score) in enumerate(numbered, 1)]
    if not numbered:
        lines.append("No candidates: n names this face.")
    elif by_face:
        lines.append("face distance (lower = closer)")
    else:
        lines.append("body similarity (higher = closer)")
    if by_face and body_c:
        lines.append("")
        lines += [f"   {name:<{width}}  {score:.2f}" for name, score in body_c]
        lines.append("body similarity (higher = closer)")
    return "\n".join(lines)


class ReviewScreen(Screen[None]):
    """Review the unknowns of the latest run one face at a time."""

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

    def __init__(self, settings: Settings, output_dir: Path | None = None, image_mode: str | None = None,
                 **kw) -> None:
        super().__init__(**kw)
        self.settings = settings
        self.output_dir = Path(output_dir) if output_dir else None
        self.image_mode = image_mode
        self.session: ReviewSession | None = None
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
        if self.session is not None:
            self.session.close()

    # -- workers ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="review-open", exit_on_error=False)
    def _open(self, settings: Settings, output_dir: Path) -> None:
        try:
            session = ReviewSession(settings, output_dir)
        except (ReviewError, OSError) as e:
            self.post_message(SessionOpened(None, str(e)))
            return
        self.post_message(SessionOpened(session))

    @work(thread=True, exclusive=True, group="review-load", exit_on_error=False)
    def _load(self, item: ReviewItem) -> None:
        session = self.session
        if session is None:
            return
        face_c, body_c = session.candidates(item)
        r = session.result(item)
        src = _readable([r.path, *r.destinations])
        photo = face = None
        error = ""
        if src is None:
            error = "photo not found (original and copies are gone)"
        else:
            try:
                photo, face = render_photo(src, item.box)
            except ImageLoadError as e:
                error = str(e)
        self.post_message(ItemLoaded(item.key, photo, face, face_c, body_c, error))

    @work(thread=True, group="review-decide", exit_on_error=False)
    def _decide(self, op: str, item: ReviewItem | None, person: str = "") -> None:
        session = self.session
        if session is None:
            return
        try:
            if op == "assign":
                outcome = session.assign(item, person)
            elif op == "none":
                outcome = session.mark_none(item)
            elif op == "reject":
                outcome = session.reject(item, person)
            else:
                outcome = session.undo()
        except (ReviewError, OSError) as e:
            self.post_message(Decided(None, str(e), undo=op == "undo"))
            return
        self.post_message(Decided(outcome, undo=op == "undo"))

    # -- message handlers -----------------------------------------------------------------------
    @on(SessionOpened)
    def _opened(self, msg: SessionOpened) -> None:
        if msg.session is None:
            self._title(f"Review unknowns: {msg.error}")
            self._say("Run recognition first, then come back (escape).")
            self.query_one("#review-keys").display = False
            self.busy = False
            self.refresh_bindings()
            return
        self.session = msg.session
        self.queue = list(msg.session.items)
        self.pos = 0
        self.busy = False
        self._show()

    @on(ItemLoaded)
    def _loaded(self, msg: ItemLoaded) -> None:
        item = self.current
        if item is None or item.key != msg.key:
            return  # the user moved on meanwhile
        self._shown = msg.key
        self._choices = msg.face_c or msg.body_c
        self._photo = msg.photo
        self.query_one("#review-photo").image = msg.photo
        self.query_one("#review-face").image = msg.face
        text = candidates_text(msg.face_c, msg.body_c, self._choices)
        if msg.error:
            text = f"[b]Cannot show the photo:[/b] {msg.error}\n\n" + text
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

    # -- navigation -------------------------------------------------------------------------------
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
        r = self.session.result(item)
        face = self.session.face(item)
        what = f"face {item.face}" if item.face is not None else "no face found"
        if face is not None and face.skipped:
            what += f" ({face.skipped})"
        elif face is not None and face.quality == "low":
            what += " (low quality)"
        if face is not None and face.rule:
            what += f" · not filed: {face.rule}"
        photo_faces = sum(1 for it in self.queue if it.rel == item.rel)
        self._title(f"Review unknowns · {self.pos + 1} of {len(self.queue)} ({self.remaining} left) · "
                    f"{display_name(r.rel)} · {what}" + (f" · {photo_faces} unknown faces in this photo"
                                                         if photo_faces > 1 else ""))
        self.query_one("#review-cands", Static).update("loading...")
        self.query_one("#review-keys").display = True
        self._load(item)
        self.refresh_bindings()

    def _finished(self) -> None:
        assigned = sum(1 for v in self.done.values() if v not in ("none", "skipped"))
        nones = sum(1 for v in self.done.values() if v == "none")
        skipped = sum(1 for v in self.done.values() if v == "skipped")
        if not self.queue:
            self._title("Review unknowns · nothing to review: no unknown faces in the latest run")
        else:
            self._title(f"Review unknowns · done: {assigned} assigned, {nones} not in the KB, {skipped} skipped")
        self.query_one("#review-photo").image = None
        self.query_one("#review-face").image = None
        self.query_one("#review-cands", Static).update("z: undo the last decision · c: clusters · escape: back")
        self.query_one("#review-keys").display = False  # said just above
        self.refresh_bindings()

    def _title(self, text: str) -> None:
        self.query_one("#review-title", Static).update(text)

    def _say(self, text: str) -> None:
        self.query_one("#review-status", Static).update(text)

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
        self._decide(op, item, person)

    def action_assign(self, n: int) -> None:
        item = self.current
        if item is None or len(self._choices) < n:
            return
        self._start("assign", item, self._choices[n - 1][0])

    def action_new_name(self) -> None:
        item = self.current
        if item is None or self.session is None:
            return
        known = list(self.session.kb.people)

        def named(name: str | None) -> None:
            if name and self.current is item:
                self._start("assign", item, name)

        self.app.push_screen(NameDialog(f"Who is this? ({display_name(item.rel)})", known), named)

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
        r = self.session.result(item)
        src = _readable([r.path, *r.destinations])
        try:
            photo, _ = render_photo(src, item.box, side=2400) if src else (self._photo, None)
        except ImageLoadError:
            photo = self._photo
        self.app.push_screen(PreviewScreen(photo, f"{display_name(r.rel)} · escape: back", self.image_mode))

    def action_clusters(self) -> None:
        if self.session is None:
            return

        def back(_: None) -> None:
            self._resync()

        self.app.push_screen(ClustersScreen(self.session, self.image_mode), back)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.dismiss(None)

    def _resync(self) -> None:
        """After the clusters view: faces named there leave this queue too."""
        if self.session is None:
            return
        self.session.reload()
        pending = {it.key for it in self.session.items}
        for it in self.queue:
            if it.key not in pending and it.key not in self.done:
                self.done[it.key] = self.session.status(it) or "none"
            elif it.key in pending and self.done.get(it.key) not in (None, "skipped"):
                self.done.pop(it.key, None)
        self._show()
