"""Geodesic shooting for images (Vialard et al. 2012; paper eqs. 17 and 22-30) with an explicit adjoint.

The state is the image ``I(t)`` and the scalar momentum ``P(t)``; the vector momentum is ``m = P grad I`` and
the velocity ``u = K m`` (eq. 24; the paper writes ``Lu = -P grad I``: our ``P`` is the paper's ``-P``).
They obey (eqs. 22-23)::

    dI/dt = -grad I . u,      dP/dt = -div(P u),

which is EPDiff for ``m`` (the same geodesic that :func:`geodesic` integrates with the shared
Euler-Arnold code of :mod:`deepgeometry.core.geodesic`). Both ``I`` and ``P`` are transported by the
sampling map ``psi_t = g_t^-1``: ``I(t) = I0 o psi_t``, ``P(t) = det(D psi_t) P0 o psi_t``.

Discrete scheme (``T`` steps, ``dt = 1/T``), which only ever resamples ``I0`` and ``P0`` once per step::

    I_k = I0 o psi_k,   P_k = det(D psi_k) P0 o psi_k,   u_k = K(P_k grad I_k),
    psi_{k+1} = psi_k o (id - dt u_k).

Loss (eq. 17 with ``beta = 1/sigma^2``)::

    E(P0) = <m_0, K m_0> + sim(I_T, I_1) / sigma^2,     sim = sum of squared differences (default).

:func:`adjoint_gradient` returns ``dE/dP0`` from the backward adjoint system (eqs. 25-29) written out by hand:
the terminal condition ``I^(1) = dsim/dI(1)`` (eq. 28, our adjoint variables are the paper's with the opposite
sign), ``P^(1) = 0`` (eq. 29), then backwards in time the adjoint ``u^`` of the velocity, ``K u^`` (eq. 27),
``P^ += (K u^) . grad I`` (eq. 26) and ``I^ += -div(P K u^)`` (eq. 25), transported by the adjoint of the
resampling; finally ``dE/dP0 = P^(0) + 2 grad I0 . u_0`` (eq. 30). It is the exact discrete adjoint of the
scheme above (equal to autograd to rounding error, see the tests). With ``recompute=True`` the backward pass
recomputes each ``psi_k`` from ``psi_0`` instead of storing the ``T`` maps, so memory does not grow with ``T``
(time grows as ``T^2``); with ``recompute=False`` the ``T`` maps are stored (memory ``O(T)``, time ``O(T)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.geodesic import Geodesic, euler_arnold
from ..errors import DeepGeometryError
from . import fields
from ._common import MethodOptions
from .group import DiffeoGroup
from .similarity import data_term


@dataclass(frozen=True)
class ShotImages:
    """Result of :func:`shoot_images`.

    Attributes
    ----------
    images
        ``(T + 1, B, 1, *S)`` images ``I_k`` (``None`` unless ``keep_path``).
    displacements
        ``(T + 1, B, D, *S)`` sampling maps ``psi_k`` (``None`` unless ``keep_path``).
    displacement, inverse
        Final sampling map ``psi_T`` (``I_T = I0 o (id + displacement)``) and the forward map ``g_T``.
    final_image
        ``I_T``.
    velocity0, momentum0
        ``u_0`` and ``m_0 = P0 grad I0``.
    energy
        ``<m_0, K m_0>`` per batch element (the squared geodesic length, conserved along the geodesic).
    """

    images: torch.Tensor | None
    displacements: torch.Tensor | None
    displacement: torch.Tensor
    inverse: torch.Tensor
    final_image: torch.Tensor
    velocity0: torch.Tensor
    momentum0: torch.Tensor
    energy: torch.Tensor

    @property
    def length(self) -> torch.Tensor:
        """Geodesic distance ``sqrt(<m_0, K m_0>)``."""
        return torch.sqrt(torch.clamp(self.energy, min=0.0))


def _check(p0: torch.Tensor, source: torch.Tensor, steps: int) -> None:
    if int(steps) != steps or steps < 1:
        raise DeepGeometryError(f"shooting: steps must be a positive integer, got {steps!r}")
    if source.ndim not in (4, 5) or source.shape[1] != 1:
        raise DeepGeometryError(f"shooting: source must be (B, 1, *S), got shape {tuple(source.shape)}")
    if p0.shape[1:] != source.shape[1:]:
        raise DeepGeometryError(
            f"shooting: momentum shape {tuple(p0.shape)} does not match the image {tuple(source.shape)}"
        )
    if not torch.isfinite(p0).all():
        raise DeepGeometryError("shooting: initial momentum contains NaN or infinity")


def _state(d: torch.Tensor | None, source: torch.Tensor, p0: torch.Tensor, metric):
    """``(I_k, P_k, Pw_k, J_k, u_k)`` from the sampling map ``psi_k = id + d`` (``d=None``: identity)."""
    if d is None:
        I, P, Pw, J = source, p0, p0, None
    else:
        I = fields.sample(source, d)
        Pw = fields.sample(p0, d)
        J = fields.det_periodic(d)
        P = J * Pw
    u = metric.sharp(P * fields.grad(I))
    return I, P, Pw, J, u


def _advance(d: torch.Tensor | None, u: torch.Tensor, dt: float) -> torch.Tensor:
    w = -dt * u
    return w if d is None else w + fields.sample(d, w)


def shoot_images(
    p0: torch.Tensor, source: torch.Tensor, metric, steps: int = 10, keep_path: bool = False
) -> ShotImages:
    """Shoot the geodesic of initial scalar momentum ``p0`` from ``source`` (eqs. 22-24), forward only.

    Parameters
    ----------
    p0, source
        ``(B, 1, *S)`` initial scalar momentum and source image ``I0``.
    metric
        A :class:`~deepgeometry.diffeo.metric.FluidMetric` (anything with ``sharp``).
    steps
        Number of time steps ``T`` on ``[0, 1]``.
    keep_path
        Keep every ``I_k`` and ``psi_k``.

    Differentiable with autograd (the cross-check of :func:`adjoint_gradient`).
    """
    _check(p0, source, steps)
    dt = 1.0 / steps
    d = None
    e = torch.zeros_like(source).expand(source.shape[0], source.ndim - 2, *source.shape[2:])
    imgs, maps = [], []
    u0 = m0 = None
    for k in range(steps):
        I, P, _, _, u = _state(d, source, p0, metric)
        if k == 0:
            u0, m0 = u, P * fields.grad(I)
        if keep_path:
            imgs.append(I)
            maps.append(torch.zeros_like(e) if d is None else d)
        e = e + dt * fields.sample(u, e)  # g_{k+1} = (id + dt u_k) o g_k
        d = _advance(d, u, dt)
    final = fields.sample(source, d)
    if keep_path:
        imgs.append(final)
        maps.append(d)
    energy = (m0 * u0).flatten(1).sum(1)
    return ShotImages(
        images=torch.stack(imgs) if keep_path else None,
        displacements=torch.stack(maps) if keep_path else None,
        displacement=d,
        inverse=e,
        final_image=final,
        velocity0=u0,
        momentum0=m0,
        energy=energy,
    )


def shooting_loss(
    p0: torch.Tensor,
    source: torch.Tensor,
    target: torch.Tensor,
    metric,
    steps: int = 10,
    sigma: float = 1.0,
    similarity: str = "ssd",
) -> torch.Tensor:
    """``E(P0) = <m0, K m0> + sim(I_T, target) / sigma^2`` per batch element (eq. 17), by autograd-able code.

    ``similarity="ssd"`` is the sum of squared differences; ``"ncc"``/``"lncc"`` are scaled by the voxel
    count.
    """
    shot = shoot_images(p0, source, metric, steps)
    return shot.energy + data_term(shot.final_image, target, similarity) / sigma**2


def adjoint_gradient(
    p0: torch.Tensor,
    source: torch.Tensor,
    target: torch.Tensor,
    metric,
    steps: int = 10,
    sigma: float = 1.0,
    *,
    similarity: str = "ssd",
    recompute: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and gradient ``dE/dP0`` by the explicit backward adjoint system (eqs. 25-30).

    Parameters
    ----------
    p0, source, target
        ``(B, 1, *S)`` initial scalar momentum, source image ``I0`` and target ``I1``.
    metric
        :class:`~deepgeometry.diffeo.metric.FluidMetric` (its ``sharp`` is ``K``; ``K`` is self-adjoint).
    steps, sigma
        Time steps ``T`` and the noise level ``sigma`` of eq. (17).
    similarity
        Data term, see :func:`shooting_loss`.
    recompute
        Recompute the forward maps in the backward pass (memory independent of ``steps``).

    Returns
    -------
    (loss, grad_p0)
        ``(B,)`` losses and the ``(B, 1, *S)`` gradient, with no autograd graph.
    """
    _check(p0, source, steps)
    if source.shape[2:] != target.shape[2:]:
        raise DeepGeometryError(
            f"adjoint_gradient: source {tuple(source.shape)} and target {tuple(target.shape)} differ"
        )
    dt = 1.0 / steps
    with torch.no_grad():
        # forward pass: only the sampling maps psi_k are kept (or none with recompute=True)
        maps: list[torch.Tensor | None] = []
        d = None
        u0 = m0 = None
        for k in range(steps):
            if not recompute:
                maps.append(d)
            I, P, _, _, u = _state(d, source, p0, metric)
            if k == 0:
                u0, m0 = u, P * fields.grad(I)
            d = _advance(d, u, dt)
        final = fields.sample(source, d)
    # terminal condition (eq. 28): I^(1) = d sim / d I(1); P^(1) = 0 (eq. 29)
    with torch.enable_grad():
        f = final.detach().requires_grad_(True)
        data = data_term(f, target, similarity) / sigma**2
        (I_hat_T,) = torch.autograd.grad(data.sum(), f)
    with torch.no_grad():
        _, d_hat = fields.sample_vjp(source, d, I_hat_T)  # adjoint of the final map psi_T
        grad_p0 = torch.zeros_like(p0)
        for k in range(steps - 1, -1, -1):
            dk = _recompute_map(k, source, p0, metric, dt) if recompute else maps[k]
            I, P, Pw, J, u = _state(dk, source, p0, metric)
            w = -dt * u
            # psi_{k+1} = psi_k o (id + w): adjoint w.r.t. psi_k (transport) and w.r.t. the velocity
            if dk is None:
                u_hat = -dt * d_hat
                d_hat_k = None
            else:
                d_hat_k, dw = fields.sample_vjp(dk, w, d_hat)
                u_hat = -dt * (d_hat + dw)
            Ku_hat = metric.sharp(u_hat)  # eq. 27
            P_hat = (Ku_hat * fields.grad(I)).sum(1, keepdim=True)  # eq. 26 source term
            I_hat = -fields.div(P * Ku_hat)  # eq. 25 source term
            if dk is None:  # k = 0: P_0 = P0, I_0 = I0
                grad_p0 = grad_p0 + P_hat
                break
            # P_k = J_k * (P0 o psi_k), I_k = I0 o psi_k
            dp0, dd = fields.sample_vjp(p0, dk, P_hat * J)
            grad_p0 = grad_p0 + dp0
            d_hat_k = d_hat_k + dd + fields.det_periodic_vjp(dk, P_hat * Pw)
            d_hat_k = d_hat_k + fields.sample_vjp(source, dk, I_hat)[1]
            d_hat = d_hat_k
        # regulariser <m0, K m0> with m0 = P0 grad I0: gradient 2 grad I0 . u0 (eq. 30)
        grad_p0 = grad_p0 + 2.0 * (u0 * fields.grad(source)).sum(1, keepdim=True)
        energy = (m0 * u0).flatten(1).sum(1)
    return energy + data.detach(), grad_p0


