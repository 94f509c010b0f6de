"""Review decisions in the core: assign / not-anyone / reject / undo on real demo photos, and reruns that respect them.

The KB here is the demo KB without Barack_Obama, so q01 and q02 (Obama alone) land in Unknown and q05 is filed
under Joe_Biden only.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from facetui.cli import main as cli_main
from facetui.core.base.events import UNKNOWN, FileDone
from facetui.core.base.fsutil import file_sha256
from facetui.core.base.settings import load_settings
from facetui.core.review.session import REVIEW_PREFIX, ReviewSession
from facetui.core.run import kbbuild
from facetui.core.run.kbbuild import build_kb
from facetui.core.run.recognize import recognize
from facetui.core.stores.kb import load_kb
from facetui.core.stores.report import REPORT_NAME, read_results, read_rows
from facetui.core.stores.reviewlog import LOG_NAME, Entry, ReviewError, ReviewLog, load_overrides
from support.helpers import LEFT_OUT, run_all


@pytest.fixture
def ws(no_obama_ws) -> Path:
    return no_obama_ws


def settings_of(ws: Path, **changes):
    s = load_settings(ws / "settings.json")
    return s.replace(**changes) if changes else s


def run(s) -> dict[str, FileDone]:
    return {ev.result.rel: ev.result for ev in run_all(recognize(s)) if isinstance(ev, FileDone)}


def files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*.jpg")}


def log_lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / LOG_NAME).read_text().splitlines()]


def test_kb_without_obama_leaves_his_photos_unknown(ws):
    s = settings_of(ws)
    res = run(s)
    assert res["q01.jpg"].people == () and res["q02.jpg"].people == ()
    assert res["q05.jpg"].people == ("Joe_Biden",)
    assert {"Unknown/q01.jpg", "Unknown/q02.jpg"} <= files(s.processed_dir)
    assert LEFT_OUT not in load_kb(s.kb_path).people


def test_assign_moves_our_copy_logs_and_grows_the_kb(ws):
    s = settings_of(ws)
    run(s)
    out = s.processed_dir
    original = ws / "query" / "q01.jpg"
    before_sha, before_mtime = file_sha256(original), original.stat().st_mtime_ns
    kb_before = load_kb(s.kb_path)
    session = ReviewSession(s)
    assert [it.rel for it in session.items][:2] == ["q01.jpg", "q02.jpg"]
    item = session.items[0]
    outcome = session.assign(item, LEFT_OUT)
    assert "q01.jpg → Barack_Obama" in outcome.message
    # the copy moved, the original untouched
    assert "Barack_Obama/q01.jpg" in files(out) and "Unknown/q01.jpg" not in files(out)
    assert file_sha256(out / "Barack_Obama" / "q01.jpg") == before_sha
    assert file_sha256(original) == before_sha and original.stat().st_mtime_ns == before_mtime
    # the log
    (line,) = log_lines(out)
    assert line["op"] == "assign" and line["person"] == LEFT_OUT and line["file"] == "q01.jpg"
    assert line["sha256"] == before_sha and line["unknown_copy"] == "Unknown/q01.jpg"
    # the KB grew by exactly this face, with its source
    kb = load_kb(s.kb_path)
    assert len(kb.face_names) == len(kb_before.face_names) + 1
    assert kb.face_names[-1] == LEFT_OUT and kb.face_sources[-1] == f"{REVIEW_PREFIX}{before_sha}:0"
    # the report says so
    r = {x.rel: x for x in read_results(out / REPORT_NAME)}["q01.jpg"]
    assert r.people == (LEFT_OUT,) and r.faces[0].via == "review"
    assert [d.relative_to(out).as_posix() for d in r.destinations] == ["Barack_Obama/q01.jpg"]
    # the rest of the report is unchanged
    assert {x.rel for x in read_results(out / REPORT_NAME)} == {f"q0{i}.jpg" for i in range(1, 10)}


def test_named_person_becomes_top_candidate_at_once_and_on_rerun(ws):
    s = settings_of(ws)
    run(s)
    session = ReviewSession(s)
    q02 = next(it for it in session.items if it.rel == "q02.jpg")
    assert session.candidates(q02)[0][0][0] != LEFT_OUT
    session.assign(session.item_for("q01.jpg"), LEFT_OUT)
    face_c, _ = session.candidates(q02)
    assert face_c[0][0] == LEFT_OUT and face_c[0][1] < s.face_tol
    res = run(s)
    assert res["q01.jpg"].people == (LEFT_OUT,) and res["q01.jpg"].faces[0].via == "review"
    assert res["q02.jpg"].faces[0].face[0][0] == LEFT_OUT
    assert res["q02.jpg"].people == (LEFT_OUT,)  # learnt from one reviewed photo
    assert "Unknown/q01.jpg" not in files(s.processed_dir)


def test_the_log_alone_files_the_photo_on_rerun(ws):
    s = settings_of(ws, review_add_to_kb=False)
    run(s)
    fp = load_kb(s.kb_path).fingerprint()
    session = ReviewSession(s)
    session.assign(session.item_for("q01.jpg"), LEFT_OUT)
    assert load_kb(s.kb_path).fingerprint() == fp  # not added to the KB
    res = run(s)
    assert res["q01.jpg"].people == (LEFT_OUT,) and res["q01.jpg"].faces[0].via == "review"
    assert res["q02.jpg"].people == ()  # the KB did not learn him
    assert "Unknown/q01.jpg" not in files(s.processed_dir)


def test_undo_takes_back_the_move_the_log_entry_and_the_kb_row(ws):
    s = settings_of(ws)
    run(s)
    out = s.processed_dir
    fp = load_kb(s.kb_path).fingerprint()
    before_files = files(out)
    session = ReviewSession(s)
    session.assign(session.item_for("q01.jpg"), LEFT_OUT)
    assert load_kb(s.kb_path).fingerprint() != fp
    outcome = session.undo()
    assert outcome.entries[0].op == "assign" and outcome.entries[0].file == "q01.jpg"
    assert files(out) == before_files
    assert not (out / "Barack_Obama").exists()
    assert file_sha256(out / "Unknown" / "q01.jpg") == file_sha256(ws / "query" / "q01.jpg")
    assert load_kb(s.kb_path).fingerprint() == fp
    assert [x["op"] for x in log_lines(out)] == ["assign", "undo"]
    assert load_overrides(out) == {}
    r = {x.rel: x for x in read_results(out / REPORT_NAME)}["q01.jpg"]
    assert r.people == () and r.faces[0].name == UNKNOWN and r.faces[0].via == ""
    assert "q01.jpg" in [it.rel for it in ReviewSession(s).items]
    assert session.undo().message == "nothing to undo"
    res = run(s)
    assert res["q01.jpg"].people == ()


def test_undo_after_a_rerun_restores_unknown(ws):
    s = settings_of(ws)
    run(s)
    ReviewSession(s).assign(ReviewSession(s).item_for("q01.jpg"), LEFT_OUT)
    run(s)
    ReviewSession(s).undo()
    out = s.processed_dir
    assert "Unknown/q01.jpg" in files(out) and "Barack_Obama/q01.jpg" not in files(out)
    assert f"{REVIEW_PREFIX}" not in "".join(load_kb(s.kb_path).face_sources)


def test_not_anyone_stays_unknown_and_is_not_asked_again(ws):
    s = settings_of(ws)
    run(s)
    session = ReviewSession(s)
    session.mark_none(session.item_for("q08.jpg"))
    assert "q08.jpg" not in [it.rel for it in session.items]
    res = run(s)
    assert res["q08.jpg"].people == ()
    assert res["q08.jpg"].faces[0].face == ()  # every KB person of the time was ruled out
    assert "Unknown/q08.jpg" in files(s.processed_dir)
    assert "q08.jpg" not in [it.rel for it in ReviewSession(s).items]  # remembered across runs


def test_rejected_candidate_is_never_proposed_nor_accepted_again(ws):
    # the plain nearest-photo rule, loose: accept the best person however close the runner-up
    loose = settings_of(ws, face_tol=0.75, face_margin=0.0, face_k=1)
    res = run(loose)
    assert res["q08.jpg"].people == ("Alex_Lacamoire",)  # q08 is not Alex, but 0.72 < 0.75
    session = ReviewSession(loose)
    outcome = session.reject(session.item_for("q08.jpg"), "Alex_Lacamoire")
    assert outcome.entries[0].rejected == ("Alex_Lacamoire",)
    face_c, _ = session.candidates(session.item_for("q08.jpg"))
    assert "Alex_Lacamoire" not in [n for n, _ in face_c] and len(face_c) == 3
    res = run(loose)
    assert res["q08.jpg"].people == ()
    assert "Alex_Lacamoire" not in [n for n, _ in res["q08.jpg"].faces[0].face]
    assert len(res["q08.jpg"].faces[0].face) == 3


def test_an_unknown_file_that_is_not_our_copy_is_kept(ws):
    s = settings_of(ws)
    run(s)
    stranger = s.processed_dir / "Unknown" / "q01.jpg"
    stranger.unlink()
    stranger.write_bytes(b"the user's own file")
    session = ReviewSession(s)
    session.assign(session.item_for("q01.jpg"), LEFT_OUT)
    assert stranger.read_bytes() == b"the user's own file"
    assert (s.processed_dir / "Barack_Obama" / "q01.jpg").is_file()


@pytest.mark.parametrize("name", ["../escape", "/etc", "..", "Unknown", "  ", "a\\b"])
def test_names_that_could_escape_the_output_are_refused(ws, name):
    s = settings_of(ws)
    run(s)
    before = set(p.relative_to(ws).as_posix() for p in ws.rglob("*"))
    session = ReviewSession(s)
    with pytest.raises(ReviewError):
        session.assign(session.item_for("q01.jpg"), name)
    assert set(p.relative_to(ws).as_posix() for p in ws.rglob("*")) == before
    assert not (s.processed_dir / LOG_NAME).exists()


def test_the_log_survives_a_torn_last_line(ws):
    s = settings_of(ws)
    run(s)
    log = ReviewLog(s.processed_dir)
    log.path.write_text('{"v":1,"op":"assign","id":"x1","sha256":"abc","person":"P"}\n{"v":1,"op":"ass')
    log.append(Entry(op="none", sha256="def", file="q.jpg", face=0, box=(1, 2, 3, 0), rejected=("A",)))
    entries = log.entries()
    assert [e.op for e in entries] == ["assign", "none"]
    assert log.path.read_text().count("\n") == 3
    assert set(load_overrides(s.processed_dir)) == {"abc", "def"}


def test_review_rows_survive_a_kb_rebuild(ws):
    assert REVIEW_PREFIX == kbbuild.REVIEW_PREFIX
    s = settings_of(ws)
    run(s)
    ReviewSession(s).assign(ReviewSession(s).item_for("q01.jpg"), LEFT_OUT)
    run_all(build_kb(s))
    kb = load_kb(s.kb_path)
    assert [n for n, src in zip(kb.face_names, kb.face_sources) if src.startswith(REVIEW_PREFIX)] == [LEFT_OUT]


def test_review_needs_a_report(ws):
    with pytest.raises(ReviewError, match="run recognition first"):
        ReviewSession(settings_of(ws))


def test_cli_review_list_assign_undo(ws, capsys):
    s = settings_of(ws)
    run(s)
    sp = str(ws / "settings.json")
    assert cli_main(["review", "--list", "--settings", sp]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("11 unknown face(s) in 6 photo(s)")
    line = next(x for x in out.splitlines() if x.startswith("q01.jpg [face 0] in Unknown/q01.jpg | Face: ["))
    assert LEFT_OUT not in line and "why: face" in line  # his candidates are others, and it says why not filed
    assert cli_main(["review", "--assign", "q01.jpg", LEFT_OUT, "--settings", sp]) == 0
    assert "q01.jpg → Barack_Obama" in capsys.readouterr().out
    assert (s.processed_dir / "Barack_Obama" / "q01.jpg").is_file()
    assert cli_main(["review", "--assign", "q01.jpg", "../x", "--settings", sp]) == 2
    assert "cannot contain" in capsys.readouterr().err
    assert cli_main(["review", "--undo", "--settings", sp]) == 0
    assert (s.processed_dir / "Unknown" / "q01.jpg").is_file()
    assert [x["op"] for x in log_lines(s.processed_dir)] == ["assign", "undo"]
    assert len(read_rows(s.processed_dir / REPORT_NAME)) == 16


@pytest.mark.slow
def test_body_rows_join_and_leave_the_kb_with_the_decision(tmp_path):
    """With body recognition on (random OSNet weights: mechanics only), an assignment adds the body too."""
    from facetui.core.models.body.osnet import save_random_weights
    from support.helpers import make_workspace

    w = save_random_weights(tmp_path / "osnet_random.pth", "osnet_x0_25")
    sp = make_workspace(
        tmp_path, reid_weights=str(w), reid_model="osnet_x0_25", kb_batch_size=8, device="cpu", body_tol=1.0
    )
    for p in (tmp_path / "kb").iterdir():  # a small KB and two query photos keep this quick
        if p.is_dir() and p.name not in ("Joe_Biden", "Kit_Harington"):
            shutil.rmtree(p)
    for p in (tmp_path / "query").iterdir():
        if p.name not in ("q07.jpg", "q08.jpg"):
            p.unlink()
    s = load_settings(sp)
    run_all(build_kb(s))
    run(s)
    kb0 = load_kb(s.kb_path)
    assert kb0.body_dim == 512
    session = ReviewSession(s)
    cup = session.item_for("q07.jpg")  # no face found: the whole photo, body only
    assert cup.face is None
    session.assign(cup, "Cup_Owner")
    session.assign(session.item_for("q08.jpg"), "Stranger")
    kb = load_kb(s.kb_path)
    sha07, sha08 = file_sha256(tmp_path / "query" / "q07.jpg"), file_sha256(tmp_path / "query" / "q08.jpg")
    assert kb.body_sources[-2:] == [f"{REVIEW_PREFIX}{sha07}:0", f"{REVIEW_PREFIX}{sha08}:0"]
    assert kb.body_names[-2:] == ["Cup_Owner", "Stranger"]
    assert kb.face_sources[-1] == f"{REVIEW_PREFIX}{sha08}:0" and "Cup_Owner" not in kb.face_names
    res = run(s)
    assert res["q07.jpg"].people == ("Cup_Owner",) and res["q07.jpg"].faces[0].via == "review"
    session = ReviewSession(s)
    session.undo()
    session.undo()
    kb = load_kb(s.kb_path)
    assert kb.fingerprint() == kb0.fingerprint()
    assert (s.processed_dir / "Unknown" / "q07.jpg").is_file() and not (s.processed_dir / "Cup_Owner").exists()


@pytest.mark.parametrize("mode", ["symlink", "hardlink"])
def test_link_modes_remove_only_our_link_and_never_the_original(ws, mode):
    s = settings_of(ws, file_mode=mode)
    run(s)
    out, original = s.processed_dir, ws / "query" / "q01.jpg"
    sha = file_sha256(original)
    unknown = out / "Unknown" / "q01.jpg"
    assert unknown.is_symlink() if mode == "symlink" else unknown.stat().st_ino == original.stat().st_ino
    session = ReviewSession(s)
    session.assign(session.item_for("q01.jpg"), LEFT_OUT)
    assert not os.path.lexists(unknown)
    placed = out / LEFT_OUT / "q01.jpg"
    assert placed.is_symlink() if mode == "symlink" else placed.stat().st_ino == original.stat().st_ino
    assert file_sha256(original) == sha
    session.undo()
    assert not os.path.lexists(placed) and file_sha256(unknown) == sha
    assert original.is_file() and not original.is_symlink() and file_sha256(original) == sha


def test_decisions_wait_while_a_recognition_run_writes_to_the_folder(ws):
    s = settings_of(ws)
    run(s)
    out = s.processed_dir
    session = ReviewSession(s)
    before = files(out)
    report_before = (out / REPORT_NAME).read_bytes()
    active = recognize(s.replace(process_dir=ws / "query"))
    next(active)  # a second sort into the same folder has started and holds its lock
    with pytest.raises(ReviewError, match="a recognition run is writing to"):
        session.assign(session.item_for("q01.jpg"), LEFT_OUT)
    with pytest.raises(ReviewError, match="a recognition run is writing to"):
        session.assign_many([session.item_for("q01.jpg"), session.item_for("q02.jpg")], LEFT_OUT)
    assert not (out / LOG_NAME).exists() or log_lines(out) == []  # nothing was decided
    run_all(active)
    assert files(out) == before and (out / REPORT_NAME).read_bytes() == report_before
    # once the run is over, the same decision goes through, and so does its undo
    session.reload()
    session.assign(session.item_for("q01.jpg"), LEFT_OUT)
    assert "Barack_Obama/q01.jpg" in files(out)
    active = recognize(s)
    next(active)
    with pytest.raises(ReviewError, match="a recognition run is writing to"):
        session.undo()
    run_all(active)
    session.undo()
    assert "Barack_Obama/q01.jpg" not in files(out) and "Unknown/q01.jpg" in files(out)
    # and a run started after a decision is not refused: the lock is only held while deciding
    assert run_all(recognize(s))[-1].summary.done == 9


def test_each_decision_rewrites_the_report_once(ws, monkeypatch):
    """Naming one face, naming several, and undoing each: one report.csv rewrite apiece, which holds all of it."""
    from facetui.core.review import report_rows as review

    s = settings_of(ws)
    run(s)
    out = s.processed_dir
    session = ReviewSession(s)
    writes: list[Path] = []
    real = review.atomic_write_bytes
    monkeypatch.setattr(review, "atomic_write_bytes", lambda p, d: (writes.append(p), real(p, d))[1])

    def people() -> dict[str, tuple[str, ...]]:
        return {r.rel: r.people for r in read_results(out / REPORT_NAME) if r.rel in ("q01.jpg", "q02.jpg")}

    session.assign(session.item_for("q01.jpg"), LEFT_OUT)
    assert writes == [out / REPORT_NAME]
    assert people() == {"q01.jpg": (LEFT_OUT,), "q02.jpg": ()}
    writes.clear()
    session.undo()
    assert writes == [out / REPORT_NAME]
    assert people() == {"q01.jpg": (), "q02.jpg": ()}
    writes.clear()
    session.assign_many([session.item_for("q01.jpg"), session.item_for("q02.jpg")], LEFT_OUT)
    assert writes == [out / REPORT_NAME]
    assert people() == {"q01.jpg": (LEFT_OUT,), "q02.jpg": (LEFT_OUT,)}
    writes.clear()
    session.undo()
    assert writes == [out / REPORT_NAME]
    assert people() == {"q01.jpg": (), "q02.jpg": ()}
