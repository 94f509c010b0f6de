"""Review's clustering on hand-made encodings: no chains, cannot-links (same photo, split apart), determinism, the
empty and single-face cases, and the neighbour path agreeing with the exact one."""

from __future__ import annotations

import numpy as np
import pytest

from facetui.core.models.compare import linkage, neighbours

RNG = np.random.default_rng(11)


def on_line(*xs: float) -> np.ndarray:
    """Points on one straight line at the given positions (their distances are the differences)."""
    u = RNG.normal(size=128)
    u /= np.linalg.norm(u)
    return np.vstack([x * u for x in xs])


@pytest.fixture(params=["exact", "neighbours"])
def exact_max(request):
    return linkage.EXACT_MAX if request.param == "exact" else 0


def test_a_chain_does_not_join(exact_max):
    # A-B 0.3, B-C 0.3, A-C 0.6: single linkage (and Chinese whispers) at 0.4 makes one group of three;
    # average linkage joins A and B (or B and C), then the third is 0.45 away on average: over 0.4
    x = on_line(0.0, 0.3, 0.6)
    groups = linkage.cluster(x, 0.4, exact_max=exact_max)
    assert sorted(map(len, groups)) == [1, 2]
    assert [0, 1] in groups  # the tie goes to the lower rows


def test_a_long_chain_stays_in_short_groups(exact_max):
    x = on_line(*[0.25 * i for i in range(40)])  # each face 0.25 from the next, 9.75 end to end
    groups = linkage.cluster(x, 0.45, exact_max=exact_max)
    assert max(map(len, groups)) <= 6  # single linkage at 0.45 (and Chinese whispers) make one group of 40
    assert sum(map(len, groups)) == 40


def test_two_faces_of_one_photo_never_share_a_group(exact_max):
    x = on_line(0.0, 0.05, 0.1)
    apart = [[(("photo", "p1"), 0)], [(("photo", "p1"), 1)], [(("photo", "p2"), 0)]]
    groups = linkage.cluster(x, 0.5, apart, exact_max=exact_max)
    assert not any({0, 1} <= set(g) for g in groups)
    assert [0, 2] in groups or [1, 2] in groups
    assert linkage.cluster(x, 0.5, exact_max=exact_max) == [[0, 1, 2]]  # without the constraint: one group


def test_faces_split_apart_stay_apart_through_their_groups(exact_max):
    # 0 and 3 were split apart by the user; 1 is close to 0 and 2 close to 3, all four within 0.3
    x = on_line(0.0, 0.05, 0.25, 0.3)
    apart = [[(("split", "s1"), "a")], [], [], [(("split", "s1"), "b")]]
    groups = linkage.cluster(x, 0.5, apart, exact_max=exact_max)
    assert not any({0, 3} <= set(g) for g in groups)
    assert sorted(groups) == [[0, 1], [2, 3]]


def test_a_crowded_neighbourhood_asks_for_a_closer_match(exact_max):
    # two pairs 0.4 apart: one with 20 other faces about 0.54 from both, one with no face near. Plain distances at
    # 0.45 join both pairs; scaled, the crowded pair needs a closer match and stays apart, the lone pair joins
    basis = np.linalg.qr(RNG.normal(size=(128, 24)))[0].T  # 24 orthonormal directions
    u, v, others = basis[0], basis[1], basis[2:22]
    mid = 3 * u + 0.2 * v
    crowd = [mid + 0.5 * w for w in others]
    x = np.vstack([3 * u, 3 * u + 0.4 * v, *crowd, -3 * u, -3 * u + 0.4 * v])
    groups = linkage.cluster(x, 0.45, exact_max=exact_max)
    assert [22, 23] in groups
    assert not any({0, 1} <= set(g) for g in groups)
    assert len(groups) == 23


def test_deterministic_biggest_first():
    centres = RNG.normal(size=(12, 128))
    centres *= 3.0 / np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.vstack([c + RNG.normal(scale=0.02, size=(k, 128)) for c, k in zip(centres, range(1, 13), strict=True)])
    perm = RNG.permutation(len(x))
    first = linkage.cluster(x[perm], 0.45)
    assert first == linkage.cluster(x[perm].copy(), 0.45)
    assert [len(g) for g in first] == list(range(12, 0, -1))
    assert first == linkage.cluster(x[perm], 0.45, exact_max=0)


def test_empty_and_single():
    assert linkage.cluster(np.zeros((0, 128)), 0.45) == []
    assert linkage.cluster(np.zeros((1, 128)), 0.45) == [[0]]
    assert linkage.cluster(np.zeros((1, 128)), 0.45, exact_max=0) == [[0]]


def test_neighbours_find_the_exact_nearest():
    x = RNG.normal(size=(300, 128)).astype(np.float32)
    idx, dist = neighbours.knn(x, 5)
    d = np.linalg.norm(x[:, None] - x[None, :], axis=2)
    np.fill_diagonal(d, np.inf)
    want = np.argsort(d, axis=1)[:, :5]
    assert (idx == want).all()
    assert np.allclose(dist, np.take_along_axis(d, want, axis=1), atol=1e-4)
    ei, ed = neighbours.knn_exact(x, 5)
    assert (ei == want).all()
