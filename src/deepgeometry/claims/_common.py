"""Shared helpers of the claim experiments: seed statistics, rank agreement, data subsets, training, and
the discrete geometry of sampled curves. Pure functions; no plate or report imports."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import DeepGeometryError

NOISE_FLOOR = 0.01  # one accuracy point: differences below this are never called real


# ----------------------------------------------------------------------------------------------- statistics
def summary(values: Sequence[float]) -> dict[str, float]:
    """Median and spread of a seed sample: ``{"median", "min", "max", "q25", "q75", "half_range", "n"}``.

    Non-finite values are rejected (a diverged run must be mapped to a number by the caller first).
    """
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        raise DeepGeometryError("summary: needs at least one value, got none")
    if not np.all(np.isfinite(x)):
        raise DeepGeometryError(f"summary: values must be finite, got {x.tolist()}")
    return {
        "median": float(np.median(x)),
        "min": float(x.min()),
        "max": float(x.max()),
        "q25": float(np.quantile(x, 0.25)),
        "q75": float(np.quantile(x, 0.75)),
        "half_range": float((x.max() - x.min()) / 2),
        "n": int(x.size),
    }


def noise(*samples: Sequence[float], floor: float = NOISE_FLOOR) -> float:
    """Seed noise of a comparison: the largest half-range (max - min) / 2 among ``samples`` (>= ``floor``)."""
    hr = [summary(s)["half_range"] for s in samples if len(s)]
    return float(max([floor, *hr]))


def fmt_pm(values: Sequence[float], scale: float = 100.0, digits: int = 1, unit: str = "") -> str:
    """``"median [min, max]"`` of a seed sample, scaled (accuracies -> points by default)."""
    s = summary(values)
    f = f"{{:.{digits}f}}"
    return (
        f"{f.format(scale * s['median'])}{unit} [{f.format(scale * s['min'])}, {f.format(scale * s['max'])}]"
    )


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b between two score lists (``inf`` allowed: ties at the bottom, e.g. "fail").

    Returns ``nan`` when either list is constant.
    """
    from scipy.stats import kendalltau

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.size < 2:
        raise DeepGeometryError(
            f"kendall_tau: need two equal-length lists of >= 2 scores, got {x.size}, {y.size}"
        )
    if np.any(np.isnan(x)) or np.any(np.isnan(y)):
        raise DeepGeometryError("kendall_tau: scores must not be NaN")

    def fin(v: np.ndarray) -> np.ndarray:
        big = np.max(np.abs(v[np.isfinite(v)]), initial=1.0) * 10 + 10
        return np.where(np.isposinf(v), big, np.where(np.isneginf(v), -big, v))

    x, y = fin(x), fin(y)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(kendalltau(x, y).statistic)


def paired(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Per-seed differences ``a_i - b_i``."""
    if len(a) != len(b):
        raise DeepGeometryError(f"paired: {len(a)} vs {len(b)} seeds")
    return [float(u) - float(v) for u, v in zip(a, b, strict=True)]


# ------------------------------------------------------------------------------------------------- data
def subset(
    name: str,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    flat: bool = False,
    pool: int = 1,
) -> dict[str, Any]:
    """The first ``n_train`` / ``n_test`` samples of an embedded data set (its fixed stratified split).

    ``pool > 1`` average-pools images by that factor (a cheaper, lower-resolution variant).
    """
    from ..data import load

    d = load(name, seed=0)
    xtr, ytr, xte, yte = d.x_train, d.y_train, d.x_test, d.y_test
    if n_train:
        xtr, ytr = xtr[:n_train], ytr[:n_train]
    if n_test:
        xte, yte = xte[:n_test], yte[:n_test]
    if pool > 1:
        f = nn.functional.avg_pool2d if xtr.dim() == 4 else nn.functional.avg_pool1d
        xtr, xte = f(xtr, pool), f(xte, pool)
    if flat:
        xtr, xte = xtr.flatten(1), xte.flatten(1)
    return {
        "x_train": xtr,
        "y_train": ytr,
        "x_test": xte,
        "y_test": yte,
        "n_classes": d.n_classes,
        "name": name,
    }


def fit(
    model: nn.Module,
    data: dict[str, Any],
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    optimizer: str = "adam",
) -> dict[str, Any]:
    """Train with :func:`deepgeometry.nets.train.train_classifier`; a diverged run scores chance accuracy.

    Returns ``{"test_acc", "train_acc", "train_loss", "diverged", "seconds"}``.
    """
    from ..nets.train import train_classifier

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    r = train_classifier(
        model,
        data["x_train"],
        data["y_train"],
        data["x_test"],
        data["y_test"],
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        optimizer=optimizer,
    )
    chance = 1.0 / data["n_classes"]
    te = r.final_test_acc if math.isfinite(r.final_test_acc) else chance
    tr = r.final_train_acc if math.isfinite(r.final_train_acc) else chance
    loss = r.train_loss[-1] if r.train_loss and math.isfinite(r.train_loss[-1]) else float("inf")
    return {
        "test_acc": float(te),
        "train_acc": float(tr),
        "train_loss": float(loss) if math.isfinite(loss) else None,
        "diverged": bool(r.diverged),
        "seconds": time.perf_counter() - t0,
    }


def init_normal(
    model: nn.Module, sigma_w2: float, sigma_b2: float = 0.0, generator: torch.Generator | None = None
) -> nn.Module:
    """Re-draw linear/conv layers as ``W ~ N(0, sigma_w2 / fan_in)``, ``b ~ N(0, sigma_b2)`` (mean field)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(
                    torch.randn(m.weight.shape, generator=generator) * math.sqrt(sigma_w2 / fan_in)
                )
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=generator) * math.sqrt(sigma_b2))
    return model


