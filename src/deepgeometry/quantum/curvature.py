"""Sectional curvature of the penalty metric (paper Section II-A: "almost everywhere negative for large q").

Whether the claim holds depends on how planes are drawn, so every statistic names its plane measure:

* ``metric-isotropic``: x, y independent standard Gaussians in the metric's orthonormal frame
  (coordinates ``z / sqrt(w)``), the natural "random plane" of the Riemannian manifold;
* ``biinv-isotropic``: Gaussians in the bi-invariant (q = 1) frame, curvature measured in the penalty metric;
* ``pauli-planes``: every pair of Pauli strings, exact (closed form below);
* ``easy-planes``: Gaussians within the easy subspace.

Closed form for two strings. If ``s_a, s_b`` commute, ``K = 0``. Otherwise ``s_a, s_b, s_c ~ i s_a s_b``
span an su(2) with ``[e_i, e_j] = lambda_k e_k`` in the orthonormal frame ``e = s / sqrt(w)``, where
``lambda_i = 2 w_i / sqrt(w_a w_b w_c)``; Milnor's three-dimensional formula gives, with
``mu_i = (lambda_a + lambda_b + lambda_c) / 2 - lambda_i``,

    K(s_a, s_b) = mu_c (mu_a + mu_b) - mu_a mu_b,

which for one qubit and ``G = diag(1, 1, q)`` is the Berger sphere: ``K_xy = 4 - 3q``, ``K_xz = K_yz = q``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.curvature import sectional_arnold
from ..errors import DeepGeometryError
from . import pauli
from .metric import PenaltyMetric

MEASURES = ("metric-isotropic", "biinv-isotropic", "pauli-planes", "easy-planes")


def pauli_pair_curvature(wa: np.ndarray, wb: np.ndarray, wc: np.ndarray) -> np.ndarray:
    """Closed-form ``K`` of the plane of two anticommuting strings (weights ``w_a, w_b``; product ``w_c``)."""
    wa, wb, wc = (np.asarray(v, dtype=np.float64) for v in (wa, wb, wc))
    s = np.sqrt(wa * wb * wc)
    la, lb, lc = 2 * wa / s, 2 * wb / s, 2 * wc / s
    half = 0.5 * (la + lb + lc)
    ma, mb, mc = half - la, half - lb, half - lc
    return mc * (ma + mb) - ma * mb


def pauli_planes(metric: PenaltyMetric) -> np.ndarray:
    """Exact curvature of all ``D (D - 1) / 2`` planes spanned by two distinct Pauli strings."""
    n = metric.n_qubits
    w = metric.weights.numpy()
    prod, phase = pauli._products(n)
    ia, ib = np.triu_indices(4**n - 1, k=1)
    a, b = ia + 1, ib + 1
    anti = phase[a, b] % 2 == 1
    c = prod[a, b] - 1
    k = np.zeros(ia.size)
    k[anti] = pauli_pair_curvature(w[ia[anti]], w[ib[anti]], w[c[anti]])
    return k


def _gaussian_planes(metric: PenaltyMetric, measure: str, samples: int, gen: torch.Generator):
    D = metric.group.dim
    x = torch.randn(samples, D, dtype=torch.float64, generator=gen)
    y = torch.randn(samples, D, dtype=torch.float64, generator=gen)
    if measure == "metric-isotropic":
        s = 1.0 / torch.sqrt(metric.weights)
        return x * s, y * s
    if measure == "biinv-isotropic":
        return x, y
    if measure == "easy-planes":
        mask = torch.from_numpy(metric.easy).to(torch.float64)
        if int(mask.sum()) < 2:
            raise DeepGeometryError("easy-planes needs at least 2 easy directions")
        return x * mask, y * mask
    raise DeepGeometryError(f"unknown plane measure {measure!r}; use one of {MEASURES}")


def sample_curvatures(metric: PenaltyMetric, measure: str = "metric-isotropic", samples: int = 1000,
                      seed: int = 0, batch: int = 64) -> np.ndarray:
    """Sectional curvatures under a named plane measure (``pauli-planes`` ignores samples and seed)."""
    if measure not in MEASURES:
        raise DeepGeometryError(f"unknown plane measure {measure!r}; use one of {MEASURES}")
    if measure == "pauli-planes":
        return pauli_planes(metric)
    if isinstance(samples, bool) or int(samples) != samples or samples < 1:
        raise DeepGeometryError(f"samples must be a positive integer, got {samples!r}")
    gen = torch.Generator().manual_seed(int(seed))
    x, y = _gaussian_planes(metric, measure, int(samples), gen)
    out = [sectional_arnold(metric.group, metric, x[i:i + batch], y[i:i + batch])
           for i in range(0, int(samples), batch)]
    return torch.cat(out).numpy()


@dataclass(frozen=True)
class CurvatureStats:
    """Distribution summary of sectional curvatures under one plane measure."""

    measure: str
    n_qubits: int
    q: float
    count: int
    negative: float
    zero: float
    positive: float
    mean: float
    minimum: float
    maximum: float
    quantiles: dict

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def curvature_stats(metric: PenaltyMetric, measure: str = "metric-isotropic", samples: int = 1000,
                    seed: int = 0, zero_tol: float = 1e-12) -> CurvatureStats:
    """Fractions negative / zero / positive (zero: ``|K| <= zero_tol * max(1, max|K|)``), mean, quantiles."""
    k = sample_curvatures(metric, measure, samples, seed)
    scale = max(float(np.max(np.abs(k))), 1.0)
    zero = np.abs(k) <= zero_tol * scale
    qs = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    return CurvatureStats(
        measure=measure, n_qubits=metric.n_qubits, q=metric.q, count=int(k.size),
        negative=float(np.mean((k < 0) & ~zero)), zero=float(np.mean(zero)),
        positive=float(np.mean((k > 0) & ~zero)), mean=float(np.mean(k)),
        minimum=float(np.min(k)), maximum=float(np.max(k)),
        quantiles={f"{p:g}": float(v) for p, v in zip(qs, np.quantile(k, qs), strict=True)},
    )


def biinvariant_curvature(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``|[x, y]|^2 / 4 / area^2`` in the q = 1 metric (oracle)."""
    xy = pauli.bracket(x, y) if x.shape[-1] < 255 else pauli.bracket_fast(x, y)
    area2 = (x * x).sum(-1) * (y * y).sum(-1) - (x * y).sum(-1) ** 2
    return 0.25 * (xy * xy).sum(-1) / area2

