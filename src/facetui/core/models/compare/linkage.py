"""Average-linkage clustering of face encodings that never chains: a group forms only while the mean distance
between all of its faces stays under the tolerance, and faces that must stay apart never share a group.

Distances are locally scaled: each face's distances are weighed by how crowded its neighbourhood is (the mean
distance to its ``SCALE_K`` nearest faces, against the median face's), so a face among many look-alikes needs a
closer match to join, and a face with no look-alike near joins its own more easily. Plain numpy and one heap;
exact (every pair's distance) up to ``EXACT_MAX`` faces, above that over each face's nearest neighbours
(:mod:`.neighbours`), where a pair that is not among them counts as ``far``.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

EXACT_MAX = 6000  # faces: up to here every pair's distance is used (a float64 matrix of at most 288 MB)
NEIGHBOURS = 32  # per face, above EXACT_MAX
FAR = 1.0  # above EXACT_MAX, the distance a pair that is not among the neighbours counts as (at least 2 x tol)
SCALE_K = 20  # nearest faces whose mean distance measures how crowded a face's neighbourhood is

Apart = Sequence[tuple[Hashable, Hashable]]  # one face's cannot-links: (key, value) pairs
"""Two faces conflict when they carry the same key with different values. Same photo: ``("photo", sha) -> face
index``; split apart: ``("split", id) -> side``."""


@dataclass(frozen=True)
class Grouping:
    """Groups of row indices (each in row order, biggest first, ties by their first row), and each row's scale:
    the distance between rows i and j counts as ``d(i, j) * scale[i] * scale[j]``."""

    groups: list[list[int]]
    scale: np.ndarray


def cluster(
    encodings: np.ndarray,
    tol: float,
    apart: Sequence[Apart] | None = None,
    *,
    exact_max: int = EXACT_MAX,
) -> list[list[int]]:
    """The groups of :func:`group`."""
    return group(encodings, tol, apart, exact_max=exact_max).groups


def group(
    encodings: np.ndarray,
    tol: float,
    apart: Sequence[Apart] | None = None,
    *,
    exact_max: int = EXACT_MAX,
) -> Grouping:
    """Group the rows of ``encodings`` by average linkage at ``tol`` over locally scaled distances, with cannot-links.

    Two groups merge, closest first, while the mean scaled distance over all their cross pairs is under ``tol`` and
    no face of one conflicts with a face of the other (see :data:`Apart`). Deterministic: ties go to the lower rows.
    """
    if len(encodings) == 0:
        return Grouping([], np.zeros(0))
    x = np.asarray(encodings, np.float32).reshape(len(encodings), -1)
    n = len(x)
    tags = [dict(a) for a in apart] if apart is not None else [{} for _ in range(n)]
    if len(tags) != n:
        raise ValueError(f"{len(tags)} cannot-link sets for {n} faces")
    if n <= exact_max:
        d = pairwise(x.astype(np.float64))
        np.fill_diagonal(d, np.inf)
        k = min(SCALE_K, n - 1)
        scale = _scale(np.partition(d, k - 1, axis=1)[:, :k] if k > 0 else d[:, :0])
        d *= scale[:, None]
        d *= scale[None, :]
        groups = _exact(d, float(tol), tags)
    else:
        from .neighbours import knn

        idx, dist = knn(x, NEIGHBOURS)
        scale = _scale(dist[:, :SCALE_K])
        groups = _sparse(n, idx, dist * scale[:, None] * scale[np.maximum(idx, 0)], float(tol), tags)
    return Grouping(sorted((sorted(g) for g in groups), key=lambda g: (-len(g), g[0])), scale)


def _scale(nearest: np.ndarray) -> np.ndarray:
    """Each row's scale from the distances to its nearest rows: sqrt(median r / r_i), r_i their mean (1 for all
    when there is nothing to compare)."""
    if nearest.size == 0:
        return np.ones(len(nearest))
    ok = np.isfinite(nearest)
    count = ok.sum(axis=1)
    r = np.where(ok, nearest, 0.0).sum(axis=1) / np.maximum(count, 1)
    good = (count > 0) & (r > 1e-6)
    if not good.any():
        return np.ones(len(nearest))
    med = float(np.median(r[good]))
    return np.sqrt(med / np.where(good, r, med))


def scaled_pairwise(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Every pair's locally scaled distance (see :class:`Grouping`)."""
    d = pairwise(np.asarray(x, np.float64))
    return d * scale[:, None] * scale[None, :]


def pairwise(x: np.ndarray) -> np.ndarray:
    """Every pair's Euclidean distance (in the dtype of ``x``), computed in place (one matrix, no temporaries)."""
    sq = np.einsum("ij,ij->i", x, x)
    d = x @ x.T
    d *= -2.0
    d += sq[:, None]
    d += sq[None, :]
    np.maximum(d, 0.0, out=d)
    return np.sqrt(d, out=d)


