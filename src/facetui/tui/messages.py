"""The Textual messages the app's thread workers and screens post (one dataclass each, every screen's here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from ..core.base.events import Event, RunSummary
from ..core.base.settings import Settings
from .facts import DeviceInfo, HomeFacts

if TYPE_CHECKING:  # only named in annotations: the app starts without the review core or PIL
    from PIL import Image as PILImage

    from ..core.base.events import Candidates
    from ..core.evaluation.evaluate import EvalReport
    from ..core.review.session import Outcome, ReviewItem, ReviewSession


# -- runs (KB build, recognition) -------------------------------------------------------------------------------
@dataclass
class CoreEvent(Message):
    """An event the core yielded mid-run (RunStarted, FileDone, KbImageDone, Notice), passed on as it is; the run
    screen dispatches on its type. The core's RunFinished is not passed on: RunEnded carries its summary."""

    event: Event


@dataclass
class RunEnded(Message):
    """Always posted when a run's worker leaves, aborted or not; ``summary`` is None when the run failed to start."""

    summary: RunSummary | None
    error: str = ""  # why it failed, when it did


# -- the calibration sweep (the core reports its progress through a callback, not events) -----------------------
@dataclass
class CalibrationProgress(Message, bubble=False):  # for the calibrate screen only
    """The calibration sweep analysed photo ``done`` of ``total``."""

    done: int
    total: int


@dataclass
class CalibrationEnded(Message, bubble=False):  # for the calibrate screen only
    """Always posted when the calibration worker leaves; ``report`` is None when it failed (``error`` says why)."""

    report: EvalReport | None
    error: str = ""


@dataclass
class AdviceApplied(Message, bubble=False):  # for the calibrate screen only
    """The advised values were written to ``path``; ``settings`` is what the file now holds."""

    settings: Settings
    path: Path
    changes: dict[str, tuple[object, object]]  # key -> (was, now)


# -- settings and Home ------------------------------------------------------------------------------------------
@dataclass
class SettingsChanged(Message):
    """Settings were saved; post it to the app, which makes ``app.settings`` the new value."""

    settings: Settings


@dataclass
class HomeFactsReady(Message):
    facts: HomeFacts


@dataclass
class DeviceProbed(Message):
    info: DeviceInfo


# -- review and clusters: what their thread workers read or did on disk ---------------------------------------------
@dataclass
class SessionOpened(Message):
    """The review session of the latest run, or None (``error`` says why); ``people`` are the KB's names; ``order``
    is the queue as the screen walks it (cluster by cluster, biggest first)."""

    session: ReviewSession | None
    error: str = ""
    people: tuple[str, ...] = ()
    order: tuple[ReviewItem, ...] = ()


@dataclass
class ItemLoaded(Message):
    """One face's pictures and candidates, for the face ``key``; ``people`` are the KB's names as they are now."""

    key: tuple
    photo: PILImage.Image | None
    face: PILImage.Image | None
    face_c: Candidates
    body_c: Candidates
    error: str = ""
    people: tuple[str, ...] = ()


@dataclass
class PreviewReady(Message):
    """The full-size rendition of the face ``key``'s photo."""

    key: tuple
    photo: PILImage.Image
    caption: str


@dataclass
class QueueReloaded(Message):
    """The report and the log read again: ``status`` maps each face asked about to '' while it still waits, else to
    its decision (the person, or 'none')."""

    status: dict[tuple, str]
    error: str = ""
    new: tuple[ReviewItem, ...] = ()  # faces waiting now that were not asked about (an undo brought them back)


@dataclass
class Decided(Message):
    """A decision carried out (``outcome``) or refused (``error``); after an undo, ``back`` are the faces it put back
    in the queue."""

    outcome: Outcome | None
    error: str = ""
    undo: bool = False
    back: tuple[ReviewItem, ...] = ()


@dataclass
class ClustersFound(Message):
    """The unknown faces grouped at ``tol`` (core Clusters, biggest first), with the KB's names."""

    clusters: list
    error: str = ""
    people: tuple[str, ...] = ()
    tol: float = 0.0


@dataclass
class ClusterThumb(Message):
    """The thumbnail of the ``pos``-th face of the cluster the grid showed as ``token`` (None: photo unreadable)."""

    token: object
    pos: int
    image: PILImage.Image | None
