"""EP training of the Hopfield net: it learns, dead outputs are detected, bad input is refused."""

import pytest
import torch

from deepgeometry.data import digits
from deepgeometry.ep.core import EnergyModel, ep_gradient
from deepgeometry.ep.hopfield import (
    hopfield_cost,
    hopfield_energy,
    hopfield_ep_gradient,
    hopfield_relax,
    init_hopfield,
)
from deepgeometry.ep.training import (
    SCELLIER_BENGIO_CODE_RAW,
    SCELLIER_BENGIO_PAPER,
    from_code_convention,
    scellier_bengio_config,
    train_backprop,
    train_ep,
)
from deepgeometry.errors import DeepGeometryError


@pytest.fixture(scope="module")
def data():
    return digits().flat()


def test_presets():
    # default: Scellier & Bengio's released code, translated to C = 1/2 ||y - d||^2
    cfg = scellier_bengio_config("784-500-10")
    assert (cfg.preset, cfg.free_steps, cfg.nudged_steps, cfg.eps, cfg.beta, cfg.lrs, cfg.batch_size) == (
        "code",
        20,
        4,
        0.5,
        1.0,
        (0.2, 0.1),
        20,
    )
    deep = scellier_bengio_config("784-500-500-10")
    assert (deep.free_steps, deep.nudged_steps, deep.beta, deep.lrs) == (150, 6, 2.0, (0.8, 0.2, 0.02))
    assert scellier_bengio_config("784-500-500-500-10").free_steps == 500
    # the paper's Table 1 taken literally
    paper = scellier_bengio_config("784-500-10", preset="paper")
    assert (paper.beta, paper.lrs) == (1.0, (0.1, 0.05))
    paper2 = scellier_bengio_config("784-500-500-10", preset="paper")
    assert (paper2.free_steps, paper2.nudged_steps, paper2.beta, paper2.lrs) == SCELLIER_BENGIO_PAPER[2][
        :2
    ] + (
        1.0,
        (0.4, 0.1, 0.01),
    )
    assert SCELLIER_BENGIO_CODE_RAW[1][3:] == (0.5, (0.1, 0.05))  # train_model.py, net1
    assert scellier_bengio_config("64-10", preset="paper").lrs == (0.1,)
    with pytest.raises(DeepGeometryError, match="preset"):
        scellier_bengio_config("784-500-10", preset="arxiv")


def test_code_convention_translation():
    """The code's cost ||y - d||^2 with (beta_c, alpha) gives the same nudged states and the same weight
    change as C = 1/2 ||y - d||^2 with (2 beta_c, 2 alpha) -- checked against generic autograd EP."""
    torch.manual_seed(0)
    net = init_hopfield((6, 5, 4, 3), seed=1, dtype=torch.float64)
    x = torch.rand(7, 6, dtype=torch.float64)
    d = torch.nn.functional.one_hot(torch.randint(0, 3, (7,)), 3).to(torch.float64)
    L = net.n_layers
    code_model = EnergyModel(
        energy=lambda th, s, v: hopfield_energy(th[:L], th[L:], v[0], s),
        cost=lambda th, s, v: 2.0 * hopfield_cost(s, v[1]),  # ||y - d||^2
        project=lambda s: [t.clamp(0.0, 1.0) for t in s],
    )
    beta_c, alphas = 0.5, (0.1, 0.05, 0.02)
    beta, lrs = from_code_convention(beta_c, alphas)
    assert (beta, lrs) == (1.0, (0.2, 0.1, 0.04))
    s0 = net.relax(x, steps=30)
    est = ep_gradient(code_model, net.theta, (x, d), s0, beta=beta_c, free_steps=5, nudged_steps=8)
    free = hopfield_relax(net.weights, net.biases, x, s0, steps=5)
    nudged = hopfield_relax(net.weights, net.biases, x, free, steps=8, beta=beta, target=d)
    for a, b in zip(est.nudged, nudged, strict=True):
        torch.testing.assert_close(a, b)
    ours = hopfield_ep_gradient(x, free, nudged, beta)
    for k in range(L):
        torch.testing.assert_close(alphas[k] * est.grad[k], lrs[k] * ours[k])
        torch.testing.assert_close(alphas[k] * est.grad[L + k], lrs[k] * ours[L + k])
    assert max(float(g.abs().max()) for g in ours) > 1e-3  # the nudge did move the states


def test_ep_learns_digits(data):
    cfg = scellier_bengio_config("64-64-10", epochs=6)
    rec, net = train_ep(cfg, data.x_train, data.y_train, data.x_test, data.y_test, 10)
    assert rec.status == "ok" and len(rec.epochs) == 6
    assert rec.final_test_error < 0.25  # chance is 0.9
    assert rec.epochs[-1]["train_cost"] < rec.epochs[0]["train_cost"]
    assert 0 <= rec.epochs[-1]["free_phase_residual"] < 0.05  # the persistent test states are near-fixed


def test_dead_outputs_are_detected(data):
    cfg = scellier_bengio_config(
        "64-32-10", epochs=2, dead_patience=3, dead_window=5, random_sign=False, beta=-1.0
    )
    net = init_hopfield(cfg.arch, seed=0)
    net.biases[-1] -= 50.0  # output units can never leave 0
    rec, _ = train_ep(cfg, data.x_train, data.y_train, data.x_test, data.y_test, 10, net=net)
    assert rec.status == "dead outputs"
    assert "output units" in rec.detail and rec.epochs and rec.epochs[0]["dead_output_units"] == 10


def test_backprop_baseline_learns(data):
    cfg = scellier_bengio_config("64-64-10", epochs=3)
    rec, _ = train_backprop(cfg, data.x_train, data.y_train, data.x_test, data.y_test, 10)
    assert rec.status == "ok" and rec.final_test_error < 0.25


def test_bad_input(data):
    with pytest.raises(DeepGeometryError, match="does not match the data"):
        train_ep(
            scellier_bengio_config("784-500-10", epochs=1),
            data.x_train,
            data.y_train,
            data.x_test,
            data.y_test,
            10,
        )
    with pytest.raises(DeepGeometryError, match="beta"):
        scellier_bengio_config("64-10-10", beta=0.0)
    with pytest.raises(DeepGeometryError, match="learning rate"):
        scellier_bengio_config("64-10-10", lrs=(0.1,))
    with pytest.raises(DeepGeometryError, match=r"\[0, 1\]"):
        train_ep(
            scellier_bengio_config("64-10-10", epochs=1),
            data.x_train * 3,
            data.y_train,
            data.x_test,
            data.y_test,
            10,
        )