# ------------------------------------------------------------------------------------- curves and clouds
def curve_length(p: np.ndarray, closed: bool = False) -> float:
    """Polygonal length of a sampled curve ``p`` (M, D)."""
    p = np.asarray(p, dtype=np.float64)
    if closed:
        p = np.concatenate([p, p[:1]])
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


def turning_angle(p: np.ndarray, closed: bool = False) -> float:
    """Total absolute turning angle (integrated curvature, radians) of a sampled curve ``p`` (M, D).

    For a planar convex closed curve it is ``2 pi``; for a straight line 0; for a piecewise-linear curve it is
    the sum of the angles at its kinks (so it is defined for ReLU nets, whose curvature is a sum of deltas).
    Zero-length chords are skipped.
    """
    p = np.asarray(p, dtype=np.float64)
    if closed:
        p = np.concatenate([p, p[:2]])
    d = np.diff(p, axis=0)
    n = np.linalg.norm(d, axis=1)
    scale = n.max(initial=0.0)
    d = d[n > 1e-12 * max(scale, 1e-300)]
    if len(d) < 2:
        return 0.0
    u = d / np.linalg.norm(d, axis=1, keepdims=True)
    c = np.clip(np.sum(u[1:] * u[:-1], axis=1), -1.0, 1.0)
    return float(np.arccos(c).sum())


def pairwise(x: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix of the rows of ``x``."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def geodesic_ratio(x: np.ndarray, k: int = 8) -> float:
    """Median over point pairs of (kNN-graph geodesic distance) / (Euclidean distance).

    1 for points on a flat (convex) sheet, > 1 for a curved manifold (e.g. ~1.5+ on a swiss roll). Pairs
    in different graph components are ignored.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    d = pairwise(x)
    n = len(d)
    if n < k + 2:
        raise DeepGeometryError(f"geodesic_ratio: need more than k + 1 = {k + 1} points, got {n}")
    nn_idx = np.argsort(d, axis=1)[:, 1 : k + 1]
    rows = np.repeat(np.arange(n), k)
    cols = nn_idx.ravel()
    w = d[rows, cols]
    keep = w > 0
    g = csr_matrix((w[keep], (rows[keep], cols[keep])), shape=(n, n))
    geo = shortest_path(g, directed=False)
    iu = np.triu_indices(n, 1)
    e, gd = d[iu], geo[iu]
    ok = np.isfinite(gd) & (e > 0)
    if not np.any(ok):
        raise DeepGeometryError("geodesic_ratio: the kNN graph has no connected pairs")
    return float(np.median(gd[ok] / e[ok]))


def two_nn_dimension(x: np.ndarray, discard: float = 0.1) -> float:
    """TwoNN intrinsic dimension (Facco et al. 2017), as used by Ansuini et al. 2019.

    With ``mu_i = r2 / r1`` (second over first nearest-neighbour distance), ``-log(1 - F(mu)) = d log mu``;
    ``d`` is the least-squares slope through the origin over the smallest ``1 - discard`` fraction of the
    sorted ``mu`` (empirical ``F_i = i / N``).
    """
    d = pairwise(x)
    np.fill_diagonal(d, np.inf)
    s = np.sort(d, axis=1)
    r1, r2 = s[:, 0], s[:, 1]
    ok = r1 > 0
    mu = np.sort(r2[ok] / r1[ok])
    n = mu.size
    if n < 3:
        raise DeepGeometryError(f"two_nn_dimension: need >= 3 distinct points, got {n}")
    f = np.arange(1, n + 1) / n
    keep = max(2, int(np.floor(n * (1 - discard))))
    keep = min(keep, n - 1)  # F = 1 at the last point
    xs, ys = np.log(mu[:keep]), -np.log(1 - f[:keep])
    return float(np.sum(xs * ys) / np.sum(xs * xs))


def timer() -> float:
    return time.perf_counter()
