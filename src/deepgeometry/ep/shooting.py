"""Geodesic shooting is an instance of equilibrium propagation (paper Section III-F, eqs. 17-30).

The free variables ``s`` are the discretised trajectory of the registration world's shooting scheme
(:mod:`deepgeometry.diffeo.shooting`): the sampling maps ``psi_k`` (``I_k = I0 o psi_k``,
``P_k = det(D psi_k) P0 o psi_k``, ``u_k = K(P_k grad I_k)``, ``psi_{k+1} = psi_k o (id - dt u_k)``), and the
parameter is ``theta = P(0)``. With :mod:`.explicit` the energy is

    F(theta, beta, s) = 1/2 sum_k ||psi_{k+1} - f(theta, psi_k)||^2 + beta C(psi_T),    psi_0 = id,
    C = ||I0 o psi_T - I1||^2 / (N sigma^2)           (the matching term of eq. 17, per pixel)

* its ``beta = 0`` minimiser is the forward geodesic (the 0-phase *is* shooting, eqs. 22-24);
* its ``beta``-nudged minimiser has residuals ``r_k = -beta * psi^_k``: the matching error advected backwards
  along the geodesic (the xi-phase *is* the adjoint advection, eqs. 25-29);
* the EP update ``dF/dtheta(s^beta) / beta`` is the gradient of the matching term in ``P(0)`` (eq. 30).

The regulariser ``<m0, K m0>`` of eq. (17) depends on ``theta`` only, not on the state, so it cancels in EP's
difference of eq. (10); the registration gradient is ``2 grad I0 . u0`` (explicit) plus the EP estimate.
:func:`shooting_ep_check` compares the EP estimate with the registration world's hand-written adjoint
(:func:`deepgeometry.diffeo.shooting.adjoint_gradient`, regulariser part removed) and with autograd
through the
same discrete shooting, for a list of betas.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import DeepGeometryError
from .core import flat_cosine, flat_rel_error
from .explicit import Chain, backprop_gradient, chain_ep_gradient


def _diffeo():
    from ..diffeo import fields, shooting
    from ..diffeo.metric import FluidMetric

    return fields, shooting, FluidMetric


def shooting_chain(
    source: torch.Tensor, target: torch.Tensor, metric: object, steps: int = 8, sigma: float = 1.0
) -> Chain:
    """The registration world's shooting scheme as an explicit chain over the sampling maps ``psi_k``."""
    fields, _, _ = _diffeo()
    if source.shape != target.shape or source.ndim != 4 or source.shape[:2] != (1, 1):
        raise DeepGeometryError(
            f"shooting as EP needs 2D images of shape (1, 1, H, W); got source "
            f"{tuple(source.shape)} and target {tuple(target.shape)}"
        )
    if steps < 1:
        raise DeepGeometryError(f"steps must be >= 1, got {steps}")
    dt = 1.0 / steps

    def step(theta: Sequence[torch.Tensor], d: torch.Tensor, k: int) -> torch.Tensor:
        p0 = theta[0]
        if k == 0:  # psi_0 = id exactly, as in the registration world (no resampling at the grid nodes)
            return -dt * metric.sharp(p0 * fields.grad(source))
        img = fields.sample(source, d)
        p = fields.det_periodic(d) * fields.sample(p0, d)
        u = metric.sharp(p * fields.grad(img))
        w = -dt * u
        return w + fields.sample(d, w)

    zeros = torch.zeros(1, 2, *source.shape[2:], dtype=source.dtype)
    n = source.numel()
    return Chain(
        init=lambda theta: zeros,
        step=step,
        cost=lambda d: ((fields.sample(source, d) - target) ** 2).sum() / (n * sigma**2),
        n_steps=steps,
    )


def regulariser_gradient(p0: torch.Tensor, source: torch.Tensor, metric: object) -> torch.Tensor:
    """``d<m0, K m0>/dP0 = 2 grad I0 . K(P0 grad I0)`` (state independent; cancels in EP's difference)."""
    fields, _, _ = _diffeo()
    u0 = metric.sharp(p0 * fields.grad(source))
    return 2.0 * (u0 * fields.grad(source)).sum(1, keepdim=True)


