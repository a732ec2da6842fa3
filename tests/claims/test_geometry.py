"""Closed-form oracles for the claims' helpers: statistics, curves, point clouds, persistence, sawtooth."""

import math

import numpy as np
import pytest
import torch

from deepgeometry.claims import _common as C
from deepgeometry.claims.persistence import rips_persistence, topological_complexity
from deepgeometry.claims.sawtooth import count_pieces, sawtooth, sawtooth_net
from deepgeometry.errors import DeepGeometryError


def test_summary_and_noise():
    s = C.summary([0.1, 0.5, 0.3])
    assert s["median"] == pytest.approx(0.3) and s["half_range"] == pytest.approx(0.2) and s["n"] == 3
    assert C.noise([0.1, 0.5], [0.2, 0.2]) == pytest.approx(0.2)
    assert C.noise([0.3, 0.3]) == C.NOISE_FLOOR
    with pytest.raises(DeepGeometryError):
        C.summary([1.0, float("nan")])
    assert C.paired([3, 2], [1, 1]) == [2.0, 1.0]


def test_kendall_tau_with_fail_ties():
    paper = [6.61, 12.35, math.inf, math.inf]
    assert C.kendall_tau([1, 2, 3, 3], paper) == pytest.approx(1.0)
    assert C.kendall_tau([3, 3, 2, 1], paper) == pytest.approx(-0.8)
    assert math.isnan(C.kendall_tau([1, 1, 1, 1], paper))
    with pytest.raises(DeepGeometryError):
        C.kendall_tau([1, 2], [1, 2, 3])


def test_turning_angle_and_length():
    th = np.linspace(0, 2 * np.pi, 500, endpoint=False)
    circle = np.c_[np.cos(th), np.sin(th), np.zeros_like(th)]
    assert C.turning_angle(circle, closed=True) == pytest.approx(2 * np.pi, rel=1e-9)
    assert C.curve_length(circle, closed=True) == pytest.approx(2 * np.pi, rel=1e-4)
    line = np.outer(np.linspace(0, 1, 50), [1.0, 2.0, 3.0])
    assert C.turning_angle(line) == pytest.approx(0.0, abs=1e-7)
    # a right-angle corner
    corner = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    assert C.turning_angle(corner) == pytest.approx(np.pi / 2)


def test_geodesic_ratio_flat_vs_curved():
    g = np.random.default_rng(0)
    flat = np.c_[g.uniform(0, 1, 400), g.uniform(0, 1, 400), np.zeros(400)]
    t = g.uniform(1.5 * np.pi, 4.5 * np.pi, 600)
    roll = np.c_[t * np.cos(t), g.uniform(0, 3, 600), t * np.sin(t)]
    r_flat, r_roll = C.geodesic_ratio(flat, 8), C.geodesic_ratio(roll, 8)
    assert 1.0 <= r_flat < 1.15
    assert r_roll > r_flat + 0.3


def test_two_nn_dimension_of_a_plane():
    g = np.random.default_rng(1)
    z = g.uniform(size=(1500, 2))
    x = z @ g.normal(size=(2, 10))
    assert C.two_nn_dimension(x) == pytest.approx(2.0, abs=0.3)


def test_sawtooth_net_is_exact_and_pieces_counted():
    x = torch.linspace(0, 1, 4097, dtype=torch.float64)[:, None]
    for k in (1, 3, 5):
        y = sawtooth_net(k)(x).detach()
        assert torch.max(torch.abs(y - sawtooth(x, k))) < 1e-12
        assert count_pieces(y.numpy(), x.numpy()) == 2**k
    # a kink strictly inside a sample interval is still one kink
    xs = np.linspace(0, 1, 101)
    assert count_pieces(np.abs(xs - 0.3333), xs) == 2
    assert count_pieces(3 * xs + 1, xs) == 1
    with pytest.raises(DeepGeometryError):
        sawtooth(x, -1)


def test_persistence_square_and_circle():
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    d = rips_persistence(sq)
    assert d.h1.shape == (1, 2)
    assert d.h1[0] == pytest.approx([1.0, math.sqrt(2)])
    assert sorted(d.h0[:, 1].tolist())[:3] == pytest.approx([1.0, 1.0, 1.0])
    th = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    circ = np.c_[np.cos(th), np.sin(th)]
    d = rips_persistence(circ)
    assert d.betti(0.5) == (1, 1)
    # the regular 30-gon's loop is born at its side, dies with the first equilateral triangle (chord sqrt 3)
    assert d.h1[np.argmax(d.h1[:, 1] - d.h1[:, 0])] == pytest.approx(
        [2 * math.sin(math.pi / 30), math.sqrt(3)]
    )
    # truncated filtration: the loop is still alive at the cap
    assert rips_persistence(circ, max_radius=1.0).h1[:, 1].max() == pytest.approx(1.0)


def test_persistence_h0_is_the_minimum_spanning_tree():
    from scipy.sparse.csgraph import minimum_spanning_tree

    x = np.random.default_rng(2).normal(size=(30, 3))
    d = rips_persistence(x)
    mst = minimum_spanning_tree(C.pairwise(x)).toarray()
    finite = np.sort(d.h0[np.isfinite(d.h0[:, 1]), 1])
    assert finite == pytest.approx(np.sort(mst[mst > 0]))
    assert np.sum(~np.isfinite(d.h0[:, 1])) == 1


def test_topological_complexity_two_blobs_vs_one():
    g = np.random.default_rng(3)
    two = np.r_[g.normal(0, 0.05, (30, 2)), g.normal(0, 0.05, (30, 2)) + [3, 0]]
    one = g.normal(0, 0.05, (60, 2))
    t2, t1 = topological_complexity(two), topological_complexity(one)
    assert (t2["b0"], t2["b1"]) == (2, 0) and t2["mass"] == pytest.approx(1.0)
    assert (t1["b0"], t1["b1"]) == (1, 0) and t1["mass"] < 0.5
    th = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    ring = topological_complexity(np.c_[np.cos(th), np.sin(th)])
    assert (ring["b0"], ring["b1"]) == (1, 1) and ring["mass"] == pytest.approx(1.0)
    with pytest.raises(DeepGeometryError):
        rips_persistence(np.zeros((1, 2)))
