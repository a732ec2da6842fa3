"""The layered Hopfield network of Scellier & Bengio (2017), trained by equilibrium propagation.

Energy (one sample, layers ``s_0 = x`` clamped, ``s_1 .. s_L`` free, ``s_L`` the output)::

    E(s) = 1/2 sum_{k>=1} ||s_k||^2 - sum_k rho(s_k)^T W_k rho(s_{k+1}) - sum_{k>=1} b_k^T rho(s_k)
    C(s) = 1/2 ||s_L - d||^2,           F = E + beta * C           (paper eq. 8)

with the hard sigmoid ``rho(s) = clip(s, 0, 1)``. The dynamics are clipped Euler steps
``s <- clip(s - eps * dF/ds, 0, 1)`` with ``rho'(s) = 1`` on the *closed* interval ``[0, 1]`` (with an open
interval a unit sitting at 0 would never move again). Since every state lies in ``[0, 1]`` after a step,
``rho(s) = s`` and ``dE/ds_k = s_k - (rho(s_{k-1}) W_{k-1} + rho(s_{k+1}) W_k^T + b_k)``.

``dE/dW_k = -rho(s_k) rho(s_{k+1})^T`` and ``dE/db_k = -rho(s_k)``, so the EP update of eq. (10) is the
contrastive Hebbian rule ``dW_k ∝ (rho(s_k^beta) rho(s_{k+1}^beta)^T - rho(s_k^0) rho(s_{k+1}^0)^T) / beta``.

Parameters are kept as one flat list ``theta = [W_0, .., W_{L-1}, b_1, .., b_L]`` so that the generic
machinery of :mod:`.core` (autograd EP, BPTT) applies unchanged; the functions here are the fast analytic
equivalents used for training (checked against autograd in the tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import DeepGeometryError
from .core import EnergyModel, Tensors, check_finite


def rho(s: torch.Tensor) -> torch.Tensor:
    """The hard sigmoid ``clip(s, 0, 1)`` (its autograd derivative is 1 on the closed interval)."""
    return s.clamp(0.0, 1.0)


def parse_arch(arch: str | Sequence[int]) -> tuple[int, ...]:
    """``"784-500-10"`` or ``[784, 500, 10]`` -> ``(784, 500, 10)``; at least input and output layers."""
    if isinstance(arch, str):
        try:
            sizes = tuple(int(p) for p in arch.strip().split("-"))
        except ValueError:
            raise DeepGeometryError(f"architecture {arch!r} must look like '784-500-10'") from None
    else:
        sizes = tuple(int(p) for p in arch)
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise DeepGeometryError(f"architecture {arch!r} needs >= 2 layers of positive width")
    return sizes


@dataclass
class HopfieldNet:
    """Weights and biases of a layered Hopfield network with layer widths ``sizes``."""

    sizes: tuple[int, ...]
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def theta(self) -> Tensors:
        return [*self.weights, *self.biases]

    def zero_state(self, batch: int) -> Tensors:
        dt = self.weights[0].dtype
        return [torch.zeros(batch, n, dtype=dt) for n in self.sizes[1:]]

    def energy_model(self) -> EnergyModel:
        """The same network for the generic autograd machinery of :mod:`.core`."""
        L = self.n_layers
        return EnergyModel(
            energy=lambda th, s, v: hopfield_energy(th[:L], th[L:], v[0], s),
            cost=lambda th, s, v: hopfield_cost(s, v[1]),
            project=lambda s: [t.clamp(0.0, 1.0) for t in s],
        )

    def relax(
        self,
        x: torch.Tensor,
        states: Sequence[torch.Tensor] | None = None,
        *,
        steps: int,
        eps: float = 0.5,
        beta: float = 0.0,
        target: torch.Tensor | None = None,
    ) -> Tensors:
        s = self.zero_state(len(x)) if states is None else states
        return hopfield_relax(self.weights, self.biases, x, s, steps=steps, eps=eps, beta=beta, target=target)

    def predict(self, x: torch.Tensor, *, steps: int = 100, eps: float = 0.5) -> torch.Tensor:
        """Class predictions: argmax of the output layer at the free fixed point reached from zero."""
        return self.relax(x, steps=steps, eps=eps)[-1].argmax(1)


def init_hopfield(
    sizes: Sequence[int], *, seed: int = 0, dtype: torch.dtype = torch.float32, gain: float = 1.0
) -> HopfieldNet:
    """Glorot-uniform weights ``U(-a, a)``, ``a = gain * sqrt(6 / (n_in + n_out))``, zero biases
    (Scellier-Bengio).
    """
    sizes = parse_arch(sizes)
    g = torch.Generator().manual_seed(int(seed))
    weights = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False):
        a = gain * math.sqrt(6.0 / (n_in + n_out))
        weights.append(((torch.rand(n_in, n_out, generator=g, dtype=torch.float64) * 2 - 1) * a).to(dtype))
    biases = [torch.zeros(n, dtype=dtype) for n in sizes[1:]]
    return HopfieldNet(tuple(sizes), weights, biases)


def hopfield_energy(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    x: torch.Tensor,
    states: Sequence[torch.Tensor],
) -> torch.Tensor:
    """Per-sample energy ``E(s)`` (shape ``(B,)``); differentiable in weights, biases and states."""
    layers = [x, *states]
    e = sum(0.5 * (s * s).sum(-1) for s in states)
    for k, w in enumerate(weights):
        e = e - ((rho(layers[k]) @ w) * rho(layers[k + 1])).sum(-1)
    for b, s in zip(biases, states, strict=False):
        e = e - (rho(s) * b).sum(-1)
    return e


def hopfield_cost(states: Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Per-sample cost ``C = 1/2 ||s_L - d||^2``."""
    return 0.5 * ((states[-1] - target) ** 2).sum(-1)