def disc_pair(size: int = 32, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2D registration pair: a smooth disc (source) and a shifted, squashed ellipse (target)."""
    ax = torch.arange(size, dtype=dtype) - (size - 1) / 2
    y, x = torch.meshgrid(ax, ax, indexing="ij")
    r = size / 5

    def smooth_step(z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z / 1.2)

    src = smooth_step(r - torch.sqrt(x**2 + y**2))
    tgt = smooth_step(r - torch.sqrt(((x - 2.0) / 1.25) ** 2 + ((y + 1.0) / 0.8) ** 2))
    return src[None, None], tgt[None, None]


def initial_momentum(
    source: torch.Tensor, target: torch.Tensor, metric: object, steps: int = 8, max_velocity: float = 2.0
) -> torch.Tensor:
    """A non-trivial ``P(0)``: the steepest-descent direction at ``P(0) = 0``, scaled so ``max |u_0|`` is
    ``max_velocity`` voxels (the first step of a registration)."""
    fields, dshoot, _ = _diffeo()
    g = dshoot.adjoint_gradient(torch.zeros_like(source), source, target, metric, steps=steps)[1]
    u = metric.sharp(g * fields.grad(source))
    return -g * (max_velocity / float(u.abs().max().clamp_min(1e-300)))


def shooting_ep_check(
    *,
    size: int = 32,
    steps: int = 8,
    betas: Sequence[float] = (3.0, 1.0, 0.3, 0.1, 0.03, 0.01),
    max_velocity: float = 2.0,
    alpha: float = 2.0,
    gamma: float = 1.0,
    solver: str = "auto",
) -> dict:
    """EP gradient in ``P(0)`` vs the explicit adjoint (and autograd) on :func:`disc_pair`, for each beta.

    Returns ``{"rows": [{beta, cos_*, err_*, iterations, stationarity}], "adjoint_vs_autograd": rel. error,
    "reference": "deepgeometry.diffeo.shooting.adjoint_gradient"}``; errors are relative to the adjoint.
    """
    _, dshoot, FluidMetric = _diffeo()
    metric = FluidMetric(alpha=alpha, gamma=gamma, power=2.0)
    src, tgt = disc_pair(size)
    p0 = initial_momentum(src, tgt, metric, steps, max_velocity)
    chain = shooting_chain(src, tgt, metric, steps)
    _, full = dshoot.adjoint_gradient(p0, src, tgt, metric, steps=steps, sigma=1.0)
    ref = (full - regulariser_gradient(p0, src, metric)) / src.numel()
    auto = backprop_gradient(chain, [p0])[0]
    rows = []
    for beta in betas:
        row: dict = {"beta": float(beta)}
        for est in ("one-sided", "symmetric"):
            res, used = _ep(chain, p0, beta, est, solver)
            key = "one_sided" if est == "one-sided" else "symmetric"
            row[f"solver_{key}"] = used
            row[f"cos_{key}"] = flat_cosine(res.grad, [ref])
            row[f"err_{key}"] = flat_rel_error(res.grad, [ref])
            row[f"iterations_{key}"] = res.iterations
            row[f"stationarity_{key}"] = res.stationarity
        rows.append(row)
    return {
        "rows": rows,
        "adjoint_vs_autograd": flat_rel_error([auto], [ref]),
        "reference": "deepgeometry.diffeo.shooting.adjoint_gradient "
        "(minus the regulariser's 2 grad I0 . u0) / N",
        "size": size,
        "steps": steps,
        "final_cost": float(chain.cost(_final(chain, p0))),
    }


def _ep(chain: Chain, p0: torch.Tensor, beta: float, est: str, solver: str):
    if solver != "auto":
        return chain_ep_gradient(chain, [p0], beta, estimator=est, solver=solver), solver
    try:
        return chain_ep_gradient(chain, [p0], beta, estimator=est, solver="sweep", max_iter=200), "sweep"
    except DeepGeometryError:  # the sweep is a contraction only for small beta
        return chain_ep_gradient(
            chain, [p0], beta, estimator=est, solver="lbfgs", tol=1e-12, max_iter=3000
        ), "lbfgs"


def _final(chain: Chain, p0: torch.Tensor) -> torch.Tensor:
    from .explicit import forward

    return forward(chain, [p0])[-1]
