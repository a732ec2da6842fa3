"""Stationary velocity fields: the matching curve is the group exponential ``exp(t v)`` (paper Fig. 3, right).

``g(t) = exp(t v)`` is a one-parameter subgroup of Diff(M) (Lie-group view of Section II-B, refs. [13][14]);
``g(1)`` and its inverse ``exp(-v)`` are both computed by scaling and squaring, so the inverse is exact to
interpolation accuracy. The energy minimised at every pyramid level is

    E(v) = lambda <L v, v> / N + sim(moving o exp(-v), fixed),

with the Sobolev (V-)gradient ``K grad_{L2} E`` as descent direction (cf. eq. 3) and backtracking steps.
The length of the curve ``exp(t v)`` under the right-invariant metric is ``sqrt(<L v, v>)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import fields
from ._common import MethodOptions, Trace, descend, max_step_lr, pyramid
from .metric import FluidMetric
from .similarity import dissimilarity


@dataclass
class SVF(MethodOptions):
    """Stationary-velocity-field registration (the group exponential by scaling and squaring).

    Parameters
    ----------
    alpha, gamma, power
        Fluid metric ``L = (alpha (-Laplacian) + gamma)^power`` (voxel units of each level).
    reg
        Weight ``lambda`` of ``<Lv, v> / N``.
    similarity, window
        ``"ssd"``, ``"ncc"`` or ``"lncc"`` (window size for the latter).
    levels, iterations
        Pyramid levels (factor 2 each) and iterations per level, coarsest first.
    step
        Largest first update per level, in voxels.
    """

    name: str = "svf"

    def metric(self) -> FluidMetric:
        return FluidMetric(self.alpha, self.gamma, self.power)

    def fit(self, fixed: torch.Tensor, moving: torch.Tensor, trace: Trace) -> dict:
        metric = self.metric()
        B, D = max(fixed.shape[0], moving.shape[0]), fixed.ndim - 2
        factors = pyramid(tuple(fixed.shape[2:]), self.levels)
        its = _per_level(self.iterations, len(factors))
        v = None
        for f, n_it in zip(factors, its, strict=False):
            fl, ml = fields.downsample(fixed, f), fields.downsample(moving, f)
            sh = tuple(fl.shape[2:])
            v = fixed.new_zeros(B, D, *sh) if v is None else fields.resize_displacement(v, sh)
            N = float(torch.tensor(sh).prod())

            def evaluate(v, fl=fl, ml=ml, N=N):
                with torch.enable_grad():
                    vv = v.detach().requires_grad_(True)
                    w = fields.sample(ml, fields.exp_field(-vv))
                    sim = dissimilarity(self.similarity, w, fl, self.window).sum()
                    (g,) = torch.autograd.grad(sim, vv)
                with torch.no_grad():
                    reg = self.reg * float((metric.flat(v) * v).sum()) / N
                    G = metric.sharp(g * N) + 2.0 * self.reg * v
                return float(sim) + reg, G

            trace.level_starts.append(len(trace.energy))
            v = descend(v, evaluate, n_it, max_step_lr(self.step), trace)
        with torch.no_grad():
            energy = metric.inner(None, v, v)
            return {
                "displacement": fields.exp_field(-v),
                "inverse": fields.exp_field(v),
                "velocity": v,
                "distance": torch.sqrt(energy.clamp(min=0)),
                "energy": energy,
            }


def _per_level(iterations, n: int) -> list[int]:
    if isinstance(iterations, int):
        return [iterations] * n
    its = list(iterations)
    if len(its) >= n:
        return its[len(its) - n :]
    return [its[0]] * (n - len(its)) + its
