"""The clusters screen: unknown faces grouped by likeness, biggest group first; a group's faces in a grid to leave the
wrong ones out of, then the group named, merged into a KB person or split, each one undo away."""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from ..core.base.fsutil import display_name
from ..core.base.textsafe import terminal_safe
from ..core.review.clusters import Cluster
from ..core.review.session import ReviewItem, ReviewSession
from . import review_work
from .base import FacetuiScreen
from .face_grid import Face, FaceGrid
from .messages import ClustersFound, ClusterThumb, Decided
from .name_dialog import NameDialog
from .photos import image_class
from .review_text import markup_name

THUMBS_DELAY = 0.08  # seconds on a group before its thumbnails are made
ASSIGN = Binding.Group("assign", compact=True)  # the candidate keys, here and on the review screen


class ClustersScreen(FacetuiScreen[None]):
    """Unknown faces grouped by likeness, biggest group first. Tab moves between the list of groups and the grid of
    the highlighted group's faces (most central first, outliers marked); space there leaves a face out. The
    grouping, the thumbnails and the decisions run in thread workers (``review_work``) on the review screen's
    session and lock."""

    DEFAULT_CSS = """
    ClustersScreen { layout: vertical; }
    ClustersScreen #clusters-title { height: auto; max-height: 2; background: $panel; padding: 0 1; }
    ClustersScreen #clusters-body { height: 1fr; }
    ClustersScreen #cluster-list { width: 1fr; min-width: 30; max-width: 40; height: 100%; text-wrap: nowrap;
        text-overflow: ellipsis; }
    ClustersScreen #cluster-detail { width: 1fr; height: 100%; padding: 0 1; }
    ClustersScreen #cluster-cands { height: auto; max-height: 5; }
    ClustersScreen #cluster-face { height: 1; color: $text-muted; }
    ClustersScreen #clusters-status { height: 1; background: $panel; padding: 0 1; }
    """
    BINDINGS = [
        Binding("n", "name_cluster", "name group", id="clusters.name"),
        Binding("1", "assign(1)", "candidate 1", id="clusters.assign_1", group=ASSIGN),
        Binding("2", "assign(2)", "candidate 2", id="clusters.assign_2", group=ASSIGN),
        Binding("3", "assign(3)", "candidate 3", id="clusters.assign_3", group=ASSIGN),
        Binding("s", "split", "split off", id="clusters.split"),
        Binding("z", "undo", "undo", id="clusters.undo"),
        Binding("escape", "back", "back", id="clusters.back"),
    ]
    _actions = tuple(b.action for b in BINDINGS)  # what _refresh_keys asks check_action about
    IS_REVIEW = True
    SHOWN_FACES = 24  # a bigger group shows its first (most central) faces and "+K more"

    def __init__(self, session: ReviewSession, lock: threading.Lock, image_mode: str | None = None) -> None:
        super().__init__()
        self.session = session
        self.lock = lock  # the review screen's: one worker at a time uses the session
        self.image_mode = image_mode
        self.clusters: list[Cluster] = []
        self.people: tuple[str, ...] = ()  # the KB's names, as the last grouping read them (for the name dialog)
        self.left_out: set[tuple] = set()  # keys of the faces left out (space in the grid) until the next grouping
        self.generation = 0  # one per grouping: thumbnails of an older one are dropped
        self._thumbs_timer: Timer | None = None
        self._cands_lines = -1  # lines of the candidates' text as last laid out
        self._keys_state: tuple = ()  # check_action's answers for the screen's keys at the last refresh
        self.busy = True

    def compose(self) -> ComposeResult:
        yield Static("Clusters of unknown faces: grouping...", id="clusters-title", markup=False)
        with Horizontal(id="clusters-body"):
            yield OptionList(id="cluster-list")
            with Vertical(id="cluster-detail"):
                yield Static("", id="cluster-cands")
                yield FaceGrid(image_class(self.image_mode), id="cluster-grid")
                yield Static("", id="cluster-face", markup=False)
        yield Static("", id="clusters-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._find()

    @property
    def selected(self) -> Cluster | None:
        i = self.query_one(OptionList).highlighted
        return self.clusters[i] if i is not None and 0 <= i < len(self.clusters) else None

    def left_out_of(self, c: Cluster) -> tuple[ReviewItem, ...]:
        return tuple(it for it in c.items if it.key in self.left_out)

    # -- workers: the disk work is in review_work, each posts the message(s) it returns ---------------
    @work(thread=True, exclusive=True, group="clusters-find", exit_on_error=False)
    def _find(self) -> None:
        self.post_message(review_work.find_clusters(self.session, self.lock))

    @work(thread=True, exclusive=True, group="clusters-faces", exit_on_error=False)
    def _thumbs(self, token: object, items: list[ReviewItem]) -> None:
        cancelled = get_current_worker().cancelled_event
        for msg in review_work.cluster_thumbs(self.session, self.lock, token, items, cancelled):
            self.post_message(msg)

    @work(thread=True, exclusive=True, group="clusters-decide", exit_on_error=False)
    def _decide(self, op: str, cluster: Cluster | None, person: str = "", left_out: tuple = ()) -> None:
        self.post_message(review_work.decide_cluster(self.session, self.lock, op, cluster, person, left_out))

    # -- message handlers -----------------------------------------------------------------------
    @on(ClustersFound)
    def _found(self, msg: ClustersFound) -> None:
        self.busy = False
        self.generation += 1
        self.left_out.clear()
        self.clusters = msg.clusters
        if not msg.error:
            self.people = msg.people
        ol = self.query_one(OptionList)
        was = ol.highlighted or 0
        ol.clear_options()
        if msg.error:
            self.query_one("#clusters-title", Static).update(terminal_safe(f"Clusters: {msg.error}"))
        else:
            groups = sum(1 for c in self.clusters if len(c.items) > 1)
            self.query_one("#clusters-title", Static).update(
                f"Clusters of unknown faces · {len(self.clusters)} clusters, {groups} with several faces · "
                f"cluster_tol {msg.tol:g}"
            )
        ol.add_options([Option(Text(terminal_safe(_list_line(n, c)))) for n, c in enumerate(self.clusters, 1)])
        if self.clusters:
            ol.highlighted = min(was, len(self.clusters) - 1)  # the group after the one just named, if any
            if self.focused is None:
                ol.focus()
        else:
            self._set_cands("No unknown faces with encodings to group.")
            self.query_one(FaceGrid).show(None, [], self.left_out)
            self._face_line()
        self._refresh_keys()

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        c = self.selected
        if c is None:
            return
        token = (self.generation, event.option_index)
        shown = list(c.items[: self.SHOWN_FACES])
        several = len(c.items) > 1
        faces = [
            Face(it.key, terminal_safe(display_name(Path(it.rel).name)), it.face, c.spread[i], c.outlier(i), several)
            for i, it in enumerate(shown)
        ]
        self.query_one(FaceGrid).show(token, faces, self.left_out)
        self._cands_text(c)
        self._face_line()
        # the thumbnails a moment later, so that a fast walk down the list does not crop every group it passes
        if self._thumbs_timer is not None:
            self._thumbs_timer.stop()
        self._thumbs_timer = self.set_timer(THUMBS_DELAY, lambda: self._thumbs(token, shown))
        self._refresh_keys()

    @on(ClusterThumb)
    def _thumb(self, msg: ClusterThumb) -> None:
        self.query_one(FaceGrid).set_image(msg.token, msg.pos, msg.image)  # dropped if another group is shown

    @on(FaceGrid.Moved)
    def _moved(self) -> None:
        c = self.selected
        if c is not None:
            self._cands_text(c)
        self._face_line()
        self._refresh_keys()

    @on(Decided)
    def _decided(self, msg: Decided) -> None:
        self.query_one("#clusters-status", Static).update(
            terminal_safe(msg.outcome.message if msg.outcome else f"Not done: {msg.error}")
        )
        self._find()  # the named faces leave, a split group parts; busy until the groups are back

    # -- text -------------------------------------------------------------------------------------
    def _cands_text(self, c: Cluster) -> None:
        lines = [
            f"[b]{i}[/b]  {markup_name(name)}  (mean distance {d:.2f})" for i, (name, d) in enumerate(c.candidates, 1)
        ]
        if not c.candidates:
            lines.append("No KB person near this group: n names it.")
        n, k, out = len(c.items), len(c.photos), len(self.left_out_of(c))
        line = f"{n} face{'s' if n != 1 else ''} in {k} photo{'s' if k != 1 else ''}"
        if len(c.outliers):
            line += f", {len(c.outliers)} outlier{'s' if len(c.outliers) != 1 else ''} (over {c.tol:g})"
        if out:
            line += f" · {out} left out (space)"
        if n > self.SHOWN_FACES:
            line += f" · +{n - self.SHOWN_FACES} more not shown (named with the group)"
        self._set_cands("\n".join([*lines, line]))

    def _set_cands(self, text: str) -> None:
        """The candidates' text, with a layout pass (the whole screen's) only when its height may change, not at
        every group walked past."""
        lines = text.count("\n") + 1
        self.query_one("#cluster-cands", Static).update(text, layout=lines != self._cands_lines)
        self._cands_lines = lines

    def _face_line(self) -> None:
        """The face under the grid's cursor in full (the tiles cut long names)."""
        f = self.query_one(FaceGrid).current
        text = ""
        if f is not None:
            text = f.name + (f" face {f.face}" if f.face is not None else "")
            if f.several:
                text += f" · {'outlier: ' if f.outlier else ''}mean distance {f.spread:.2f} to the others"
            text += " · left out" if f.key in self.left_out else ""
        self.query_one("#cluster-face", Static).update(text, layout=False)  # one line always

    # -- actions ----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "back":
            return True
        if self.busy:
            return False
        c = self.selected
        if action == "undo":
            return True
        if c is None:
            return False
        named = len(c.items) - len(self.left_out_of(c))  # faces the name would go to
        if action == "assign":
            return named > 0 and len(c.candidates) >= int(parameters[0])
        if action == "name_cluster":
            return named > 0
        if action == "split":
            return 0 < named < len(c.items)
        return True

    def _refresh_keys(self) -> None:
        """Refresh the bindings only when what a key may do has changed: the Footer is rebuilt at each refresh,
        which was most of the time a key took on a long list of groups."""
        state = tuple(self.check_action(name, params) for _, name, params in map(parse, self._actions))
        if state != self._keys_state:
            self._keys_state = state
            self.refresh_bindings()

    def _start(self, op: str, c: Cluster | None, person: str = "", left_out: tuple = ()) -> None:
        self.busy = True
        self._refresh_keys()
        self._decide(op, c, person, left_out)

    def action_name_cluster(self) -> None:
        c = self.selected
        if c is None:
            return
        out = self.left_out_of(c)
        n = len(c.items) - len(out)

        def named(name: str | None) -> None:
            if name and not self.busy:
                self._start("name", c, name, out)

        left = f" ({len(out)} left out)" if out else ""
        self.app.push_screen(NameDialog(f"Name these {n} faces{left}:", list(self.people)), named)

    def action_assign(self, n: int) -> None:
        c = self.selected
        if c is not None and len(c.candidates) >= n:
            self._start("name", c, c.candidates[n - 1][0], self.left_out_of(c))

    def action_split(self) -> None:
        c = self.selected
        out = self.left_out_of(c) if c is not None else ()
        if c is not None and 0 < len(out) < len(c.items):
            self._start("split", c, left_out=out)

    def action_undo(self) -> None:
        self._start("undo", None)

    def action_back(self) -> None:
        self.dismiss(None)


def _list_line(n: int, c: Cluster) -> str:
    names = ", ".join(display_name(Path(p).name) for p in c.photos[:3]) + (" ..." if len(c.photos) > 3 else "")
    return f"{n}. {len(c.items)} face{'s' if len(c.items) != 1 else ''}: {names}"
