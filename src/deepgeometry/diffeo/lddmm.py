"""LDDMM (Beg et al. 2005; paper eqs. 2-3): a time-varying velocity ``u(t)``, V-gradient descent.

The curve ``g(t)`` solves ``dg/dt = u(t) o g(t)`` (eq. 2); with ``T`` steps its sampling map is built by the
semi-Lagrangian recursion ``psi_{k+1} = psi_k o (id - dt u_k)`` and the deformed image is ``I_0 o psi_T``.
The energy at every pyramid level is

    E(u) = lambda sum_k dt <L u_k, u_k> / N + sim(I_0 o psi_T, I_1),

and each iteration moves along the V-gradient of eq. (3), ``2 lambda u_k + K (N/dt) grad_{u_k} sim``: the
L2 gradient of the data term (``|Dg| grad J^0 (J^0 - J^1)`` in eq. 3) is obtained by reverse-mode
differentiation of the recursion, then smoothed by ``K``. The distance reported is the curve's length
``sum_k dt ||u_k||_V`` (equal to ``sqrt(energy)`` at a geodesic, where ``||u_t||_V`` is constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import fields
from ._common import MethodOptions, Trace, descend, max_step_lr, pyramid
from .metric import FluidMetric
from .similarity import dissimilarity
from .svf import _per_level


def flow(u: torch.Tensor) -> torch.Tensor:
    """Sampling map ``psi_T`` of the time-varying velocity ``u`` ``(T, B, D, *S)`` (semi-Lagrangian)."""
    T = u.shape[0]
    dt = 1.0 / T
    d = -dt * u[0]
    for k in range(1, T):
        w = -dt * u[k]
        d = w + fields.sample(d, w)
    return d


def flow_path(u: torch.Tensor) -> list[torch.Tensor]:
    """Sampling maps ``psi_0 = id, psi_1, ..., psi_T`` of the curve ``g(t_k)`` (frames of Fig. 2)."""
    T = u.shape[0]
    dt = 1.0 / T
    d = torch.zeros_like(u[0])
    out = [d]
    for k in range(T):
        w = -dt * u[k]
        d = w + fields.sample(d, w)
        out.append(d)
    return out


def flow_forward(u: torch.Tensor) -> torch.Tensor:
    """The forward map ``g_T`` (``g_{k+1} = (id + dt u_k) o g_k``), the inverse of :func:`flow`."""
    T = u.shape[0]
    dt = 1.0 / T
    e = dt * u[0]
    for k in range(1, T):
        e = e + dt * fields.sample(u[k], e)
    return e


@dataclass
class LDDMM(MethodOptions):
    """Large deformation diffeomorphic metric mapping with ``time_steps`` velocity fields.

    Parameters are those of :class:`~deepgeometry.diffeo.svf.SVF`, plus ``time_steps`` and
    ``stationary_levels``: on that many coarsest pyramid levels the velocity is constrained to be stationary
    (``u_k = v`` for every ``k``, the V-gradient summed over time), which finds large deformations with
    ``T`` times fewer unknowns; the finer levels then free every ``u_k`` (the time-varying refinement of
    eq. 3). At least the finest level is always time-varying.
    """

    time_steps: int = 8
    stationary_levels: int = 0
    name: str = "lddmm"

    def metric(self) -> FluidMetric:
        return FluidMetric(self.alpha, self.gamma, self.power)

    def fit(self, fixed: torch.Tensor, moving: torch.Tensor, trace: Trace) -> dict:
        metric = self.metric()
        B, D, T = max(fixed.shape[0], moving.shape[0]), fixed.ndim - 2, int(self.time_steps)
        dt = 1.0 / T
        factors = pyramid(tuple(fixed.shape[2:]), self.levels)
        its = _per_level(self.iterations, len(factors))
        n_stat = max(0, min(int(self.stationary_levels), len(factors) - 1))
        u = None
        for lev, (f, n_it) in enumerate(zip(factors, its, strict=False)):
            fl, ml = fields.downsample(fixed, f), fields.downsample(moving, f)
            sh = tuple(fl.shape[2:])
            Tl = 1 if lev < n_stat else T  # a stationary level optimises one field shared by all steps
            if u is None:
                u = fixed.new_zeros(Tl, B, D, *sh)
            else:
                u = fields.resize_displacement(u.flatten(0, 1), sh).view(-1, B, D, *sh)
                if u.shape[0] != Tl:
                    u = u.expand(Tl, *u.shape[1:]).contiguous()
            N = float(torch.tensor(sh).prod())

            def evaluate(u, fl=fl, ml=ml, N=N, w_t=dt * T / u.shape[0]):
                with torch.enable_grad():
                    uu = u.detach().requires_grad_(True)
                    w = fields.sample(ml, flow(uu.expand(T, *uu.shape[1:])))
                    sim = dissimilarity(self.similarity, w, fl, self.window).sum()
                    (g,) = torch.autograd.grad(sim, uu)
                with torch.no_grad():
                    flat_u = u.flatten(0, 1)
                    reg = self.reg * w_t * float((metric.flat(flat_u) * flat_u).sum()) / N
                    G = metric.sharp(g.flatten(0, 1) * (N / w_t)).view_as(u) + 2.0 * self.reg * u
                return float(sim) + reg, G

            trace.level_starts.append(len(trace.energy))
            u = descend(u, evaluate, n_it, max_step_lr(self.step), trace)
        if u.shape[0] != T:  # every level was stationary (a one-level pyramid cannot be: n_stat < levels)
            u = u.expand(T, *u.shape[1:]).contiguous()
        with torch.no_grad():
            sq = torch.stack([metric.inner(None, u[k], u[k]) for k in range(T)])  # (T, B)
            energy = dt * sq.sum(0)
            length = dt * torch.sqrt(sq.clamp(min=0)).sum(0)
            return {
                "displacement": flow(u),
                "inverse": flow_forward(u),
                "velocity": u,
                "distance": length,
                "energy": energy,
            }
