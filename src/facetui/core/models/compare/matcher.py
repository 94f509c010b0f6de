"""Vectorised matching: face distances and body cosine similarities against the KB, best match per person."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...base.events import Candidates


@dataclass
class Bank:
    """KB rows grouped by person so each query gets one score per person in one step."""

    vectors: np.ndarray  # (M, D) rows sorted by person
    people: list[str]  # distinct names, in group order
    starts: np.ndarray  # index of each person's first row

    @classmethod
    def build(cls, vectors: np.ndarray, names: list[str], normalise: bool = False) -> Bank:
        vectors = np.asarray(vectors, dtype=np.float64 if not normalise else np.float32)
        if not len(names):
            return cls(vectors.reshape(0, vectors.shape[1] if vectors.ndim == 2 else 0), [], np.zeros(0, np.int64))
        order = np.argsort(np.asarray(names, dtype=object), kind="stable")
        vectors = vectors[order]
        sorted_names = [names[i] for i in order]
        if normalise:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        people, starts = [], []
        for i, n in enumerate(sorted_names):
            if not people or people[-1] != n:
                people.append(n)
                starts.append(i)
        return cls(vectors, people, np.asarray(starts, np.int64))

    def __len__(self) -> int:
        return len(self.people)


def face_distances(bank: Bank, queries: np.ndarray) -> np.ndarray:
    """(Q, P) smallest Euclidean distance from each query to each person's encodings."""
    q = np.asarray(queries, np.float64).reshape(-1, bank.vectors.shape[1] if bank.vectors.size else 128)
    if not len(bank) or not len(q):
        return np.zeros((len(q), len(bank)))
    return np.minimum.reduceat(_distances(bank, q), bank.starts, axis=1)


def _distances(bank: Bank, q: np.ndarray) -> np.ndarray:
    """(Q, M) Euclidean distance from each query to each KB row."""
    d2 = (q * q).sum(1)[:, None] + (bank.vectors * bank.vectors).sum(1)[None, :] - 2.0 * q @ bank.vectors.T
    return np.sqrt(np.maximum(d2, 0.0))


def face_scores(bank: Bank, queries: np.ndarray, k: int = 2) -> np.ndarray:
    """(Q, P) face score of each query for each person: the mean distance to that person's ``k`` nearest KB
    faces (all of them when the person has fewer). k=1 is the nearest face alone; k=2 asks two KB photos of the
    person to agree, which a stranger who resembles one photo rarely does."""
    q = np.asarray(queries, np.float64).reshape(-1, bank.vectors.shape[1] if bank.vectors.size else 128)
    if not len(bank) or not len(q):
        return np.zeros((len(q), len(bank)))
    if k <= 1:
        return face_distances(bank, q)
    d = _distances(bank, q)
    sizes = np.diff(np.append(bank.starts, len(bank.vectors)))
    if k == 2:
        return _mean_of_two_nearest(d, bank.starts, sizes)
    group = np.repeat(np.arange(len(bank)), sizes)
    # sort each row by (person, distance): every person's rows then start at bank.starts, nearest first
    order = np.lexsort((d, np.broadcast_to(group, d.shape)), axis=1)
    ds = np.take_along_axis(d, order, axis=1)
    take = np.minimum(sizes, k)
    out = np.zeros((len(q), len(bank)))
    for j in range(int(take.max())):  # k is small: one vectorised step per rank
        has = take > j
        out[:, has] += ds[:, bank.starts[has] + j]
    return out / take[None, :]


def _mean_of_two_nearest(d: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """face_scores for k=2 (the default) without sorting each row: the nearest of each person's faces, then the
    nearest of the others (the nearest again where it occurs twice), summed and halved as the sorted form does,
    to the bit. A person with one face scores its distance."""
    nearest = np.minimum.reduceat(d, starts, axis=1)
    at_nearest = d == np.repeat(nearest, sizes, axis=1)
    second = np.minimum.reduceat(np.where(at_nearest, np.inf, d), starts, axis=1)
    second = np.where(np.add.reduceat(at_nearest, starts, axis=1) > 1, nearest, second)
    two = sizes >= 2
    out = nearest.copy()
    out[:, two] = (nearest[:, two] + second[:, two]) / 2
    return out


def body_similarities(bank: Bank, queries: np.ndarray) -> np.ndarray:
    """(Q, P) largest cosine similarity from each query to each person's body embeddings."""
    q = np.asarray(queries, np.float32)
    if not len(bank) or not len(q):
        return np.zeros((len(q), len(bank)), np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    s = q @ bank.vectors.T
    return np.maximum.reduceat(s, bank.starts, axis=1)


def top_k(scores_row: np.ndarray, people: list[str], k: int = 3, higher_is_better: bool = False) -> Candidates:
    if not len(people):
        return ()
    order = np.argsort(-scores_row if higher_is_better else scores_row, kind="stable")[:k]
    return tuple((people[j], float(scores_row[j])) for j in order)
