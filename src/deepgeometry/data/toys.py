"""Toy data generators (seeded, float32 tensors)."""

from __future__ import annotations

import math

import torch

from ..errors import DeepGeometryError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def gaussian_mixture(n: int = 1000, k: int = 4, dim: int = 2, spread: float = 4.0, std: float = 1.0,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points from ``k`` isotropic Gaussians with centres on a sphere of radius ``spread``."""
    if n < 1 or k < 1 or dim < 1:
        raise DeepGeometryError(f"gaussian_mixture: n, k, dim must be >= 1, got {n}, {k}, {dim}")
    g = _gen(seed)
    centres = torch.randn(k, dim, generator=g)
    centres = spread * centres / centres.norm(dim=1, keepdim=True).clamp_min(1e-12)
    y = torch.arange(n) % k
    x = centres[y] + std * torch.randn(n, dim, generator=g)
    return x.float(), y


def concentric_circles(n: int = 1000, radii: tuple[float, ...] = (1.0, 2.0), noise: float = 0.05,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points on concentric circles in the plane, labelled by circle."""
    if n < len(radii):
        raise DeepGeometryError(f"concentric_circles: need n >= {len(radii)}, got {n}")
    g = _gen(seed)
    y = torch.arange(n) % len(radii)
    theta = 2 * math.pi * torch.rand(n, generator=g)
    r = torch.tensor(radii, dtype=torch.float32)[y]
    x = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1)
    return (x + noise * torch.randn(n, 2, generator=g)).float(), y


def concentric_annuli(n: int = 1500, dim: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three nested annuli (Naitzat et al. 2020 style): class 0 in the inner disk and the outer ring,
    class 1 in the middle ring, so the classes are topologically entangled."""
    g = _gen(seed)
    bands = [(0.0, 0.6, 0), (1.0, 1.6, 1), (2.0, 2.6, 0)]
    per = n // 3
    xs, ys = [], []
    for lo, hi, lab in bands:
        d = torch.randn(per, dim, generator=g)
        d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
        r = lo + (hi - lo) * torch.rand(per, 1, generator=g)
        xs.append(d * r)
        ys.append(torch.full((per,), lab))
    return torch.cat(xs).float(), torch.cat(ys)


def swiss_roll(n: int = 1000, noise: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The 3-D swiss roll; the label is the unrolled coordinate t (float)."""
    g = _gen(seed)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    h = 21 * torch.rand(n, generator=g)
    x = torch.stack([t * torch.cos(t), h, t * torch.sin(t)], 1)
    return (x + noise * torch.randn(n, 3, generator=g)).float(), t.float()