def hopfield_relax(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    x: torch.Tensor,
    states: Sequence[torch.Tensor],
    *,
    steps: int,
    eps: float = 0.5,
    beta: float = 0.0,
    target: torch.Tensor | None = None,
) -> Tensors:
    """``steps`` synchronous clipped Euler steps ``s <- clip(s - eps dF/ds, 0, 1)`` (analytic gradient)."""
    if beta != 0.0 and target is None:
        raise DeepGeometryError("a nudged phase (beta != 0) needs a target")
    if eps <= 0 or steps < 0:
        raise DeepGeometryError(f"relaxation needs eps > 0 and steps >= 0, got eps={eps}, steps={steps}")
    L = len(weights)
    if x.shape[-1] != weights[0].shape[0]:
        raise DeepGeometryError(
            f"input has {x.shape[-1]} features but the network expects {weights[0].shape[0]}"
        )
    input_drive = x @ weights[0] + biases[0]
    s = [t.clamp(0.0, 1.0) for t in states]
    for _ in range(steps):
        new = []
        for k in range(L):
            drive = input_drive if k == 0 else s[k - 1] @ weights[k] + biases[k]
            if k + 1 < L:
                drive = drive + s[k + 1] @ weights[k + 1].T
            grad = s[k] - drive
            if k == L - 1 and beta != 0.0:
                grad = grad + beta * (s[k] - target)
            new.append((s[k] - eps * grad).clamp_(0.0, 1.0))
        s = new
    check_finite(s, "state")
    return s


def hopfield_dF_dtheta(x: torch.Tensor, states: Sequence[torch.Tensor]) -> Tensors:
    """``dE/dtheta`` (= ``dF/dtheta``: the cost does not involve theta) at ``states``, batch mean."""
    layers = [x, *states]
    n = len(x)
    gw = [-(rho(layers[k]).T @ rho(layers[k + 1])) / n for k in range(len(states))]
    gb = [-rho(s).mean(0) for s in states]
    return [*gw, *gb]


def hopfield_ep_gradient(
    x: torch.Tensor,
    free: Sequence[torch.Tensor],
    nudged: Sequence[torch.Tensor],
    beta: float,
    nudged_neg: Sequence[torch.Tensor] | None = None,
) -> Tensors:
    """Eq. (10) for the Hopfield net: one-sided, or symmetric when ``nudged_neg`` (the ``-beta`` phase)
    is given.
    """
    if beta == 0.0:
        raise DeepGeometryError("the nudged phase needs beta != 0")
    gp = hopfield_dF_dtheta(x, nudged)
    if nudged_neg is None:
        g0 = hopfield_dF_dtheta(x, free)
        return [(a - b) / beta for a, b in zip(gp, g0, strict=False)]
    gm = hopfield_dF_dtheta(x, nudged_neg)
    return [(a - b) / (2 * beta) for a, b in zip(gp, gm, strict=False)]
