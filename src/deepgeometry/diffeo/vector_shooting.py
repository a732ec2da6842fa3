"""Vector-momentum geodesic shooting (Singh, Hinkle, Joshi, Fletcher 2013; Vialard et al. 2012; eqs. 17-24).

The unknown is the initial momentum ``m0``, a vector field (not constrained to ``P0 grad I0`` as in
:mod:`.shooting`). The geodesic is EPDiff, ``dm/dt = -ad*_{K m} m``, integrated by the *shared* Euler-Arnold
integrator :func:`deepgeometry.core.euler_arnold` on :class:`~deepgeometry.diffeo.group.DiffeoGroup` with the
:class:`~deepgeometry.diffeo.metric.FluidMetric` (RK4 on ``m``, commutator-free Magnus reconstruction of
``g(t)``), the same code as Nielsen's equation on SU(2^n). The deformed image is ``I0 o g(1)^-1`` and the
energy (eq. 17 with ``beta = 1/sigma^2``) is

    E(m0) = <m0, K m0> / 2 + sim(I0 o g(1)^-1, I1) / sigma^2,

whose gradient is taken by reverse-mode differentiation through the integrator (optionally with activation
checkpointing per time step, so memory does not grow with the number of steps). ``<m0, K m0>`` is conserved
along the geodesic; ``sqrt(<m0, K m0>)`` is the geodesic distance.

Registration (:func:`fit_vector`, used by ``Shooting(momentum="vector")``) optimises the initial velocity
``v0 = K m0`` with the Sobolev (V-)gradient ``2 lambda v0 + N dsim/dm0`` (the analogue of eq. 3 for the
initial velocity; ``dsim/dm0 = K (...)`` is already smooth) on a multi-resolution pyramid, ``v0`` being
upsampled between levels.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from ..core.geodesic import Geodesic, euler_arnold
from ..errors import DeepGeometryError
from . import fields
from .group import DiffeoGroup
from .similarity import data_term, dissimilarity


def _check(m0: torch.Tensor, steps: int) -> None:
    if int(steps) != steps or steps < 1:
        raise DeepGeometryError(f"vector shooting: steps must be a positive integer, got {steps!r}")
    if m0.ndim not in (4, 5) or m0.shape[1] != m0.ndim - 2:
        raise DeepGeometryError(
            f"vector shooting: momentum must be a (B, D, *S) field with D = 2 or 3, got {tuple(m0.shape)}"
        )
    if not torch.isfinite(m0).all():
        raise DeepGeometryError("vector shooting: initial momentum contains NaN or infinity")


def vector_geodesic(
    m0: torch.Tensor, metric, steps: int = 8, group: DiffeoGroup | None = None, reconstruct: bool = True
) -> Geodesic:
    """The EPDiff geodesic of initial vector momentum ``m0`` ``(B, D, *S)``: exactly
    ``core.euler_arnold(DiffeoGroup(D), metric, m0, steps)``.

    The trajectory holds sampling maps ``g(t_k)^-1`` (displacements), so the deformed images are
    ``I0 o (id + trajectory[k])``.
    """
    _check(m0, steps)
    group = group or DiffeoGroup(dim=m0.ndim - 2)
    return euler_arnold(group, metric, m0, steps=steps, reconstruct=reconstruct)


INTEGRATORS = ("euler_arnold", "particle")


def periodic_sample(f: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """``f o (id + d)`` by (bi/tri)linear interpolation on the periodic grid (the fluid metric's domain)."""
    D = d.shape[1]
    S = tuple(f.shape[2:])
    fp = F.pad(f, [1, 1] * D, mode="circular")
    coords = []
    for i, n in enumerate(S):
        view = [1] * D
        view[i] = n
        x = torch.arange(n, dtype=d.dtype, device=d.device).view(view)
        coords.append(2.0 * (torch.remainder(x + d[:, i], n) + 1.0) / (n + 1) - 1.0)
    grid = torch.stack(coords[::-1], dim=-1)
    return F.grid_sample(fp, grid, mode="bilinear", padding_mode="border", align_corners=True)


def splat(values: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """Push ``values`` at the grid points ``y`` to the points ``y + e(y)`` (periodic multilinear weights):
    the exact adjoint of :func:`periodic_sample`, ``<splat(f, e), g> = <f, periodic_sample(g, e)>``."""
    B, C = values.shape[:2]
    S = tuple(values.shape[2:])
    D = len(S)
    N = math.prod(S)
    base, frac = [], []
    for i, n in enumerate(S):
        view = [1] * D
        view[i] = n
        p = torch.arange(n, dtype=e.dtype, device=e.device).view(view) + e[:, i]
        p0 = torch.floor(p)
        base.append(p0.long())
        frac.append(p - p0)
    flat = values.reshape(B, C, N)
    out = values.new_zeros(B, C, N)
    for corner in itertools.product((0, 1), repeat=D):
        idx, w = 0, 1.0
        for i, n in enumerate(S):
            idx = idx * n + torch.remainder(base[i] + corner[i], n)
            w = w * (frac[i] if corner[i] else 1.0 - frac[i])
        idx = idx.reshape(B, 1, N).expand(B, C, N)
        out = out.scatter_add(2, idx, flat * w.reshape(B, 1, N))
    return out.reshape(B, C, *S)


def particle_geodesic(
    m0: torch.Tensor, metric, steps: int = 8, inverse: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """EPDiff by momentum particles: the sampling map ``g(1)^-1 - id`` (and with ``inverse=True`` also the
    forward map ``g(1) - id``) of the geodesic from ``m0``, differentiable.

    The momentum is the coadjoint transport of ``m0`` (the conservation law behind eq. 24),
    ``m_t = (Dphi_t)^-T m0`` carried by particles from the grid points ``y`` to ``phi_t(y)``, i.e.
    :func:`splat` of ``(Dphi_t)^-T m0`` along ``phi_t``; ``v_t = K m_t``; the particles move by a
    midpoint step ``phi += h v_t(phi + h v_t(phi) / 2)`` and the sampling map ``psi = g^-1`` by a
    semi-Lagrangian step ``psi <- psi o (id - h v_t)`` (midpoint departure point). Only the smooth ``v_t``
    is ever interpolated (never the rough ``m0``), so no time step is limited by a CFL condition; the scheme
    is first order in time (the momentum is frozen over a step) and agrees with :func:`vector_geodesic`
    as the step shrinks for smooth momenta. Periodic grid (as the metric), any ``D`` in (2, 3).
    """
    _check(m0, steps)
    D = m0.shape[1]
    h = 1.0 / steps
    e = torch.zeros_like(m0)
    d = torch.zeros_like(m0)
    eye = torch.eye(D, dtype=m0.dtype, device=m0.device).view(1, D, D, *([1] * D))
    for k in range(steps):
        if k == 0:
            m = m0
        else:
            A = fields.jacobian(e) + eye  # A[:, i, j] = d phi_i / d y_j
            if D == 2:  # written out: much cheaper than a batched linalg.inv of 2x2 matrices
                det = fields._det(A)
                Ai = torch.stack(
                    [torch.stack([A[:, 1, 1], -A[:, 0, 1]], 1), torch.stack([-A[:, 1, 0], A[:, 0, 0]], 1)], 1
                ) / det.unsqueeze(1).unsqueeze(1)
            else:
                Ai = torch.linalg.inv(A.movedim((1, 2), (-2, -1))).movedim((-2, -1), (1, 2))
            m = splat((Ai * m0.unsqueeze(2)).sum(1), e)  # (A^-T m0)_j = sum_i (A^-1)_ij m0_i
        v = metric.sharp(m)
        if not torch.isfinite(v).all():
            raise DeepGeometryError("vector shooting: the particle geodesic produced NaN or infinity")
        e = e + h * periodic_sample(v, e + 0.5 * h * periodic_sample(v, e))
        a = -h * fields.sample(v, -0.5 * h * v)
        d = a + fields.sample(d, a)
    return (d, e) if inverse else d


def endpoint(
    m0: torch.Tensor, metric, steps: int = 8, checkpointed: bool = False, integrator: str = "euler_arnold"
) -> torch.Tensor:
    """Sampling map ``g(1)^-1`` of the geodesic from ``m0`` (differentiable).

    ``integrator="particle"`` uses :func:`particle_geodesic` (``checkpointed`` is then ignored).

    With ``checkpointed=True`` each time step of the integrator is recomputed in the backward pass
    (``torch.utils.checkpoint``), so autograd keeps only the ``steps`` momenta and maps, not every
    intermediate of the RK4 and Magnus stages. Each step is then one call of ``euler_arnold`` (same
    momenta); its map is composed as ``(left o right) o g`` instead of ``left o (right o g)``, which agrees
    with ``vector_geodesic(...).endpoint`` to interpolation accuracy (not to rounding).
    """
    if integrator not in INTEGRATORS:
        raise DeepGeometryError(
            f"vector shooting: integrator must be one of {INTEGRATORS}, got {integrator!r}"
        )
    if integrator == "particle":
        return particle_geodesic(m0, metric, steps)
    _check(m0, steps)
    group = DiffeoGroup(dim=m0.ndim - 2)
    if not checkpointed:
        return euler_arnold(group, metric, m0, steps=steps).endpoint
    from torch.utils.checkpoint import checkpoint  # its first call imports torch._dynamo (~1 CPU-s)

    h = 1.0 / steps

    def one_step(m, g):
        geo = euler_arnold(group, metric, m, steps=1, t1=h)
        return geo.momenta[-1], group.compose(geo.endpoint, g)

    m, g = m0, torch.zeros_like(m0)
    for _ in range(steps):
        m, g = checkpoint(one_step, m, g, use_reentrant=False)
    return g


def endpoint_and_inverse(
    m0: torch.Tensor, metric, steps: int = 8, integrator: str = "euler_arnold"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampling map ``g(1)^-1 - id`` and forward map ``g(1) - id`` of the geodesic from ``m0``.

    The forward map is shot, not inverted by fixed-point iteration: for a right-invariant metric
    ``h(t) = g(1 - t) g(1)^-1`` is the geodesic from the identity with initial momentum ``-m(1)``, and it ends
    at ``g(1)^-1``, whose stored sampling map is ``g(1)``. With ``integrator="particle"`` the forward map is
    the particles' positions.
    """
    if integrator == "particle":
        return particle_geodesic(m0, metric, steps, inverse=True)
    geo = vector_geodesic(m0, metric, steps)
    back = vector_geodesic(-geo.momenta[-1], metric, steps)
    return geo.endpoint, back.endpoint


def vector_shooting_loss(
    m0: torch.Tensor,
    source: torch.Tensor,
    target: torch.Tensor,
    metric,
    steps: int = 8,
    sigma: float = 1.0,
    similarity: str = "ssd",
    checkpointed: bool = False,
) -> torch.Tensor:
    """``E(m0) = <m0, K m0> / 2 + sim(I0 o g(1)^-1, I1) / sigma^2`` per batch element (eq. 17), autograd-able.

    ``similarity="ssd"`` is the sum of squared differences; ``"ncc"``/``"lncc"`` are scaled by the voxel
    count.
    """
    if source.ndim != m0.ndim or source.shape[1] != 1 or source.shape[2:] != m0.shape[2:]:
        raise DeepGeometryError(
            f"vector shooting: image {tuple(source.shape)} does not match the momentum {tuple(m0.shape)}"
        )
    if target.shape[2:] != source.shape[2:]:
        raise DeepGeometryError(
            f"vector shooting: source {tuple(source.shape)} and target {tuple(target.shape)} differ"
        )
    d = endpoint(m0, metric, steps, checkpointed)
    warped = fields.sample(source, d)
    energy = 0.5 * (m0 * metric.sharp(m0)).flatten(1).sum(1)
    return energy + data_term(warped, target, similarity) / sigma**2


def lbfgs(
    param: torch.Tensor,
    evaluate,
    iterations: int,
    initial_lr,
    trace,
    inner,
    memory: int = 6,
    tol: float = 1e-5,
    patience: int = 8,
) -> torch.Tensor:
    """L-BFGS on ``evaluate(param) -> (energy, gradient)`` in the inner product ``inner(a, b)`` (the V-metric:
    the gradient given is the V-gradient, so this is L-BFGS in the coordinates ``L^(1/2) v``).

    The first step is ``initial_lr(G) * G``, later ones try the quasi-Newton step ``1`` and halve it until the
    energy decreases (non-finite energies are rejected too). The memory is reset when a direction is not a
    descent direction or a line search fails. Stops after ``iterations`` evaluations, or when the relative
    decrease over ``patience`` accepted steps is below ``tol``.
    """
    from ._common import stalled, start_level

    start = start_level(param, evaluate, iterations, initial_lr, trace)
    if start is None:
        return param
    E, G, lr0 = start
    hist: list[tuple[torch.Tensor, torch.Tensor, float]] = []
    recent = [E]
    evals = 1
    while evals < iterations:
        if hist:
            q = G.clone()
            alphas = []
            for s_k, y_k, rho in reversed(hist):
                a = rho * inner(s_k, q)
                alphas.append(a)
                q = q - a * y_k
            s_k, y_k, _ = hist[-1]
            q = q * (inner(s_k, y_k) / inner(y_k, y_k))
            for (s_k, y_k, rho), a in zip(hist, reversed(alphas), strict=True):
                q = q + (a - rho * inner(y_k, q)) * s_k
            d, t = -q, 1.0
            if inner(d, G) >= 0:  # not a descent direction: restart
                hist.clear()
                d, t = -G, lr0
        else:
            d, t = -G, lr0
        accepted = False
        while evals < iterations:
            trial = param + t * d
            E_t, G_t = evaluate(trial)
            trace.evaluations += 1
            evals += 1
            if math.isfinite(E_t) and E_t < E:
                accepted = True
                break
            t *= 0.5
            if t < 1e-4 * (lr0 if not hist else 1.0):
                break
        if not accepted:
            if not hist:
                break
            hist.clear()
            continue
        s_k, y_k = trial - param, G_t - G
        sy = inner(s_k, y_k)
        if sy > 1e-12 * math.sqrt(max(inner(s_k, s_k) * inner(y_k, y_k), 0.0)):
            hist.append((s_k, y_k, 1.0 / sy))
            if len(hist) > memory:
                hist.pop(0)
        param, E, G = trial, E_t, G_t
        trace.energy.append(E)
        recent.append(E)
        if stalled(recent, patience, tol):
            break
    return param


def geodesic_factor(shape: tuple[int, ...], factor: int, grid_size: int | None) -> int:
    """Downsampling factor of the momentum grid at a pyramid level of ``factor``: the level's own grid,
    coarsened by powers of 2 until its longest side is at most ``grid_size`` (None: no limit)."""
    gf = factor
    if grid_size is not None:
        while max(-(-n // gf) for n in shape) > int(grid_size):
            gf *= 2
    return gf


def fit_vector(opts, fixed: torch.Tensor, moving: torch.Tensor, trace) -> dict:
    """Multi-resolution vector-momentum shooting with the options of a :class:`~.shooting.Shooting`.

    At each pyramid level the energy ``lambda <m0, K m0> / N + sim(I0 o g(1)^-1, I1)`` is descended along
    the V-gradient in ``v0 = K m0``. With ``opts.grid_size`` the momentum and the geodesic live on a grid
    whose longest side is at most ``grid_size`` (a band-limited velocity as in FLASH, Zhang and Fletcher
    2015), and the sampling map ``g(1)^-1`` is upsampled to the level's image grid before warping: the
    Eulerian EPDiff integration then stays stable (few voxels per time step) and cheap, while the data term
    still sees every voxel. The metric is the same physical one on every level (``alpha`` in voxels of the
    finest momentum grid), so ``distance = sqrt(<m0, K m0>)`` is measured with ``opts.metric()`` there.
    """
    from ._common import descend, level_shape, max_step_lr, pyramid
    from .svf import _per_level

    base = opts.metric()
    integrator = getattr(opts, "integrator", "euler_arnold")
    B, D = max(fixed.shape[0], moving.shape[0]), fixed.ndim - 2
    full = tuple(fixed.shape[2:])
    factors = pyramid(full, opts.levels)
    its = _per_level(opts.iterations, len(factors))
    steps = [int(t) for t in _per_level(opts.time_steps, len(factors))]
    grids = [None] * len(factors) if opts.grid_size is None else _per_level(opts.grid_size, len(factors))
    gfs = [geodesic_factor(full, f, g) for f, g in zip(factors, grids, strict=True)]
    v = None
    for f, n_it, T, gf in zip(factors, its, steps, gfs, strict=False):
        fl, ml = fields.downsample(fixed, f), fields.downsample(moving, f)
        ml = ml.expand(B, *ml.shape[1:])
        sh = tuple(fl.shape[2:])
        gsh = level_shape(full, gf)
        # one physical metric on every level (alpha in voxels of the finest momentum grid, where the
        # result's distance is measured), so that the upsampled v0 shoots the same geodesic on a finer grid
        metric = base if gf == gfs[-1] else base.with_spacing((gf / gfs[-1],) * D)
        v = fixed.new_zeros(B, D, *gsh) if v is None else fields.resize_displacement(v, gsh)
        if n_it <= 0:
            continue
        N = float(torch.tensor(gsh).prod())

        def evaluate(v, fl=fl, ml=ml, N=N, sh=sh, T=T, metric=metric):
            with torch.enable_grad():
                m0 = metric.flat(v).detach().requires_grad_(True)
                try:
                    d = endpoint(m0, metric, T, opts.checkpoint, integrator)
                except DeepGeometryError:  # the trial step blew the integrator up: reject it
                    return float("inf"), v
                w = fields.sample(ml, fields.resize_displacement(d, sh))
                sim = dissimilarity(opts.similarity, w, fl, opts.window).sum()
                (g,) = torch.autograd.grad(sim, m0)
            with torch.no_grad():
                reg = opts.reg * float((m0 * v).sum()) / N
                G = g * N + 2.0 * opts.reg * v
            return float(sim) + reg, G

        trace.level_starts.append(len(trace.energy))
        if opts.optimizer == "lbfgs":

            def inner(a, b, metric=metric):
                return float((metric.flat(a) * b).sum())

            v = lbfgs(v, evaluate, n_it, max_step_lr(opts.step), trace, inner)
        else:
            v = descend(v, evaluate, n_it, max_step_lr(opts.step), trace)
    with torch.no_grad():
        m0 = metric.flat(v)
        try:
            d, inv = endpoint_and_inverse(m0, metric, steps[-1], integrator)
        except DeepGeometryError:
            trace.diverged = True
            trace.warnings.append("the geodesic integration blew up; increase time_steps or lower grid_size")
            d = inv = torch.full_like(v, float("nan"))
        energy = (m0 * v).flatten(1).sum(1)
        return {
            "displacement": fields.resize_displacement(d, full),
            "inverse": fields.resize_displacement(inv, full),
            "momentum": m0,
            "velocity": v,
            "distance": torch.sqrt(energy.clamp(min=0)),
            "energy": energy,
        }
