"""Face scores against the KB: the mean distance to each person's k nearest faces, checked against a plain loop."""

from __future__ import annotations

import numpy as np
import pytest

from facetui.core.models.compare.matcher import Bank, face_scores


def _bank(rng: np.random.Generator) -> tuple[Bank, list[str]]:
    sizes = [1, 2, 3, 5, 1, 4, 2]
    names = [f"p{i}" for i, n in enumerate(sizes) for _ in range(n)]
    vectors = rng.normal(size=(len(names), 8))
    vectors[3] = vectors[4]  # p2 has two identical faces: a tie for its nearest
    vectors[6] = vectors[8]  # p3 too, at other rows
    order = rng.permutation(len(names))  # the bank sorts them by person
    return Bank.build(vectors[order], [names[i] for i in order]), names


def _loop(bank: Bank, q: np.ndarray, k: int) -> np.ndarray:
    ends = np.append(bank.starts[1:], len(bank.vectors))
    out = np.zeros((len(q), len(bank)))
    for i, row in enumerate(q):
        for j, (s, e) in enumerate(zip(bank.starts, ends)):
            d = np.sort(np.linalg.norm(bank.vectors[s:e] - row, axis=1))
            out[i, j] = d[:k].mean()
    return out


@pytest.mark.parametrize("k", [1, 2, 3])
def test_face_scores_are_the_mean_of_each_persons_k_nearest(k):
    rng = np.random.default_rng(k)
    bank, _ = _bank(rng)
    q = np.vstack([rng.normal(size=(20, 8)), bank.vectors[:3]])  # and queries at a KB face exactly
    # atol: at a KB face's own spot the matrix form's distance is ~1e-8, not 0 (the expanded square cancels)
    assert np.allclose(face_scores(bank, q, k), _loop(bank, q, k), rtol=0, atol=1e-6)


def _sorted_form(bank: Bank, q: np.ndarray, k: int) -> np.ndarray:
    """face_scores as it was for every k: each row sorted by (person, distance), the first k of each summed."""
    d2 = (q * q).sum(1)[:, None] + (bank.vectors * bank.vectors).sum(1)[None, :] - 2.0 * q @ bank.vectors.T
    d = np.sqrt(np.maximum(d2, 0.0))
    sizes = np.diff(np.append(bank.starts, len(bank.vectors)))
    group = np.repeat(np.arange(len(bank)), sizes)
    ds = np.take_along_axis(d, np.lexsort((d, np.broadcast_to(group, d.shape)), axis=1), axis=1)
    take = np.minimum(sizes, k)
    out = np.zeros((len(q), len(bank)))
    for j in range(int(take.max())):
        has = take > j
        out[:, has] += ds[:, bank.starts[has] + j]
    return out / take[None, :]


def test_the_default_k_gives_what_sorting_each_row_gives_to_the_bit():
    rng = np.random.default_rng(7)
    bank, _ = _bank(rng)
    q = np.vstack([rng.normal(size=(50, 8)), bank.vectors])  # the KB's own faces hit the ties
    assert np.array_equal(face_scores(bank, q, 2), _sorted_form(bank, q, 2))
