"""Scoring review's clusters against labels: BCubed, the nameable share, the mixed clusters, labels from an
LFW-style file name, and the advice."""

from __future__ import annotations

import pytest

from facetui.core.evaluation.clusterscore import ClusterScore, face_label, pick, score_clusters


def test_bcubed_and_nameable_by_hand():
    labels = ["A", "A", "A", "B", "B", "C", ""]
    # cluster {A, A, B}: precision 2/3 for each A, 1/3 for that B; {A}, {B}, {C}, and an unlabelled face alone
    s = score_clusters([[0, 1, 3], [2], [4], [5], [6]], labels, 0.45)
    assert s.precision == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1 + 1) / 6)
    assert s.recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 / 2 + 1 / 2 + 1) / 6)
    assert s.nameable == 0.0  # A's and B's faces sit in a mixed cluster or alone; C is seen once (not counted)
    assert (s.largest, s.largest_mixed, s.clusters, s.faces) == (3, 3, 5, 6)
    pure = score_clusters([[0, 1, 2, 6], [3, 4], [5]], labels, 0.45)  # the unlabelled face does not count
    assert (pure.precision, pure.recall, pure.nameable, pure.largest_mixed) == (1.0, 1.0, 1.0, 0)


def test_ninety_percent_one_person_is_nameable():
    labels = ["A"] * 9 + ["B", "B"]
    s = score_clusters([list(range(10)), [10]], labels, 0.5)
    assert s.nameable == pytest.approx(9 / 11)  # the nine As in a 90% cluster; B's faces not
    assert s.largest_mixed == 0


def test_face_label():
    assert face_label("x/c001.jpg", frozenset({"Ann"})) == ("Ann", False)
    assert face_label("Paul_Rudd_0003.jpg", frozenset()) == ("Paul_Rudd", True)
    assert face_label("sub/Jean-David_Levitte_0012.png", frozenset()) == ("Jean-David_Levitte", True)
    assert face_label("q08.jpg", frozenset()) == ("", False)
    assert face_label("Ann_Bob_0001.jpg", frozenset({"Ann", "Bob"})) == ("", False)


def _s(tol, precision, nameable):
    return ClusterScore(tol, precision, 0.8, nameable, 5, 0, 10, 100)


def test_pick_keeps_precision_and_prefers_the_lower_value_on_a_tie():
    assert pick([_s(0.4, 0.99, 0.4), _s(0.45, 0.97, 0.55), _s(0.5, 0.9, 0.62)]) == 0.45
    assert pick([_s(0.4, 0.99, 0.5), _s(0.45, 0.97, 0.5)]) == 0.4
    assert pick([_s(0.5, 0.9, 0.62)]) is None
