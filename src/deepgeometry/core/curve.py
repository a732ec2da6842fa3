"""Discrete curves in a transformation space: segments, lengths, energy, balance.

The paper (Section III-A, Fig. 4) reads a network of L layers as a curve U(t) in T made of L
segments; a segment's length is its cost under a chosen metric. This module holds the metric-agnostic
bookkeeping: given per-segment lengths under one or more named metrics, it computes total length,
discrete energy and how evenly the length is spread along the curve ("balance", Section III-B: a
ResNet distributes complexity roughly uniformly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DeepGeometryError


def gini(values: Sequence[float] | np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 for equal values, -> 1 when one value holds everything.

    Parameters
    ----------
    values
        Non-negative, finite numbers (segment lengths).

    Returns
    -------
    float
        ``sum_ij |x_i - x_j| / (2 n sum_i x_i)``; 0.0 for an all-zero or single-element input.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise DeepGeometryError("gini: needs at least one value, got an empty sequence")
    if not np.all(np.isfinite(x)):
        raise DeepGeometryError(f"gini: values must be finite, got {x.tolist()}")
    if np.any(x < 0):
        raise DeepGeometryError(f"gini: values must be non-negative, got min {x.min():g}")
    total = x.sum()
    if x.size == 1 or total == 0.0:
        return 0.0
    xs = np.sort(x)
    n = x.size
    # sum_ij |x_i - x_j| = 2 sum_i (2i - n - 1) x_(i)   (1-based ranks of the sorted values)
    ranks = np.arange(1, n + 1)
    return float(np.sum((2 * ranks - n - 1) * xs) / (n * total))


@dataclass(frozen=True)
class Segment:
    """One segment g_k -> g_{k+1} of a discrete curve.

    Attributes
    ----------
    name, kind
        Identifiers (e.g. ``"layer1.0"``, ``"BasicBlock"``).
    lengths
        Length of the segment under each named metric, e.g. ``{"complexity": 1.2e6, "displacement": 0.3}``.
    info
        Free-form extra data (shapes, parameter counts, flags), JSON-serialisable.
    """

    name: str
    kind: str = ""
    lengths: Mapping[str, float] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DiscreteCurve:
    """A piecewise curve from the identity made of segments with lengths under named metrics.

    The length of a piecewise-geodesic curve is the sum of its segment lengths; its discrete energy
    with N segments of equal parameter time 1/N is ``N * sum_k l_k^2`` (>= length^2, equality iff balanced).
    """

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        if len(self.segments) == 0:
            raise DeepGeometryError("DiscreteCurve: a curve needs at least one segment")

    @classmethod
    def from_lengths(cls, lengths: Mapping[str, Sequence[float]], names: Sequence[str] | None = None):
        """Build a curve from ``{metric: [l_0, l_1, ...]}`` (all lists of equal length)."""
        sizes = {k: len(v) for k, v in lengths.items()}
        if len(set(sizes.values())) != 1:
            raise DeepGeometryError(f"DiscreteCurve.from_lengths: metrics disagree on segment count: {sizes}")
        n = next(iter(sizes.values()))
        names = list(names) if names is not None else [f"segment{k}" for k in range(n)]
        if len(names) != n:
            raise DeepGeometryError(f"DiscreteCurve.from_lengths: {len(names)} names for {n} segments")
        segs = tuple(
            Segment(name=names[k], lengths={m: float(v[k]) for m, v in lengths.items()}) for k in range(n)
        )
        return cls(segs)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.segments]

    @property
    def metrics(self) -> list[str]:
        keys: list[str] = []
        for s in self.segments:
            for k in s.lengths:
                if k not in keys:
                    keys.append(k)
        return keys

    def segment_lengths(self, metric: str) -> np.ndarray:
        """Lengths of all segments under ``metric`` (NaN where a segment has no value for it)."""
        if metric not in self.metrics:
            raise DeepGeometryError(f"unknown metric {metric!r}; this curve has {self.metrics}")
        return np.array([float(s.lengths.get(metric, np.nan)) for s in self.segments])

    def _finite(self, metric: str) -> np.ndarray:
        x = self.segment_lengths(metric)
        return x[np.isfinite(x)]

    def length(self, metric: str) -> float:
        """Total length sum_k l_k."""
        return float(self._finite(metric).sum())

    def energy(self, metric: str) -> float:
        """Discrete energy N sum_k l_k^2 of a curve with N segments at equal time steps 1/N."""
        x = self._finite(metric)
        return float(x.size * np.sum(x**2))

    def cumulative(self, metric: str) -> np.ndarray:
        """Arc length at the end of each segment (the curve's reparametrisation by length)."""
        return np.cumsum(np.nan_to_num(self.segment_lengths(metric)))

    def balance(self, metric: str) -> dict[str, float]:
        """How evenly length is spread: Gini coefficient (0 = equal) and max/mean ratio (1 = equal)."""
        x = self._finite(metric)
        mean = x.mean() if x.size else 0.0
        return {
            "gini": gini(x) if x.size else 0.0,
            "max_over_mean": float(x.max() / mean) if mean > 0 else 1.0,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "segments": [
                {"name": s.name, "kind": s.kind, "lengths": dict(s.lengths), **dict(s.info)}
                for s in self.segments
            ],
            "totals": {m: self.length(m) for m in self.metrics},
            "balance": {m: self.balance(m) for m in self.metrics},
        }
