"""Worker processes change nothing but speed: the same filing, report and embeddings as one process, order aside."""

from __future__ import annotations

import csv
import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from facetui.core.base.events import FileDone, RunFinished
from facetui.core.models.analyze import FaceConfig
from facetui.core.models.body import encoder as body_encoder
from facetui.core.models.body import osnet
from facetui.core.run.analyzer import Analyzer
from facetui.core.run.recognize import recognize
from facetui.core.stores.cache import EmbeddingCache
from facetui.core.stores.report import REPORT_NAME
from support.helpers import DEMO, filed, read_truth, run_all

QUERIES = sorted((DEMO / "query").glob("*.jpg"))


def _rows(out: Path) -> list[list[str]]:
    with open(out / REPORT_NAME, newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    assert header[0] == "file" and len(rows) >= len(QUERIES)
    return sorted(rows)


def _results(events) -> list:
    return sorted(
        (dataclasses.replace(e.result, destinations=()) for e in events if isinstance(e, FileDone)), key=lambda r: r.rel
    )


def test_two_workers_file_and_report_exactly_as_one(settings, workspace):
    serial = run_all(
        recognize(settings.replace(workers=1, cache_dir=workspace / "cache-1"), output_dir=workspace / "out-1")
    )
    parallel = run_all(
        recognize(settings.replace(workers=2, cache_dir=workspace / "cache-2"), output_dir=workspace / "out-2")
    )
    # both ran cold: every photo was analysed, by worker processes in the second run
    assert not any(e.result.cached for e in serial + parallel if isinstance(e, FileDone))
    assert filed(workspace / "out-2") == filed(workspace / "out-1")
    assert _rows(workspace / "out-2") == _rows(workspace / "out-1")
    assert _results(parallel) == _results(serial)
    # the events come back in input order, numbered 1..N, although workers may finish out of order
    done = [e for e in parallel if isinstance(e, FileDone)]
    assert [e.index for e in done] == list(range(1, len(QUERIES) + 1))
    assert [e.result.rel for e in done] == [p.name for p in QUERIES]
    # and it is the right filing, not merely the same one
    truth = {f: (people or {"Unknown"}) for f, people in read_truth().items()}
    where: dict[str, set[str]] = {}
    for key in filed(workspace / "out-2"):
        person, f = key.split("/", 1)
        where.setdefault(f, set()).add(person)
    assert where == truth
    s1 = next(e for e in serial if isinstance(e, RunFinished)).summary
    s2 = next(e for e in parallel if isinstance(e, RunFinished)).summary
    assert (s2.done, s2.unknown, s2.known, s2.errors, s2.per_person) == (
        s1.done,
        s1.unknown,
        s1.known,
        s1.errors,
        s1.per_person,
    )


def test_cancel_with_workers_stops_after_the_file_in_hand(settings, workspace):
    cancel = threading.Event()
    events = []
    for ev in recognize(
        settings.replace(workers=2, cache_dir=workspace / "cache-cancel"),
        output_dir=workspace / "out-cancel",
        cancel=cancel,
    ):
        events.append(ev)
        if isinstance(ev, FileDone):
            cancel.set()
    summary = next(e for e in events if isinstance(e, RunFinished)).summary
    assert summary.aborted and summary.done == 1
    assert sum(isinstance(e, FileDone) for e in events) == 1
    with open(workspace / "out-cancel" / REPORT_NAME, newline="", encoding="utf-8") as f:
        files = {r["file"] for r in csv.DictReader(f)}
    assert files == {QUERIES[0].name}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    w = osnet.save_random_weights(tmp_path_factory.mktemp("w") / "w.pt", "osnet_ain_x1_0", seed=0)
    return body_encoder.load_body_encoder("osnet_ain_x1_0", w, "cpu")


def test_body_crops_from_workers_give_the_same_embeddings(tmp_path, encoder):
    import torch

    threads = torch.get_num_threads()
    out = {}
    for workers in (1, 2):
        cache = EmbeddingCache(tmp_path / f"cache-{workers}")
        try:
            out[workers] = list(
                Analyzer(FaceConfig(), cache, encoder, "k", workers=workers, batch_size=4).analyze(QUERIES)
            )
        finally:
            cache.close()
        assert torch.get_num_threads() == threads  # the run gives back the thread count it borrowed
    assert [it.path for it in out[2]] == QUERIES
    for a, b in zip(out[1], out[2]):
        assert not a.cached and not b.cached
        assert a.analysis.boxes == b.analysis.boxes and a.analysis.sharpness == b.analysis.sharpness
        assert np.array_equal(a.analysis.encodings, b.analysis.encodings)
        assert a.body.shape == b.body.shape == (max(1, len(a.analysis.boxes)), encoder.dim)
        # the body crops are the same pixels; OSNet may run on another thread count in the main process,
        # which can move the last float bits, never the decision
        assert np.allclose(a.body, b.body, rtol=0, atol=1e-5)


class _GpuLike:
    """The real encoder, but saying it runs on a GPU, and recording how many crops each call gets."""

    def __init__(self, enc):
        self.enc, self.device, self.dim, self.calls = enc, "cuda", enc.dim, []

    def embed(self, crops, batch_size=16):
        self.calls.append(len(crops))
        return self.enc.embed(crops, batch_size=batch_size)


def test_on_a_gpu_body_batches_wait_for_photos_in_flight(tmp_path, encoder):
    photos = QUERIES + sorted((DEMO / "scenes").glob("*.jpg"))  # 2 workers: a window of 6 in flight
    on_cpu, on_gpu = _GpuLike(encoder), _GpuLike(encoder)
    on_cpu.device = "cpu"
    runs = {}
    for name, enc in (("cpu", on_cpu), ("gpu", on_gpu)):
        cache = EmbeddingCache(tmp_path / name)
        try:
            runs[name] = list(Analyzer(FaceConfig(), cache, enc, "k", workers=2, batch_size=8).analyze(photos))
        finally:
            cache.close()
    crops = sum(on_gpu.calls)
    assert crops == sum(on_cpu.calls) >= len(photos)
    # every call but the last gets a full batch, or everything that was in flight
    assert all(n >= 6 for n in on_gpu.calls[:-1]), on_gpu.calls
    assert len(on_gpu.calls) <= len(on_cpu.calls)
    assert [it.path for it in runs["gpu"]] == photos
    for a, b in zip(runs["cpu"], runs["gpu"]):
        assert np.allclose(a.body, b.body, rtol=0, atol=1e-5)


def test_a_worker_that_dies_costs_only_its_photo(tmp_path, monkeypatch):
    """A photo that kills its worker process (OOM killer, a crash in native code) is reported; the run goes on."""
    import shutil

    from facetui.core.base.events import FileDone
    from facetui.core.base.settings import load_settings
    from facetui.core.run.kbbuild import build_kb
    from facetui.core.run.recognize import recognize
    from support.helpers import make_workspace, read_truth, run_all

    sp = make_workspace(tmp_path, workers=2)
    shutil.copy(tmp_path / "query" / "q01.jpg", tmp_path / "query" / "q00-dies.jpg")
    with open(tmp_path / "query" / "q00-dies.jpg", "ab") as f:
        f.write(b"different bytes, same picture")  # another content hash: not a cache hit of q01
    s = load_settings(sp)
    run_all(build_kb(s.replace(workers=1)))
    monkeypatch.setenv("FACETUI_TEST_WORKER_DIES_ON", "q00-dies.jpg")
    events = run_all(recognize(s))
    done = {e.result.rel: e.result for e in events if isinstance(e, FileDone)}
    assert "worker died" in done["q00-dies.jpg"].error
    for name, people in read_truth().items():
        assert set(done[name].people) == people, name  # every other photo filed as usual
    assert events[-1].summary.errors == 1 and events[-1].summary.done == 10


def test_workers_see_the_environment_of_their_run_not_of_the_forkserver(tmp_path, monkeypatch):
    # The first pool starts the forkserver, with the environment of that moment; a later run's workers must still
    # see the FACETUI_ settings and test hooks of their own run.
    photos = QUERIES[:3]
    cache = EmbeddingCache(tmp_path / "c1")
    try:
        first = list(Analyzer(FaceConfig(), cache, None, "k", workers=2).analyze(photos))
    finally:
        cache.close()
    assert not any(it.analysis.error for it in first)
    monkeypatch.setenv("FACETUI_TEST_WORKER_DIES_ON", photos[1].name)
    cache = EmbeddingCache(tmp_path / "c2")
    try:
        second = list(Analyzer(FaceConfig(), cache, None, "k", workers=2).analyze(photos))
    finally:
        cache.close()
    assert [bool(it.analysis.error) for it in second] == [False, True, False]
    assert "worker died" in second[1].analysis.error
