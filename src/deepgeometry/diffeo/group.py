"""Diff(M) as a Lie group for the shared Euler-Arnold integrator (EPDiff, paper eqs. 22-24).

An element ``g`` is stored as the displacement ``d`` of its *sampling map* ``g^-1 = id + d``: this is what
warps an image (``g . I = I o g^-1``, eq. 22) and what :func:`deepgeometry.diffeo.fields.sample` consumes.
Hence ``compose(g, h)`` (the diffeomorphism ``g o h``) stores ``(g o h)^-1 = h^-1 o g^-1`` and ``exp(v)``
stores the time-1 flow of ``-v``. The algebra (velocities) and its dual (momenta) are ``(B, D, *S)`` fields:

* ``ad(x, y) = Dx y - Dy x`` (the matrix-commutator analogue of :mod:`deepgeometry.core.lie`);
* ``ad_star(v, m) = (Dv)^T m + div(m v^T)`` (conservative form), the EPDiff coadjoint, exact dual of ``ad``
  under ``pair(m, v) = sum m . v`` (the discrete L2 product) because periodic central differences are
  skew-adjoint;

so that :func:`deepgeometry.core.euler_arnold` integrates EPDiff ``dm/dt = -ad_star(K m, m)`` with the same
code as Nielsen's equation on SU(2^n).
"""

from __future__ import annotations

import torch

from ..errors import DeepGeometryError
from . import fields


class DiffeoGroup:
    """Diffeomorphisms of a ``D``-dimensional grid (elements: sampling-map displacements ``(B, D, *S)``).

    Parameters
    ----------
    dim
        Spatial dimension ``D`` (2 or 3).
    squarings
        Fixed number of squarings for ``exp`` (None: chosen from ``max|v|``).
    inverse_iterations
        Fixed-point iterations of ``inverse``.

    Fields without a batch axis (``(D, *S)``) are accepted and returned without one.
    """

    def __init__(self, dim: int = 2, squarings: int | None = None, inverse_iterations: int = 30):
        if dim not in (2, 3):
            raise DeepGeometryError(f"DiffeoGroup: dim must be 2 or 3, got {dim!r}")
        self.dim = int(dim)
        self.squarings = squarings
        self.inverse_iterations = int(inverse_iterations)

    def _batched(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        D = self.dim
        if x.ndim == D + 1 and x.shape[0] == D:
            return x.unsqueeze(0), True
        if x.ndim == D + 2 and x.shape[1] == D:
            return x, False
        raise DeepGeometryError(
            f"DiffeoGroup(dim={D}): expected a (B, {D}, *S) or ({D}, *S) field, got shape {tuple(x.shape)}"
        )

    def _wrap(self, fn, *xs: torch.Tensor) -> torch.Tensor:
        batched = [self._batched(x) for x in xs]
        out = fn(*[b[0] for b in batched])
        return out.squeeze(0) if batched[0][1] else out

    def identity_like(self, xi: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(xi)

    def compose(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``g o h``: stored sampling map ``h^-1 o g^-1``."""
        return self._wrap(lambda a, b: fields.compose(b, a), g, h)

    def inverse(self, g: torch.Tensor) -> torch.Tensor:
        return self._wrap(lambda a: fields.invert(a, self.inverse_iterations), g)

    def exp(self, xi: torch.Tensor) -> torch.Tensor:
        """``exp(xi)`` by scaling and squaring; stored as its sampling map, the flow of ``-xi``."""
        return self._wrap(lambda v: fields.exp_field(-v, self.squarings), xi)

    def ad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._wrap(ad, x, y)

    def ad_star(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return self._wrap(ad_star, x, m)

    def pair(self, m: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        mb, unb = self._batched(m)
        out = (mb * self._batched(xi)[0]).flatten(1).sum(1)
        return out.squeeze(0) if unb else out

    def act(self, g: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """The action on images, ``g . I = I o g^-1`` (eq. 22)."""
        gb, _ = self._batched(g)
        return fields.sample(image, gb)


def ad(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``ad_x y = Dx y - Dy x`` for ``(B, D, *S)`` fields (periodic central differences)."""
    Jx, Jy = fields.jacobian(x), fields.jacobian(y)
    return (Jx * y.unsqueeze(1)).sum(2) - (Jy * x.unsqueeze(1)).sum(2)


def ad_star(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``ad*_v m = (Dv)^T m + div(m v^T)``: the EPDiff coadjoint, ``pair(ad*_v m, w) = pair(m, ad_v w)``."""
    Jv = fields.jacobian(v)
    first = (Jv * m.unsqueeze(2)).sum(1)  # sum_j d_i v_j m_j
    D = v.shape[1]
    flux = m.unsqueeze(2) * v.unsqueeze(1)  # [i, j] = m_i v_j
    second = sum(fields._roll_diff(flux[:, :, j], 2 + j) for j in range(D))
    return first + second
