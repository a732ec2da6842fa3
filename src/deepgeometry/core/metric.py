"""Metrics: right-invariant metrics on groups (an inertia operator) and pullback metrics on data.

A right-invariant metric is fixed by its inertia operator at the identity, ``flat: xi -> m``
(velocity to momentum, the paper's L^+L in eq. 2, the G of eq. 1) and its inverse ``sharp = flat^-1``
(the paper's K). Then ``<u, w>_g = pair(flat(u g^-1), w g^-1)`` and the shared integrator in
:mod:`deepgeometry.core.geodesic` only ever sees ``flat``/``sharp`` at the identity.

The pullback metric of Section III-A, ``<w, v>_in = <U_* w, U_* v>_out``, is evaluated matrix-free
with forward- and reverse-mode products (never an explicit Jacobian).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch

from ..errors import DeepGeometryError


@runtime_checkable
class AbstractMetric(Protocol):
    """An inner product on tangent spaces: ``inner(x, u, w)`` at base point ``x``."""

    def inner(self, x: torch.Tensor | None, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor: ...


class RightInvariantMetric:
    """Right-invariant metric given by its inertia operator ``flat`` and inverse ``sharp`` at the identity.

    Parameters
    ----------
    group
        Any object with ``pair(m, xi)`` (see :class:`deepgeometry.core.lie.AbstractLieGroup`).
    flat, sharp
        Linear maps algebra -> dual and dual -> algebra with ``flat(sharp(m)) == m``.
    """

    def __init__(self, group, flat: Callable[[torch.Tensor], torch.Tensor],
                 sharp: Callable[[torch.Tensor], torch.Tensor]):
        self.group = group
        self._flat = flat
        self._sharp = sharp

    def flat(self, xi: torch.Tensor) -> torch.Tensor:
        return self._flat(xi)

    def sharp(self, m: torch.Tensor) -> torch.Tensor:
        return self._sharp(m)

    def inner(self, x: torch.Tensor | None, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``<u, w>`` for right-trivialised tangent vectors (the base point is irrelevant)."""
        return self.group.pair(self.flat(u), w)

    def norm(self, x: torch.Tensor | None, u: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(torch.clamp(self.inner(x, u, u), min=0.0))


class DiagonalInertia(RightInvariantMetric):
    """Right-invariant metric whose inertia is elementwise multiplication by a positive array.

    Useful when the algebra is stored in a basis where the metric is diagonal (Pauli coordinates for
    eq. 1; Fourier coefficients for the fluid metric of eq. 2).
    """

    def __init__(self, group, weights: torch.Tensor):
        if not torch.all(torch.isfinite(weights)) or torch.any(weights <= 0):
            raise DeepGeometryError("DiagonalInertia: weights must be finite and > 0")
        self.weights = weights
        super().__init__(group, flat=lambda xi: weights * xi, sharp=lambda m: m / weights)


class PullbackMetric:
    """The pullback ``<u, w>_x = <J_f(x) u, J_f(x) w>`` of the Euclidean metric through ``f``.

    Matrix-free: ``inner`` uses two JVPs; ``gram_matvec`` applies ``J^T J`` with one JVP and one VJP.
    ``f`` maps one point (any shape) to one output (any shape); there is no batch dimension here.
    """

    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor]):
        self.f = f

    def push(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``J_f(x) u`` by forward mode."""
        return torch.func.jvp(self.f, (x,), (u,))[1]

    def inner(self, x: torch.Tensor, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (self.push(x, u) * self.push(x, w)).sum()

    def gram_matvec(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``J^T J u`` (the pullback metric tensor applied to u)."""
        _, vjp = torch.func.vjp(self.f, x)
        return vjp(self.push(x, u))[0]
