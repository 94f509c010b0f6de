"""The app's log with hostile photo names: escape codes never reach the terminal, Rich markup in a name shows
literally, and each photo keeps one log entry."""

from __future__ import annotations

import json
import re
import shutil

from support.helpers import DEMO
from support.tui import SIZE, log_lines, make_app, run, sort_in_app, wait_until

NAMES = {
    "a\x1b[31mred\x1b]0;title\x07.jpg": "q01.jpg",
    "[bold red]markup[reverse] x.jpg": "q03.jpg",
    "bidi\u202egpj.exe.jpg": "q04.jpg",
    "cr\rover.jpg": "q06.jpg",
    "two\nlines.jpg": "q07.jpg",
}
RAW = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def hostile_workspace(workspace):
    """The demo workspace sorting ``hostile/``: demo photos under the hostile names; its settings path."""
    (workspace / "hostile").mkdir()
    for name, src in NAMES.items():
        shutil.copy2(DEMO / "query" / src, workspace / "hostile" / name)
    sp = workspace / "settings.json"
    raw = json.loads(sp.read_text())
    raw["process_dir"] = "hostile"
    sp.write_text(json.dumps(raw))
    return sp


def test_hostile_names_in_the_app_log_are_shown_without_their_codes(workspace):
    sp = hostile_workspace(workspace)

    async def go():
        app = make_app(sp)
        async with app.run_test(size=SIZE) as pilot:
            screen = await sort_in_app(app, pilot)
            assert screen.error == ""
            return log_lines(screen), [seg.text for strip in screen.log_widget.lines for seg in strip]

    entries, segments = run(go())
    assert not any(RAW.search(t) for t in segments), [t for t in segments if RAW.search(t)]
    assert len(entries) == len(NAMES), entries  # one entry per photo
    assert any(e.startswith("[bold red]markup[reverse] x.jpg → Alex_Lacamoire") for e in entries), entries
    for shown in ("a\\x1b[31mred\\x1b]0;title\\x07.jpg → ", "two\\nlines.jpg → ", "bidi\\u202egpj.exe.jpg → "):
        assert any(e.startswith(shown) for e in entries), (shown, entries)


def test_hostile_names_in_review_and_its_clusters_are_shown_escaped(workspace):
    """After a run of hostile names, Review's title and status and the clusters screen's list and captions show
    each name with its controls escaped, never raw, and markup in a name literally."""
    from facetui.tui.clusters_screen import ClustersScreen
    from facetui.tui.review_screen import ReviewScreen
    from support.tui import shown

    sp = hostile_workspace(workspace)

    async def go():
        app = make_app(sp)
        async with app.run_test(size=SIZE) as pilot:
            await sort_in_app(app, pilot)
            await pilot.press("u")
            await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen), "review")
            review = app.screen
            await wait_until(pilot, lambda: "\\r" in shown(review.query_one("#review-title")), "the first face")
            title = shown(review.query_one("#review-title")).strip()
            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(app.screen, ClustersScreen) and app.screen.clusters, "clusters")
            await pilot.pause(0.5)
            ol = app.screen.query_one("#cluster-list")
            options = [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]
            captions = [shown(w).strip() for w in app.screen.query(".face-caption")]
            return title, options, captions

    title, options, captions = run(go())
    assert "cr\\rover.jpg" in title and not RAW.search(title), title
    assert any("cr\\rover.jpg" in o for o in options) and not any(RAW.search(o) for o in options), options
    assert not any(RAW.search(c) for c in captions), captions
