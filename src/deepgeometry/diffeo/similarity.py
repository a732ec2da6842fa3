"""Image similarity terms: SSD, global NCC, local (windowed) NCC. Each returns one value per batch element.

The data term of eq. (2) is the SSD ``||I_1 - I_0 o g_1^-1||^2 / sigma^2``; NCC variants are invariant to
affine intensity changes (different scanners, different subjects).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import DeepGeometryError


def ssd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference per batch element."""
    return ((a - b) ** 2).flatten(1).mean(1)


def ncc(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Global normalised cross-correlation in [-1, 1] per batch element."""
    a = a.flatten(1)
    b = b.flatten(1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / torch.sqrt((a * a).sum(1) * (b * b).sum(1) + eps)


def _box(x: torch.Tensor, w: int) -> torch.Tensor:
    D = x.ndim - 2
    pool = F.avg_pool2d if D == 2 else F.avg_pool3d
    return pool(x, kernel_size=w, stride=1, padding=w // 2, count_include_pad=False)


def lncc(a: torch.Tensor, b: torch.Tensor, window: int = 9, eps: float = 1e-5) -> torch.Tensor:
    """Mean over voxels of the squared local NCC in a ``window``-wide box (the ANTs CC metric), in [0, 1]."""
    if window < 1 or window % 2 == 0:
        raise DeepGeometryError(f"lncc: window must be an odd positive integer, got {window!r}")
    ma, mb = _box(a, window), _box(b, window)
    va = _box(a * a, window) - ma * ma
    vb = _box(b * b, window) - mb * mb
    cab = _box(a * b, window) - ma * mb
    cc = cab * cab / (va.clamp(min=0) * vb.clamp(min=0) + eps)
    return cc.flatten(1).mean(1)


def dissimilarity(name: str, warped: torch.Tensor, fixed: torch.Tensor, window: int = 9) -> torch.Tensor:
    """A loss to minimise (per batch element): ``ssd``, ``ncc`` (1 - NCC) or ``lncc`` (1 - local NCC^2)."""
    if name == "ssd":
        return ssd(warped, fixed)
    if name == "ncc":
        return 1.0 - ncc(warped, fixed)
    if name == "lncc":
        return 1.0 - lncc(warped, fixed, window)
    raise DeepGeometryError(f"unknown similarity {name!r}; use 'ssd', 'ncc' or 'lncc'")


def data_term(final: torch.Tensor, target: torch.Tensor, similarity: str, window: int = 9) -> torch.Tensor:
    """The matching term of eq. (17) per batch element: the sum of squared differences for ``"ssd"``;
    ``"ncc"``/``"lncc"`` dissimilarities scaled by the voxel count, so all three weigh alike against the
    metric energy."""
    if similarity == "ssd":
        return ((final - target) ** 2).flatten(1).sum(1)
    return dissimilarity(similarity, final, target, window) * final[0].numel()
