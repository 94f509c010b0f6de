"""The clusters screen under Pilot (issue 22): a group's faces in a grid, most central first, walked with the arrows;
faces left out with space stay Unknown and are told "not X" when the group is named X; a split keeps them apart;
one undo takes a whole group decision back. The review queue walks the faces cluster by cluster, biggest first.

The workspace is the demo's with Barack_Obama out of the KB plus every lfw-calib photo of Roger_Federer and Yoko_Ono
(nobody's in the KB): their 5 faces each make the two biggest clusters, then Obama's 3."""

from __future__ import annotations

import json
import shutil

import pytest

from facetui.core.base.settings import load_settings
from facetui.core.review.order import cluster_order
from facetui.core.review.session import REVIEW_PREFIX, ReviewSession
from facetui.core.run.recognize import recognize
from facetui.core.stores.kb import load_kb
from facetui.core.stores.report import REPORT_NAME, read_results
from facetui.core.stores.reviewlog import LOG_NAME
from facetui.tui.clusters_screen import ClustersScreen
from facetui.tui.face_grid import Face, FaceGrid, caption, short
from facetui.tui.name_dialog import NameDialog
from facetui.tui.review_screen import ReviewScreen
from support.helpers import lfw_photos, run_all
from support.tui import ReviewApp, settle, sync, text, thumbs_shown

SIZE = (110, 34)  # the grid has 3 columns
PEOPLE = ("Roger_Federer", "Yoko_Ono")
TOL = 0.5  # both people one group each, with a margin (at 0.45 Federer parts 4 + 1)


@pytest.fixture
def settings(no_obama_ws):
    for person in PEOPLE:
        for photo, name in lfw_photos(person):
            shutil.copy2(photo, no_obama_ws / "query" / name)
    path = no_obama_ws / "settings.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "cluster_tol": TOL}))  # pinned: these groups, whatever the shipped default
    s = load_settings(path)
    run_all(recognize(s))
    return s


def filed_under(s) -> dict[str, tuple[str, ...]]:
    """{photo: the people the report files it under} (empty: Unknown)."""
    return {r.rel: r.people for r in read_results(s.processed_dir / REPORT_NAME)}


def review_rows(s) -> list[tuple[str, str]]:
    kb = load_kb(s.kb_path)
    return sorted((n, src) for n, src in zip(kb.face_names, kb.face_sources) if src.startswith(REVIEW_PREFIX))


def log_ops(s) -> list[str]:
    path = s.processed_dir / LOG_NAME
    return [json.loads(x)["op"] for x in path.read_text().splitlines()] if path.exists() else []


def person_of(photo: str) -> str:
    """The LFW person a photo shows, by its name (Roger_Federer_0010.jpg)."""
    return photo.rsplit("_", 1)[0]


def grid(app) -> FaceGrid:
    return app.screen.query_one(FaceGrid)


def marks(app) -> list[str]:
    """Each shown tile as 'name[*][x]': * under the cursor, x left out (read from the tiles' classes)."""
    g = grid(app)
    return [
        f.name.removesuffix(".jpg")
        + ("*" if t.has_class("-cursor") else "")
        + ("x" if t.has_class("-left-out") else "")
        for f, t in zip(g.faces, g.tiles)
    ]


async def open_clusters(pilot) -> None:
    await settle(pilot)
    await pilot.press("c")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ClustersScreen)


