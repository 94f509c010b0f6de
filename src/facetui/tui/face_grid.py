"""A grid of face thumbnails to walk with the arrows and leave faces out of with space (the clusters screen's)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

TILE_W = 22  # cells, border included: a thumbnail of 20 x 9 cells (20 x 18 half-block pixels) and two caption lines
NAME_W = TILE_W - 2


@dataclass(frozen=True)
class Face:
    """One tile's caption: which face (``key``), its photo's name, its distance to the others and whether that
    makes it an outlier."""

    key: tuple
    name: str
    face: int | None
    spread: float
    outlier: bool
    several: bool = True  # a group of one has no distance to show


def short(name: str, width: int = NAME_W) -> str:
    """``name`` in ``width`` cells, cut in the middle (the start and the number at the end tell photos apart)."""
    if len(name) <= width:
        return name
    tail = (width - 1) // 2
    return name[: width - 1 - tail] + "…" + name[-tail:]


def caption(f: Face, left_out: bool) -> str:
    """Two lines: the photo's name (and face number), then its distance, "outlier" when over the tolerance, and a
    mark when the face is left out of the naming."""
    name = f.name if not f.face else f"{f.name} #{f.face}"
    dist = (f"outlier {f.spread:.2f}" if f.outlier else f"{f.spread:.2f}") if f.several else ""
    mark = "✗ out " if left_out else ""
    return f"{short(name)}\n{mark}{dist}"


def fixed_size(image_cls: type[Widget]) -> type[Widget]:
    """``image_cls`` whose refreshes never ask for a layout pass: a tile's thumbnail has a fixed size (its CSS), so
    a new image only repaints it. textual_image lays the whole screen out again at each image set, which made
    walking a long list of groups slow."""

    def refresh(self, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
        return image_cls.refresh(self, *regions, repaint=repaint, layout=False, recompose=recompose)

    # textual_image's widgets name their renderable when subclassed
    renderable = {"Renderable": image_cls._Renderable} if hasattr(image_cls, "_Renderable") else {}
    return type(f"FixedSize{image_cls.__name__}", (image_cls,), {"refresh": refresh}, **renderable)


class FaceTile(Vertical):
    """One face: its thumbnail (None until the worker's crop arrives) over its caption."""

    def __init__(self, image_cls: type[Widget]) -> None:
        self.thumb = image_cls(None, classes="face-thumb")
        self.caption = Static("", classes="face-caption", markup=False)
        super().__init__(self.thumb, self.caption, classes="face-tile")


class FaceGrid(ScrollableContainer, can_focus=True):
    """The faces of one cluster as tiles, most central first; a cursor moves with the arrows and space leaves the
    face under it out (``left_out``, a set of face keys the screen shares, so a choice outlives a move to another
    cluster). Tiles are kept and reused: showing another cluster mounts nothing once the largest has been shown."""

    DEFAULT_CSS = f"""
    FaceGrid {{ layout: grid; grid-size: 3; grid-gutter: 0 1; grid-rows: 13; grid-columns: {TILE_W}; height: 1fr; }}
    FaceGrid .face-tile {{ width: {TILE_W}; height: 13; border: round $panel-lighten-2; }}
    FaceGrid .face-thumb {{ width: 100%; height: 9; }}
    FaceGrid .face-caption {{ width: 100%; height: 2; }}
    FaceGrid .face-tile.-outlier .face-caption {{ color: $warning; }}
    FaceGrid .face-tile.-left-out {{ border: round $error; tint: $background 50%; }}
    FaceGrid .face-tile.-cursor {{ border: double $accent; }}
    FaceGrid:focus .face-tile.-cursor {{ border: double $accent-lighten-2; background: $boost; }}
    FaceGrid .face-tile.-left-out.-cursor {{ border: double $error; }}
    """
    BINDINGS = [
        Binding("left", "move(-1, 0)", "left", id="clusters.face_left", show=False),
        Binding("right", "move(1, 0)", "right", id="clusters.face_right", show=False),
        Binding("up", "move(0, -1)", "up", id="clusters.face_up", show=False),
        Binding("down", "move(0, 1)", "down", id="clusters.face_down", show=False),
        Binding("space", "toggle", "leave out / take back", id="clusters.face_toggle"),
    ]

    class Moved(Message):
        """The cursor moved, or a face was left out or taken back."""

    def __init__(self, image_cls: type[Widget], **kw) -> None:
        super().__init__(**kw)
        self.image_cls = fixed_size(image_cls)
        self.faces: list[Face] = []
        self.left_out: set[tuple] = set()
        self.cursor = 0
        self.token: object = None  # which cluster the tiles show: thumbnails for another one are dropped
        self.tiles: list[FaceTile] = []  # mounted, reused from cluster to cluster (the extra ones hidden)

    @property
    def columns(self) -> int:
        return max(1, (self.scrollable_content_region.width + 1) // (TILE_W + 1))

    @property
    def current(self) -> Face | None:
        return self.faces[self.cursor] if 0 <= self.cursor < len(self.faces) else None

    def show(self, token: object, faces: list[Face], left_out: set[tuple]) -> None:
        """Show ``faces`` (captions now, blank thumbnails until :meth:`set_image`), the cursor on the first."""
        self.token, self.faces, self.left_out, self.cursor = token, faces, left_out, 0
        tiles = self.tiles
        if len(tiles) < len(faces):
            new = [FaceTile(self.image_cls) for _ in range(len(faces) - len(tiles))]
            self.mount_all(new)
            tiles = tiles + new
        self.tiles = tiles
        for i, tile in enumerate(tiles):
            if tile.display != (i < len(faces)):  # a change of display lays the grid out again: only when needed
                tile.display = i < len(faces)
            if i < len(faces) and tile.thumb.image is not None:
                tile.thumb.image = None
        self._mark()
        self.scroll_home(animate=False)

    def set_image(self, token: object, pos: int, image) -> bool:
        """The thumbnail of the ``pos``-th face, if the tiles still show that cluster (False: dropped)."""
        if token != self.token or not 0 <= pos < len(self.faces):
            return False
        self.tiles[pos].thumb.image = image
        return True

    def _mark(self) -> None:
        """Captions and marks (cursor, left out, outlier) of the shown tiles."""
        for f, tile in zip(self.faces, self.tiles):
            out = f.key in self.left_out
            tile.set_class(out, "-left-out")
            tile.set_class(f.outlier, "-outlier")
            tile.set_class(f is self.current, "-cursor")
            tile.caption.update(caption(f, out), layout=False)  # two lines always: no layout pass per key

    def on_resize(self) -> None:
        self.styles.grid_size_columns = self.columns

    def action_move(self, dx: int, dy: int) -> None:
        if not self.faces:
            return
        to = self.cursor + dx + dy * self.columns
        if 0 <= to < len(self.faces):
            self.cursor = to
            self._mark()
            self.scroll_to_widget(self.tiles[to], animate=False)
            self.post_message(self.Moved())

    def action_toggle(self) -> None:
        f = self.current
        if f is None:
            return
        self.left_out.symmetric_difference_update({f.key})
        self._mark()
        self.post_message(self.Moved())
