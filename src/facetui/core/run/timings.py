"""Timings: the seconds per stage a run adds up, for the benchmarks to read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Timings:
    """Seconds per stage (CPU seconds; ``*_wall`` keys wall-clock seconds, ``body_crops`` a count): decode,
    detect, encode, body, hash, cache, match, file_io... A run fills one only when it is handed one; a job that
    was not handed one holds ``Timings.off()``, which measures nothing, so its loop needs no branch."""

    seconds: dict[str, float] = field(default_factory=dict)
    on: bool = True

    @classmethod
    def off(cls) -> Timings:
        """A Timings that records nothing (``add`` and ``stage`` do no work)."""
        return cls(on=False)

    def add(self, stage: str, amount: float) -> None:
        if self.on:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + amount

    @contextmanager
    def stage(self, name: str, *, wall: bool = False) -> Iterator[None]:
        """Add the block's CPU seconds (this thread's) to ``name``, and with ``wall`` its wall-clock seconds to
        ``name + "_wall"``. A block left by an exception adds nothing."""
        if not self.on:
            yield
            return
        cpu, clock = time.thread_time(), time.perf_counter()
        yield
        self.add(name, time.thread_time() - cpu)
        if wall:
            self.add(name + "_wall", time.perf_counter() - clock)
