"""The calibration screen's two charts (textual-plotext, drawn as plain Unicode text): a sweep's recall and wrong
filings against its values, and the same-person / different-person face distance histograms with thresholds marked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from textual_plotext import PlotextPlot

from ..core.evaluation.scores import Sweep

RECALL_COLOR = "green"
WRONG_COLOR = "red"
SAME_COLOR = "green"
DIFF_COLOR = "red"
ADVISED_COLOR = "yellow"
CURRENT_COLOR = "cyan"
HIST_STEP = 0.05


@dataclass(frozen=True)
class SweepSeries:
    """What the sweep chart draws: per value, the recall in percent and the wrong filings; ``marked`` is the advised
    value (a line), ``current`` the one in use."""

    key: str
    values: list[float]
    recall_pct: list[float]
    wrong: list[int]
    marked: float | None
    current: float


def sweep_series(sw: Sweep, advised: float | None = None) -> SweepSeries:
    """One sweep's series, with ``advised`` marked: the eval's advice for this key (the joint search's value, which
    need not be one of the sweep's own values nor its own pick)."""
    return SweepSeries(
        sw.key,
        [s.value for s in sw.scores],
        [round(100.0 * s.recall, 1) for s in sw.scores],
        [s.wrong for s in sw.scores],
        advised,
        sw.current,
    )


@dataclass(frozen=True)
class DistanceHistogram:
    """Face distances in bins of ``step``, each group as a percentage of its own pairs (the groups differ in size)."""

    edges: list[float]  # len(bins) + 1
    same_pct: list[float]
    diff_pct: list[float]
    same_n: int
    diff_n: int

    @property
    def centers(self) -> list[float]:
        return [round((a + b) / 2, 4) for a, b in zip(self.edges, self.edges[1:])]


def distance_histogram(
    same: np.ndarray, diff: np.ndarray, step: float = HIST_STEP, marks: Sequence[float] = ()
) -> DistanceHistogram | None:
    """Bin both groups on one grid that covers the distances and the marked thresholds; None without distances."""
    same = np.asarray(same, float).ravel()
    diff = np.asarray(diff, float).ravel()
    allv = np.concatenate([same, diff, np.asarray([m for m in marks if m is not None], float)])
    if not len(same) and not len(diff):
        return None
    lo = math.floor(float(allv.min()) / step + 1e-9)
    hi = math.floor(float(allv.max()) / step + 1e-9) + 1
    edges = [round(k * step, 4) for k in range(lo, hi + 1)]

    def pct(x: np.ndarray) -> list[float]:
        if not len(x):
            return [0.0] * (len(edges) - 1)
        idx = np.clip(np.floor(x / step + 1e-9).astype(int) - lo, 0, len(edges) - 2)
        counts = np.bincount(idx, minlength=len(edges) - 1)
        return [round(100.0 * c / len(x), 2) for c in counts]

    return DistanceHistogram(edges, pct(same), pct(diff), int(len(same)), int(len(diff)))


def _num(v: float) -> str:
    return f"{v:.2f}" if math.isclose(round(v, 2), v) else f"{v:g}"


def _ticks(lo: float, hi: float, n: int) -> list[float]:
    """About ``n`` round ticks between lo and hi (multiples of 0.05, 0.1, 0.2, ... or of 1, 2, 5, 10 ...)."""
    span = max(hi - lo, 1e-9)
    for step in (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000):
        if span / step <= n:
            break
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 4) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


class TitledPlot(PlotextPlot):
    """A plot whose title is the longest of its variants that fits the width it is drawn at."""

    titles: tuple[str, ...] = ()

    def set_titles(self, *titles: str) -> None:
        self.titles = titles

    def start_figure(self, empty: bool, *empty_titles: str) -> bool:
        """Clear the figure; with nothing to draw, leave it blank under ``empty_titles`` and return False."""
        self.plt.clear_figure()
        if empty:
            self.set_titles(*empty_titles)
            self.plt.xticks([])
            self.plt.yticks([])
        return not empty

    def render(self):
        fits = [t for t in self.titles if t and len(t) <= self.size.width - 2]
        self.plt.title(fits[0] if fits else "")
        return super().render()


