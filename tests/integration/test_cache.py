"""The embedding cache: warm results equal cold ones bit for bit, the right settings invalidate it, damage is never trusted."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facetui.core.base.events import FileDone, RunFinished, RunStarted
from facetui.core.base.settings import load_settings
from facetui.core.models.analyze import FaceConfig, analyze_path
from facetui.core.models.body import encoder as body_encoder
from facetui.core.models.body import osnet
from facetui.core.models.face import encode as face_encode
from facetui.core.run.analyzer import Analyzer, hash_file
from facetui.core.run.recognize import recognize
from facetui.core.stores import cache as cache_mod
from facetui.core.stores.cache import CACHE_FILE, EmbeddingCache
from facetui.core.stores.report import REPORT_NAME
from support.helpers import DEMO, run_all

QUERIES = sorted((DEMO / "query").glob("*.jpg"))


def _norm(r):
    """A FileResult with what differs between two copies of the workspace cleared (cached flag, paths)."""
    return dataclasses.replace(r, cached=False, path=Path(r.rel), destinations=())


def _results(events) -> list:
    return [_norm(e.result) for e in events if isinstance(e, FileDone)]


def _cached_flags(events) -> list[bool]:
    return [e.result.cached for e in events if isinstance(e, FileDone)]


def _report_rows(path: Path) -> list[list[str]]:
    """report.csv rows without the "source" column (an absolute path that differs between workspace copies)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][1] == "source"
    return [r[:1] + r[2:] for r in rows]


@pytest.fixture(scope="module")
def cold_run(tmp_path_factory, built_workspace):
    """One cold recognition of the demo queries per module: (workspace root, events, report rows)."""
    root = tmp_path_factory.mktemp("cache") / "ws"
    shutil.copytree(built_workspace, root, symlinks=True)
    settings = load_settings(root / "settings.json")
    events = run_all(recognize(settings, output_dir=root / "out-cold"))
    assert _cached_flags(events) == [False] * len(QUERIES)
    return root, events, _report_rows(root / "out-cold" / REPORT_NAME)


@pytest.fixture
def warm_ws(cold_run, tmp_path):
    """A private copy of the workspace whose cache holds every demo query."""
    dst = tmp_path / "ws"
    shutil.copytree(cold_run[0], dst, symlinks=True)
    return dst, load_settings(dst / "settings.json")


@pytest.fixture
def cold(cold_run):
    return _results(cold_run[1])


def test_warm_run_is_bit_identical_to_the_cold_one(warm_ws, cold_run, cold):
    ws, settings = warm_ws
    warm = run_all(recognize(settings, output_dir=ws / "out-warm"))
    assert _cached_flags(warm) == [True] * len(QUERIES)
    assert _results(warm) == cold and len(cold) == len(QUERIES)
    # the report holds every distance, sharpness and box as written: the same text
    assert _report_rows(ws / "out-warm" / REPORT_NAME) == cold_run[2]
    # what the cache hands back equals a fresh analysis exactly, array for array
    cache = EmbeddingCache(settings.cache_dir)
    cfg = FaceConfig(settings.detector, settings.upsample, settings.resize_max)
    try:
        for p in QUERIES:
            sha, _ = hash_file(p)
            fresh, kept = analyze_path(p, cfg, False, sha), cache.get_analysis(sha, cfg.key())
            assert kept is not None
            assert kept.encodings.dtype == fresh.encodings.dtype and np.array_equal(kept.encodings, fresh.encodings)
            assert kept.boxes == fresh.boxes and kept.sharpness == fresh.sharpness and kept.size == fresh.size
            assert kept.notes == fresh.notes and kept.error == fresh.error
    finally:
        cache.close()


def test_threshold_change_reuses_the_cache(warm_ws, cold):
    ws, settings = warm_ws
    warm = run_all(recognize(settings.replace(face_tol=0.3), output_dir=ws / "out-strict"))
    assert _cached_flags(warm) == [True] * len(QUERIES)
    # it still decides afresh: a stricter tolerance files fewer known faces
    assert sum(bool(r.people) for r in _results(warm)) < sum(bool(r.people) for r in cold)


@pytest.mark.parametrize("change", [{"upsample": 0}, {"resize_max": 640}])
def test_settings_that_change_embeddings_miss_and_keep_the_old_entries(warm_ws, cold, change):
    workspace, settings = warm_ws
    other = run_all(recognize(settings.replace(**change), output_dir=workspace / "out-other"))
    assert _cached_flags(other) == [False] * len(QUERIES)
    again = run_all(recognize(settings.replace(**change), output_dir=workspace / "out-other-2"))
    assert _cached_flags(again) == [True] * len(QUERIES)
    # the entries of the original settings are still there and still right
    back = run_all(recognize(settings, output_dir=workspace / "out-back"))
    assert _cached_flags(back) == [True] * len(QUERIES)
    assert _results(back) == cold


