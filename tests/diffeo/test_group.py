"""Diff(M) as a Lie group in the shared Euler-Arnold integrator (EPDiff)."""

import math

import pytest
import torch

from deepgeometry.core import euler_arnold
from deepgeometry.diffeo import DiffeoGroup, fields, geodesic, shoot_images
from deepgeometry.diffeo.metric import FluidMetric
from deepgeometry.errors import DeepGeometryError


@pytest.mark.parametrize("shape", [(12, 14), (6, 7, 8)])
def test_ad_star_is_dual_of_ad(shape):
    torch.manual_seed(0)
    G = DiffeoGroup(dim=len(shape))
    v, w, m = (torch.randn(2, len(shape), *shape, dtype=torch.float64) for _ in range(3))
    assert torch.allclose(G.pair(G.ad_star(v, m), w), G.pair(m, G.ad(v, w)), atol=1e-10)
    assert torch.allclose(G.ad(v, w), -G.ad(w, v), atol=1e-12)
    assert float(G.ad(v, v).abs().max()) == 0.0
    # unbatched fields work and give the same numbers
    assert torch.allclose(G.ad_star(v[0], m[0]), G.ad_star(v, m)[0], atol=1e-12)


def test_group_axioms(synth):
    G = DiffeoGroup(dim=2)
    v = synth.smooth_field((40, 40), amplitude=2.0, seed=1)
    e = G.identity_like(v)
    g = G.exp(v)
    assert torch.equal(G.exp(torch.zeros_like(v)), e)
    assert torch.allclose(G.compose(g, e), g, atol=1e-12) and torch.allclose(G.compose(e, g), g, atol=1e-12)
    assert float(G.compose(g, G.exp(-v)).abs().max()) < 0.1
    assert float(G.compose(g, G.inverse(g)).abs().max()) < 0.1
    # one-parameter subgroup: exp(v/2) exp(v/2) = exp(v)
    assert float((G.compose(G.exp(v / 2), G.exp(v / 2)) - g).abs().max()) < 0.05
    # the action is I o g^-1: exp of a constant field c translates images by +c
    c = torch.zeros(1, 2, 40, 40, dtype=torch.float64)
    c[:, 1] = 3.0
    img = synth.blobs((40, 40))
    moved = G.act(G.exp(c), img)
    assert torch.allclose(moved[..., 3:], img[..., :-3], atol=1e-12)
    with pytest.raises(DeepGeometryError, match="dim=2"):
        G.exp(torch.zeros(1, 3, 8, 8, 8))


def test_constant_momentum_is_a_translation():
    G = DiffeoGroup(dim=2)
    metric = FluidMetric(alpha=1.0, gamma=2.0, power=1.0)
    m0 = torch.zeros(1, 2, 16, 16, dtype=torch.float64)
    m0[:, 0], m0[:, 1] = 3.0, -1.0
    geo = euler_arnold(G, metric, m0, steps=4)
    assert torch.allclose(geo.momenta[-1], m0, atol=1e-12)  # ad*_v m = 0 for constant fields
    expected = -m0 / 2.0  # sampling map of the translation by K m0 = m0 / gamma
    assert torch.allclose(geo.endpoint, expected, atol=1e-12)


def _geodesic_momentum(synth, steps):
    img = synth.blobs((24, 24), n=6, seed=2)
    p0 = 20.0 * (2.0 * synth.blobs((24, 24), n=4, seed=7) - 1.0)
    metric = FluidMetric(alpha=2.0, gamma=1.0, power=2.0)
    return geodesic(p0, img, metric, steps=steps, reconstruct=False), metric


def test_epdiff_energy_conserved_and_rk4_order(synth):
    geo, metric = _geodesic_momentum(synth, 16)
    sq = torch.stack([(m * metric.sharp(m)).sum() for m in geo.momenta])
    assert float((sq - sq[0]).abs().max() / sq[0]) < 1e-6
    assert float(geo.velocities.abs().max()) > 2.0  # a genuinely nonlinear geodesic (voxels per unit time)
    ref = _geodesic_momentum(synth, 64)[0].momenta[-1]
    errs = [float((_geodesic_momentum(synth, n)[0].momenta[-1] - ref).abs().max()) for n in (4, 8)]
    order = math.log2(errs[0] / errs[1])
    assert 3.5 < order < 4.7, (errs, order)


def _smooth_problem(n):
    """One physical problem on an n x n grid (metric and displacements scaled with the grid)."""
    metric = FluidMetric(alpha=2.0 * (n / 32) ** 2, gamma=1.0, power=2.0)
    x = fields.identity_grid((n, n), torch.float64) / (n - 1)
    img = torch.exp(-((x[0] - 0.5) ** 2 + (x[1] - 0.45) ** 2) / 0.03).view(1, 1, n, n)
    p0 = (
        torch.sin(2 * math.pi * x[0])
        * torch.cos(2 * math.pi * x[1])
        * torch.exp(-((x - 0.5) ** 2).sum(0) / 0.05)
    )
    p0 = p0.view(1, 1, n, n)
    p0 = p0 / float(metric.sharp(p0 * fields.grad(img)).abs().max()) * (n / 32) * 1.5
    return img, p0, metric


def test_shooting_scheme_converges_to_the_core_geodesic():
    errs = {}
    for n in (32, 64):
        img, p0, metric = _smooth_problem(n)
        ref = geodesic(p0, img, metric, steps=16).endpoint  # RK4 + Magnus through deepgeometry.core
        assert float(ref.abs().max()) > 1.4 * n / 32  # about 1.5 voxels of the coarse grid: nonlinear
        for T in (8, 32):
            shot = shoot_images(p0, img, metric, steps=T)
            errs[n, T] = float((shot.displacement - ref).abs().max()) / (n / 32)
    # the first-order semi-Lagrangian scheme of the shooting method approaches the same curve when dt and dx
    # shrink (measured: 0.061, 0.041 on 32^2; 0.048, 0.021 on 64^2, in coarse voxels)
    assert errs[64, 32] < errs[64, 8] and errs[64, 32] < errs[32, 32]
    assert errs[64, 32] < 0.03
    # the inverse map of the shooting scheme inverts its sampling map
    shot = shoot_images(p0, img, metric, steps=16)
    # (both first-order in dt: measured 0.087 voxel for a 3-voxel deformation)
    assert float(fields.compose(shot.displacement, shot.inverse).abs().max()) < 0.15
