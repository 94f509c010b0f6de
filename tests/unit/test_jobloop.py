"""The job loop every job shares: its stops (cancel, the body model, a step's StopJob), the engine's notices, the
summary, and Timings.stage (no photo, no model: a fake Analyzer)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from facetui.core.base.events import FileDone, Notice, RunFinished
from facetui.core.base.settings import defaults
from facetui.core.models.body.osnet import BodyModelError
from facetui.core.models.body.setup import CHECKED_DIR, BodySetup
from facetui.core.run.jobloop import StopJob, Tally, finish, run_steps
from facetui.core.run.setup import Job
from facetui.core.run.timings import Timings


class FakeAnalyzer:
    """Yields one item per path; says a notice with the second; raises ``fail`` at ``fail_at`` (1-based)."""

    def __init__(self, fail: Exception | None = None, fail_at: int = 0):
        self.fail, self.fail_at = fail, fail_at
        self.closed = False
        self._said: list[str] = []

    def analyze(self, paths, cancel):
        try:
            for i, p in enumerate(paths, 1):
                if i == self.fail_at:
                    raise self.fail
                if i == 2:
                    self._said.append("GPU actors came up on a CPU")
                yield p
        finally:
            self.closed = True

    def take_notices(self) -> list[str]:
        said, self._said = self._said, []
        return said


def context(tmp_path: Path, analyzer: FakeAnalyzer, total: int = 5) -> Job:
    settings = defaults(tmp_path).replace(reid_weights=tmp_path / "osnet.pth", cache_dir=tmp_path / "cache")
    body = BodySetup(None, "", "", "cpu")
    return Job(settings, "recognize", total, tmp_path, None, body, None, analyzer, None, [])  # type: ignore[arg-type]


def paths(n: int = 5) -> list[Path]:
    return [Path(f"p{i}.jpg") for i in range(1, n + 1)]


def step_into(done: list[int]):
    def step(i, item):
        done.append(i)
        yield FileDone(index=i, total=5, result=None)  # type: ignore[arg-type]

    return step


def test_every_item_gets_its_step_then_the_engine_notices(tmp_path):
    fake = FakeAnalyzer()
    job, done = context(tmp_path, fake), []
    events = list(run_steps(job, paths(), threading.Event(), step_into(done)))
    assert done == [1, 2, 3, 4, 5] and fake.closed
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["FileDone", "FileDone", "Notice", "FileDone", "FileDone", "FileDone"]
    assert job.notices == ["GPU actors came up on a CPU"]  # kept for the summary too


def test_cancel_stops_after_the_item_in_hand(tmp_path):
    fake, cancel, done = FakeAnalyzer(), threading.Event(), []

    def step(i, item):
        done.append(i)
        if i == 3:
            cancel.set()
        return ()

    list(run_steps(context(tmp_path, fake), paths(), cancel, step))
    assert done == [1, 2, 3] and fake.closed


def test_a_steps_stopjob_ends_the_job_with_its_reason(tmp_path):
    fake, done = FakeAnalyzer(), []
    job = context(tmp_path, fake)

    def step(i, item):
        if i == 2:
            raise StopJob("stopped: output disk full")
        done.append(i)
        yield from ()

    events = list(run_steps(job, paths(), threading.Event(), step))
    assert done == [1] and fake.closed
    assert events == [Notice("error", "stopped: output disk full")]
    assert job.notices == ["stopped: output disk full"]


def test_the_body_model_failing_mid_way_stops_cleanly_and_forgets_its_check(tmp_path):
    fake = FakeAnalyzer(BodyModelError("cannot load osnet.pth"), fail_at=4)
    job, done = context(tmp_path, fake), []
    record = Path(job.settings.cache_dir) / CHECKED_DIR / f"checked-{job.settings.reid_model}-abc.json"
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    events = list(run_steps(job, paths(), threading.Event(), step_into(done), after_stop="; the rest is kept"))
    assert done == [1, 2, 3]
    assert events[-1] == Notice("error", "stopped: cannot load osnet.pth; the rest is kept")
    assert job.notices[-1] == "stopped: cannot load osnet.pth; the rest is kept"
    assert not record.exists()  # the next run checks the file in full


def test_any_other_error_propagates(tmp_path):
    fake = FakeAnalyzer(ValueError("a bug"), fail_at=2)
    with pytest.raises(ValueError, match="a bug"):
        list(run_steps(context(tmp_path, fake), paths(), threading.Event(), lambda i, item: ()))
    assert fake.closed


def test_finish_sums_up_the_tally_and_the_notices(tmp_path):
    job = context(tmp_path, FakeAnalyzer(), total=3)
    job.notices.append("a notice")
    tally = Tally()
    tally.count(["Bob", "Ann"])
    tally.count(["Bob"])
    ev = finish(job, tally, time.monotonic() - 2.0, unknown=1, aborted=True)
    assert isinstance(ev, RunFinished)
    s = ev.summary
    assert (s.kind, s.total, s.done, s.unknown, s.aborted) == ("recognize", 3, 2, 1, True)
    assert list(s.per_person.items()) == [("Ann", 1), ("Bob", 2)] and s.notices == ("a notice",)
    assert s.elapsed_s >= 2.0


def test_timings_stage_adds_cpu_and_wall_seconds_and_nothing_when_off_or_failed():
    t = Timings()
    with t.stage("match"):
        sum(range(200_000))
    with t.stage("file_io", wall=True):
        time.sleep(0.02)
    assert t.seconds["match"] > 0 and t.seconds["file_io_wall"] >= 0.02
    assert t.seconds["file_io"] < t.seconds["file_io_wall"]  # sleeping is not CPU
    with pytest.raises(OSError), t.stage("file_io", wall=True):
        raise OSError("disk full")
    assert set(t.seconds) == {"match", "file_io", "file_io_wall"}
    before = dict(t.seconds)
    with t.stage("file_io"):
        pass
    assert t.seconds["file_io"] >= before["file_io"]
    off = Timings.off()
    with off.stage("match", wall=True):
        sum(range(1000))
    off.add("hash", 1.0)
    assert off.seconds == {}
