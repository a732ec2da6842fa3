"""Explicit systems as EP: the forward pass is the free phase, the nudged residuals are the adjoint."""

import pytest
import torch

from deepgeometry.ep.core import flat_cosine, flat_rel_error
from deepgeometry.ep.explicit import backprop_gradient, chain_energy, chain_ep_gradient, forward, mlp_chain
from deepgeometry.errors import DeepGeometryError


def _mlp(seed=0):
    g = torch.Generator().manual_seed(seed)
    sizes = [5, 7, 6, 3]
    ws = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=False):
        ws += [
            torch.randn(a, b, generator=g, dtype=torch.float64) / a**0.5,
            0.1 * torch.randn(b, generator=g, dtype=torch.float64),
        ]
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (8,), generator=g)
    return mlp_chain(ws, x, y)


def test_free_phase_is_forward_pass_with_zero_energy():
    chain, theta = _mlp()
    s = forward(chain, theta)
    assert float(chain_energy(chain, theta, s, 0.0)) == 0.0


def test_ep_equals_backprop_on_feedforward_net():
    chain, theta = _mlp()
    ref = backprop_gradient(chain, theta)
    errs = {}
    for est in ("one-sided", "symmetric"):
        errs[est] = [
            flat_rel_error(chain_ep_gradient(chain, theta, b, estimator=est).grad, ref) for b in (0.03, 0.003)
        ]
    assert errs["one-sided"][1] < errs["one-sided"][0] / 5  # O(beta)
    assert errs["symmetric"][1] < errs["symmetric"][0] / 50  # O(beta^2)
    assert errs["symmetric"][1] < errs["one-sided"][1]
    res = chain_ep_gradient(chain, theta, 0.003, estimator="symmetric")
    assert flat_cosine(res.grad, ref) > 0.9999
    assert res.stationarity < 1e-10


def test_nudged_residuals_are_the_adjoint():
    chain, theta = _mlp(1)
    res = chain_ep_gradient(chain, theta, 1e-4)
    s = [t.clone().requires_grad_(True) for t in forward(chain, theta)]
    # dL/ds_N is the backprop adjoint at the output
    (lam_n,) = torch.autograd.grad(chain.cost(s[-1]), s[-1])
    assert torch.allclose(res.adjoint[-1], lam_n, rtol=1e-3, atol=1e-6)


def test_sweep_and_lbfgs_find_the_same_minimiser():
    chain, theta = _mlp(2)
    a = chain_ep_gradient(chain, theta, 0.01, solver="sweep")
    b = chain_ep_gradient(chain, theta, 0.01, solver="lbfgs", tol=1e-12)
    assert flat_rel_error(b.grad, a.grad) < 1e-5


def test_bad_input():
    chain, theta = _mlp()
    with pytest.raises(DeepGeometryError, match="beta"):
        chain_ep_gradient(chain, theta, 0.0)
    with pytest.raises(DeepGeometryError, match="solver"):
        chain_ep_gradient(chain, theta, 0.1, solver="newton")
    with pytest.raises(DeepGeometryError, match="did not converge"):
        chain_ep_gradient(chain, theta, 50.0, max_iter=20)
