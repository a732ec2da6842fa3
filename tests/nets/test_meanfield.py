"""Mean-field theory of random nets (Poole et al. 2016; Schoenholz et al. 2017): references, identities."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize

from deepgeometry.errors import DeepGeometryError
from deepgeometry.nets.meanfield import (
    ACTIVATIONS,
    _e2,
    c_map,
    chi1,
    critical_sigma_w,
    curvature_recursion,
    gauss_hermite,
    meanfield,
    q_map,
    q_star,
)


def _quad_gauss(f, q):
    """E[f(u)], u ~ N(0, q), by adaptive quadrature (an oracle independent of Gauss-Hermite)."""
    L = 14.0 * math.sqrt(q)
    g = lambda u: f(u) * math.exp(-u * u / (2 * q)) / math.sqrt(2 * math.pi * q)  # noqa: E731
    return integrate.quad(g, -L, L, points=[-1.0, 0.0, 1.0], limit=2000, epsabs=1e-15, epsrel=1e-13)[0]


@pytest.mark.parametrize("sigma_w, chi1_ref, q_ref", [(1.3, 0.9398, 0.6070), (2.5, 1.5852, 4.0791)])
def test_tanh_reference_values(sigma_w, chi1_ref, q_ref):
    mf = meanfield("tanh", sigma_w, 0.3)
    assert mf.chi1 == pytest.approx(chi1_ref, abs=5e-5)
    assert mf.q_star == pytest.approx(q_ref, abs=5e-5)


def test_tanh_sigma_w_4_against_an_independent_quadrature():
    """The issue quotes chi1 = 2.3749, q* = 12.6034 at sigma_w = 4; converged quadrature: 2.3673, 12.6041.

    Both an adaptive quadrature (below) and a 1e7-sample Monte Carlo (2.3685 +- 0.0015, run by hand) agree
    with the Gauss-Hermite value, so the quoted pair is off in the third decimal; we pin the independent
    oracle and check that the quoted values are within 1%.
    """
    mf = meanfield("tanh", 4.0, 0.3)
    F = lambda q: 16.0 * _quad_gauss(lambda u: math.tanh(u) ** 2, q) + 0.09 - q  # noqa: E731
    q_ref = optimize.brentq(F, 1.0, 17.0, xtol=1e-13)
    chi_ref = 16.0 * _quad_gauss(lambda u: (1.0 - math.tanh(u) ** 2) ** 2, q_ref)
    assert mf.q_star == pytest.approx(q_ref, rel=1e-10)
    assert mf.chi1 == pytest.approx(chi_ref, rel=1e-10)
    assert mf.q_star == pytest.approx(12.6034, rel=1e-3)
    assert mf.chi1 == pytest.approx(2.3749, rel=1e-2)
    assert mf.length_ratio == pytest.approx(1.541, rel=2e-3)


def test_critical_sigma_w_tanh():
    sw = critical_sigma_w(math.sqrt(0.05), "tanh")
    assert sw**2 == pytest.approx(1.761, abs=5e-4)
    assert chi1(sw, math.sqrt(0.05), "tanh") == pytest.approx(1.0, abs=1e-9)
    mf = meanfield("tanh", sw, math.sqrt(0.05))
    assert mf.xi_c > 1e6 and mf.phase == "critical"
    assert critical_sigma_w(0.0, "tanh") == 1.0


@pytest.mark.parametrize("sigma_w", [0.7, 1.0, math.sqrt(2.0), 1.9, 2.6])
@pytest.mark.parametrize("sigma_b", [0.0, 0.3])
def test_relu_chi1_is_half_sigma_w_squared(sigma_w, sigma_b):
    mf = meanfield("relu", sigma_w, sigma_b)
    assert mf.chi1 == pytest.approx(sigma_w**2 / 2, rel=1e-14)
    assert mf.length_ratio == pytest.approx(sigma_w / math.sqrt(2), rel=1e-14)
    if sigma_w**2 < 2 - 1e-12:
        assert mf.q_star == pytest.approx(sigma_b**2 / (1 - sigma_w**2 / 2))
    elif sigma_w**2 > 2 + 1e-12 or sigma_b > 0:
        assert mf.q_star == math.inf and mf.xi_c == math.inf
    else:  # sigma_w^2 = 2, sigma_b = 0: every q is a fixed point
        assert mf.q_star == 1.0 and mf.phase == "critical"


def test_relu_critical_point():
    mf = meanfield("relu", math.sqrt(2.0), 0.0, q0=3.0)
    assert mf.q_star == 3.0 and mf.c_star == 1.0 and mf.phase == "critical"
    assert critical_sigma_w(0.7, "relu") == pytest.approx(math.sqrt(2.0))


def test_gauss_hermite_agrees_with_relu_closed_forms():
    """The generic tensor-product rule approaches the arc-cosine kernel (Cho & Saul) used for ReLU.

    Only to ~1e-2: a kink not aligned with the grid converges slowly, which is why piecewise-linear
    activations use closed forms.
    """
    relu, drelu = ACTIVATIONS["relu"].phi, ACTIVATIONS["relu"].dphi
    for c in (-0.6, 0.0, 0.4, 0.9):
        closed = 1.7 / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)
        assert _e2(relu, relu, 1.7, c, 200) == pytest.approx(closed, rel=2e-2)
        assert _e2(drelu, drelu, 1.7, c, 200) == pytest.approx(0.25 + math.asin(c) / (2 * math.pi), abs=1e-2)
        assert c_map(c, 1.2, 0.3, "relu") == pytest.approx(
            (1.44 * meanfield("relu", 1.2, 0.3).q_star / (2 * math.pi) * (math.sqrt(1 - c * c)
             + (math.pi - math.acos(c)) * c) + 0.09) / meanfield("relu", 1.2, 0.3).q_star, rel=1e-12)
    z, w = gauss_hermite(11)  # rounded up to an even order: no node at the kink
    assert len(z) == 12 and np.dot(w, z > 0) == pytest.approx(0.5, abs=1e-15)


@pytest.mark.parametrize("name", ["hard_tanh", "sigmoid", "tanh"])
def test_length_map_against_adaptive_quadrature(name):
    act = ACTIVATIONS[name]
    for q in (0.3, 2.0, 9.0):
        ref = 1.7**2 * _quad_gauss(lambda u: float(act.phi(np.array(u)) ** 2), q) + 0.2**2
        assert q_map(q, 1.7, 0.2, name) == pytest.approx(ref, rel=1e-9)
        ref1 = 1.7**2 * _quad_gauss(lambda u: float(act.dphi(np.array(u)) ** 2), q)
        assert chi1(1.7, 0.2, name, q=q) == pytest.approx(ref1, rel=1e-9)


@pytest.mark.parametrize("name, sigma_w",
                         [("tanh", 1.2), ("tanh", 3.0), ("sigmoid", 6.0), ("hard_tanh", 1.6)])
def test_fixed_points_and_slopes(name, sigma_w):
    """q* and c* are fixed points; chi1 is the c-map's slope at c = 1, xi_q the q-map's slope at q*."""
    sb = 0.3
    mf = meanfield(name, sigma_w, sb)
    assert q_map(mf.q_star, sigma_w, sb, name) == pytest.approx(mf.q_star, rel=1e-12)
    assert c_map(mf.c_star, sigma_w, sb, name, q=mf.q_star) == pytest.approx(mf.c_star, abs=1e-9)
    # hard_tanh's step-like phi' adds an O(h^1.5) term to the c-map near c = 1: use a smaller step there.
    h = 1e-6 if name == "hard_tanh" else 1e-4
    slope_c = (1.0 - c_map(1.0 - h, sigma_w, sb, name, q=mf.q_star)) / h
    assert slope_c == pytest.approx(mf.chi1, rel=1e-3)
    dq = 1e-5 * mf.q_star
    slope_q = (q_map(mf.q_star + dq, sigma_w, sb, name) - q_map(mf.q_star - dq, sigma_w, sb, name)) / (2 * dq)
    assert -1.0 / math.log(slope_q) == pytest.approx(mf.xi_q, rel=1e-5)
    if mf.chi1 < 1:
        assert mf.c_star == 1.0 and mf.chi_c == pytest.approx(mf.chi1)
    else:
        assert mf.c_star < 1.0 and mf.chi_c < 1.0
        cs = mf.c_star
        slope = (c_map(cs + 1e-5, sigma_w, sb, name, q=mf.q_star) - c_map(cs - 1e-5, sigma_w, sb, name,
                                                                            q=mf.q_star)) / 2e-5
        assert slope == pytest.approx(mf.chi_c, rel=1e-3)


def test_chi2_and_curvature_recursion_fixed_point():
    mf = meanfield("tanh", 2.5, 0.3)
    k = curvature_recursion(1.0 / math.sqrt(mf.q_star), mf.chi1, mf.chi2, 200)
    assert k[0] == pytest.approx(1 / math.sqrt(mf.q_star))
    assert k[-1] == pytest.approx(math.sqrt(3 * mf.chi2 / (mf.chi1 * (mf.chi1 - 1))), rel=1e-10)
    assert meanfield("relu", 1.0, 0.1).chi2 == math.inf
    q = mf.q_star
    ref = 2.5**2 * _quad_gauss(lambda u: (-2 * math.tanh(u) * (1 - math.tanh(u) ** 2)) ** 2, q)
    assert mf.chi2 == pytest.approx(ref, rel=1e-9)


def test_hard_tanh_correlation_map_at_c_equal_one_is_the_length_map():
    """Two independent closed forms (2-D panels + inner Gaussian clip; 1-D erf formula) meet at c = 1."""
    for q in (0.2, 1.0, 5.0):
        assert c_map(1.0, 1.6, 0.3, "hard_tanh", q=q) * q == pytest.approx(q_map(q, 1.6, 0.3, "hard_tanh"),
                                                                           rel=1e-12)


def test_ordered_phase_without_bias_collapses_to_zero():
    mf = meanfield("tanh", 0.8, 0.0)
    assert mf.q_star == 0.0 and mf.chi1 == pytest.approx(0.64) and mf.phase == "ordered"
    assert q_star(1.5, 0.0, "tanh") > 0


def test_bad_input_raises():
    with pytest.raises(DeepGeometryError, match="activation"):
        meanfield("swish", 1.0, 0.0)
    with pytest.raises(DeepGeometryError, match="sigma_w"):
        meanfield("tanh", -1.0, 0.0)
    with pytest.raises(DeepGeometryError, match="sigma_b"):
        meanfield("tanh", 1.0, float("nan"))
    with pytest.raises(DeepGeometryError, match="diverges"):
        c_map(0.5, 2.0, 0.3, "relu")
    assert meanfield("tanh", 2.5, 0.3).to_dict()["phase"] == "chaotic"
