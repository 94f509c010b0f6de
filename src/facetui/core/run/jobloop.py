"""The loop every job runs over its photos (recognize, kb build, eval): the job supplies one step per photo; the
loop owns the cancel check, the engine's notices and the clean stops (the body model failing to load, a step's
StopJob such as a full disk), and ends with the job's summary."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base.events import Event, Notice, RunFinished, RunSummary
from ..models.body.osnet import BodyModelError
from ..models.body.setup import forget_checked
from .setup import Job

if TYPE_CHECKING:
    from ..stores.kb import KnowledgeBase
    from .analyzer import Item

Step = Callable[[int, "Item"], Iterable[Event]]  # (index from 1, the photo's Item) -> the events it makes


class StopJob(Exception):
    """Raised by a step to end its job cleanly after the photos done so far: ``reason`` (one line, e.g.
    "stopped: output disk full ...") is said as an error notice and kept among the job's notices."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Tally:
    """What a job has done so far: the photos done, and per person the photos filed under them (recognize) or
    kept for them (kb build)."""

    done: int = 0
    per_person: Counter[str] = field(default_factory=Counter)

    def count(self, people: Iterable[str] = ()) -> None:
        """One more photo done, counted once for each of ``people``."""
        self.done += 1
        self.per_person.update(people)


def run_steps(
    job: Job,
    paths: list[Path],
    cancel: threading.Event,
    step: Step,
    *,
    after_stop: str = "",
) -> Iterator[Event]:
    """Yield the events of ``step(index, item)`` for each of ``paths`` as the run's Analyzer finishes them (in
    order), each followed by what the engine said since (warnings, also kept among the job's notices).

    Stops after the photo in hand once ``cancel`` is set. Stops cleanly, with an error notice kept among the job's
    notices, when a step raises StopJob, or when the Analyzer raises BodyModelError (the deferred OSNet load failed
    though the file was fine at set-up: its check is forgotten, so the next run loads it in full; the notice is
    "stopped: <error>" + ``after_stop``). Any other exception propagates. The Analyzer's engine is closed (and the
    manifest told) before this returns.
    """
    assert job.analyzer is not None, "a job that analyses nothing has no loop"
    try:
        with contextlib.closing(job.analyzer.analyze(paths, cancel)) as items:
            for i, item in enumerate(items, 1):
                yield from step(i, item)
                yield from job.engine_notices()
                if cancel.is_set():
                    break
    except BodyModelError as e:
        forget_checked(job.settings)
        yield _stop(job, f"stopped: {e}{after_stop}")
    except StopJob as e:
        yield _stop(job, e.reason)


def _stop(job: Job, reason: str) -> Notice:
    job.notices.append(reason)
    return Notice("error", reason)


def finish(job: Job, tally: Tally, started: float, *, kb: KnowledgeBase | None = None, **counts: Any) -> RunFinished:
    """The job's last event: a RunSummary of its kind and total, the tally, the seconds since ``started``
    (``time.monotonic()``), the notices and the job's own ``counts`` (RunSummary fields: unknown, errors, aborted,
    report_path...), also written to the run manifest when there is one (with ``kb``, the KB a build saved)."""
    summary = RunSummary(
        kind=job.kind,
        total=job.total,
        done=tally.done,
        elapsed_s=time.monotonic() - started,
        notices=tuple(job.notices),
        per_person=dict(sorted(tally.per_person.items())),
        **counts,
    )
    if job.manifest is not None:
        job.manifest.finish(summary, kb=kb)
    return RunFinished(summary)
