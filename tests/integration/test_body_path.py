"""The body path end to end with a saved random-init OSNet: mechanics only (weights, loader, batches, dims, KB rows).

A randomly initialised OSNet gives near-identical embeddings for everyone, so nothing here claims recognition quality.
"""

from __future__ import annotations

import numpy as np
import pytest

from facetui.core.base.events import FileDone, RunStarted
from facetui.core.base.settings import load_settings
from facetui.core.run.kbbuild import build_kb
from facetui.core.run.recognize import recognize
from facetui.core.stores.kb import load_kb
from support.helpers import make_workspace, run_all


@pytest.fixture(scope="module")
def body_ws(tmp_path_factory):
    from facetui.core.models.body.osnet import save_random_weights

    root = tmp_path_factory.mktemp("body")
    w = save_random_weights(root / "osnet_random.pth", "osnet_x0_25")
    sp = make_workspace(
        root, reid_weights=str(w), reid_model="osnet_x0_25", kb_batch_size=4, device="cpu", body_tol=1.0
    )
    events = run_all(build_kb(load_settings(sp)))
    return root, sp, events


def test_kb_build_stores_one_body_per_photo(body_ws):
    root, sp, events = body_ws
    assert events[0].body_enabled
    kb = load_kb(load_settings(sp).kb_path)
    assert kb.body_enc.shape == (11, 512) and kb.body_enc.dtype == np.float32
    assert np.allclose(np.linalg.norm(kb.body_enc, axis=1), 1.0, atol=1e-4)
    assert kb.body_names == kb.face_names


def test_recognition_reports_body_top3_but_never_accepts_at_tol_1(body_ws):
    root, sp, _ = body_ws
    s = load_settings(sp)
    events = run_all(recognize(s))
    assert isinstance(events[0], RunStarted) and events[0].body_enabled
    done = {e.result.rel: e.result for e in events if isinstance(e, FileDone)}
    cup = done["q07.jpg"]  # no face: one whole-photo body region
    assert len(cup.faces) == 1 and cup.faces[0].box is None and len(cup.faces[0].body) == 3
    assert cup.is_unknown  # body_tol 1.0 can never be exceeded by a cosine similarity
    group = done["q09.jpg"]
    assert all(len(f.body) == 3 for f in group.faces)  # one body region per face, batched across files
    assert all(f.via != "body" for r in done.values() for f in r.faces)


def test_missing_weights_file_turns_body_off_once(tmp_path):
    sp = make_workspace(tmp_path, reid_weights="nope.pth")
    events = run_all(build_kb(load_settings(sp)))
    notes = [n for n in events[0].notices if "body recognition off" in n]
    assert len(notes) == 1 and "not found" in notes[0]
    assert not events[0].body_enabled
