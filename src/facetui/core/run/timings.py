"""Timings: the seconds per stage a run adds up, for the benchmarks to read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Timings:
    """Seconds per stage (CPU seconds; ``*_wall`` keys wall-clock seconds, ``body_crops`` a count): decode,
    detect, encode, body, hash, cache, match, file_io... A run fills one only when it is handed one."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, amount: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + amount
