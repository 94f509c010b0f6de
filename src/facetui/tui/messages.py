"""The Textual messages the app's thread workers and screens post (one dataclass each)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..core.events import FileDone, KbImageDone, Notice, RunStarted, RunSummary
from ..core.settings import Settings
from .facts import DeviceInfo, HomeFacts


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
