"""The review screen under Pilot: one-key decisions land on disk, in the log and in the KB; half-blocks render headless."""

from __future__ import annotations

import json
import threading

import pytest
from textual.widgets import Input, OptionList

from facetui.core.base.events import FileDone
from facetui.core.base.fsutil import file_sha256
from facetui.core.review.session import REVIEW_PREFIX
from facetui.core.run.recognize import recognize
from facetui.core.stores.kb import load_kb
from facetui.core.stores.reviewlog import LOG_NAME
from facetui.tui.clusters_screen import ClustersScreen
from facetui.tui.face_grid import FaceGrid
from facetui.tui.name_dialog import NameDialog
from facetui.tui.photos import image_class
from facetui.tui.preview_screen import PreviewScreen
from facetui.tui.review_screen import ReviewScreen
from support.helpers import LEFT_OUT, run_all
from support.tui import ReviewApp, settle, sync, text, thumbs_shown

SIZE = (110, 34)


@pytest.fixture
def settings(no_obama_settings):
    return no_obama_settings


def log_ops(s) -> list[str]:
    path = s.processed_dir / LOG_NAME
    return [json.loads(x)["op"] for x in path.read_text().splitlines()] if path.exists() else []


def review_rows(s) -> list[tuple[str, str]]:
    kb = load_kb(s.kb_path)
    return [(n, src) for n, src in zip(kb.face_names, kb.face_sources) if src.startswith(REVIEW_PREFIX)]


@sync
async def test_new_name_files_logs_learns_and_undo_takes_it_back(settings):
    out = settings.processed_dir
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        # the queue walks the clusters, biggest first, each from its most central face: q02 and q01 (Obama) first
        assert "q02.jpg · face 0" in text(app, "#review-title")
        assert LEFT_OUT not in text(app, "#review-cands")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NameDialog)
        await pilot.press(*LEFT_OUT, "enter")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        # on disk: moved out of Unknown into the person's folder, same bytes as the untouched original
        assert (out / LEFT_OUT / "q02.jpg").is_file() and not (out / "Unknown" / "q02.jpg").exists()
        assert file_sha256(out / LEFT_OUT / "q02.jpg") == file_sha256(settings.process_dir / "q02.jpg")
        assert log_ops(settings) == ["assign"]
        assert [n for n, _ in review_rows(settings)] == [LEFT_OUT]
        assert "q02.jpg → Barack_Obama" in text(app, "#review-status")
        # the next photo of him now proposes him first
        assert "q01.jpg · face 0" in text(app, "#review-title")
        first = text(app, "#review-cands").splitlines()[0].split()
        assert first[:2] == ["1", LEFT_OUT] and float(first[2]) < settings.face_tol
        # undo: the move, the log entry and the KB row
        await pilot.press("z")
        await settle(pilot)
        assert (out / "Unknown" / "q02.jpg").is_file() and not (out / LEFT_OUT).exists()
        assert log_ops(settings) == ["assign", "undo"]
        assert review_rows(settings) == []
        assert "q02.jpg · face 0" in text(app, "#review-title")
        assert "undone: q02.jpg → Barack_Obama" in text(app, "#review-status")


@sync
async def test_assignment_in_the_screen_holds_on_a_rerun(settings):
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*LEFT_OUT, "enter")
        await settle(pilot)
    res = {ev.result.rel: ev.result for ev in run_all(recognize(settings)) if isinstance(ev, FileDone)}
    assert res["q02.jpg"].people == (LEFT_OUT,) and res["q02.jpg"].faces[0].via == "review"
    assert res["q01.jpg"].faces[0].face[0][0] == LEFT_OUT
    assert not (settings.processed_dir / "Unknown" / "q02.jpg").exists()


@sync
async def test_number_keys_not_in_kb_and_skip(settings):
    out = settings.processed_dir
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = text(app, "#review-cands").splitlines()[0]  # "1  Joe_Biden"
        person = first.split()[1]
        await pilot.press("1")
        await settle(pilot)
        assert (out / person / "q02.jpg").is_file() and not (out / "Unknown" / "q02.jpg").exists()
        assert "q01.jpg" in text(app, "#review-title")
        await pilot.press("x")  # q01: not anyone in the KB
        await settle(pilot)
        assert log_ops(settings) == ["assign", "none"]
        assert (out / "Unknown" / "q01.jpg").is_file()
        assert "q06.jpg" in text(app, "#review-title")
        seen = []
        for _ in range(8):  # skip: nothing written; the photo with no face found comes after every clustered face
            await pilot.press("s")
            await settle(pilot)
            seen.append(text(app, "#review-title").split(" · ")[2])
            if "q07.jpg · no face found" in text(app, "#review-title"):
                break
        assert seen == ["q08.jpg", *["q09.jpg"] * 6, "q07.jpg"], seen
        assert log_ops(settings) == ["assign", "none"]
        assert "No candidates" in text(app, "#review-cands")
        await pilot.press("1")  # nothing to pick for q07: the key is disabled
        await settle(pilot)
        assert log_ops(settings) == ["assign", "none"]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ReviewScreen)


