"""Synthetic images and fields for the diffeo tests (no shared data needed), served as the ``synth``
fixture."""

from types import SimpleNamespace

import pytest
import torch

from deepgeometry.diffeo import fields
from deepgeometry.diffeo.metric import FluidMetric


def blobs(shape, n=12, seed=0, dtype=torch.float64):
    """A textured image: a sum of random Gaussian blobs, (1, 1, *shape)."""
    g = torch.Generator().manual_seed(seed)
    D = len(shape)
    grid = fields.identity_grid(shape, dtype)
    img = torch.zeros(shape, dtype=dtype)
    for _ in range(n):
        c = torch.stack([torch.rand((), generator=g, dtype=dtype) * (s - 1) for s in shape])
        w = (0.06 + 0.08 * torch.rand((), generator=g, dtype=dtype)) * min(shape)
        img += torch.exp(-((grid - c.view(D, *([1] * D))) ** 2).sum(0) / (2 * w * w))
    return img.view(1, 1, *shape)


def smooth_field(shape, amplitude=2.0, seed=0, dtype=torch.float64, alpha=20.0):
    """A random smooth vector field (1, D, *shape) with max |v| = amplitude, vanishing near the border."""
    g = torch.Generator().manual_seed(seed)
    D = len(shape)
    v = torch.randn(1, D, *shape, generator=g, dtype=dtype)
    v = FluidMetric(alpha=alpha, gamma=1.0, power=2.0).sharp(v)
    grid = fields.identity_grid(shape, dtype)
    win = torch.ones(shape, dtype=dtype)
    for i, s in enumerate(shape):
        x = grid[i] / (s - 1)
        win = win * torch.sin(torch.pi * x) ** 2
    v = v * win
    return v * (amplitude / v.abs().max())


def disc(shape, radius, dtype=torch.float64):
    grid = fields.identity_grid(shape, dtype)
    c = torch.tensor([(s - 1) / 2 for s in shape], dtype=dtype).view(len(shape), *([1] * len(shape)))
    r = torch.sqrt(((grid - c) ** 2).sum(0))
    return torch.sigmoid((radius - r) / 1.0).view(1, 1, *shape)


@pytest.fixture
def synth():
    return SimpleNamespace(blobs=blobs, smooth_field=smooth_field, disc=disc)