def test_every_embedding_setting_is_in_the_key():
    base = FaceConfig("hog", 1, 800)
    keys = {
        base.key(),
        FaceConfig("cnn", 1, 800).key(),
        FaceConfig("hog", 0, 800).key(),
        FaceConfig("hog", 2, 800).key(),
        FaceConfig("hog", 1, 1024).key(),
    }
    assert len(keys) == 5
    assert FaceConfig("hog", 1, 800).key() == base.key()


def test_a_changed_file_is_analysed_again(warm_ws):
    workspace, settings = warm_ws
    # same name, new content (q01 mirrored): the content hash differs, so the old content's entry is not used
    target = workspace / "query" / "q07.jpg"  # the coffee cup: no face
    Image.open(workspace / "query" / "q01.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(target, quality=90)
    events = run_all(recognize(settings, output_dir=workspace / "out-changed"))
    flags = dict(zip((e.result.rel for e in events if isinstance(e, FileDone)), _cached_flags(events)))
    assert flags["q07.jpg"] is False and all(v for k, v in flags.items() if k != "q07.jpg")
    res = {r.rel: r for r in _results(events)}
    assert res["q07.jpg"].people == res["q01.jpg"].people == ("Barack_Obama",)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed_header"])
def test_a_corrupted_cache_file_is_set_aside_and_rebuilt(warm_ws, cold, damage):
    workspace, settings = warm_ws
    db = settings.cache_dir / CACHE_FILE
    for extra in ("-wal", "-shm"):  # fold the write-ahead log in, so the damage hits the entries
        Path(str(db) + extra).unlink(missing_ok=True)
    data = db.read_bytes()
    assert len(data) > 8192
    if damage == "garbage":
        db.write_bytes(b"this is not a database " * 500)
    elif damage == "truncated":
        db.write_bytes(data[: len(data) // 3])
    else:
        db.write_bytes(b"\0" * 100 + data[100:])
    events = run_all(recognize(settings, output_dir=workspace / "out-after"))
    started = next(e for e in events if isinstance(e, RunStarted))
    finished = next(e for e in events if isinstance(e, RunFinished))
    assert finished.summary.done == len(QUERIES) and finished.summary.errors == 0
    assert _results(events) == cold
    # nothing from the damaged file was used: everything was analysed again and said so
    assert _cached_flags(events) == [False] * len(QUERIES)
    assert any("embedding cache was unreadable" in n for n in started.notices)
    assert (settings.cache_dir / (CACHE_FILE + ".corrupt")).exists()
    # and the rebuilt cache works
    again = run_all(recognize(settings, output_dir=workspace / "out-again"))
    assert _cached_flags(again) == [True] * len(QUERIES)


def _entries(db_path: Path) -> dict[str, bytes]:
    with sqlite3.connect(db_path) as db:
        return dict(db.execute("SELECT key, payload FROM entries"))


def _rewrite(db_path: Path, key: str, payload: bytes) -> None:
    db = sqlite3.connect(db_path)
    with db:
        db.execute("UPDATE entries SET payload=? WHERE key=?", (payload, key))
    db.close()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_damaged_or_inconsistent_entries_are_misses(warm_ws, cold):
    workspace, settings = warm_ws
    db = settings.cache_dir / CACHE_FILE
    cfg = FaceConfig(settings.detector, settings.upsample, settings.resize_max)
    shas = {p.name: hash_file(p)[0] for p in QUERIES}
    key = lambda name: f"face:{cfg.key()}:{shas[name]}"  # noqa: E731
    assert key("q01.jpg") in _entries(db)
    meta = np.array('{"size": [800, 450], "notes": [], "error": ""}')
    _rewrite(db, key("q01.jpg"), b"PK\x03\x04 not really a zip")
    # a well-formed entry whose arrays disagree (2 boxes, 1 encoding) must not be believed
    _rewrite(
        db,
        key("q03.jpg"),
        _npz(__meta__=meta, encodings=np.zeros((1, 128)), boxes=np.zeros((2, 4), np.int64), sharpness=np.zeros(2)),
    )
    # an entry that would need pickle to load is refused, never unpickled
    _rewrite(
        db,
        key("q04.jpg"),
        _npz(
            __meta__=meta,
            encodings=np.array([object()], dtype=object),
            boxes=np.zeros((1, 4), np.int64),
            sharpness=np.zeros(1),
        ),
    )
    entries = _entries(db)
    good = entries[key("q06.jpg")]
    assert good.startswith(cache_mod.MAGIC)  # today's format: a JSON header and raw arrays
    head_len = int.from_bytes(good[4:8], "little")
    head = good[8 : 8 + head_len]
    # that format with an array of Python objects declared, a truncated one, and one with bytes to spare
    objects = head.replace(b'"<f8"', b'"|O8"', 1)
    _rewrite(db, key("q06.jpg"), good[:4] + len(objects).to_bytes(4, "little") + objects + good[8 + head_len :])
    _rewrite(db, key("q07.jpg"), good[:-5])
    _rewrite(db, key("q08.jpg"), entries[key("q08.jpg")] + b"\0" * 8)
    # an entry in the format written before (a zip of .npy files) is still a hit
    old_arrays, old_meta = cache_mod._unpack(entries[key("q02.jpg")])
    _rewrite(db, key("q02.jpg"), _npz(__meta__=np.array(json.dumps(old_meta)), **old_arrays))
    events = run_all(recognize(settings, output_dir=workspace / "out-entries"))
    flags = dict(zip((e.result.rel for e in events if isinstance(e, FileDone)), _cached_flags(events)))
    assert {k for k, v in flags.items() if not v} == {"q01.jpg", "q03.jpg", "q04.jpg", "q06.jpg", "q07.jpg", "q08.jpg"}
    assert _results(events) == cold
    # the bad entries were replaced by good ones
    again = run_all(recognize(settings, output_dir=workspace / "out-entries-2"))
    assert _cached_flags(again) == [True] * len(QUERIES)


def test_body_embeddings_cached_bit_identical_and_keyed_by_weights(tmp_path):
    photos = QUERIES[:4]
    w0 = osnet.save_random_weights(tmp_path / "w0.pt", "osnet_ain_x1_0", seed=0)
    w1 = osnet.save_random_weights(tmp_path / "w1.pt", "osnet_ain_x1_0", seed=1)
    enc0 = body_encoder.load_body_encoder("osnet_ain_x1_0", w0, "cpu")
    enc1 = body_encoder.load_body_encoder("osnet_ain_x1_0", w1, "cpu")
    cfg = FaceConfig()

    def run(enc, key):
        cache = EmbeddingCache(tmp_path / "cache")
        try:
            return list(Analyzer(cfg, cache, enc, key, workers=1, batch_size=4).analyze(photos))
        finally:
            cache.close()

    cold = run(enc0, "w0")
    warm = run(enc0, "w0")
    assert [it.cached for it in cold] == [False] * 4 and [it.cached for it in warm] == [True] * 4
    for a, b in zip(cold, warm):
        assert a.body.dtype == b.body.dtype == np.float32 and np.array_equal(a.body, b.body)
        assert a.body.shape[0] == max(1, len(a.analysis.boxes))
        assert np.array_equal(a.analysis.encodings, b.analysis.encodings)
    other = run(enc1, "w1")  # other weights: the body entries do not apply
    assert [it.cached for it in other] == [False] * 4
    assert not any(np.allclose(a.body, o.body) for a, o in zip(cold, other))
    assert all(np.array_equal(a.analysis.encodings, o.analysis.encodings) for a, o in zip(cold, other))
    assert [it.cached for it in run(enc0, "w0")] == [True] * 4  # the first weights' entries are still good


def test_the_face_encoder_implementation_keeps_its_own_entries(warm_ws, cold, monkeypatch):
    # dlib's own encoder and the torch port agree to ~4e-7, not to the bit: a cache filled by one is not the other's
    workspace, settings = warm_ws
    monkeypatch.setenv("FACETUI_FACE_ENCODER", "dlib")
    monkeypatch.setattr(face_encode, "_NET", None)  # this process decides afresh too
    other = run_all(recognize(settings, output_dir=workspace / "out-dlib"))
    assert _cached_flags(other) == [False] * len(QUERIES)
    by_dlib = _results(other)
    assert [r.people for r in by_dlib] == [r.people for r in cold]  # the same decisions
    monkeypatch.delenv("FACETUI_FACE_ENCODER")
    monkeypatch.setattr(face_encode, "_NET", None)
    back = run_all(recognize(settings, output_dir=workspace / "out-torch"))
    assert _cached_flags(back) == [True] * len(QUERIES)
    assert _results(back) == cold
