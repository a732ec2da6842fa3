"""Sectional curvature of a right-invariant metric from ``ad``, ``ad_star``, ``flat`` and ``sharp``.

Everything lives in the Lie algebra (invariant vector fields). With ``<u, w> = pair(flat u, w)`` the
metric adjoint of ``ad_x`` is ``adT(x, y) = sharp(ad_star(x, flat y))`` (``<adT(x, y), z> = <y, [x, z]>``).
Right-invariant fields bracket with ``-ad``; the connection changes sign but the curvature tensor, which
is quadratic in the bracket, does not, so the left-invariant textbook formulas apply verbatim.

Three independent formulas (they agree to rounding; see tests/core/test_curvature.py):

* :func:`sectional_koszul` - Levi-Civita connection from Koszul's formula,
  ``nabla_x y = (ad(x, y) - adT(x, y) - adT(y, x)) / 2``, then
  ``R(x, y) z = nabla_x nabla_y z - nabla_y nabla_x z - nabla_[x, y] z``;
* :func:`sectional_arnold` - Arnold's formula (Cheeger-Ebin form), ``U(x, y) = -(adT(x, y) + adT(y, x))/2``:
  ``<R(x,y)y,x> = -3/4|[x,y]|^2 - 1/2<[x,[x,y]],y> - 1/2<[y,[y,x]],x> + |U(x,y)|^2 - <U(x,x),U(y,y)>``;
* :func:`sectional_milnor` - Milnor's structure-constant sum over an orthonormal basis (Milnor 1976, L. 1.1).

All return ``K(x, y) = <R(x,y)y, x> / (|x|^2 |y|^2 - <x,y>^2)`` and batch over leading dimensions.
For a bi-invariant metric ``K = |[x, y]|^2 / 4`` for orthonormal x, y (the paper's q = 1 case of eq. 1).
"""

from __future__ import annotations

import torch

from ..errors import DeepGeometryError


def _inner(group, metric, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return group.pair(metric.flat(u), w)


def ad_transpose(group, metric, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Metric adjoint ``adT(x, y)`` with ``<adT(x, y), z> = <y, ad(x, z)>`` for all z."""
    return metric.sharp(group.ad_star(x, metric.flat(y)))


def levi_civita(group, metric, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``nabla_x y`` for invariant fields (Koszul's formula, left-invariant sign convention)."""
    return 0.5 * (group.ad(x, y) - ad_transpose(group, metric, x, y) - ad_transpose(group, metric, y, x))


def curvature_tensor(group, metric, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``R(x, y) z = nabla_x nabla_y z - nabla_y nabla_x z - nabla_[x,y] z``."""
    def nab(a, b):
        return levi_civita(group, metric, a, b)

    return nab(x, nab(y, z)) - nab(y, nab(x, z)) - nab(group.ad(x, y), z)


def _area2(group, metric, x, y):
    xx, yy, xy = _inner(group, metric, x, x), _inner(group, metric, y, y), _inner(group, metric, x, y)
    a2 = xx * yy - xy * xy
    if torch.any(a2 <= 1e-14 * xx * yy):
        raise DeepGeometryError("sectional curvature: x and y must span a plane (they are parallel or zero)")
    return a2


def sectional_koszul(group, metric, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sectional curvature through the full curvature tensor (Koszul connection)."""
    a2 = _area2(group, metric, x, y)
    return _inner(group, metric, curvature_tensor(group, metric, x, y, y), x) / a2


def sectional_arnold(group, metric, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sectional curvature by Arnold's formula (see the module docstring)."""
    a2 = _area2(group, metric, x, y)
    ad = group.ad
    xy = ad(x, y)

    def U(a, b):
        return -0.5 * (ad_transpose(group, metric, a, b) + ad_transpose(group, metric, b, a))

    uxy, uxx, uyy = U(x, y), U(x, x), U(y, y)
    num = (-0.75 * _inner(group, metric, xy, xy) - 0.5 * _inner(group, metric, ad(x, xy), y)
           - 0.5 * _inner(group, metric, ad(y, ad(y, x)), x)
           + _inner(group, metric, uxy, uxy) - _inner(group, metric, uxx, uyy))
    return num / a2


def orthonormal_basis(group, metric, basis: torch.Tensor) -> torch.Tensor:
    """Gram-Schmidt (Cholesky) of a ``(D, ...)`` basis of the algebra in the metric."""
    flat_b = metric.flat(basis)
    gram = torch.stack([group.pair(flat_b[i].expand_as(basis), basis) for i in range(basis.shape[0])])
    gram = 0.5 * (gram + gram.T)
    try:
        chol = torch.linalg.cholesky(gram)
    except RuntimeError:
        raise DeepGeometryError("orthonormal_basis: the vectors are not a basis (singular Gram)") from None
    inv = torch.linalg.inv(chol)
    return torch.tensordot(inv.to(basis.dtype), basis, dims=([1], [0]))


def sectional_milnor(group, metric, x: torch.Tensor, y: torch.Tensor, onb: torch.Tensor) -> torch.Tensor:
    """Milnor's formula with structure constants ``alpha_ijk = <[e_i, e_j], e_k>`` summed over ``onb``.

    ``x, y``: one plane (no batch); ``onb``: a ``(D, ...)`` orthonormal basis (:func:`orthonormal_basis`).
    """
    _area2(group, metric, x, y)
    e1 = x / torch.sqrt(_inner(group, metric, x, x))
    y2 = y - _inner(group, metric, y, e1) * e1
    e2 = y2 / torch.sqrt(_inner(group, metric, y2, y2))
    E1, E2 = e1.expand_as(onb), e2.expand_as(onb)
    a12k = _inner(group, metric, group.ad(e1, e2).expand_as(onb), onb)
    a2k1 = _inner(group, metric, group.ad(E2, onb), E1)
    ak12 = _inner(group, metric, group.ad(onb, E1), E2)
    ak11 = _inner(group, metric, group.ad(onb, E1), E1)
    ak22 = _inner(group, metric, group.ad(onb, E2), E2)
    terms = (0.5 * a12k * (-a12k + a2k1 + ak12) - 0.25 * (a12k - a2k1 + ak12) * (a12k + a2k1 - ak12)
             - ak11 * ak22)
    return terms.sum()


def sectional_curvature(group, metric, x: torch.Tensor, y: torch.Tensor, method: str = "arnold",
                        onb: torch.Tensor | None = None) -> torch.Tensor:
    """Sectional curvature of the plane ``span(x, y)``; ``method`` in ``arnold | koszul | milnor``."""
    if method == "arnold":
        return sectional_arnold(group, metric, x, y)
    if method == "koszul":
        return sectional_koszul(group, metric, x, y)
    if method == "milnor":
        if onb is None:
            raise DeepGeometryError("sectional_curvature(method='milnor') needs an orthonormal basis onb")
        return sectional_milnor(group, metric, x, y, onb)
    raise DeepGeometryError(f"unknown curvature method {method!r}; use arnold, koszul or milnor")
