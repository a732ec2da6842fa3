"""Vietoris-Rips persistent homology in degrees 0 and 1 over Z/2, for small point clouds (<= ~120 points).

H0 comes from Kruskal's algorithm on the edges sorted by length (every merge kills the younger component).
H1 comes from the standard column reduction of the edge-triangle boundary matrix, with columns stored as
Python integers used as bit sets (XOR = column addition, ``bit_length`` = pivot). Edges are indexed in
filtration order (length, then index), triangles enter at their longest edge; edges that merge components
(negative in H0) are never cycle creators, and each triangle whose reduced column is non-zero kills the H1
class born at its pivot edge. Only edges of length <= ``max_radius`` are used; H1 classes alive at the cap
die at ``max_radius`` (truncated bars).

Used by claim 9 (Naitzat et al. 2020: networks simplify the topology of the data, faster with ReLU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DeepGeometryError
from ._common import pairwise


@dataclass(frozen=True)
class Diagram:
    """Persistence pairs ``(birth, death)``; ``death = inf`` for the one H0 class that never dies."""

    h0: np.ndarray
    h1: np.ndarray

    def betti(self, min_persistence: float) -> tuple[int, int]:
        """Numbers of bars with ``death - birth > min_persistence`` in H0 and H1 (scale-free Betti counts)."""
        p0 = self.h0[:, 1] - self.h0[:, 0] if len(self.h0) else np.zeros(0)
        p1 = self.h1[:, 1] - self.h1[:, 0] if len(self.h1) else np.zeros(0)
        return int(np.sum(p0 > min_persistence)), int(np.sum(p1 > min_persistence))


def _triangles(n: int) -> np.ndarray:
    """All index triples ``a < b < c`` of ``n`` points, shape (n choose 3, 3)."""
    a, b, c = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    keep = (a < b) & (b < c)
    return np.stack([a[keep], b[keep], c[keep]], 1)


def rips_persistence(x: np.ndarray, max_radius: float | None = None) -> Diagram:
    """H0 and H1 persistence of the Vietoris-Rips filtration of the rows of ``x``.

    Parameters
    ----------
    x
        Points (N, D), 2 <= N <= 400.
    max_radius
        Longest edge considered (default: the diameter, i.e. the full filtration).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise DeepGeometryError(f"rips_persistence: need points (N >= 2, D), got shape {x.shape}")
    if len(x) > 400:
        raise DeepGeometryError(
            f"rips_persistence: {len(x)} points is too many for this implementation; subsample to <= 400"
        )
    if not np.all(np.isfinite(x)):
        raise DeepGeometryError("rips_persistence: points contain NaN or infinite values")
    d = pairwise(x)
    n = len(d)
    cap = float(d.max()) if max_radius is None else float(max_radius)
    iu, ju = np.triu_indices(n, 1)
    w = d[iu, ju]
    order = np.argsort(w, kind="stable")
    order = order[w[order] <= cap]
    ei, ej, ew = iu[order], ju[order], w[order]
    m = len(ew)
    # H0 by union-find
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    h0 = []
    negative = np.zeros(m, dtype=bool)
    for k in range(m):
        a, b = find(int(ei[k])), find(int(ej[k]))
        if a != b:
            parent[max(a, b)] = min(a, b)
            h0.append((0.0, float(ew[k])))
            negative[k] = True
    roots = {find(i) for i in range(n)}
    h0 += [(0.0, cap)] * (len(roots) - 1)  # components still apart at the cap: truncated bars
    h0.append((0.0, np.inf))
    # H1: triangles, each entering at the index of its longest edge
    eidx = -np.ones((n, n), dtype=np.int64)
    eidx[ei, ej] = np.arange(m)
    eidx[ej, ei] = np.arange(m)
    tri = _triangles(n)
    te = np.stack([eidx[tri[:, 0], tri[:, 1]], eidx[tri[:, 0], tri[:, 2]], eidx[tri[:, 1], tri[:, 2]]], 1)
    te = te[np.all(te >= 0, axis=1)]
    top = te.max(axis=1)
    te = te[np.argsort(top, kind="stable")]
    tri_cols = [(max(a, b, c), (1 << a) | (1 << b) | (1 << c)) for a, b, c in te.tolist()]
    pivots: dict[int, int] = {}
    killed: dict[int, float] = {}
    for top, col in tri_cols:
        while col:
            low = col.bit_length() - 1
            other = pivots.get(low)
            if other is None:
                pivots[low] = col
                killed[low] = float(ew[top])
                break
            col ^= other
    h1 = []
    for k in range(m):
        if negative[k]:
            continue
        death = killed.get(k, cap)
        if death > ew[k]:
            h1.append((float(ew[k]), death))
    return Diagram(
        np.asarray(h0, dtype=np.float64).reshape(-1, 2), np.asarray(h1, dtype=np.float64).reshape(-1, 2)
    )


SCALES = (0.2, 0.25, 0.3, 0.35, 0.4)


def topological_complexity(
    x: np.ndarray, n_points: int = 60, seed: int = 0, scales: tuple[float, ...] = SCALES
) -> dict[str, float]:
    """Multi-scale Betti numbers of a point cloud (subsampled to ``n_points``, scaled by its diameter).

    For each relative scale ``s`` in ``scales``, ``b0(s)`` and ``b1(s)`` count the bars longer than ``s``.
    Returns ``b0``, ``b1`` at the middle scale (0.3), ``complexity = b0 + b1`` there (Naitzat et al.'s
    topological complexity), ``mass`` = the mean over the scales of the excess ``b0(s) - 1 + b1(s)`` (0 for
    a contractible blob at every scale, about 1 per extra component or loop that persists across them) and
    ``loops`` = the mean of ``b1(s)``. One threshold alone is fragile; averaging over scales is less so.
    Caveat: in clouds of intrinsic dimension >~ 5, nearest-neighbour distances approach the diameter and
    ``b0`` inflates (60 Gaussian points in R^8 give b0 ~ 30); ``loops`` is much less affected.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if len(x) > n_points:
        x = x[np.random.default_rng(seed).choice(len(x), n_points, replace=False)]
    diam = float(pairwise(x).max())
    if diam == 0:
        return {"b0": 1, "b1": 0, "complexity": 1, "mass": 0.0}
    dg = rips_persistence(x / diam, max_radius=0.6)
    counts = [dg.betti(s) for s in scales]
    b0, b1 = counts[len(counts) // 2]
    return {
        "b0": b0,
        "b1": b1,
        "complexity": b0 + b1,
        "mass": float(np.mean([c0 - 1 + c1 for c0, c1 in counts])),
        "loops": float(np.mean([c1 for _, c1 in counts])),
    }
