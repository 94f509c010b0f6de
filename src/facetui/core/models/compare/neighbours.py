"""Each face's nearest neighbours among many faces (beyond what a full distance matrix holds), from faiss-cpu."""

from __future__ import annotations

import numpy as np

BLOCK = 2048  # rows per block of numpy's exact search
FLAT_MAX = 30_000  # rows: up to here faiss compares every pair (exact neighbours)
NPROBE = 8  # cells of the inverted file searched per face above FLAT_MAX


def knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances), each (n, k): every row's ``k`` nearest other rows of ``x`` by Euclidean distance,
    nearest first; -1 and inf where fewer are found.

    faiss-cpu (a dependency) searches: every pair up to ``FLAT_MAX`` rows, an inverted-file index above, which
    looks in the ``NPROBE`` cells nearest each face (it finds every neighbour under the shipped cluster_tol on the
    synthetic sets of ``benchmarks/bench_review.py``). Without faiss, exact numpy blocks (n squared time).
    """
    x = np.ascontiguousarray(x, np.float32)
    k = min(k, len(x) - 1)
    if k <= 0:
        return np.full((len(x), 0), -1, np.int64), np.full((len(x), 0), np.inf, np.float32)
    try:
        import faiss  # heavy; only for large sets
    except ImportError:
        return knn_exact(x, k)
    if len(x) <= FLAT_MAX:
        index = faiss.IndexFlatL2(x.shape[1])
    else:
        nlist = int(4 * np.sqrt(len(x)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(x.shape[1]), x.shape[1], nlist)
        index.cp.seed = 1234  # the same cells every time: the same clusters every time
        index.cp.max_points_per_centroid = max(256, len(x) // nlist + 1)
        index.train(x)
        index.nprobe = NPROBE
    index.add(x)
    d2, idx = index.search(x, k + 1)
    return _without_self(idx, np.sqrt(np.maximum(d2, 0.0)).astype(np.float32), k)


def _without_self(idx: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop each row from its own result (wherever it came back), keeping ``k`` columns."""
    n = len(idx)
    self_hit = idx == np.arange(n)[:, None]
    order = np.argsort(self_hit, axis=1, kind="stable")  # the row itself to the end, the rest in order
    idx = np.take_along_axis(idx, order, axis=1)[:, :k]
    dist = np.take_along_axis(dist, order, axis=1)[:, :k]
    dist[idx < 0] = np.inf
    return idx, dist


def knn_exact(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact ``k`` nearest neighbours of each row, in blocks of numpy (time grows with n squared)."""
    n = len(x)
    sq = np.einsum("ij,ij->i", x, x)
    idx = np.full((n, k), -1, np.int64)
    dist = np.full((n, k), np.inf, np.float32)
    for s in range(0, n, BLOCK):
        e = min(n, s + BLOCK)
        d2 = sq[s:e, None] + sq[None, :] - 2.0 * (x[s:e] @ x.T)
        d2[np.arange(e - s), np.arange(s, e)] = np.inf
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        pd = np.take_along_axis(d2, part, axis=1)
        order = np.lexsort((part, pd), axis=1)
        idx[s:e] = np.take_along_axis(part, order, axis=1)
        dist[s:e] = np.sqrt(np.maximum(np.take_along_axis(pd, order, axis=1), 0.0))
    return idx, dist