@sync
async def test_leave_two_faces_out_name_the_group_and_undo(settings):
    """The issue's test: two faces of a 5-face cluster left out, the group named, undone; report and KB each step."""
    out = settings.processed_dir
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_clusters(pilot)
        assert f"cluster_tol {TOL:g}" in text(app, "#clusters-title")
        faces = [f.name for f in grid(app).faces]
        who = person_of(faces[0])  # the two biggest groups are one person's 5 faces each
        assert who in PEOPLE and len(faces) == 5 and {person_of(n) for n in faces} == {who}
        assert await thumbs_shown(pilot)
        before = filed_under(settings)
        assert all(before[n] == () for n in faces) and review_rows(settings) == []
        await pilot.press("tab", "space", "right", "space")  # leave the two most central faces out
        await pilot.pause()
        left, named = faces[:2], faces[2:]
        assert marks(app)[:3] == [
            f"{left[0].removesuffix('.jpg')}x",
            f"{left[1].removesuffix('.jpg')}*x",
            named[0][:-4],
        ]
        assert "2 left out" in text(app, "#cluster-cands")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NameDialog)
        await pilot.press(*who, "enter")
        await settle(pilot)
        assert f"3 faces in 3 photos → {who}; 2 left out (not {who})" in text(app, "#clusters-status")
        # the report: the three named under him, the two left out still Unknown; the KB learnt the three only
        now = filed_under(settings)
        assert [now[n] for n in named] == [(who,)] * 3 and [now[n] for n in left] == [(), ()]
        assert [n for n, _ in review_rows(settings)] == [who] * 3
        for n in named:
            assert (out / who / n).is_file() and not (out / "Unknown" / n).exists()
        for n in left:
            assert (out / "Unknown" / n).is_file() and not (out / who / n).exists()
        assert log_ops(settings) == ["assign"] * 3 + ["reject"] * 2
        # never rejoin that name: told "not him", and their group does not propose him
        session = ReviewSession(settings)
        assert all(who in session.rejected(session.item_for(n)) for n in left)
        session.close()
        screen = app.screen
        assert isinstance(screen, ClustersScreen)
        theirs = [c for c in screen.clusters if {it.rel for it in c.items} & set(left)]
        assert theirs and all(who not in [p for p, _ in c.candidates] for c in theirs)
        assert not screen.left_out  # a new grouping starts with every face in
        # one undo takes the whole decision back: report, files, KB, the rejections
        await pilot.press("z")
        await settle(pilot)
        assert f"undone: 3 faces → {who} (2 left out)" in text(app, "#clusters-status")
        assert filed_under(settings) == before and review_rows(settings) == []
        assert not (out / who).exists() and all((out / "Unknown" / n).is_file() for n in faces)
        session = ReviewSession(settings)
        assert not any(who in session.rejected(session.item_for(n)) for n in left)
        session.close()
        assert sorted(f.name for f in grid(app).faces) == sorted(faces)


@sync
async def test_merge_into_a_candidate_with_a_face_left_out(settings):
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_clusters(pilot)
        cands = app.screen.selected.candidates
        assert len(cands) == 3
        who = cands[1][0]
        faces = [f.name for f in grid(app).faces]
        await pilot.press("tab", "down", "space", "2")  # the face below the first left out, then candidate 2
        await settle(pilot)
        now = filed_under(settings)
        assert now[faces[3]] == () and [now[n] for n in faces if n != faces[3]] == [(who,)] * 4
        assert [n for n, _ in review_rows(settings)] == [who] * 4


@sync
async def test_split_keeps_the_faces_left_out_apart_until_undone(settings):
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_clusters(pilot)
        faces = [f.name for f in grid(app).faces]
        await pilot.press("s")  # nothing left out: nothing to split off (the key is off)
        await settle(pilot)
        assert log_ops(settings) == []
        await pilot.press("tab", "down", "right", "space", "s")  # the least central face (bottom row) split off
        await settle(pilot)
        assert log_ops(settings) == ["split"] * 5
        assert "split: 1 face(s) kept apart from 4" in text(app, "#clusters-status")
        groups = [sorted(it.rel for it in c.items) for c in app.screen.clusters]
        assert sorted(faces[:4]) in groups and [faces[4]] in groups
        assert filed_under(settings)[faces[4]] == ()  # a split names nobody
        await pilot.press("z")
        await settle(pilot)
        assert sorted(it.rel for it in app.screen.clusters[0].items) == sorted(faces)


