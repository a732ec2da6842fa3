"""Lie groups acting on state spaces, in the right-invariant convention of the paper.

Conventions (used by every world):

* curves are right-trivialised: ``dg/dt = xi(t) g`` (matrices: ``dU/dt = -iH U``, eq. 1 context;
  diffeomorphisms: ``d phi/dt = v o phi``, eq. 2);
* ``ad(x, y)`` is the matrix-commutator analogue ``xy - yx`` (for vector fields ``Dx y - Dy x``);
* the dual is identified with arrays of the algebra's shape through ``pair(m, xi)``
  (real Frobenius / L2 pairing), and ``ad_star(x, m)`` is defined by
  ``pair(ad_star(x, m), y) = pair(m, ad(x, y))``;
* with these conventions the Euler-Arnold (EPDiff) equation of a right-invariant metric reads
  ``dm/dt = -ad_star(sharp(m), m)`` (see :mod:`deepgeometry.core.geodesic`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from ..errors import DeepGeometryError


@runtime_checkable
class AbstractLieGroup(Protocol):
    """What the shared geodesic integrator needs from a group."""

    def identity_like(self, xi: torch.Tensor) -> torch.Tensor: ...

    def compose(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor: ...

    def inverse(self, g: torch.Tensor) -> torch.Tensor: ...

    def exp(self, xi: torch.Tensor) -> torch.Tensor: ...

    def ad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...

    def ad_star(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor: ...

    def pair(self, m: torch.Tensor, xi: torch.Tensor) -> torch.Tensor: ...


def _check_square(x: torch.Tensor, what: str) -> None:
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise DeepGeometryError(f"{what}: expected square matrices (..., d, d), got shape {tuple(x.shape)}")


class MatrixLieGroup:
    """A matrix Lie group (GL, SO, SU, ...) with elements and algebra as ``(..., d, d)`` tensors.

    The pairing is the real Frobenius product ``Re tr(m^H xi)``, so ``ad_star(x, m) = [x^H, m]``.
    """

    def identity_like(self, xi: torch.Tensor) -> torch.Tensor:
        _check_square(xi, "MatrixLieGroup.identity_like")
        eye = torch.eye(xi.shape[-1], dtype=xi.dtype, device=xi.device)
        return eye.expand(xi.shape).clone()

    def compose(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return g @ h

    def inverse(self, g: torch.Tensor) -> torch.Tensor:
        return torch.linalg.inv(g)

    def exp(self, xi: torch.Tensor) -> torch.Tensor:
        _check_square(xi, "MatrixLieGroup.exp")
        return torch.linalg.matrix_exp(xi)

    def log(self, g: torch.Tensor) -> torch.Tensor:
        """Principal logarithm through an eigendecomposition (valid for diagonalisable g)."""
        _check_square(g, "MatrixLieGroup.log")
        w, v = torch.linalg.eig(g)
        out = v @ torch.diag_embed(torch.log(w)) @ torch.linalg.inv(v)
        return out if g.is_complex() else out.real

    def ad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x @ y - y @ x

    def ad_star(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        xh = x.conj().transpose(-1, -2)
        return xh @ m - m @ xh

    def pair(self, m: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return (m.conj() * xi).real.sum(dim=(-1, -2))
