"""The GDU property (Ernoult et al. 2019): EP's update tends to the BPTT gradient of the free phase as
beta -> 0.

:func:`ep_vs_bptt` measures, for a list of nudging strengths, the cosine and the relative error between the EP
estimate (one-sided and symmetric) and ``dC(s_T)/dtheta`` from backpropagation through the ``T`` steps of the
free phase. The one-sided estimator has an ``O(beta)`` bias, the symmetric one ``O(beta^2)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .core import EnergyModel, bptt_gradient, ep_gradient, flat_cosine, flat_rel_error
from .hopfield import HopfieldNet, init_hopfield


def ep_vs_bptt(
    model: EnergyModel,
    theta: Sequence[torch.Tensor],
    v: object,
    s_init: Sequence[torch.Tensor],
    *,
    betas: Sequence[float],
    free_steps: int = 200,
    nudged_steps: int = 200,
    eps: float = 0.5,
) -> list[dict]:
    """One row per beta: ``cos_one_sided``, ``err_one_sided``, ``cos_symmetric``, ``err_symmetric`` vs
    BPTT.
    """
    ref = bptt_gradient(model, theta, v, s_init, steps=free_steps, eps=eps)
    rows = []
    for beta in betas:
        one = ep_gradient(
            model,
            theta,
            v,
            s_init,
            beta=beta,
            free_steps=free_steps,
            nudged_steps=nudged_steps,
            eps=eps,
            estimator="one-sided",
        ).grad
        sym = ep_gradient(
            model,
            theta,
            v,
            s_init,
            beta=beta,
            free_steps=free_steps,
            nudged_steps=nudged_steps,
            eps=eps,
            estimator="symmetric",
        ).grad
        rows.append(
            {
                "beta": float(beta),
                "cos_one_sided": flat_cosine(one, ref),
                "err_one_sided": flat_rel_error(one, ref),
                "cos_symmetric": flat_cosine(sym, ref),
                "err_symmetric": flat_rel_error(sym, ref),
            }
        )
    return rows


def random_hopfield_problem(
    sizes: Sequence[int] = (6, 8, 5, 3),
    *,
    batch: int = 4,
    seed: int = 0,
    gain: float = 0.7,
    bias_scale: float = 0.5,
    dtype: torch.dtype = torch.float64,
) -> tuple[HopfieldNet, tuple[torch.Tensor, torch.Tensor]]:
    """A small random Hopfield net (random biases) with inputs in [0, 1] and one-hot targets, for checks."""
    net = init_hopfield(sizes, seed=seed, dtype=dtype, gain=gain)
    g = torch.Generator().manual_seed(int(seed) + 7)
    net.biases = [
        (0.5 + (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * bias_scale).to(dtype)
        for n in sizes[1:]
    ]
    x = torch.rand(batch, sizes[0], generator=g, dtype=torch.float64).to(dtype)
    y = torch.randint(0, sizes[-1], (batch,), generator=g)
    d = torch.nn.functional.one_hot(y, sizes[-1]).to(dtype)
    return net, (x, d)