def _recompute_map(k: int, source: torch.Tensor, p0: torch.Tensor, metric, dt: float) -> torch.Tensor | None:
    d = None
    for _ in range(k):
        u = _state(d, source, p0, metric)[4]
        d = _advance(d, u, dt)
    return d


def geodesic(
    p0: torch.Tensor,
    source: torch.Tensor,
    metric,
    steps: int = 10,
    group: DiffeoGroup | None = None,
    reconstruct: bool = True,
) -> Geodesic:
    """The same geodesic through the shared Euler-Arnold integrator (RK4 on EPDiff + Magnus on Diff(M)).

    ``m0 = P0 grad I0``; the trajectory holds the sampling maps ``g_t^-1`` (see :mod:`.group`), so the
    deformed
    images are ``I0 o (id + trajectory[k])``.
    """
    _check(p0, source, steps)
    group = group or DiffeoGroup(dim=source.ndim - 2)
    m0 = p0 * fields.grad(source)
    return euler_arnold(group, metric, m0, steps=steps, reconstruct=reconstruct)


@dataclass
class Shooting(MethodOptions):
    """Geodesic-shooting registration: optimise the initial scalar momentum ``P(0)`` (Vialard et al. 2012).

    At each pyramid level the energy ``lambda <m0, K m0> / N + sim`` (eq. 17 with ``sigma^2 = lambda``,
    scaled by ``lambda / N``) is descended along the gradient of :func:`adjoint_gradient`. Between levels the
    momentum is upsampled and rescaled so that its initial velocity matches the coarse level's.

    Parameters are those of :class:`~deepgeometry.diffeo.svf.SVF`, plus ``time_steps`` and ``recompute``.
    ``momentum="vector"`` optimises a vector momentum ``m0`` instead (Singh et al. 2013; see
    :mod:`.vector_shooting`): the geodesic is ``core.euler_arnold`` on :class:`DiffeoGroup`, the gradient is
    autograd through it (``checkpoint=True``: per-step checkpointing, autograd keeps only the step inputs),
    ``grid_size`` caps the side of the momentum grid (the map is upsampled to the images; ``grid_size`` and
    ``time_steps`` may be given per level, coarsest first, like ``iterations``) and ``optimizer``
    is ``"descent"`` (backtracking V-gradient descent) or ``"lbfgs"`` (L-BFGS in the V-metric);
    ``integrator`` is ``"euler_arnold"`` (the shared Eulerian RK4 + Magnus integrator) or ``"particle"``
    (momentum particles and a semi-Lagrangian map, :func:`.vector_shooting.particle_geodesic`: no CFL limit,
    first order in time, ~2x cheaper per evaluation); these five options act in the vector mode only.
    """

    time_steps: int | tuple[int, ...] = 8
    recompute: bool = False
    momentum: str = "scalar"
    checkpoint: bool = False
    grid_size: int | tuple[int, ...] | None = None
    optimizer: str = "descent"
    integrator: str = "euler_arnold"
    name: str = "shooting"

    def __post_init__(self):
        if self.momentum not in ("scalar", "vector"):
            raise DeepGeometryError(f"Shooting: momentum must be 'scalar' or 'vector', got {self.momentum!r}")
        if self.optimizer not in ("descent", "lbfgs"):
            raise DeepGeometryError(
                f"Shooting: optimizer must be 'descent' or 'lbfgs', got {self.optimizer!r}"
            )
        if self.integrator not in ("euler_arnold", "particle"):
            raise DeepGeometryError(
                f"Shooting: integrator must be 'euler_arnold' or 'particle', got {self.integrator!r}"
            )
        if self.momentum == "scalar" and isinstance(self.time_steps, (tuple, list)):
            raise DeepGeometryError("Shooting: per-level time_steps need momentum='vector'")
        grids = self.grid_size if isinstance(self.grid_size, (tuple, list)) else [self.grid_size]
        if self.grid_size is not None and any(g is None or int(g) != g or g < 8 for g in grids):
            raise DeepGeometryError(
                f"Shooting: grid_size must be None or an integer >= 8, got {self.grid_size!r}"
            )

    def metric(self):
        from .metric import FluidMetric

        return FluidMetric(self.alpha, self.gamma, self.power)

    def fit(self, fixed: torch.Tensor, moving: torch.Tensor, trace) -> dict:
        if self.momentum == "vector":
            from .vector_shooting import fit_vector

            return fit_vector(self, fixed, moving, trace)
        from ._common import descend, pyramid
        from .svf import _per_level

        metric = self.metric()
        B = max(fixed.shape[0], moving.shape[0])
        factors = pyramid(tuple(fixed.shape[2:]), self.levels)
        its = _per_level(self.iterations, len(factors))
        sigma = float(self.reg) ** 0.5
        p = ml_prev = None
        for f, n_it in zip(factors, its, strict=False):
            fl, ml = fields.downsample(fixed, f), fields.downsample(moving, f)
            ml = ml.expand(B, *ml.shape[1:])
            sh = tuple(fl.shape[2:])
            grad_ml = fields.grad(ml)
            if p is None:
                p = fixed.new_zeros(B, 1, *sh)
            else:  # upsample P(0), rescaled so that its velocity matches the coarse one (least squares)
                u_coarse = fields.resize_displacement(metric.sharp(p * fields.grad(ml_prev)), sh)
                p = fields.resize(p, sh)
                a = metric.sharp(p * grad_ml)
                den = float((a * a).sum())
                p = p * (float((a * u_coarse).sum()) / den if den > 0 else 1.0)
            ml_prev = ml
            N = float(torch.tensor(sh).prod())
            scale = self.reg / N

            def evaluate(p, fl=fl, ml=ml, scale=scale):
                loss, g = adjoint_gradient(
                    p,
                    ml,
                    fl,
                    metric,
                    self.time_steps,
                    sigma,
                    similarity=self.similarity,
                    recompute=self.recompute,
                )
                return float(loss.sum()) * scale, g * scale

            def initial_lr(G, grad_ml=grad_ml):
                vmax = float(metric.sharp(G * grad_ml).abs().max())
                return self.step / vmax if vmax > 0 else 0.0

            trace.level_starts.append(len(trace.energy))
            p = descend(p, evaluate, n_it, initial_lr, trace)
        with torch.no_grad():
            shot = shoot_images(p, moving.expand(B, *moving.shape[1:]), metric, self.time_steps)
        return {
            "displacement": shot.displacement,
            "inverse": shot.inverse,
            "momentum": p,
            "velocity": shot.velocity0,
            "distance": shot.length,
            "energy": shot.energy,
        }
