"""Segment lengths: MACs against the paper's N_k K S formula, displacement and Hutchinson Jacobian deviation
against closed forms and explicit Jacobians."""

import math

import pytest
import torch
from torch import nn

from deepgeometry.errors import DeepGeometryError
from deepgeometry.nets.lengths import (
    complexity_macs,
    displacement,
    embed,
    jacobian_deviation,
    parameter_count,
)

D = torch.float64


# --- complexity ---------------------------------------------------------------------------------------------

def test_conv_macs_are_nk_kx_ky_kz_sx_sy():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert complexity_macs(conv, torch.rand(5, 3, 10, 10)) == 8 * 3 * 3 * 3 * 10 * 10
    strided = nn.Conv2d(3, 8, 3, padding=1, stride=2)
    assert complexity_macs(strided, torch.rand(2, 3, 10, 10)) == 8 * 3 * 3 * 3 * 5 * 5
    grouped = nn.Conv2d(4, 8, 3, padding=1, groups=2)
    assert complexity_macs(grouped, torch.rand(2, 4, 6, 6)) == 8 * 2 * 9 * 36
    conv1 = nn.Conv1d(2, 5, 5, padding=2)
    assert complexity_macs(conv1, torch.rand(2, 2, 40)) == 5 * 2 * 5 * 40


def test_linear_macs_and_nonlinear_ops_count_zero():
    assert complexity_macs(nn.Linear(5, 7), torch.rand(9, 5)) == 35
    assert complexity_macs(nn.ReLU(), torch.rand(9, 5)) == 0
    assert complexity_macs(nn.MaxPool2d(2), torch.rand(2, 3, 4, 4)) == 0
    assert complexity_macs(nn.BatchNorm1d(5).eval(), torch.rand(9, 5)) == 0
    stage = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 16, 10))
    assert complexity_macs(stage, torch.rand(3, 1, 8, 8)) == 4 * 9 * 64 + 64 * 10


def test_parameter_count_counts_shared_once():
    lin = nn.Linear(3, 3)
    assert parameter_count(nn.Sequential(lin, nn.ReLU(), lin)) == 12


# --- displacement -------------------------------------------------------------------------------------------

def test_displacement_closed_forms():
    x = torch.randn(20, 3, 4, dtype=D)
    assert displacement(x, x.clone()) == (0.0, 0.0, 20)
    two = displacement(x, 2 * x)
    assert two.value == pytest.approx(1.0, abs=1e-15) and two.se == pytest.approx(0.0, abs=1e-15)
    assert displacement(x, -x).value == pytest.approx(2.0, abs=1e-14)


def test_displacement_of_shape_changing_segment_uses_zero_padding():
    x = torch.randn(10, 4, dtype=D)
    d = displacement(x, x[:, :2])  # padded: [x0, x1, 0, 0] - x = [0, 0, -x2, -x3]
    want = (x[:, 2:].norm(dim=1) / x.norm(dim=1)).mean()
    assert d.value == pytest.approx(float(want), rel=1e-12)
    y = torch.cat([x, torch.ones(10, 2, dtype=D)], 1)  # [x, 1, 1] - [x, 0, 0]
    assert displacement(x, y).value == pytest.approx(float((math.sqrt(2) / x.norm(dim=1)).mean()), rel=1e-12)


def test_displacement_bad_input():
    with pytest.raises(DeepGeometryError, match="zero vector"):
        displacement(torch.zeros(3, 2), torch.ones(3, 2))
    with pytest.raises(DeepGeometryError, match="NaN"):
        displacement(torch.tensor([[1.0, float("nan")]]), torch.ones(1, 2))
    with pytest.raises(DeepGeometryError, match="batch sizes"):
        displacement(torch.ones(3, 2), torch.ones(2, 2))


