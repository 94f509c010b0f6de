"""The per-face decision rules, on hand-made embeddings: tolerance, margin, face_k, quality levels, multi-face policy, body fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetui.core.base.settings import defaults
from facetui.core.models.analyze import Analysis
from facetui.core.run.analyzer import Item
from facetui.core.run.decide import Decider
from facetui.core.stores.kb import KnowledgeBase

RNG = np.random.default_rng(7)
A, B = RNG.normal(size=128), RNG.normal(size=128)
A, B = A / np.linalg.norm(A), B / np.linalg.norm(B)  # distance between them ~1.4
BODY_A, BODY_B = np.eye(512, dtype=np.float32)[0], np.eye(512, dtype=np.float32)[1]


def near(v, d):
    """A vector at Euclidean distance d from v."""
    w = RNG.normal(size=v.shape)
    w -= w.dot(v) * v / v.dot(v)
    return v + d * w / np.linalg.norm(w)


@pytest.fixture
def kb():
    return KnowledgeBase(
        face_enc=np.vstack([A, B]),
        face_names=["Ann", "Bob"],
        face_sources=["a", "b"],
        body_enc=np.vstack([BODY_A, BODY_B]),
        body_names=["Ann", "Bob"],
        body_sources=["a", "b"],
    )


def ambiguous_by(gap):
    """(ann, bob, query): the query lies 0.3 from Ann and 0.3 + ``gap`` from Bob, who is 0.5 from Ann."""
    e1, e2 = np.eye(128)[0], np.eye(128)[1]
    ann, bob = np.zeros(128), 0.5 * e1
    cos_t = (0.3**2 + 0.5**2 - (0.3 + gap) ** 2) / (2 * 0.3 * 0.5)
    q = 0.3 * (cos_t * e1 + np.sqrt(1 - cos_t**2) * e2)
    assert abs(np.linalg.norm(q - bob) - (0.3 + gap)) < 1e-9
    return ann, bob, q


def item(encs, sharp, boxes=None, body=None):
    boxes = boxes or [(0, 10 * (i + 1), 10 * (i + 1), 0) for i in range(len(encs))]
    a = Analysis(
        sha256="x", size=(100, 100), boxes=boxes, sharpness=list(sharp), encodings=np.asarray(encs).reshape(-1, 128)
    )
    return Item(Path("p.jpg"), a, None if body is None else np.asarray(body, np.float32))


def test_tolerance_decides_and_top3_is_per_person(kb):
    d = Decider(kb, defaults().replace(face_tol=0.5, face_margin=0.0))
    r = d.decide(item([near(A, 0.3)], [200]), "p.jpg")
    assert r.people == ("Ann",) and r.faces[0].via == "face" and "0.30 < 0.50" in r.faces[0].rule
    assert [n for n, _ in r.faces[0].face] == ["Ann", "Bob"] and abs(r.faces[0].face[0][1] - 0.3) < 1e-6
    assert d.decide(item([near(A, 0.6)], [200]), "p.jpg").is_unknown


def test_margin_sends_an_ambiguous_face_to_unknown(kb):
    mid = (A + B) / 2
    kb2 = KnowledgeBase(
        face_enc=np.vstack([near(mid, 0.2), near(mid, 0.25)]), face_names=["Ann", "Bob"], face_sources=["a", "b"]
    )
    q = item([mid], [200])
    assert Decider(kb2, defaults().replace(face_tol=0.5, face_margin=0.0)).decide(q, "p").people == ("Ann",)
    assert Decider(kb2, defaults().replace(face_tol=0.5, face_margin=0.1)).decide(q, "p").is_unknown


def test_a_face_too_poor_to_use_keeps_its_candidates_and_its_body_region_can_decide(kb):
    s = defaults().replace(face_tol=0.5, lap_var_thresh=120.0, body_tol=0.8)
    r = Decider(kb, s).decide(item([near(A, 0.1)], [3]), "p")
    f = r.faces[0]
    assert r.is_unknown and "too poor" in f.skipped and f.quality == "poor"
    assert f.face[0][0] == "Ann"  # still shown in review with its candidates
    r = Decider(kb, s).decide(item([near(A, 0.1)], [3], body=[BODY_B]), "p")
    assert r.people == ("Bob",) and r.faces[0].via == "body" and r.faces[0].rule.startswith("body")


def test_a_low_quality_face_is_matched_but_filed_only_under_the_stricter_rule():
    ann, bob, q = ambiguous_by(0.12)
    kb2 = KnowledgeBase(face_enc=np.vstack([ann, bob]), face_names=["Ann", "Bob"], face_sources=["a", "b"])
    s = defaults().replace(face_tol=0.5, face_margin=0.1, face_k=1, lap_var_thresh=120.0)
    sharp = Decider(kb2, s).decide(item([q], [500]), "p")
    assert sharp.people == ("Ann",) and sharp.faces[0].quality == "" and "margin" in sharp.faces[0].rule
    low = Decider(kb2, s).decide(item([q], [50]), "p")
    f = low.faces[0]
    assert low.is_unknown and f.quality == "low" and f.face[0][0] == "Ann"  # matched, candidates kept
    assert f.rule.startswith("low-quality face ambiguous") and "< 0.14" in f.rule
    # with the gate off (0) nothing is low quality
    assert Decider(kb2, s.replace(lap_var_thresh=0.0)).decide(item([q], [50]), "p").people == ("Ann",)
    # a clear low-quality face still passes: the stricter rule asks for a wider margin, not a closer face
    assert Decider(kb2, s).decide(item([0.05 * np.eye(128)[5]], [50]), "p").people == ("Ann",)


def test_a_person_with_fewer_kb_photos_than_face_k_needs_the_wider_margin():
    ann, bob, q = ambiguous_by(0.12)
    two_ann = KnowledgeBase(
        face_enc=np.vstack([ann, ann, bob, bob]),
        face_names=["Ann", "Ann", "Bob", "Bob"],
        face_sources=["a1", "a2", "b1", "b2"],
    )
    one_ann = KnowledgeBase(
        face_enc=np.vstack([ann, bob, bob]), face_names=["Ann", "Bob", "Bob"], face_sources=["a1", "b1", "b2"]
    )
    s = defaults().replace(face_tol=0.5, face_margin=0.1, face_k=2, lap_var_thresh=0.0)
    assert Decider(two_ann, s).decide(item([q], [500]), "p").people == ("Ann",)
    r = Decider(one_ann, s).decide(item([q], [500]), "p")
    assert r.is_unknown and "only 1 KB photo" in r.faces[0].rule


def test_face_k_asks_several_kb_photos_of_a_person_to_agree():
    far_ann = near(A, 0.9)
    kb3 = KnowledgeBase(
        face_enc=np.vstack([A, far_ann, B]), face_names=["Ann", "Ann", "Bob"], face_sources=["a1", "a2", "b"]
    )
    q = item([near(A, 0.3)], [500])
    one = Decider(kb3, defaults().replace(face_tol=0.5, face_k=1)).decide(q, "p")
    two = Decider(kb3, defaults().replace(face_tol=0.5, face_k=2)).decide(q, "p")
    assert one.people == ("Ann",) and abs(one.faces[0].face[0][1] - 0.3) < 1e-6
    assert two.is_unknown and two.faces[0].face[0][0] == "Ann" and two.faces[0].face[0][1] > 0.5
    # a person with a single KB photo is scored on that photo alone
    qb = item([near(B, 0.3)], [500])
    assert Decider(kb3, defaults().replace(face_tol=0.5, face_k=2)).decide(qb, "p").people == ("Bob",)


def test_largest_policy_uses_only_the_largest_usable_face_and_falls_back_to_its_body(kb):
    s = defaults().replace(face_tol=0.5, multi_face="largest")
    boxes = [(0, 10, 10, 0), (0, 50, 50, 0)]  # the second face is the largest
    r = Decider(kb, s).decide(item([near(A, 0.1), near(B, 0.1)], [200, 200], boxes), "p")
    assert r.people == ("Bob",) and "not the largest" in r.faces[0].skipped
    r = Decider(kb, s).decide(item([near(A, 0.1), near(B, 0.1)], [3, 3], boxes, body=[BODY_A, BODY_A]), "p")
    assert r.people == ("Ann",) and r.faces[1].via == "body" and r.faces[0].name == "Unknown"


def test_group_photo_files_every_recognised_person(kb):
    r = Decider(kb, defaults().replace(face_tol=0.5)).decide(item([near(A, 0.2), near(B, 0.2)], [200, 200]), "p")
    assert r.people == ("Ann", "Bob")


def test_faceless_photo_goes_by_whole_photo_body(kb):
    it = item([], [], boxes=[], body=[BODY_A])
    r = Decider(kb, defaults()).decide(it, "p")
    assert r.people == ("Ann",) and r.faces[0].box is None and r.faces[0].via == "body"
    assert Decider(kb, defaults()).decide(item([], [], boxes=[]), "p").is_unknown


def test_an_empty_kb_leaves_every_face_unknown_with_no_candidates():
    """recognize with no KB yet: nobody to propose, every face Unknown, nothing raised."""
    d = Decider(KnowledgeBase(), defaults())
    r = d.decide(item([near(A, 0.1), near(B, 0.1)], [200, 200], body=[BODY_A, BODY_B]), "p.jpg")
    assert r.is_unknown and r.people == () and len(r.faces) == 2
    assert all(f.name == "Unknown" and f.face == () and f.body == () and f.box is not None for f in r.faces)
    no_face = d.decide(item([], [], boxes=[], body=[BODY_A]), "q.jpg")
    assert no_face.is_unknown and len(no_face.faces) == 1 and no_face.faces[0].box is None