@sync
async def test_bad_names_are_refused_in_the_dialog(settings):
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"../x")
        await pilot.pause()
        assert "cannot contain" in text(app, "#name-error")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, NameDialog)  # still asking
        app.screen.query_one(Input).value = "Unknown"
        await pilot.press("enter")
        await pilot.pause()
        assert "reserved" in text(app, "#name-error")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
    assert log_ops(settings) == []
    assert not (settings.processed_dir.parent / "x").exists()


@sync
async def test_preview_and_clusters_view_names_a_whole_cluster(settings):
    out = settings.processed_dir
    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the full-size rendition is read in a worker, then the preview opens
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ClustersScreen)
        ol = app.screen.query_one(OptionList)
        # most central first: q02, q01, then Obama's face in q05 (filed under Joe_Biden)
        assert str(ol.get_option_at_index(0).prompt).startswith("1. 3 faces: q02.jpg, q01.jpg, q05.jpg")
        grid = app.screen.query_one(FaceGrid)
        assert [f.name for f in grid.faces] == ["q02.jpg", "q01.jpg", "q05.jpg"]
        assert await thumbs_shown(pilot) and len([t for t in grid.tiles if t.display]) == 3
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*LEFT_OUT, "enter")
        await settle(pilot)
        for name in ("q01.jpg", "q02.jpg", "q05.jpg"):
            assert (out / LEFT_OUT / name).is_file()
        assert len(review_rows(settings)) == 3
        assert "3 faces in 3 photos → Barack_Obama" in text(app, "#clusters-status")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        # the faces named there left this queue: the screen moved past q01 and q02
        assert "q06.jpg" in text(app, "#review-title")
        await pilot.press("z")  # one undo takes the whole cluster back
        await settle(pilot)
        assert review_rows(settings) == [] and not (out / LEFT_OUT).exists()
        assert "q02.jpg" in text(app, "#review-title")


@sync
async def test_no_disk_work_on_the_ui_thread(settings, monkeypatch):
    """Opening, candidates, decisions, undo, the preview, the clusters and the re-read after them all run in
    thread workers: each session method and picture read that touches disk records the thread it ran on."""
    from facetui.core.review.session import ReviewSession
    from facetui.tui import review_work

    calls: list[tuple[str, bool]] = []

    def on_thread(name, fn):
        def wrapper(*args, **kw):
            calls.append((name, threading.current_thread() is threading.main_thread()))
            return fn(*args, **kw)

        return wrapper

    for name in ("__init__", "reload", "candidates", "assign", "assign_many", "mark_none", "reject", "undo", "close"):
        monkeypatch.setattr(ReviewSession, name, on_thread(name, getattr(ReviewSession, name)))
    monkeypatch.setattr(ReviewSession, "kb", property(on_thread("kb", ReviewSession.kb.fget)))
    for name in ("render_photo", "render_face", "group_faces", "cluster_order"):
        monkeypatch.setattr(review_work, name, on_thread(name, getattr(review_work, name)))

    app = ReviewApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*LEFT_OUT, "enter")
        await settle(pilot)
        await pilot.press("z")
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("escape", "c")
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("escape")
        await settle(pilot)
    ran = {name for name, _ in calls}
    assert {
        "__init__",
        "reload",
        "candidates",
        "assign",
        "assign_many",
        "undo",
        "reject",
        "kb",
        "render_photo",
        "render_face",
        "group_faces",
        "cluster_order",
    } <= ran, ran
    assert [name for name, on_ui in calls if on_ui] == []


def test_bindings_have_ids_and_the_keys_of_the_issue():
    keys = {b.key: b for b in ReviewScreen.BINDINGS}
    for k in ("1", "2", "3", "n", "x", "s", "z", "enter", "escape", "c"):
        assert k in keys, k
    assert all(b.id and b.id.startswith("review.") for b in ReviewScreen.BINDINGS)
    assert all(b.show for b in ReviewScreen.BINDINGS)  # all in the Footer
    # no screen-level `u`: the app's check_action turns its review key off while a review screen is open
    assert "u" not in keys and "u" not in {b.key for b in ClustersScreen.BINDINGS}
    assert ReviewScreen.IS_REVIEW and ClustersScreen.IS_REVIEW
    assert all(b.id for b in ClustersScreen.BINDINGS + NameDialog.BINDINGS + PreviewScreen.BINDINGS)


@sync
async def test_half_block_fallback_draws_the_photo(settings):
    assert image_class("halfcell").__name__ == "HalfcellImage"
    assert image_class("auto").__name__ == "HalfcellImage"  # no terminal under pytest: half-blocks
    app = ReviewApp(settings, image_mode=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        photo = app.screen.query_one("#review-photo")
        assert type(photo).__name__ == "HalfcellImage"
        strips = [photo.render_line(y) for y in range(photo.size.height)]
        cells = [seg for strip in strips for seg in strip if seg.text == "▀"]
        assert photo.size.height > 10 and len(cells) > 500
        colours = {(seg.style.color.triplet, seg.style.bgcolor.triplet) for seg in cells}
        assert len(colours) > 100  # a photo, not a blank block


def test_half_block_snapshot(settings, snap_compare):
    assert snap_compare(ReviewApp(settings), terminal_size=(100, 30), run_before=settle)
