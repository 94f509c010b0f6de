"""Knowledge base: build from the demo people, exact save/load, incremental rebuilds, safe legacy pickles."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

from facetui.core.base.events import KbImageDone, RunFinished
from facetui.core.base.settings import load_settings
from facetui.core.run.kbbuild import build_kb, kb_status
from facetui.core.stores.kb import KbError, KnowledgeBase, from_bytes, load_kb, save_kb, to_bytes
from support.helpers import make_workspace, run_all

PEOPLE = ["Alex_Lacamoire", "Barack_Obama", "Joe_Biden", "Kit_Harington", "Rose_Leslie"]


def test_demo_kb_has_five_people(settings):
    kb = load_kb(settings.kb_path)
    assert kb.people == PEOPLE
    assert kb.face_enc.shape == (11, 128)
    assert kb.counts()["Barack_Obama"] == {"faces": 3, "bodies": 0}
    assert all(src.split("/")[0] == name for src, name in zip(kb.face_sources, kb.face_names))
    st = kb_status(settings)
    assert st["ok"] and st["people"] == 5 and not st["stale"]


def test_save_load_round_trip_is_exact(settings, tmp_path):
    kb = load_kb(settings.kb_path)
    kb.add_body("Joe_Biden", np.arange(512, dtype=np.float32), "x.jpg")
    path = save_kb(kb, tmp_path / "kb.npz")
    back = load_kb(path)
    assert np.array_equal(back.face_enc, kb.face_enc) and back.face_enc.dtype == np.float64
    assert np.array_equal(back.body_enc, kb.body_enc)
    assert (back.face_names, back.face_sources, back.body_names) == (kb.face_names, kb.face_sources, kb.body_names)
    assert back.fingerprint() == kb.fingerprint()
    assert not list(tmp_path.glob(".facetui-tmp-*"))


def test_unchanged_rebuild_reencodes_nothing(settings):
    events = run_all(build_kb(settings))
    images = [e for e in events if isinstance(e, KbImageDone)]
    assert len(images) == 11 and all(e.reused for e in images)
    assert events[-1].summary.faces == 11


def test_rebuild_picks_up_added_changed_and_removed_photos(workspace):
    s = load_settings(workspace / "settings.json")
    kb_dir = workspace / "kb"
    shutil.rmtree(kb_dir / "Rose_Leslie")
    (kb_dir / "Paul").mkdir()
    shutil.copy(workspace / "query" / "q08.jpg", kb_dir / "Paul" / "p1.jpg")
    events = run_all(build_kb(s))
    done = {e.rel: e for e in events if isinstance(e, KbImageDone)}
    assert not done["Paul/p1.jpg"].reused and done["Paul/p1.jpg"].kept
    assert sum(e.reused for e in done.values()) == 9
    kb = load_kb(s.kb_path)
    assert "Rose_Leslie" not in kb.people and "Paul" in kb.people
    assert len(kb.face_names) == 10


def test_photo_without_a_face_is_reported_and_skipped(tmp_path):
    sp = make_workspace(tmp_path)
    (tmp_path / "kb" / "Cup").mkdir()
    shutil.copy(tmp_path / "query" / "q07.jpg", tmp_path / "kb" / "Cup" / "cup.jpg")
    events = run_all(build_kb(load_settings(sp)))
    cup = next(e for e in events if isinstance(e, KbImageDone) and e.person == "Cup")
    assert (cup.faces_found, cup.kept, cup.reason) == (0, False, "no face found")
    assert events[-1].summary.skipped == 1
    assert "Cup" not in load_kb(load_settings(sp).kb_path).people


def test_group_photo_in_the_dataset_uses_the_largest_face(tmp_path):
    sp = make_workspace(tmp_path)
    (tmp_path / "kb" / "Group").mkdir()
    shutil.copy(tmp_path / "query" / "q09.jpg", tmp_path / "kb" / "Group" / "g.jpg")
    events = run_all(build_kb(load_settings(sp)))
    g = next(e for e in events if isinstance(e, KbImageDone) and e.person == "Group")
    assert g.kept and g.faces_found >= 4 and "used the largest" in g.reason


def test_aborted_build_leaves_the_old_kb(settings):
    import threading

    before = settings.kb_path.read_bytes()
    cancel = threading.Event()
    gen = build_kb(settings.replace(upsample=2), cancel)  # a model change: nothing can be reused
    for ev in gen:
        if isinstance(ev, KbImageDone) and ev.index == 2:
            cancel.set()
        last = ev
    assert isinstance(last, RunFinished) and last.summary.aborted
    assert settings.kb_path.read_bytes() == before


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED_MARKER",))


def test_malicious_pickle_runs_no_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "encodings.pkl"
    bad.write_bytes(pickle.dumps({"face_encodings": [_Boom()], "face_names": ["x"]}))
    with pytest.raises(KbError, match="refused"):
        load_kb(bad)
    assert not (tmp_path / "PWNED_MARKER").exists()


def test_legacy_pickle_of_plain_data_is_read(tmp_path):
    enc = [np.random.default_rng(0).normal(size=128) for _ in range(2)]
    legacy = {
        "face_encodings": enc,
        "face_names": ["A", "B"],
        "body_encodings": [np.ones(512, np.float32)],
        "body_names": ["A"],
    }
    p = tmp_path / "encodings.pkl"
    p.write_bytes(pickle.dumps(legacy))
    kb = load_kb(p)
    assert kb.face_names == ["A", "B"] and np.allclose(kb.face_enc[1], enc[1])
    assert kb.body_enc.shape == (1, 512)


def test_damaged_kb_gives_a_clear_error(tmp_path):
    p = tmp_path / "encodings.npz"
    p.write_bytes(b"not a zip at all")
    with pytest.raises(KbError, match="not a facetui KB or is damaged"):
        load_kb(p)
    with pytest.raises(KbError, match="build the KB first"):
        load_kb(tmp_path / "none.npz")


def test_kb_with_object_arrays_is_refused(tmp_path):
    import io

    buf = io.BytesIO()
    np.savez(buf, face_enc=np.array([object()], dtype=object), body_enc=np.zeros((0, 0)), meta=np.array("{}"))
    with pytest.raises(KbError):
        from_bytes(buf.getvalue())


def test_to_bytes_refuses_inconsistent_kb():
    kb = KnowledgeBase(face_enc=np.zeros((2, 128)), face_names=["a"], face_sources=["x"])
    with pytest.raises(KbError):
        to_bytes(kb)
