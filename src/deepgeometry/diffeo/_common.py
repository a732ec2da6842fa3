"""Shared machinery of the three registration methods: pyramid, step-size control, affine pre-alignment."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import fields
from .similarity import ncc


@dataclass
class MethodOptions:
    """Options shared by the three registration methods (LDDMM, SVF, Shooting): the fluid metric
    ``L = (alpha * (-Laplacian) + gamma)^power``, the regularisation weight, the similarity, the pyramid and
    the optimiser's per-level iterations and first step (in voxels)."""

    alpha: float = 2.0
    gamma: float = 1.0
    power: float = 2.0
    reg: float = 0.02
    similarity: str = "ssd"
    window: int = 9
    levels: int = 3
    iterations: tuple[int, ...] = (150, 80, 30)
    step: float = 1.0


@dataclass
class Trace:
    """What the optimiser records: energy per accepted iteration, level boundaries, warnings."""

    energy: list[float] = field(default_factory=list)
    level_starts: list[int] = field(default_factory=list)
    evaluations: int = 0
    warnings: list[str] = field(default_factory=list)
    diverged: bool = False


def pyramid(shape: tuple[int, ...], levels: int, min_size: int = 16) -> list[int]:
    """Downsampling factors, coarsest first (``[4, 2, 1]`` for 3 levels), dropping levels below
    ``min_size``."""
    out = []
    for lev in range(max(1, int(levels)) - 1, -1, -1):
        f = 2**lev
        if f == 1 or min(math.ceil(n / f) for n in shape) >= min_size:
            out.append(f)
    return out


def level_shape(shape: tuple[int, ...], factor: int) -> tuple[int, ...]:
    return tuple(math.ceil(n / factor) for n in shape)


def start_level(param: torch.Tensor, evaluate: Callable, iterations: int,
                initial_lr: Callable[[torch.Tensor], float], trace: Trace):
    """First evaluation of an optimiser on one pyramid level: ``(energy, direction, first_step)``, or
    ``None`` when the level has no iterations, the energy is not finite (recorded as diverged) or no
    positive first step exists."""
    if iterations <= 0:
        return None
    E, G = evaluate(param)
    trace.evaluations += 1
    if not math.isfinite(E):
        trace.diverged = True
        trace.warnings.append("energy is not finite at the start of a level")
        return None
    trace.energy.append(E)
    lr = initial_lr(G)
    if not math.isfinite(lr) or lr <= 0:
        return None
    return E, G, lr


def stalled(recent: list[float], patience: int, tol: float) -> bool:
    """True when the energy fell by at most ``tol`` (relative) over the last ``patience`` accepted steps."""
    if len(recent) <= patience:
        return False
    old = recent[-patience - 1]
    return old - recent[-1] <= tol * max(abs(old), 1e-12)


def descend(
    param: torch.Tensor,
    evaluate: Callable[[torch.Tensor], tuple[float, torch.Tensor]],
    iterations: int,
    initial_lr: Callable[[torch.Tensor], float],
    trace: Trace,
    tol: float = 1e-5,
    patience: int = 8,
) -> torch.Tensor:
    """Gradient descent with backtracking on ``evaluate(param) -> (energy, descent_direction)``.

    A step that raises the energy (or makes it non-finite) is rejected and the step halved; an accepted step
    grows it by 1.25. Stops after ``iterations`` evaluations, when the step collapses, or when the relative
    energy decrease over ``patience`` accepted steps is below ``tol``. ``iterations <= 0`` returns ``param``
    untouched (a pyramid level that only upsamples, like ANTs' default ``(40, 20, 0)`` schedule).
    """
    start = start_level(param, evaluate, iterations, initial_lr, trace)
    if start is None:
        return param
    E, G, lr = start
    lr0 = lr
    recent = [E]
    for _ in range(max(0, iterations - 1)):
        trial = param - lr * G
        E_t, G_t = evaluate(trial)
        trace.evaluations += 1
        if math.isfinite(E_t) and E_t <= E:
            param, E, G = trial, E_t, G_t
            trace.energy.append(E)
            lr = min(lr * 1.25, 8 * lr0)
            recent.append(E)
            if stalled(recent, patience, tol):
                break
        else:
            lr *= 0.5
            if lr < 1e-4 * lr0:
                break
    return param


