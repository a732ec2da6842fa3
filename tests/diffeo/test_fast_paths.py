"""Speed-ups keep the mathematics: cached sampling grids, hand-written Adam, zero-iteration levels."""

import pytest
import torch
import torch.nn.functional as F

from deepgeometry.diffeo import fields
from deepgeometry.diffeo._common import Trace, affine_align, descend
from deepgeometry.diffeo.similarity import ncc


def _reference_grid(d):
    """The textbook construction: identity + d, scaled to [-1, 1], channel last, axes reversed."""
    shape = d.shape[2:]
    D = len(shape)
    pos = fields.identity_grid(tuple(shape), d.dtype).unsqueeze(0) + d
    scale = torch.tensor([2.0 / (n - 1) for n in shape], dtype=d.dtype)
    pos = pos * scale.view(1, D, *([1] * D)) - 1.0
    return pos.permute(0, *range(2, D + 2), 1).flip(-1)


@pytest.mark.parametrize("shape", [(9, 13), (5, 7, 6)])
def test_cached_grid_equals_reference_and_is_not_shared(shape):
    g = torch.Generator().manual_seed(1)
    d = torch.randn(2, len(shape), *shape, generator=g, dtype=torch.float64)
    a = fields._normalised_grid(d)
    assert torch.allclose(a, _reference_grid(d), atol=1e-12)
    a.add_(1.0)  # mutating a returned grid must not corrupt the cache
    b = fields._normalised_grid(torch.zeros_like(d))
    assert torch.allclose(b, _reference_grid(torch.zeros_like(d)), atol=1e-12)


def test_cached_grid_keeps_autograd():
    d = torch.zeros(1, 2, 8, 8, dtype=torch.float64, requires_grad=True)
    f = torch.arange(64, dtype=torch.float64).view(1, 1, 8, 8)
    fields.sample(f, d).sum().backward()
    assert d.grad is not None and float(d.grad.abs().sum()) > 0


def test_affine_adam_matches_torch_optim():
    g = torch.Generator().manual_seed(0)
    fixed = fields.smooth(torch.rand(1, 1, 32, 32, generator=g, dtype=torch.float64), 2.0)
    moving = torch.roll(fixed, 2, dims=3)
    theta = affine_align(fixed, moving, iterations=15, lr=0.01)
    # the same optimisation with torch.optim.Adam
    eye = torch.eye(2, 3, dtype=torch.float64).unsqueeze(0)
    delta = torch.zeros_like(eye, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=0.01)
    for _ in range(15):
        opt.zero_grad()
        grid = F.affine_grid(eye + delta, [1, 1, 32, 32], align_corners=True)
        w = F.grid_sample(moving, grid, align_corners=True, padding_mode="border")
        (1.0 - ncc(w, fixed)).sum().backward()
        opt.step()
    assert torch.allclose(theta, (eye + delta).detach(), atol=1e-10)


def test_zero_iterations_do_not_evaluate():
    calls = []

    def evaluate(p):
        calls.append(1)
        return float((p**2).sum()), 2 * p

    p = torch.ones(3, dtype=torch.float64)
    out = descend(p, evaluate, 0, lambda G: 0.1, Trace())
    assert out is p and not calls
    out = descend(p, evaluate, 20, lambda G: 0.1, Trace())
    assert calls and float((out**2).sum()) < 3.0


@pytest.mark.parametrize("shape", [(6, 7), (4, 5, 6), (2, 5)])
def test_central_difference_buffer_equals_roll(shape):
    g = torch.Generator().manual_seed(2)
    f = torch.randn(2, 3, *shape, generator=g, dtype=torch.float64)
    for ax in range(2, f.ndim):
        ref = 0.5 * (torch.roll(f, -1, dims=ax) - torch.roll(f, 1, dims=ax))
        assert torch.allclose(fields._roll_diff(f, ax), ref, atol=1e-14)
        fv = f.transpose(2, f.ndim - 1)  # a non-contiguous input
        refv = 0.5 * (torch.roll(fv, -1, dims=ax) - torch.roll(fv, 1, dims=ax))
        assert torch.allclose(fields._roll_diff(fv, ax), refv, atol=1e-14)
