"""The explicit adjoint of geodesic shooting (eqs. 25-30) against autograd and finite differences."""

import pytest
import torch

from deepgeometry.diffeo import adjoint_gradient, shoot_images, shooting_loss
from deepgeometry.diffeo.metric import FluidMetric
from deepgeometry.errors import DeepGeometryError


def _pair(synth, shape):
    src = synth.blobs(shape, n=5, seed=1)
    tgt = synth.blobs(shape, n=5, seed=2)
    p0 = 0.5 * (synth.blobs(shape, n=4, seed=3) - 0.3)
    return src, tgt, p0


@pytest.mark.parametrize("shape", [(14, 17), (7, 8, 9)])
@pytest.mark.parametrize("recompute", [False, True])
@pytest.mark.parametrize("similarity", ["ssd", "ncc"])
def test_adjoint_equals_autograd(synth, shape, recompute, similarity):
    src, tgt, p0 = _pair(synth, shape)
    metric = FluidMetric(alpha=1.0, gamma=1.0, power=2.0)
    loss, g = adjoint_gradient(
        p0, src, tgt, metric, steps=4, sigma=0.5, similarity=similarity, recompute=recompute
    )
    p = p0.clone().requires_grad_(True)
    ref = shooting_loss(p, src, tgt, metric, steps=4, sigma=0.5, similarity=similarity)
    (g_ref,) = torch.autograd.grad(ref.sum(), p)
    assert torch.allclose(loss, ref.detach(), rtol=1e-12)
    assert float((g - g_ref).abs().max()) <= 1e-10 * float(g_ref.abs().max())


def test_adjoint_matches_finite_differences_batched(synth):
    shape = (12, 13)
    src, tgt, p0 = _pair(synth, shape)
    src, tgt = torch.cat([src, tgt]), torch.cat([tgt, src])
    p0 = torch.cat([p0, -p0])
    metric = FluidMetric(alpha=1.0, gamma=1.0, power=2.0)
    loss, g = adjoint_gradient(p0, src, tgt, metric, steps=3, sigma=0.4)
    assert loss.shape == (2,) and g.shape == p0.shape
    h = torch.randn(p0.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    eps = 1e-6
    plus = shooting_loss(p0 + eps * h, src, tgt, metric, steps=3, sigma=0.4)
    minus = shooting_loss(p0 - eps * h, src, tgt, metric, steps=3, sigma=0.4)
    fd = (plus - minus) / (2 * eps)
    assert torch.allclose(fd, (g * h).flatten(1).sum(1), rtol=1e-6)


def test_zero_momentum_is_identity_and_memory_free_mode_agrees(synth):
    src, tgt, p0 = _pair(synth, (16, 16))
    metric = FluidMetric()
    shot = shoot_images(torch.zeros_like(p0), src, metric, steps=5, keep_path=True)
    assert float(shot.displacement.abs().max()) == 0.0
    assert torch.allclose(shot.final_image, src, atol=1e-12)
    assert shot.images.shape == (6, 1, 1, 16, 16) and float(shot.energy) == 0.0
    a = adjoint_gradient(p0, src, tgt, metric, steps=6, sigma=1.0, recompute=False)[1]
    b = adjoint_gradient(p0, src, tgt, metric, steps=6, sigma=1.0, recompute=True)[1]
    assert torch.equal(a, b)


def test_shooting_bad_input(synth):
    src, tgt, p0 = _pair(synth, (10, 10))
    with pytest.raises(DeepGeometryError, match="steps"):
        adjoint_gradient(p0, src, tgt, FluidMetric(), steps=0)
    with pytest.raises(DeepGeometryError, match="NaN"):
        adjoint_gradient(p0 * float("nan"), src, tgt, FluidMetric())
    with pytest.raises(DeepGeometryError, match="does not match"):
        shoot_images(p0[..., :5], src, FluidMetric())