def max_step_lr(step: float) -> Callable[[torch.Tensor], float]:
    """Initial step so that the first update moves no coordinate by more than ``step`` (voxels)."""

    def f(G: torch.Tensor) -> float:
        gmax = float(G.detach().abs().max())
        return step / gmax if gmax > 0 else 0.0

    return f


# ----------------------------------------------------------------------------------------------- affine ----


def _theta_to_displacement(theta: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Voxel displacement of the affine sampling map ``theta`` (normalised coordinates, ``affine_grid``)."""
    D = len(shape)
    B = theta.shape[0]
    grid = F.affine_grid(theta, [B, 1, *shape], align_corners=True)  # (B, *S, D), last dim reversed
    pos = grid.flip(-1).permute(0, D + 1, *range(1, D + 1))
    scale = torch.tensor([(n - 1) / 2.0 for n in shape], dtype=theta.dtype, device=theta.device)
    pos = (pos + 1.0) * scale.view(1, D, *([1] * D))
    return pos - fields.identity_grid(shape, theta.dtype, theta.device).unsqueeze(0)


def invert_theta(theta: torch.Tensor) -> torch.Tensor:
    B, D = theta.shape[0], theta.shape[1]
    bottom = torch.zeros(B, 1, D + 1, dtype=theta.dtype, device=theta.device)
    bottom[:, 0, D] = 1.0
    full = torch.cat([theta, bottom], dim=1)
    return torch.linalg.inv(full)[:, :D]


def affine_align(
    fixed: torch.Tensor, moving: torch.Tensor, iterations: int = 80, max_size: int = 64, lr: float = 0.01
) -> torch.Tensor:
    """Affine pre-alignment: ``theta`` ``(B, D, D+1)`` maximising global NCC of ``moving o A`` and ``fixed``.

    Optimised with Adam at a coarse level of the pyramid (longest side <= ``max_size``).
    """
    D = fixed.ndim - 2
    factor = 1
    while max(math.ceil(n / factor) for n in fixed.shape[2:]) > max_size:
        factor *= 2
    f = fields.downsample(fixed, factor)
    m = fields.downsample(moving, factor)
    B = max(fixed.shape[0], moving.shape[0])
    eye = torch.eye(D, D + 1, dtype=fixed.dtype, device=fixed.device).expand(B, D, D + 1).clone()
    delta = torch.zeros_like(eye)
    # Adam written out (torch.optim's first use imports torch._dynamo: ~1.5 CPU-s, more than the alignment)
    m1, m2 = torch.zeros_like(eye), torch.zeros_like(eye)
    b1, b2, eps = 0.9, 0.999, 1e-8
    mb, fb = m.expand(B, *m.shape[1:]), f.expand(B, *f.shape[1:])
    for t in range(1, iterations + 1):
        with torch.enable_grad():
            dl = delta.requires_grad_(True)
            grid = F.affine_grid(eye + dl, [B, 1, *f.shape[2:]], align_corners=True)
            w = F.grid_sample(mb, grid, align_corners=True, padding_mode="border")
            loss = (1.0 - ncc(w, fb)).sum()
            (g,) = torch.autograd.grad(loss, dl)
        with torch.no_grad():
            m1 = b1 * m1 + (1 - b1) * g
            m2 = b2 * m2 + (1 - b2) * g * g
            step = lr * (m1 / (1 - b1**t)) / (torch.sqrt(m2 / (1 - b2**t)) + eps)
            delta = delta.detach() - step
    return (eye + delta).detach()


def affine_displacements(theta: torch.Tensor, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampling-map displacement of ``theta`` and of its inverse on a grid of ``shape``."""
    return _theta_to_displacement(theta, shape), _theta_to_displacement(invert_theta(theta), shape)