class SweepPlot(TitledPlot):
    """Recall (left axis, %) and wrong filings (right axis, count) against one sweep's values."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.series: SweepSeries | None = None
        self.empty_text = "recall and wrong filings: run a sweep (enter)"
        self._draw()

    def show_sweep(self, sw: Sweep | None, empty_text: str = "", advised: float | None = None) -> None:
        self.series = sweep_series(sw, advised) if sw is not None and sw.scores else None
        if empty_text:
            self.empty_text = empty_text
        self._draw()
        self.refresh()

    def _draw(self) -> None:
        plt = self.plt
        s = self.series
        if not self.start_figure(s is None, self.empty_text, "run a sweep"):
            return
        self.set_titles(
            f"recall % (left), wrong filings (right) by {s.key}",
            f"recall % (left), wrong (right) by {s.key}",
            f"recall %, wrong by {s.key}",
            s.key,
        )
        plt.plot(s.values, s.recall_pct, label="recall %", color=RECALL_COLOR, marker="hd")
        plt.plot(s.values, s.wrong, label="wrong", color=WRONG_COLOR, marker="hd", yside="right")
        plt.ylim(0, 100, yside="left")
        top = max(max(s.wrong), 1)
        plt.ylim(0, top, yside="right")
        plt.yticks([0, 25, 50, 75, 100], yside="left")
        plt.yticks(_ticks(0, top, 4) if top > 4 else list(range(top + 1)), yside="right")
        lo, hi = min(s.values), max(s.values)
        if s.marked is not None:  # the advice may lie between (or, in principle, beyond) the swept values
            lo, hi = min(lo, s.marked), max(hi, s.marked)
        if hi > lo:
            plt.xlim(lo, hi)
        if s.key == "face_k":  # a count of KB photos: whole numbers only
            plt.xticks(s.values, [str(int(v)) for v in s.values])
        else:
            plt.xticks(_ticks(lo, hi, 5) or s.values)
        if s.marked is not None:
            plt.vline(s.marked, ADVISED_COLOR)
        if s.marked is None or not math.isclose(s.current, s.marked):
            plt.vline(s.current, CURRENT_COLOR)


class DistancePlot(TitledPlot):
    """Same-person and different-person face distances as histograms, the chosen face_tol (and the one in use) marked."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.hist: DistanceHistogram | None = None
        self.marks: list[tuple[float, str, str]] = []  # (value, what, colour)
        self.source = ""
        self.empty_text = "face distances: run a sweep (enter)"
        self._draw()

    def show_distances(
        self,
        same: np.ndarray,
        diff: np.ndarray,
        advised: float | None,
        current: float | None,
        source: str = "",
        empty_text: str = "",
    ) -> None:
        self.marks = []
        if advised is not None:
            self.marks.append((advised, "advised", ADVISED_COLOR))
        if current is not None and (advised is None or not math.isclose(current, advised)):
            self.marks.append((current, "in use", CURRENT_COLOR))
        self.hist = distance_histogram(same, diff, marks=[m for m, _, _ in self.marks])
        self.source = source
        if empty_text:
            self.empty_text = empty_text
        self._draw()
        self.refresh()

    def clear_distances(self, empty_text: str = "") -> None:
        self.hist, self.marks = None, []
        if empty_text:
            self.empty_text = empty_text
        self._draw()
        self.refresh()

    def _draw(self) -> None:
        plt = self.plt
        h = self.hist
        if not self.start_figure(h is None, self.empty_text, "face distances"):
            return
        marks = ", ".join(f"{what} {_num(v)}" for v, what, _ in self.marks)
        self.set_titles(
            f"face distance, % of pairs ({self.source}): {marks}" if marks and self.source else "",
            f"face distance, % of pairs: {marks}" if marks else "face distance, % of pairs",
            f"distance %: {marks}" if marks else "distance %",
            marks,
        )
        # side by side in each bin (same on the left half, different on the right), so neither hides the other
        quarter = (h.edges[1] - h.edges[0]) / 4
        plt.bar(
            [c - quarter for c in h.centers],
            h.same_pct,
            width=0.45,
            label=f"same person ({h.same_n})",
            color=SAME_COLOR,
            marker="hd",
        )
        plt.bar(
            [c + quarter for c in h.centers],
            h.diff_pct,
            width=0.45,
            label=f"different ({h.diff_n})",
            color=DIFF_COLOR,
            marker="hd",
        )
        plt.xlim(h.edges[0], h.edges[-1])
        plt.xticks(_ticks(h.edges[0], h.edges[-1], 6))
        top = max(h.same_pct + h.diff_pct + [1.0])
        plt.ylim(0, top)
        plt.yticks(_ticks(0, top, 4))
        for v, _, color in self.marks:
            plt.vline(v, color)