def test_embed():
    v = torch.arange(3.0).reshape(1, 3)
    assert torch.equal(embed(v, 5), torch.tensor([[0.0, 1, 2, 0, 0]]))
    with pytest.raises(DeepGeometryError):
        embed(v, 2)


# --- Jacobian deviation -------------------------------------------------------------------------------------

def _linear(w: torch.Tensor):
    return lambda x: x @ w.T


def test_identity_is_exactly_zero():
    est = jacobian_deviation(lambda x: x, torch.randn(7, 3, 5, dtype=D), probes=4)
    assert est.value == 0.0 and est.se == 0.0 and est.n == 28


def test_scaled_identity_and_zero_map_are_exactly_one():
    x = torch.randn(6, 9, dtype=D)
    for fn in (lambda t: 2 * t, lambda t: 0 * t):
        est = jacobian_deviation(fn, x, probes=3)
        assert est.value == pytest.approx(1.0, abs=1e-14)
        assert est.se == pytest.approx(0.0, abs=1e-14)


def test_hutchinson_matches_exact_linear_map():
    g = torch.Generator().manual_seed(0)
    d = 6
    w = torch.randn(d, d, generator=g, dtype=D)
    exact = float(torch.linalg.matrix_norm(w - torch.eye(d, dtype=D)) / math.sqrt(d))
    est = jacobian_deviation(_linear(w), torch.randn(50, d, dtype=D), probes=40,
                             generator=torch.Generator().manual_seed(1))
    assert abs(est.value - exact) < 4 * est.se
    assert est.se < 0.05 * exact


def test_shape_changing_linear_map_uses_partial_identity():
    g = torch.Generator().manual_seed(2)
    for d_in, d_out in ((5, 3), (3, 5)):
        w = torch.randn(d_out, d_in, generator=g, dtype=D)
        e = torch.eye(d_out, d_in, dtype=D)
        exact = float(torch.linalg.matrix_norm(w - e) / math.sqrt(min(d_in, d_out)))
        est = jacobian_deviation(_linear(w), torch.randn(100, d_in, dtype=D), probes=40,
                                 generator=torch.Generator().manual_seed(3))
        assert abs(est.value - exact) < 4 * est.se, (d_in, d_out, est, exact)
    # a partial identity itself (truncation / zero padding) deviates by exactly 0
    assert jacobian_deviation(lambda x: x[:, :3], torch.randn(4, 5, dtype=D)).value == 0.0
    pad = jacobian_deviation(lambda x: torch.nn.functional.pad(x, (0, 2)), torch.randn(4, 3, dtype=D))
    assert pad.value == 0.0


def test_hutchinson_matches_explicit_per_sample_jacobians_of_a_nonlinear_map():
    g = torch.Generator().manual_seed(4)
    d, n = 5, 30
    w = torch.randn(d, d, generator=g, dtype=D)

    def f(x):
        return torch.tanh(x @ w.T)

    x = torch.randn(n, d, generator=g, dtype=D)
    sq = [torch.linalg.matrix_norm(torch.autograd.functional.jacobian(f, x[i:i + 1]).reshape(d, d)
                                   - torch.eye(d, dtype=D)) ** 2 for i in range(n)]
    exact = math.sqrt(float(torch.stack(sq).mean()) / d)
    est = jacobian_deviation(f, x, probes=64, generator=torch.Generator().manual_seed(5))
    assert abs(est.value - exact) < 4 * est.se


def test_standard_error_is_calibrated():
    """The spread of independent estimates matches the reported standard error (within 35%)."""
    d = 8
    w = torch.randn(d, d, generator=torch.Generator().manual_seed(6), dtype=D)
    x = torch.randn(16, d, dtype=D)
    ests = [jacobian_deviation(_linear(w), x, probes=4, generator=torch.Generator().manual_seed(s))
            for s in range(200)]
    spread = float(torch.tensor([e.value for e in ests], dtype=D).std())
    mean_se = sum(e.se for e in ests) / len(ests)
    assert 0.65 < spread / mean_se < 1.35


