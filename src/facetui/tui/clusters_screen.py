"""The clusters screen: unknown faces grouped by likeness, biggest group first, each group named with one entry."""

from __future__ import annotations

import threading
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from ..core.base.fsutil import display_name
from ..core.review.clusters import Cluster
from ..core.review.session import ReviewSession
from . import review_work
from .base import FacetuiScreen
from .messages import ClusterFaces, ClustersFound, Decided
from .name_dialog import NameDialog
from .photos import image_class

ASSIGN = Binding.Group("assign", compact=True)  # the candidate keys, here and on the review screen


class ClustersScreen(FacetuiScreen[None]):
    """Unknown faces grouped by likeness, biggest group first; name a whole group with one entry. The grouping, the
    crops and the decisions run in thread workers (``review_work``) on the review screen's session and lock."""

    DEFAULT_CSS = """
    ClustersScreen { layout: vertical; }
    ClustersScreen #clusters-title { height: auto; max-height: 2; background: $panel; padding: 0 1; }
    ClustersScreen #clusters-body { height: 1fr; }
    ClustersScreen #cluster-list { width: 1fr; min-width: 36; height: 100%; }
    ClustersScreen #cluster-detail { width: 2fr; height: 100%; padding: 0 1; }
    ClustersScreen #cluster-faces { height: 12; }
    ClustersScreen .cluster-face { width: auto; height: 12; margin-right: 1; }
    ClustersScreen #cluster-cands { height: 1fr; }
    ClustersScreen #clusters-status { height: 1; background: $panel; padding: 0 1; }
    """
    BINDINGS = [
        Binding("n", "name_cluster", "name group", id="clusters.name"),
        Binding("1", "assign(1)", "candidate 1", id="clusters.assign_1", group=ASSIGN),
        Binding("2", "assign(2)", "candidate 2", id="clusters.assign_2", group=ASSIGN),
        Binding("3", "assign(3)", "candidate 3", id="clusters.assign_3", group=ASSIGN),
        Binding("z", "undo", "undo", id="clusters.undo"),
        Binding("escape", "back", "back", id="clusters.back"),
    ]
    IS_REVIEW = True
    SHOWN_FACES = 4

    def __init__(self, session: ReviewSession, lock: threading.Lock, image_mode: str | None = None) -> None:
        super().__init__()
        self.session = session
        self.lock = lock  # the review screen's: one worker at a time uses the session
        self.image_mode = image_mode
        self.clusters: list[Cluster] = []
        self.people: tuple[str, ...] = ()  # the KB's names, as the last grouping read them (for the name dialog)
        self.busy = True

    def compose(self) -> ComposeResult:
        yield Static("Clusters of unknown faces: grouping...", id="clusters-title", markup=False)
        with Horizontal(id="clusters-body"):
            yield OptionList(id="cluster-list")
            with Vertical(id="cluster-detail"):
                yield Horizontal(id="cluster-faces")
                yield Static("", id="cluster-cands")
        yield Static("", id="clusters-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._find()

    @property
    def selected(self):
        ol = self.query_one(OptionList)
        i = ol.highlighted
        return self.clusters[i] if i is not None and 0 <= i < len(self.clusters) else None

    # -- workers: the disk work is in review_work, each posts the message it returns ---------------
    @work(thread=True, exclusive=True, group="clusters-find", exit_on_error=False)
    def _find(self) -> None:
        self.post_message(review_work.find_clusters(self.session, self.lock))

    @work(thread=True, exclusive=True, group="clusters-faces", exit_on_error=False)
    def _faces(self, index: int, cluster: Cluster) -> None:
        self.post_message(review_work.cluster_faces(self.session, index, cluster, self.SHOWN_FACES))

    @work(thread=True, exclusive=True, group="clusters-decide", exit_on_error=False)
    def _decide(self, cluster: Cluster | None, person: str | None) -> None:
        self.post_message(review_work.decide_cluster(self.session, self.lock, cluster, person))

    # -- message handlers -----------------------------------------------------------------------
    @on(ClustersFound)
    def _found(self, msg: ClustersFound) -> None:
        self.busy = False
        self.clusters = msg.clusters
        if not msg.error:
            self.people = msg.people
        ol = self.query_one(OptionList)
        ol.clear_options()
        thr = self.session.settings.face_tol
        if msg.error:
            self.query_one("#clusters-title", Static).update(f"Clusters: {msg.error}")
        else:
            groups = sum(1 for c in self.clusters if len(c.items) > 1)
            self.query_one("#clusters-title", Static).update(
                f"Clusters of unknown faces · {len(self.clusters)} clusters, {groups} with several faces · "
                f"threshold {thr:.2f}"
            )
        for n, c in enumerate(self.clusters, 1):
            names = ", ".join(display_name(Path(p).name) for p in c.photos[:3]) + (" ..." if len(c.photos) > 3 else "")
            ol.add_option(Option(f"{n}. {len(c.items)} face{'s' if len(c.items) != 1 else ''}: {names}"))
        if self.clusters:
            ol.highlighted = 0
            ol.focus()
        else:
            self.query_one("#cluster-cands", Static).update("No unknown faces with encodings to group.")
        self.refresh_bindings()

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        c = self.selected
        if c is None:
            return
        lines = [f"[b]{i}[/b]  {name}  (mean distance {d:.2f})" for i, (name, d) in enumerate(c.candidates, 1)]
        lines.append("")
        n, k = len(c.items), len(c.photos)
        lines.append(f"{n} face{'s' if n != 1 else ''} in {k} photo{'s' if k != 1 else ''}:")
        lines += [f"   {display_name(it.rel)} face {it.face}" for it in c.items]
        self.query_one("#cluster-cands", Static).update("\n".join(lines))
        self.query_one("#cluster-faces", Horizontal).remove_children()
        self._faces(event.option_index, c)
        self.refresh_bindings()

    @on(ClusterFaces)
    def _show_faces(self, msg: ClusterFaces) -> None:
        ol = self.query_one(OptionList)
        if ol.highlighted != msg.index:
            return
        box = self.query_one("#cluster-faces", Horizontal)
        box.remove_children()
        cls = image_class(self.image_mode)
        box.mount_all([cls(f, classes="cluster-face") for f in msg.faces])

    @on(Decided)
    def _decided(self, msg: Decided) -> None:
        self.query_one("#clusters-status", Static).update(
            msg.outcome.message if msg.outcome else f"Not done: {msg.error}"
        )
        self._find()  # the named faces leave; busy until the groups are back

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "back":
            return True
        if self.busy:
            return False
        if action == "assign":
            c = self.selected
            return c is not None and len(c.candidates) >= int(parameters[0])
        if action == "name_cluster":
            return self.selected is not None
        return True

    def action_name_cluster(self) -> None:
        c = self.selected
        if c is None:
            return

        def named(name: str | None) -> None:
            if name:
                self.busy = True
                self.refresh_bindings()
                self._decide(c, name)

        self.app.push_screen(NameDialog(f"Name these {len(c.items)} faces:", list(self.people)), named)

    def action_assign(self, n: int) -> None:
        c = self.selected
        if c is not None and len(c.candidates) >= n:
            self.busy = True
            self.refresh_bindings()
            self._decide(c, c.candidates[n - 1][0])

    def action_undo(self) -> None:
        self.busy = True
        self.refresh_bindings()
        self._decide(None, None)

    def action_back(self) -> None:
        self.dismiss(None)
