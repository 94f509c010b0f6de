"""The Textual messages the app's thread workers and screens post (one dataclass each)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from ..core.events import FileDone, KbImageDone, Notice, RunStarted, RunSummary
from ..core.settings import Settings
from .facts import DeviceInfo, HomeFacts

if TYPE_CHECKING:
    from ..core.evaluate import EvalReport


@dataclass
class RunBegan(Message):
    """A run passed its checks and is about to process ``started.total`` files."""

    started: RunStarted


@dataclass
class FileProcessed(Message):
    """Recognition finished one photo (filed, reported)."""

    event: FileDone


@dataclass
class KbImageProcessed(Message):
    """The KB build finished one dataset photo."""

    event: KbImageDone


@dataclass
class RunNoticed(Message):
    """The core said something mid-run (e.g. no images found, disk full)."""

    notice: Notice


@dataclass
class RunEnded(Message):
    """Always posted when a run's worker leaves, aborted or not; ``summary`` is None when the run failed to start."""

    summary: RunSummary | None
    error: str = ""  # why it failed, when it did


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