def test_jacobian_deviation_is_reproducible_and_chunking_does_not_change_it():
    f = nn.Sequential(nn.Linear(4, 4), nn.Tanh()).double()
    x = torch.randn(10, 4, dtype=D)
    a = jacobian_deviation(f, x, 8, torch.Generator().manual_seed(0))
    b = jacobian_deviation(f, x, 8, torch.Generator().manual_seed(0), chunk_size=3)
    assert a.value == pytest.approx(b.value, rel=1e-12)


def test_jacobian_deviation_bad_input():
    with pytest.raises(DeepGeometryError, match="probes"):
        jacobian_deviation(lambda x: x, torch.ones(2, 2), probes=0)
    with pytest.raises(DeepGeometryError, match="floating"):
        jacobian_deviation(lambda x: x, torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(DeepGeometryError, match="not finite"):
        jacobian_deviation(lambda x: x * float("inf"), torch.ones(2, 2))


def test_rademacher_signs_are_fair_and_independent():
    from deepgeometry.nets.lengths import rademacher

    v = rademacher((4, 1000, 3), torch.float64, torch.Generator().manual_seed(0))
    assert v.shape == (4, 1000, 3) and set(v.unique().tolist()) == {-1.0, 1.0}
    assert abs(float(v.mean())) < 4 / math.sqrt(v.numel())
    flat = v.reshape(-1)
    # neighbouring entries (same byte) are uncorrelated
    assert abs(float((flat[1:] * flat[:-1]).mean())) < 4 / math.sqrt(v.numel())
    w = rademacher((4, 1000, 3), torch.float64, torch.Generator().manual_seed(0))
    assert torch.equal(v, w)


def test_reverse_mode_satisfies_the_same_oracles():
    x = torch.randn(7, 3, 5, dtype=D)
    est = jacobian_deviation(lambda t: t, x, probes=4, mode="reverse")
    assert est.value == 0.0 and est.se == 0.0 and est.n == 28
    for fn in (lambda t: 2 * t, lambda t: 0 * t + 0 * t.sum()):
        est = jacobian_deviation(fn, torch.randn(6, 9, dtype=D), probes=3, mode="reverse")
        assert est.value == pytest.approx(1.0, abs=1e-14)
    g = torch.Generator().manual_seed(2)
    for d_in, d_out in ((5, 3), (3, 5)):
        w = torch.randn(d_out, d_in, generator=g, dtype=D)
        e = torch.eye(d_out, d_in, dtype=D)
        exact = float(torch.linalg.matrix_norm(w - e) / math.sqrt(min(d_in, d_out)))
        est = jacobian_deviation(_linear(w), torch.randn(100, d_in, dtype=D), probes=40, mode="reverse",
                                 generator=torch.Generator().manual_seed(3))
        assert abs(est.value - exact) < 4 * est.se, (d_in, d_out, est, exact)
    assert jacobian_deviation(lambda t: t[:, :3], torch.randn(4, 5, dtype=D), mode="reverse").value == 0.0
    pad = jacobian_deviation(lambda t: torch.nn.functional.pad(t, (0, 2)), torch.randn(4, 3, dtype=D),
                             mode="reverse")
    assert pad.value == 0.0


def test_forward_and_reverse_modes_agree_on_a_conv_block():
    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.Tanh(),
                                torch.nn.Conv2d(4, 4, 3, padding=1)).double()
    x = torch.randn(16, 4, 6, 6, dtype=D)
    f = jacobian_deviation(block, x, probes=64, generator=torch.Generator().manual_seed(0))
    r = jacobian_deviation(block, x, probes=64, generator=torch.Generator().manual_seed(1), mode="reverse")
    assert abs(f.value - r.value) < 4 * math.hypot(f.se, r.se)
    with pytest.raises(DeepGeometryError, match="mode"):
        jacobian_deviation(block, x, mode="sideways")
