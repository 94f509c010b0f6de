#!/usr/bin/env python3
"""How long a key takes on the clusters screen with a real library's groups: the app under Textual's Pilot, the
review screen opened on a sorted output folder, then `c`, then the down arrow walked over the list of groups.

    PYTHONPATH=src python benchmarks/bench_review_keys.py --settings /path/to/settings.json [--keys 40]

The settings must name an output folder that a run has sorted (its report.csv with unknown faces, and the run's
cache), e.g. lfw-library's query folder sorted against its KB (about 3,700 unknown faces, 3,000 groups). Prints the
milliseconds per down arrow (the next group: its faces, candidates and keys shown) next to those of a key that
changes nothing (right, on the list), which is what Pilot itself takes per key; the difference is the app's. Not a
test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from textual.app import App

from facetui.core.base.settings import load_settings
from facetui.tui.clusters_screen import ClustersScreen
from facetui.tui.review_screen import ReviewScreen


class _ReviewApp(App):
    def __init__(self, settings) -> None:
        super().__init__()
        self.settings = settings

    def on_mount(self) -> None:
        self.push_screen(ReviewScreen(self.settings, image_mode="halfcell"))


async def _per_key(pilot, key: str, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        await pilot.press(key)
    await pilot.pause()
    return 1000 * (time.perf_counter() - t) / n


async def _measure(settings_path: Path, keys: int) -> None:
    app = _ReviewApp(load_settings(settings_path))
    async with app.run_test(size=(160, 50)) as pilot:
        t = time.perf_counter()
        for _ in range(2):
            await app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.press("c")
        while not (isinstance(app.screen, ClustersScreen) and not app.screen.busy):
            await pilot.pause(0.02)
        screen = app.screen
        print(f"{len(screen.clusters)} groups, shown {time.perf_counter() - t:.1f} s after the review screen opened")
        await pilot.pause(0.5)
        down = await _per_key(pilot, "down", keys)
        idle = await _per_key(pilot, "right", keys)
        print(f"down (the next group): {down:.0f} ms a key; a key that changes nothing: {idle:.0f} ms (Pilot's own)")
        print(f"the app's share: about {down - idle:.0f} ms a key")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", type=Path, required=True, help="settings of a sorted output folder")
    ap.add_argument("--keys", type=int, default=40, help="keys of each kind to time (default 40)")
    args = ap.parse_args()
    asyncio.run(_measure(args.settings, args.keys))


if __name__ == "__main__":
    main()
