"""Equilibrium propagation for explicitly defined systems (paper eqs. 11-16, made executable).

An explicit system is a chain ``s_0 = x0(theta)``, ``s_{k+1} = f_k(theta, s_k)`` (a feed-forward net, or the
time steps of geodesic shooting) with a cost ``C(s_N)``. Its states become the free variables of the energy

    E(theta, s) = 1/2 ||s_0 - x0(theta)||^2 + 1/2 sum_k ||s_{k+1} - f_k(theta, s_k)||^2,
    F = E + beta C(s_N)

* the ``beta = 0`` minimiser is the forward pass (every residual ``r_k`` is 0, ``F = 0``): the 0-phase;
* stationarity of ``F`` reads ``r_N = -beta dC/ds_N`` and ``r_k = (df_k/ds_k)^T r_{k+1}``, so the residuals
  of the ``beta``-nudged minimiser are ``-beta`` times the adjoint (back-propagated) variables
  ``lambda_k = dL/ds_k``: the xi-phase carries the output error backwards (:attr:`ChainEP.adjoint`);
* ``dF/dtheta = -(dx0/dtheta)^T r_0 - sum_k (df_k/dtheta)^T r_{k+1}`` vanishes at the free state, so EP's
  update (eq. 10) is ``dF/dtheta(s^beta) / beta`` (one-sided) and tends to backprop's ``dL/dtheta``.

The nudged minimiser is found either by ``solver="sweep"`` (alternate the two stationarity conditions: a
backward sweep for the residuals and a forward sweep ``s_{k+1} = f_k(s_k) + r_{k+1}``; a contraction for
small beta) or by ``solver="lbfgs"`` (generic quasi-Newton on ``F`` over all states, no adjoint used). Either
way the EP gradient is read off ``dF/dtheta`` at the minimiser, and :attr:`ChainEP.stationarity` reports
``||dF/ds||`` computed independently by autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..errors import DeepGeometryError
from .core import ESTIMATORS, Tensors, check_finite

Theta = Sequence[torch.Tensor]


@dataclass(frozen=True)
class Chain:
    """An explicit system: ``s_0 = init(theta)``, ``s_{k+1} = step(theta, s_k, k)`` for ``k < n_steps``,
    cost.
    """

    init: Callable[[Theta], torch.Tensor]
    step: Callable[[Theta, torch.Tensor, int], torch.Tensor]
    cost: Callable[[torch.Tensor], torch.Tensor]
    n_steps: int


def forward(chain: Chain, theta: Theta) -> Tensors:
    """The free phase: the forward pass, which is the exact ``beta = 0`` minimiser (``F = 0``)."""
    with torch.no_grad():
        s = [chain.init(theta)]
        for k in range(chain.n_steps):
            s.append(chain.step(theta, s[-1], k))
    check_finite(s, "free-phase state")
    return s


def residuals(chain: Chain, theta: Theta, states: Sequence[torch.Tensor]) -> Tensors:
    """``r_0 = s_0 - x0(theta)``, ``r_{k+1} = s_{k+1} - f_k(theta, s_k)``."""
    r = [states[0] - chain.init(theta)]
    for k in range(chain.n_steps):
        r.append(states[k + 1] - chain.step(theta, states[k], k))
    return r


def chain_energy(chain: Chain, theta: Theta, states: Sequence[torch.Tensor], beta: float) -> torch.Tensor:
    """The total energy ``F = 1/2 sum ||r_k||^2 + beta C(s_N)`` (a scalar)."""
    e = sum(0.5 * (r * r).sum() for r in residuals(chain, theta, states))
    return e + beta * chain.cost(states[-1])


def _stationarity(chain: Chain, theta: Theta, states: Sequence[torch.Tensor], beta: float) -> float:
    s = [t.detach().requires_grad_(True) for t in states]
    with torch.enable_grad():
        g = torch.autograd.grad(chain_energy(chain, [t.detach() for t in theta], s, beta), s)
    return float(torch.sqrt(sum((gi * gi).sum() for gi in g)))


def _sweep(
    chain: Chain, theta: Theta, start: Sequence[torch.Tensor], beta: float, tol: float, max_iter: int
) -> tuple[Tensors, int]:
    th = [t.detach() for t in theta]
    s = [t.detach() for t in start]
    scale = max(1.0, float(sum(t.abs().max() for t in s)))
    for it in range(1, max_iter + 1):
        # backward sweep: r_N = -beta dC/ds_N, r_k = (df_k/ds_k)^T r_{k+1}
        with torch.enable_grad():
            sN = s[-1].detach().requires_grad_(True)
            r = [-beta * torch.autograd.grad(chain.cost(sN), sN)[0]]
            for k in range(chain.n_steps - 1, -1, -1):
                sk = s[k].detach().requires_grad_(True)
                out = chain.step(th, sk, k)
                if not out.requires_grad:  # a step that ignores its input state
                    r.append(torch.zeros_like(sk))
                    continue
                (gk,) = torch.autograd.grad(out, sk, grad_outputs=r[-1], allow_unused=True)
                r.append(torch.zeros_like(sk) if gk is None else gk)
        r.reverse()
        # forward sweep: s_0 = x0 + r_0, s_{k+1} = f_k(s_k) + r_{k+1}
        with torch.no_grad():
            new = [chain.init(th) + r[0]]
            for k in range(chain.n_steps):
                new.append(chain.step(th, new[-1], k) + r[k + 1])
        check_finite(new, "nudged-phase state")
        change = max(float((a - b).abs().max()) for a, b in zip(new, s, strict=False))
        s = new
        if change <= tol * scale:
            return s, it
    raise DeepGeometryError(
        f"nudged phase did not converge in {max_iter} sweeps at beta={beta} "
        f"(last change {change:.3g}); use a smaller beta"
    )


def _lbfgs(
    chain: Chain, theta: Theta, start: Sequence[torch.Tensor], beta: float, tol: float, max_iter: int
) -> tuple[Tensors, int]:
    th = [t.detach() for t in theta]
    s = [t.detach().clone().requires_grad_(True) for t in start]
    opt = torch.optim.LBFGS(
        s,
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tol,
        tolerance_change=1e-30,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        f = chain_energy(chain, th, s, beta)
        f.backward()
        return f

    with torch.enable_grad():
        opt.step(closure)
    out = [t.detach() for t in s]
    check_finite(out, "nudged-phase state")
    return out, int(opt.state[opt._params[0]]["n_iter"])


def nudged_phase(
    chain: Chain,
    theta: Theta,
    beta: float,
    *,
    free: Sequence[torch.Tensor] | None = None,
    solver: str = "sweep",
    tol: float = 1e-13,
    max_iter: int = 500,
) -> tuple[Tensors, int]:
    """The ``beta``-nudged minimiser of ``F`` started from the free state; returns ``(states,
    iterations)``.
    """
    if beta == 0.0:
        raise DeepGeometryError("the nudged phase needs beta != 0")
    free = forward(chain, theta) if free is None else free
    if solver == "sweep":
        return _sweep(chain, theta, free, beta, tol, max_iter)
    if solver == "lbfgs":
        return _lbfgs(chain, theta, free, beta, tol, max_iter)
    raise DeepGeometryError(f"unknown solver {solver!r}; use 'sweep' or 'lbfgs'")


def _dF_dtheta(chain: Chain, theta: Theta, states: Sequence[torch.Tensor]) -> Tensors:
    th = [t.detach().requires_grad_(True) for t in theta]
    with torch.enable_grad():
        g = torch.autograd.grad(
            chain_energy(chain, th, [t.detach() for t in states], 0.0), th, allow_unused=True
        )
    return [torch.zeros_like(t) if gi is None else gi for t, gi in zip(th, g, strict=False)]


@dataclass
class ChainEP:
    """EP on an explicit chain. ``grad`` estimates ``dC(s_N)/dtheta``."""

    grad: Tensors
    beta: float
    free: Tensors
    nudged: Tensors
    iterations: int
    stationarity: float
    residuals: Tensors

    @property
    def adjoint(self) -> Tensors:
        """``-r_k / beta``: the back-propagated error ``dL/ds_k`` carried by the nudged phase (beta -> 0)."""
        return [-r / self.beta for r in self.residuals]


def chain_ep_gradient(
    chain: Chain,
    theta: Theta,
    beta: float,
    *,
    estimator: str = "one-sided",
    solver: str = "sweep",
    tol: float = 1e-13,
    max_iter: int = 500,
) -> ChainEP:
    """EP's estimate of ``dL/dtheta``, ``L = C(s_N)`` (eq. 10; symmetric: Laborieux et al. 2021)."""
    if estimator not in ESTIMATORS:
        raise DeepGeometryError(f"unknown estimator {estimator!r}; use one of {ESTIMATORS}")
    free = forward(chain, theta)
    nudged, it = nudged_phase(chain, theta, beta, free=free, solver=solver, tol=tol, max_iter=max_iter)
    g_plus = _dF_dtheta(chain, theta, nudged)
    if estimator == "one-sided":
        g_ref = _dF_dtheta(chain, theta, free)
        grad = [(a - b) / beta for a, b in zip(g_plus, g_ref, strict=False)]
    else:
        neg, it2 = nudged_phase(chain, theta, -beta, free=free, solver=solver, tol=tol, max_iter=max_iter)
        grad = [(a - b) / (2 * beta) for a, b in zip(g_plus, _dF_dtheta(chain, theta, neg), strict=False)]
        it += it2
    with torch.no_grad():
        r = residuals(chain, [t.detach() for t in theta], nudged)
    return ChainEP(grad, beta, free, nudged, it, _stationarity(chain, theta, nudged, beta), r)