@sync
async def test_grid_keys_move_mark_and_survive_a_move_to_another_group(settings):
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_clusters(pilot)
        screen = app.screen
        names = [f.name.removesuffix(".jpg") for f in grid(app).faces]
        assert grid(app).columns == 3
        assert marks(app) == [names[0] + "*", *names[1:]]
        await pilot.press("tab")
        assert app.focused is grid(app)
        await pilot.press("left", "up")  # at the edge: stays
        assert grid(app).cursor == 0
        await pilot.press("right", "down")  # 1 -> 4 (second row)
        assert grid(app).cursor == 4
        await pilot.press("down", "right")  # no row below, no face to the right
        assert grid(app).cursor == 4
        await pilot.press("space")
        assert marks(app)[4] == names[4] + "*x" and "left out" in text(app, "#cluster-face")
        assert caption(grid(app).faces[4], True).splitlines()[1].startswith("✗ out 0.")
        await pilot.press("up", "space", "space")  # on and off again
        assert marks(app) == [names[0], names[1] + "*", names[2], names[3], names[4] + "x"]
        assert names[1] in text(app, "#cluster-face") and "mean distance" in text(app, "#cluster-face")
        # back to the list, the next group: its own faces; the first group keeps its face left out
        old_token = grid(app).token
        await pilot.press("shift+tab", "down")
        await settle(pilot)
        assert {person_of(f.name) for f in grid(app).faces} == set(PEOPLE) - {person_of(names[0])}
        assert "x" not in "".join(m[-1] for m in marks(app))
        assert not grid(app).set_image(old_token, 0, None)  # a late thumbnail of the first group is dropped
        await pilot.press("up")
        await settle(pilot)
        assert marks(app)[4] == names[4] + "x" and screen.check_action("split", ()) is True


@sync
async def test_a_big_group_shows_its_first_faces_and_how_many_more(settings, monkeypatch):
    monkeypatch.setattr(ClustersScreen, "SHOWN_FACES", 3)
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_clusters(pilot)
        assert len(grid(app).faces) == 3 and [t.display for t in grid(app).tiles] == [True] * 3
        assert "5 faces in 5 photos · +2 more not shown" in text(app, "#cluster-cands")
        await pilot.press("down", "down")  # Obama's group of 3: no "more"
        await settle(pilot)
        assert "more" not in text(app, "#cluster-cands")


@sync
async def test_walking_the_groups_rebuilds_the_footer_only_when_a_key_comes_or_goes(settings, monkeypatch):
    """The Footer is rebuilt at each refresh of the bindings (most of a key's time on a long list): walking from
    group to group refreshes them only where what the keys may do changes."""
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_clusters(pilot)
        screen = app.screen
        refreshes, changes = [], 0
        monkeypatch.setattr(screen, "refresh_bindings", lambda: refreshes.append(screen.selected))
        keys = lambda: [screen.check_action(a, p) for a, p in [("assign", ("1",)), ("assign", ("3",)), ("split", ())]]  # noqa: E731
        before = keys()
        for _ in range(len(screen.clusters) - 1):
            await pilot.press("down")
            await pilot.pause()
            now = keys()
            changes += now != before
            before = now
        assert len(screen.clusters) >= 4 and changes < len(screen.clusters) - 1  # some moves keep the same keys
        assert len(refreshes) == changes


def test_captions_mark_outliers_and_faces_left_out():
    f = Face(("a.jpg", 0), "Someone_With_A_Long_Name_0001.jpg", 0, 0.52, True)
    assert caption(f, False) == f"{short(f.name)}\noutlier 0.52"
    assert caption(f, True).endswith("\n✗ out outlier 0.52")
    assert short(f.name) == "Someone_Wi…_0001.jpg" and len(short(f.name)) == 20
    assert caption(Face(("b.jpg", 2), "b.jpg", 2, 0.3, False), False) == "b.jpg #2\n0.30"
    assert caption(Face(("c.jpg", 0), "c.jpg", 0, 0.0, False, several=False), False) == "c.jpg\n"


@sync
async def test_the_review_queue_walks_cluster_by_cluster_biggest_first(settings):
    session = ReviewSession(settings)
    order = [it.key for it in cluster_order(session)]
    assert sorted(order) == sorted(it.key for it in session.items)  # every waiting face once
    session.close()
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        files = [rel for rel, _ in (it.key for it in screen.queue)]
        assert [it.key for it in screen.queue] == order
        assert {person_of(f) for f in files[:5]} != {person_of(f) for f in files[5:10]}
        assert {person_of(f) for f in files[:5]} | {person_of(f) for f in files[5:10]} == set(PEOPLE)
        assert files[10:12] == ["q02.jpg", "q01.jpg"]  # Obama's group (his face in q05 is filed, not queued)
        assert files[-1] == "q07.jpg"  # no face found: no cluster, at the end
        assert files[0] in text(app, "#review-title")


def test_clusters_grid_snapshot(settings, snap_compare):
    async def run_before(pilot):
        await open_clusters(pilot)
        await pilot.press("tab", "right", "space")
        assert await thumbs_shown(pilot)

    assert snap_compare(ReviewApp(settings), terminal_size=(100, 30), run_before=run_before)
