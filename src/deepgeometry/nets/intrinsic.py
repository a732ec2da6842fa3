"""Intrinsic dimension (TwoNN) and linear separability of a point cloud (paper Section III-A).

The paper pictures a network as flattening a curved data manifold until the classes separate with a
Euclidean distance. Two model-free numbers per layer make that measurable:

* :func:`twonn` - the TwoNN estimator of Facco, d'Errico, Rodriguez & Laio (Sci. Rep. 2017): with r1, r2
  the distances to a point's first and second neighbours, mu = r2 / r1 follows the Pareto law
  F(mu) = 1 - mu^-d on a locally uniform d-dimensional manifold, so d is the slope of -log(1 - F(mu))
  against log(mu) through the origin, fitted on the smallest 90% of the mu's. Duplicated points
  (r1 = 0) would make mu infinite, so points are de-duplicated first.
* :func:`linear_probe` - held-out accuracy of a logistic-regression probe.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import DeepGeometryError

__all__ = ["MIN_TWONN_POINTS", "linear_probe", "two_nearest", "twonn"]

MIN_TWONN_POINTS = 1000
"""Fewer distinct points than this give a visibly biased TwoNN estimate; :func:`flow` refuses them."""


def _as_matrix(points: torch.Tensor | np.ndarray, what: str) -> torch.Tensor:
    x = torch.as_tensor(points).detach()
    if x.ndim < 2:
        raise DeepGeometryError(f"{what}: points must be (N, ...), got shape {tuple(x.shape)}")
    x = x.reshape(len(x), -1).to(torch.float64)
    if not torch.all(torch.isfinite(x)):
        raise DeepGeometryError(f"{what}: points contain NaN or inf")
    return x


def twonn(points: torch.Tensor | np.ndarray, *, discard_fraction: float = 0.1,
          min_points: int = 3) -> float:
    """TwoNN intrinsic dimension of a point cloud ``(N, ...)`` (Facco et al. 2017).

    Parameters
    ----------
    points
        Any array of N points; trailing dimensions are flattened.
    discard_fraction
        Fraction of the largest mu = r2 / r1 left out of the fit (0.1 in Facco et al.).
    min_points
        Minimum number of distinct points (``flow`` asks for :data:`MIN_TWONN_POINTS`).

    Returns
    -------
    float
        The estimated dimension.
    """
    if not 0.0 <= discard_fraction < 1.0:
        raise DeepGeometryError(f"twonn: discard_fraction must be in [0, 1), got {discard_fraction}")
    x = torch.unique(_as_matrix(points, "twonn"), dim=0)
    n = len(x)
    if n < max(3, min_points):
        raise DeepGeometryError(f"twonn needs >= {max(3, min_points)} distinct points, got {n}")
    r1, r2 = two_nearest(x)
    keep = r1 > 0
    mu = torch.sort(r2[keep] / r1[keep]).values
    n = len(mu)
    if n < 3:
        raise DeepGeometryError("twonn: fewer than 3 points with a non-zero nearest-neighbour distance")
    F = torch.arange(1, n + 1, dtype=mu.dtype) / n
    m = max(2, int(np.floor(n * (1.0 - discard_fraction))))
    m = min(m, n - 1)  # F = 1 at the last point: -log(0)
    xs = torch.log(mu[:m])
    ys = -torch.log1p(-F[:m])
    denom = float((xs * xs).sum())
    if denom <= 0.0:
        raise DeepGeometryError("twonn: all points are equidistant from their two neighbours (mu = 1)")
    return float((xs * ys).sum()) / denom


def two_nearest(x: torch.Tensor, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances ``(r1, r2)`` from each row of ``x`` (N, D) to its two nearest other rows (exact, float64).

    Candidates come from the Gram identity ``|a - b|^2 = |a|^2 + |b|^2 - 2 a.b`` (one matrix product per
    chunk); the distances to the four best candidates are then recomputed as ``|a - b|`` directly, which
    guards the smallest distances against cancellation.
    """
    sq = (x * x).sum(1)
    n, dim = x.shape
    n_cand = min(4, n - 1)
    out = torch.empty(n, 2, dtype=x.dtype)
    for i in range(0, n, chunk):
        rows = x[i:i + chunk]
        d2 = sq[i:i + chunk, None] + sq[None, :] - 2.0 * rows @ x.T
        idx = torch.arange(i, i + len(rows))
        d2[idx - i, idx] = torch.inf
        cand = torch.topk(d2, n_cand, dim=1, largest=False).indices
        sub = max(1, int(4_000_000 // max(1, n_cand * dim)))
        for j in range(0, len(rows), sub):
            d = (rows[j:j + sub, None, :] - x[cand[j:j + sub]]).norm(dim=2)
            out[i + j:i + j + len(d)] = torch.sort(d, dim=1).values[:, :2]
    return out[:, 0], out[:, 1]


def linear_probe(features: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, *,
                 test_fraction: float = 0.3, seed: int = 0, C: float = 1.0, max_iter: int = 2000,
                 project: bool = True) -> float:
    """Held-out accuracy of an L2-regularised logistic-regression probe on ``features`` (N, ...).

    A stratified split (``test_fraction`` held out, fixed ``seed``); features standardised on the training
    part. When the dimension exceeds the number of training points the features are first projected onto
    the span of the (standardised) training points: the regularised solution lies in that span
    (representer theorem), so the probe's predictions are unchanged while the fit gets cheap
    (``project=False`` skips this, for checking).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X = _as_matrix(features, "linear_probe").numpy()
    y = np.asarray(torch.as_tensor(labels).detach().cpu()).reshape(-1)
    if len(y) != len(X):
        raise DeepGeometryError(f"linear_probe: {len(X)} points but {len(y)} labels")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise DeepGeometryError("linear_probe needs at least two classes")
    if not 0.0 < test_fraction < 1.0:
        raise DeepGeometryError(f"linear_probe: test_fraction must be in (0, 1), got {test_fraction}")
    stratify = y if counts.min() >= 2 else None
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_fraction, random_state=seed, stratify=stratify)
    if len(np.unique(ytr)) < 2:
        raise DeepGeometryError("linear_probe: the training split has a single class; pass more points")
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    if project and Xtr.shape[1] > Xtr.shape[0]:
        _, s, vt = np.linalg.svd(Xtr, full_matrices=False)
        basis = vt[s > s[0] * 1e-10] if s.size and s[0] > 0 else vt[:1]
        Xtr, Xte = Xtr @ basis.T, Xte @ basis.T
    clf = LogisticRegression(C=C, max_iter=max_iter)
    clf.fit(Xtr, ytr)
    return float(clf.score(Xte, yte))
