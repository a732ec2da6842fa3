"""Geodesics of right-invariant metrics, written once for every group (Euler-Arnold / EPDiff).

For a right-invariant metric with inertia ``flat`` (momentum ``m = flat(xi)``) the geodesic equations are

    dm/dt = -ad_star(sharp(m), m),        dg/dt = sharp(m) g,        g(0) = e.

On SU(2^n) with ``xi = -iH`` this is Nielsen's ``dL/dt = i[L, H]`` (paper eq. 1 and Section II-A);
on Diff(M) it is EPDiff (eqs. 22-24 with P = Lu). The momentum equation is autonomous, so it is
integrated with classical RK4 in the vector space of momenta; the group curve is reconstructed with the
fourth-order commutator-free Magnus method (two exponentials per step, velocities at the Gauss nodes from
cubic Hermite interpolation of the RK4 step). Only ``exp`` and ``compose`` of the group are used for the
reconstruction, so the same code runs on matrices and on warps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import DeepGeometryError

_SQ3 = math.sqrt(3.0)
_C1, _C2 = 0.5 - _SQ3 / 6.0, 0.5 + _SQ3 / 6.0  # Gauss-Legendre nodes on [0, 1]
_A1, _A2 = 0.25 - _SQ3 / 6.0, 0.25 + _SQ3 / 6.0  # commutator-free Magnus weights


@dataclass(frozen=True)
class Geodesic:
    """Result of shooting a geodesic.

    Attributes
    ----------
    momenta
        ``(steps + 1, ...)`` momenta m(t_k) at the step times.
    velocities
        ``(steps + 1, ...)`` velocities sharp(m(t_k)).
    trajectory
        ``(steps + 1, ...)`` group elements g(t_k) (``None`` if not reconstructed).
    times
        ``(steps + 1,)`` step times from 0 to t1.
    length, energy
        ``int_0^t1 |xi| dt`` and ``int_0^t1 <m, xi> dt`` by Simpson's rule on the step values.
    """

    momenta: torch.Tensor
    velocities: torch.Tensor
    trajectory: torch.Tensor | None
    times: torch.Tensor
    length: torch.Tensor
    energy: torch.Tensor

    @property
    def endpoint(self) -> torch.Tensor:
        if self.trajectory is None:
            raise DeepGeometryError("this Geodesic was shot with reconstruct=False: no trajectory")
        return self.trajectory[-1]

    @property
    def initial_momentum(self) -> torch.Tensor:
        return self.momenta[0]


def euler_arnold_rhs(group, metric, m: torch.Tensor) -> torch.Tensor:
    """Right-hand side ``-ad_star(sharp(m), m)`` of the Euler-Arnold equation."""
    return -group.ad_star(metric.sharp(m), m)


def _rk4_step(group, metric, m: torch.Tensor, h: float):
    k1 = euler_arnold_rhs(group, metric, m)
    k2 = euler_arnold_rhs(group, metric, m + 0.5 * h * k1)
    k3 = euler_arnold_rhs(group, metric, m + 0.5 * h * k2)
    k4 = euler_arnold_rhs(group, metric, m + h * k3)
    return m + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4), k1


def _hermite(v0, dv0, v1, dv1, s: float, h: float):
    s2, s3 = s * s, s * s * s
    return (
        (2 * s3 - 3 * s2 + 1) * v0
        + (s3 - 2 * s2 + s) * h * dv0
        + (-2 * s3 + 3 * s2) * v1
        + (s3 - s2) * h * dv1
    )


def _simpson(y: torch.Tensor, h: float) -> torch.Tensor:
    n = y.shape[0] - 1
    if n % 2 == 1:  # composite Simpson on the first n-1 intervals, trapezoid on the last
        return _simpson(y[:-1], h) + 0.5 * h * (y[-2] + y[-1]) if n > 1 else 0.5 * h * (y[0] + y[1])
    w = torch.ones(n + 1, dtype=y.dtype, device=y.device)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return (h / 3.0) * torch.tensordot(w, y, dims=([0], [0]))


def euler_arnold(
    group, metric, m0: torch.Tensor, steps: int, t1: float = 1.0, reconstruct: bool = True
) -> Geodesic:
    """Integrate the Euler-Arnold equation from momentum ``m0`` and (optionally) the group curve.

    Parameters
    ----------
    group
        An :class:`~deepgeometry.core.lie.AbstractLieGroup`.
    metric
        A right-invariant metric with ``flat``/``sharp`` (e.g. :class:`RightInvariantMetric`).
    m0
        Initial momentum (leading dims batch, as the group's functions allow).
    steps
        Number of RK4 steps on ``[0, t1]``.
    reconstruct
        Also integrate ``dg/dt = sharp(m) g`` (fourth-order commutator-free Magnus).

    Returns
    -------
    Geodesic
    """
    if int(steps) != steps or steps < 1:
        raise DeepGeometryError(f"euler_arnold: steps must be a positive integer, got {steps!r}")
    if not torch.all(torch.isfinite(torch.as_tensor(m0).abs())):
        raise DeepGeometryError("euler_arnold: initial momentum contains NaN or infinity")
    h = float(t1) / steps
    ms, vs = [m0], [metric.sharp(m0)]
    gs = [group.identity_like(vs[0])] if reconstruct else None
    m = m0
    for _ in range(steps):
        m_next, k1 = _rk4_step(group, metric, m, h)
        v0, v1 = vs[-1], metric.sharp(m_next)
        if reconstruct:
            dv0 = metric.sharp(k1)
            dv1 = metric.sharp(euler_arnold_rhs(group, metric, m_next))
            a1 = _hermite(v0, dv0, v1, dv1, _C1, h)
            a2 = _hermite(v0, dv0, v1, dv1, _C2, h)
            right = group.exp(h * (_A2 * a1 + _A1 * a2))
            left = group.exp(h * (_A1 * a1 + _A2 * a2))
            gs.append(group.compose(left, group.compose(right, gs[-1])))
        ms.append(m_next)
        vs.append(v1)
        m = m_next
    momenta, velocities = torch.stack(ms), torch.stack(vs)
    sq = torch.stack([group.pair(mk, vk) for mk, vk in zip(ms, vs, strict=True)])
    times = torch.linspace(0.0, float(t1), steps + 1, dtype=torch.float64)
    return Geodesic(
        momenta=momenta,
        velocities=velocities,
        trajectory=torch.stack(gs) if reconstruct else None,
        times=times,
        length=_simpson(torch.sqrt(torch.clamp(sq, min=0.0)), h),
        energy=_simpson(sq, h),
    )


def shoot(group, metric, m0: torch.Tensor, *, steps: int = 32, t1: float = 1.0) -> Geodesic:
    """Shoot the geodesic with initial momentum ``m0`` from the identity (initial value problem)."""
    return euler_arnold(group, metric, m0, steps=steps, t1=t1, reconstruct=True)
