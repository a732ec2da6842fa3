"""Generic equilibrium propagation over an energy ``F(theta, beta, s, v)`` (paper Section III-F, eqs. 8-10).

The total energy is ``F = E(theta, s, v) + beta * C(theta, s, v)``, so that the cost of eq. (8) is
``dF/dbeta = C``. The prediction is a fixed point of the state dynamics (eq. 9): here projected gradient
descent ``s <- project(s - eps * dF/ds)``. Equilibrium propagation (eq. 10) runs

1. a free phase (the "0-phase") to ``s^{beta0}``,
2. a nudged phase (the "xi-phase") at ``beta0 + xi`` (and, for the symmetric estimator, at ``beta0 - xi``),
3. the update ``dtheta ∝ -(dF/dtheta(s^{beta0+xi}) - dF/dtheta(s^{beta0})) / xi`` (one-sided, Scellier &
Bengio
   2017) or ``-(dF/dtheta(s^{beta0+xi}) - dF/dtheta(s^{beta0-xi})) / (2 xi)`` (symmetric, Laborieux et
   al. 2021).

Everything here is generic and uses autograd for ``dF/ds`` and ``dF/dtheta``; :mod:`.hopfield` has the fast
analytic version for the Scellier-Bengio network. Energies and costs return one value per sample (shape
``(B,)``); the dynamics descend the batch sum (samples relax independently), the parameter gradients use the
batch mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..errors import DeepGeometryError

Tensors = list[torch.Tensor]
#: ``E(theta, s, v) -> (B,)`` and ``C(theta, s, v) -> (B,)``
EnergyFn = Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor], object], torch.Tensor]
Projection = Callable[[Sequence[torch.Tensor]], Tensors]

ESTIMATORS = ("one-sided", "symmetric")


@dataclass(frozen=True)
class EnergyModel:
    """An energy-based model: internal energy ``E``, cost ``C`` and the projection of the state space.

    ``F(theta, beta, s, v) = E(theta, s, v) + beta * C(theta, s, v)`` (eq. 8: ``C = dF/dbeta``).
    """

    energy: EnergyFn
    cost: EnergyFn
    project: Projection | None = None

    def total(
        self, theta: Sequence[torch.Tensor], beta: float, s: Sequence[torch.Tensor], v: object
    ) -> torch.Tensor:
        """Per-sample total energy ``F`` (shape ``(B,)``)."""
        f = self.energy(theta, s, v)
        if beta != 0.0:
            f = f + beta * self.cost(theta, s, v)
        return f


def check_finite(tensors: Sequence[torch.Tensor], what: str) -> None:
    """Raise :class:`DeepGeometryError` naming ``what`` if any tensor holds a NaN or an infinity."""
    for i, t in enumerate(tensors):
        if not torch.isfinite(t).all():
            raise DeepGeometryError(
                f"{what}[{i}] is not finite (NaN or inf); lower the step size or the weights"
            )


def relax(
    model: EnergyModel,
    theta: Sequence[torch.Tensor],
    s0: Sequence[torch.Tensor],
    v: object,
    *,
    beta: float = 0.0,
    steps: int = 100,
    eps: float = 0.5,
    create_graph: bool = False,
) -> Tensors:
    """Run ``steps`` iterations of ``s <- project(s - eps * dF/ds)`` from ``s0`` (eq. 9's fixed point).

    With ``create_graph=True`` the iterations stay differentiable in ``theta`` (backpropagation through time).
    Raises :class:`DeepGeometryError` on non-finite states.
    """
    if steps < 0 or eps <= 0:
        raise DeepGeometryError(f"relax needs steps >= 0 and eps > 0, got steps={steps}, eps={eps}")
    s = [
        t if (create_graph and t.requires_grad) else t.detach().clone().requires_grad_(create_graph)
        for t in s0
    ]
    for _ in range(steps):
        if not create_graph:
            s = [t.detach().requires_grad_(True) for t in s]
        with torch.enable_grad():
            f = model.total(theta, beta, s, v).sum()
            g = torch.autograd.grad(f, s, create_graph=create_graph)
        s = [t - eps * gi for t, gi in zip(s, g, strict=False)]
        if model.project is not None:
            s = model.project(s)
        if not create_graph:
            s = [t.detach() for t in s]
    check_finite(s, "state")
    return s


def dF_dtheta(
    model: EnergyModel, theta: Sequence[torch.Tensor], beta: float, s: Sequence[torch.Tensor], v: object
) -> Tensors:
    """``dF/dtheta`` at the state ``s`` (batch mean), by autograd."""
    th = [t.detach().requires_grad_(True) for t in theta]
    with torch.enable_grad():
        f = model.total(th, beta, [t.detach() for t in s], v).mean()
        g = torch.autograd.grad(f, th, allow_unused=True)
    return [torch.zeros_like(t) if gi is None else gi for t, gi in zip(th, g, strict=False)]


@dataclass
class EPEstimate:
    """The result of one EP step: ``grad`` estimates ``dL/dtheta`` (so ``dtheta = -lr * grad``)."""

    grad: Tensors
    free: Tensors
    nudged: Tensors
    nudged_neg: Tensors | None = None


def ep_gradient(
    model: EnergyModel,
    theta: Sequence[torch.Tensor],
    v: object,
    s_init: Sequence[torch.Tensor],
    *,
    beta: float,
    free_steps: int = 100,
    nudged_steps: int = 100,
    eps: float = 0.5,
    estimator: str = "one-sided",
    beta0: float = 0.0,
) -> EPEstimate:
    """Estimate ``dL/dtheta`` with ``L = C(s^{beta0})`` by equilibrium propagation (eqs. 9-10).

    ``beta`` is the nudging ``xi`` of eq. (10) (with ``delta = +1``); it must be non-zero.
    """
    if estimator not in ESTIMATORS:
        raise DeepGeometryError(f"unknown estimator {estimator!r}; use one of {ESTIMATORS}")
    if beta == 0.0 or not torch.isfinite(torch.tensor(float(beta))):
        raise DeepGeometryError(f"the nudged phase needs a finite beta != 0, got beta={beta}")
    free = relax(model, theta, s_init, v, beta=beta0, steps=free_steps, eps=eps)
    nudged = relax(model, theta, free, v, beta=beta0 + beta, steps=nudged_steps, eps=eps)
    g_plus = dF_dtheta(model, theta, beta0, nudged, v)
    if estimator == "one-sided":
        g_ref = dF_dtheta(model, theta, beta0, free, v)
        grad = [(a - b) / beta for a, b in zip(g_plus, g_ref, strict=False)]
        return EPEstimate(grad, free, nudged)
    nudged_neg = relax(model, theta, free, v, beta=beta0 - beta, steps=nudged_steps, eps=eps)
    g_minus = dF_dtheta(model, theta, beta0, nudged_neg, v)
    grad = [(a - b) / (2 * beta) for a, b in zip(g_plus, g_minus, strict=False)]
    return EPEstimate(grad, free, nudged, nudged_neg)


def bptt_gradient(
    model: EnergyModel,
    theta: Sequence[torch.Tensor],
    v: object,
    s_init: Sequence[torch.Tensor],
    *,
    steps: int = 100,
    eps: float = 0.5,
) -> Tensors:
    """``d C(s_T) / dtheta`` by backpropagation through the ``steps`` iterations of the free phase.

    This is the reference of the GDU property (Ernoult et al. 2019): EP's update tends to it as ``beta -> 0``
    once the free phase has converged.
    """
    th = [t.detach().requires_grad_(True) for t in theta]
    with torch.enable_grad():
        s = relax(
            model, th, [t.detach() for t in s_init], v, beta=0.0, steps=steps, eps=eps, create_graph=True
        )
        loss = model.cost(th, s, v).mean()
        g = torch.autograd.grad(loss, th, allow_unused=True)
    return [torch.zeros_like(t) if gi is None else gi.detach() for t, gi in zip(th, g, strict=False)]


def flat_cosine(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """Cosine similarity of two parameter lists, concatenated."""
    va = torch.cat([t.reshape(-1) for t in a])
    vb = torch.cat([t.reshape(-1) for t in b])
    den = va.norm() * vb.norm()
    if den == 0:
        return float("nan")
    return float(va @ vb / den)


def flat_rel_error(a: Sequence[torch.Tensor], ref: Sequence[torch.Tensor]) -> float:
    """``||a - ref|| / ||ref||`` over concatenated parameter lists."""
    va = torch.cat([t.reshape(-1) for t in a])
    vr = torch.cat([t.reshape(-1) for t in ref])
    return float((va - vr).norm() / vr.norm().clamp_min(1e-300))