def backprop_gradient(chain: Chain, theta: Theta) -> Tensors:
    """``dC(s_N)/dtheta`` by reverse-mode autograd through the forward pass (the reference)."""
    th = [t.detach().requires_grad_(True) for t in theta]
    with torch.enable_grad():
        s = chain.init(th)
        for k in range(chain.n_steps):
            s = chain.step(th, s, k)
        g = torch.autograd.grad(chain.cost(s), th, allow_unused=True)
    return [torch.zeros_like(t) if gi is None else gi for t, gi in zip(th, g, strict=False)]


def mlp_chain(
    weights: Sequence[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    activation: Callable[[torch.Tensor], torch.Tensor] = torch.tanh,
) -> tuple[Chain, Tensors]:
    """A feed-forward net as a chain: ``theta = [W_1, b_1, .., W_L, b_L]`` (given as ``weights``), the states
    are the layers' outputs, the cost is the batch-summed cross-entropy of the last (linear) layer."""
    n_layers = len(weights) // 2
    if len(weights) != 2 * n_layers or n_layers < 1:
        raise DeepGeometryError(f"weights must alternate W, b; got {len(weights)} tensors")

    def step(theta: Theta, s: torch.Tensor, k: int) -> torch.Tensor:
        z = s @ theta[2 * k] + theta[2 * k + 1]
        return z if k == n_layers - 1 else activation(z)

    chain = Chain(
        init=lambda theta: x,
        step=step,
        cost=lambda s: torch.nn.functional.cross_entropy(s, y, reduction="sum"),
        n_steps=n_layers,
    )
    return chain, [t.detach() for t in weights]
