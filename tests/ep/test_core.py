"""Generic EP (eqs. 8-10), the Hopfield energy, and the GDU property (EP -> BPTT as beta -> 0)."""

import pytest
import torch

from deepgeometry.ep.core import EnergyModel, dF_dtheta, ep_gradient, flat_cosine, relax
from deepgeometry.ep.gradcheck import ep_vs_bptt, random_hopfield_problem
from deepgeometry.ep.hopfield import hopfield_dF_dtheta, hopfield_ep_gradient, hopfield_relax, parse_arch
from deepgeometry.errors import DeepGeometryError


def test_quadratic_energy_ep_equals_closed_form_gradient():
    # E = 1/2 ||s - W v||^2, C = 1/2 ||s - d||^2: s*(beta) = (W v + beta d) / (1 + beta); L = 1/2||Wv - d||^2
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64)
    v = torch.randn(2, 4, generator=g, dtype=torch.float64)
    d = torch.randn(2, 3, generator=g, dtype=torch.float64)
    model = EnergyModel(
        energy=lambda th, s, v: 0.5 * ((s[0] - v[0] @ th[0].T) ** 2).sum(-1),
        cost=lambda th, s, v: 0.5 * ((s[0] - v[1]) ** 2).sum(-1),
    )
    exact = ((v @ w.T - d).T @ v) / 2  # d mean(L) / dW
    for est, tol in (("one-sided", 2e-3), ("symmetric", 1e-5)):
        est_g = ep_gradient(
            model,
            [w],
            (v, d),
            [torch.zeros(2, 3, dtype=torch.float64)],
            beta=1e-3,
            free_steps=200,
            nudged_steps=200,
            eps=0.5,
            estimator=est,
        ).grad[0]
        assert torch.allclose(est_g, exact, rtol=tol, atol=tol)


def test_hopfield_analytic_matches_autograd():
    net, (x, d) = random_hopfield_problem(seed=1)
    s = net.relax(x, steps=7)
    model = net.energy_model()
    auto = dF_dtheta(model, net.theta, 0.0, s, (x, d))
    ana = hopfield_dF_dtheta(x, s)
    for a, b in zip(auto, ana, strict=False):
        assert torch.allclose(a, b, atol=1e-12)
    # one analytic clipped Euler step == one generic projected gradient step, free and nudged
    for beta in (0.0, 0.7):
        fast = hopfield_relax(net.weights, net.biases, x, s, steps=3, beta=beta, target=d)
        slow = relax(model, net.theta, s, (x, d), beta=beta, steps=3, eps=0.5)
        for a, b in zip(fast, slow, strict=False):
            assert torch.allclose(a, b, atol=1e-12)


def test_gdu_property_ep_tends_to_bptt():
    net, (x, d) = random_hopfield_problem(seed=1)
    s0 = net.relax(x, steps=2000)
    rows = ep_vs_bptt(
        net.energy_model(), net.theta, (x, d), s0, betas=[0.1, 0.02, 0.004], free_steps=60, nudged_steps=150
    )
    assert rows[-1]["cos_one_sided"] >= 0.99 and rows[-1]["cos_symmetric"] >= 0.99
    for a, b in zip(rows, rows[1:], strict=False):
        assert b["err_one_sided"] < a["err_one_sided"]
        assert b["err_symmetric"] < a["err_symmetric"]
    assert rows[-1]["err_symmetric"] < rows[-1]["err_one_sided"]
    # one-sided bias is O(beta): dividing beta by 5 divides the error by about 5
    assert 3 < rows[-2]["err_one_sided"] / rows[-1]["err_one_sided"] < 7


def test_fast_ep_gradient_equals_generic():
    net, (x, d) = random_hopfield_problem(seed=2)
    s0 = net.relax(x, steps=500)
    gen = ep_gradient(
        net.energy_model(),
        net.theta,
        (x, d),
        s0,
        beta=0.05,
        free_steps=10,
        nudged_steps=40,
        estimator="symmetric",
    )
    fast = hopfield_ep_gradient(x, gen.free, gen.nudged, 0.05, gen.nudged_neg)
    assert flat_cosine(fast, gen.grad) > 1 - 1e-12


def test_bad_input():
    net, (x, d) = random_hopfield_problem(seed=0)
    model = net.energy_model()
    with pytest.raises(DeepGeometryError, match="beta"):
        ep_gradient(model, net.theta, (x, d), net.zero_state(len(x)), beta=0.0)
    with pytest.raises(DeepGeometryError, match="estimator"):
        ep_gradient(model, net.theta, (x, d), net.zero_state(len(x)), beta=0.1, estimator="two-sided")
    bad = [torch.full_like(t, float("nan")) for t in net.zero_state(len(x))]
    with pytest.raises(DeepGeometryError, match="not finite"):
        relax(model, net.theta, bad, (x, d), steps=2)
    with pytest.raises(DeepGeometryError, match="784-500-10"):
        parse_arch("784-x-10")
    with pytest.raises(DeepGeometryError, match="input has 3 features"):
        hopfield_relax(net.weights, net.biases, x[:, :3], net.zero_state(len(x)), steps=1)
    with pytest.raises(DeepGeometryError, match="target"):
        hopfield_relax(net.weights, net.biases, x, net.zero_state(len(x)), steps=1, beta=0.5)