def _edges(idx: np.ndarray, dist: np.ndarray, far: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The neighbour lists as unique pairs (lo < hi) closer than ``far``, with their distances."""
    n = len(idx)
    rows = np.repeat(np.arange(n, dtype=np.int64), idx.shape[1])
    cols, ds = idx.ravel().astype(np.int64), dist.ravel()
    ok = (cols >= 0) & (cols != rows) & (ds < far)
    lo, hi, ds = np.minimum(rows[ok], cols[ok]), np.maximum(rows[ok], cols[ok]), ds[ok]
    _, first = np.unique(lo * n + hi, return_index=True)
    return lo[first], hi[first], ds[first].astype(np.float64)


def _conflict(a: dict, b: dict) -> bool:
    if len(a) > len(b):
        a, b = b, a
    return any(k in b and b[k] != v for k, v in a.items())


def _merge_tags(a: dict, b: dict) -> dict:
    out = dict(a)
    out.update(b)
    return out


def _exact(sums: np.ndarray, tol: float, tags: list[dict]) -> list[list[int]]:
    """Average linkage over the full matrix of distances ``sums`` (inf on the diagonal; it becomes the sums of cross
    distances of live group pairs)."""
    n = len(sums)
    size = np.ones(n, np.int64)
    alive = np.ones(n, bool)
    members: list[list[int]] = [[i] for i in range(n)]
    version = [0] * n
    heap: list[tuple[float, int, int, int, int]] = []
    iu, ju = np.nonzero(sums < tol)
    upper = iu < ju
    for i, j in zip(iu[upper].tolist(), ju[upper].tolist(), strict=True):
        if not _conflict(tags[i], tags[j]):
            heap.append((float(sums[i, j]), i, j, 0, 0))
    heapq.heapify(heap)
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue
        # b joins a (a < b always): sums of cross distances add up row by row
        sums[a] += sums[b]
        sums[:, a] = sums[a]
        sums[a, a] = np.inf
        alive[b] = False
        sums[b] = np.inf
        sums[:, b] = np.inf
        size[a] += size[b]
        members[a] += members[b]
        tags[a] = _merge_tags(tags[a], tags[b])
        version[a] += 1
        avg = sums[a] / (size[a] * size)
        for c in np.nonzero(alive & (avg < tol))[0].tolist():
            if c == a or _conflict(tags[a], tags[c]):
                continue
            lo, hi = (a, c) if a < c else (c, a)
            heapq.heappush(heap, (float(avg[c]), lo, hi, version[lo], version[hi]))
    return [members[i] for i in np.nonzero(alive)[0].tolist()]


def _sparse(n: int, idx: np.ndarray, dist: np.ndarray, tol: float, tags: list[dict]) -> list[list[int]]:
    """Average linkage over each face's nearest neighbours; a pair that is not among them counts as ``far`` (the
    search's radius), so a group never forms on a few close pairs alone."""
    far = max(2.0 * tol, FAR)
    lo, hi, d = _edges(idx, dist, far)
    links: list[dict[int, list[float]]] = [{} for _ in range(n)]  # group -> other group -> [sum, pairs known]
    for a, b, dd in zip(lo.tolist(), hi.tolist(), d.tolist(), strict=True):
        links[a][b] = links[b][a] = [dd, 1]
    size = [1] * n
    alive = [True] * n
    members: list[list[int]] = [[i] for i in range(n)]
    version = [0] * n

    def mean(a: int, b: int, s: float, k: int) -> float:
        pairs = size[a] * size[b]
        return (s + (pairs - k) * far) / pairs

    close = d < tol
    heap = [
        (dd, a, b, 0, 0)
        for a, b, dd in zip(lo[close].tolist(), hi[close].tolist(), d[close].tolist(), strict=True)
        if not _conflict(tags[a], tags[b])
    ]
    heapq.heapify(heap)
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue
        alive[b] = False
        for c, (s, k) in list(links[b].items()):
            del links[c][b]
            if c == a:
                continue
            cur = links[a].setdefault(c, [0.0, 0])
            cur[0] += s
            cur[1] += k
            links[c][a] = cur
        links[b] = {}
        size[a] += size[b]
        members[a] += members[b]
        tags[a] = _merge_tags(tags[a], tags[b])
        version[a] += 1
        for c, (s, k) in links[a].items():
            m = mean(a, c, s, k)
            if m < tol and not _conflict(tags[a], tags[c]):
                p, q = (a, c) if a < c else (c, a)
                heapq.heappush(heap, (m, p, q, version[p], version[q]))
    return [members[i] for i in range(n) if alive[i]]
