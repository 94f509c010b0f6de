"""The messages that the review and clusters screens' thread workers post back to their screen."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image as PILImage
from textual.message import Message

from ..core.events import Candidates
from ..core.review import Outcome, ReviewSession


@dataclass
class SessionOpened(Message):
    session: ReviewSession | None
    error: str = ""


@dataclass
class ItemLoaded(Message):
    key: tuple
    photo: PILImage.Image | None
    face: PILImage.Image | None
    face_c: Candidates
    body_c: Candidates
    error: str = ""


@dataclass
class Decided(Message):
    outcome: Outcome | None
    error: str = ""
    undo: bool = False


@dataclass
class ClustersFound(Message):
    clusters: list
    error: str = ""


@dataclass
class ClusterFaces(Message):
    index: int
    faces: list
