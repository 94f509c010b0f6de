"""The full-size preview of a photo under review."""

from __future__ import annotations

from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from .photos import image_class


class PreviewScreen(ModalScreen[None]):
    """The photo as large as the terminal allows."""

    DEFAULT_CSS = """
    PreviewScreen { align: center middle; background: $background; }
    PreviewScreen #preview-image { width: auto; height: 1fr; }
    PreviewScreen #preview-caption { height: 1; width: 100%; content-align: center middle; }
    """
    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="preview.close")]

    def __init__(self, photo: PILImage.Image, caption: str, image_mode: str | None = None) -> None:
        super().__init__()
        self.photo, self.caption, self.image_mode = photo, caption, image_mode

    def compose(self) -> ComposeResult:
        yield image_class(self.image_mode)(self.photo, id="preview-image")
        yield Static(self.caption, id="preview-caption", markup=False)
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
