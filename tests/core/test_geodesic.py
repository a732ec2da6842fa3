"""The shared Euler-Arnold integrator on SO(3) (rigid body) and its closed-form oracles."""

import math

import pytest
import torch

from deepgeometry import DeepGeometryError
from deepgeometry.core import MatrixLieGroup, PullbackMetric, RightInvariantMetric, euler_arnold, shoot

G = MatrixLieGroup()


def hat(w):
    z = torch.zeros(w.shape[:-1] + (3, 3), dtype=w.dtype)
    z[..., 2, 1], z[..., 1, 2] = w[..., 0], -w[..., 0]
    z[..., 0, 2], z[..., 2, 0] = w[..., 1], -w[..., 1]
    z[..., 1, 0], z[..., 0, 1] = w[..., 2], -w[..., 2]
    return z


def vee(x):
    return torch.stack([x[..., 2, 1], x[..., 0, 2], x[..., 1, 0]], -1)


INERTIA = torch.tensor([1.0, 2.0, 3.5], dtype=torch.float64)
RIGID = RightInvariantMetric(G, lambda x: hat(INERTIA * vee(x)), lambda m: hat(vee(m) / INERTIA))
BIINV = RightInvariantMetric(G, lambda x: x, lambda m: m)
XI = hat(torch.tensor([0.7, -0.3, 0.5], dtype=torch.float64))


def test_biinvariant_geodesic_is_one_parameter_subgroup():
    geo = shoot(G, BIINV, XI, steps=7)
    for k, t in enumerate(geo.times):
        torch.testing.assert_close(geo.trajectory[k], torch.linalg.matrix_exp(t * XI), atol=1e-13, rtol=0)
    assert float(geo.length) == pytest.approx(float(XI.pow(2).sum().sqrt()), rel=1e-13)


def test_energy_and_coadjoint_momentum_conserved():
    geo = euler_arnold(G, RIGID, RIGID.flat(XI), steps=400)
    e = torch.stack([G.pair(m, v) for m, v in zip(geo.momenta, geo.velocities, strict=True)])
    assert float((e - e[0]).abs().max()) < 1e-10
    # right-invariant: g^T m g is conserved (Noether); a sign error in ad* breaks this
    c = geo.trajectory.transpose(-1, -2) @ geo.momenta @ geo.trajectory
    assert float((c - c[0]).abs().max()) < 1e-10


def test_wrong_sign_is_detected_by_conservation():
    class Flipped(MatrixLieGroup):
        def ad_star(self, x, m):
            return -super().ad_star(x, m)

    f = Flipped()
    geo = euler_arnold(f, RIGID, RIGID.flat(XI), steps=100)
    c = geo.trajectory.transpose(-1, -2) @ geo.momenta @ geo.trajectory
    assert float((c - c[0]).abs().max()) > 1e-3


def test_fourth_order_convergence():
    ref = euler_arnold(G, RIGID, RIGID.flat(XI), steps=1024).endpoint
    errs = [
        float((euler_arnold(G, RIGID, RIGID.flat(XI), steps=n).endpoint - ref).abs().max())
        for n in (8, 16, 32)
    ]
    orders = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(3.7 < o < 4.4 for o in orders), orders


def test_bad_steps_and_nan():
    with pytest.raises(DeepGeometryError):
        euler_arnold(G, RIGID, XI, steps=0)
    with pytest.raises(DeepGeometryError, match="NaN"):
        euler_arnold(G, RIGID, XI * float("nan"), steps=2)


def test_pullback_metric_of_linear_map():
    a = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    pm = PullbackMetric(lambda x: a @ x)
    x, u, w = (torch.randn(3, dtype=torch.float64) for _ in range(3))
    assert float(pm.inner(x, u, w)) == pytest.approx(float(u @ a.T @ a @ w), rel=1e-12)
    torch.testing.assert_close(pm.gram_matvec(x, u), a.T @ a @ u)
