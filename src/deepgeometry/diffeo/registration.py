"""``register(fixed, moving, method=...) -> Registration``: one entry point for LDDMM, SVF and shooting.

The moving image ``I_0`` is deformed along a curve ``g(t)`` in Diff(M) towards the fixed image ``I_1``
(paper Section II-B, Fig. 2): ``warped = I_0 o g(1)^-1``. ``Registration.displacement`` is the sampling map
``g(1)^-1 - id`` (``warped(x) = moving(x + displacement(x))``), ``Registration.inverse`` is ``g(1) - id``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DeepGeometryError
from . import fields
from ._common import Trace, affine_align, affine_displacements
from .lddmm import LDDMM
from .shooting import Shooting
from .similarity import ncc
from .svf import SVF

log = logging.getLogger(__name__)

METHODS = {"lddmm": LDDMM, "svf": SVF, "shooting": Shooting}


@dataclass
class Registration:
    """The result of :func:`register` (tensors ``(B, C, *S)`` on the device used).

    Attributes
    ----------
    fixed, moving, warped
        Normalised fixed and moving images and the moving image deformed onto the fixed one.
    displacement, inverse
        Sampling map ``g^-1 - id`` and forward map ``g - id`` (voxel units, affine part included).
    distance
        ``(B,)`` length of the matching curve: ``sqrt(<P0, K P0>)`` for shooting (a geodesic),
        ``||v||_V`` for SVF (the curve ``exp(tv)``), ``sum_k dt ||u_k||_V`` for LDDMM.
    energy
        ``(B,)`` kinetic energy of the curve (``int <u, u>_V dt``).
    velocity, momentum
        SVF: stationary velocity; LDDMM: ``(T, B, D, *S)`` velocities; shooting: ``u(0)`` and scalar ``P(0)``
        (``momentum="vector"``: ``v0 = K m0`` and the vector momentum ``m0``, on the momentum grid).
    energy_history
        Objective after every accepted iteration, across levels (``level_starts`` marks each level).
    status, warnings
        ``"ok"``, ``"folds"`` (some voxels have ``det J <= 0``) or ``"diverged"``; human-readable warnings.
    """

    method: str
    fixed: torch.Tensor
    moving: torch.Tensor
    warped: torch.Tensor
    displacement: torch.Tensor
    inverse: torch.Tensor
    distance: torch.Tensor
    energy: torch.Tensor
    velocity: torch.Tensor | None = None
    momentum: torch.Tensor | None = None
    affine: torch.Tensor | None = None
    energy_history: list[float] = field(default_factory=list)
    level_starts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "ok"
    warnings: list[str] = field(default_factory=list)

    @property
    def jacobian_det(self) -> torch.Tensor:
        """Jacobian determinant of the sampling map, ``(B, 1, *S)``."""
        return fields.jacobian_det(self.displacement)

    @property
    def folds(self) -> int:
        """Number of voxels (all batch elements) where ``det J <= 0``."""
        return int(fields.count_folds(self.displacement).sum())

    @property
    def min_jacobian(self) -> float:
        return float(self.jacobian_det.min())

    def summary(self) -> dict:
        """The figures of ``registration.json``."""
        with torch.no_grad():
            return {
                "method": self.method,
                "ncc_before": float(ncc(self.moving, self.fixed).mean()),
                "ncc_after": float(ncc(self.warped, self.fixed).mean()),
                "mse_before": float(((self.moving - self.fixed) ** 2).mean()),
                "mse_after": float(((self.warped - self.fixed) ** 2).mean()),
                "folds": self.folds,
                "min_jacobian": self.min_jacobian,
                "distance": float(self.distance.mean()),
                "energy": float(self.energy.mean()),
                "iterations": len(self.energy_history),
                "seconds": self.seconds,
                "status": self.status,
                "warnings": list(self.warnings),
            }


def as_image(x, name: str = "image", dtype=torch.float32, device=None) -> torch.Tensor:
    """Validate and convert an array to ``(B, 1, *S)``.

    Accepted: ``(H, W)``, ``(D, H, W)``, ``(B, 1, H, W)``, ``(B, 1, D, H, W)``. Raises
    :class:`DeepGeometryError` for colour images, NaN/inf voxels, constant images and tiny grids.
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.is_complex():
        raise DeepGeometryError(f"{name}: complex images are not supported")
    t = t.to(dtype=dtype, device=device)
    if t.ndim == 3 and t.shape[-1] in (3, 4) and min(t.shape[:2]) > 4:
        raise DeepGeometryError(
            f"{name}: looks like a {t.shape[-1]}-channel colour image {tuple(t.shape)}; "
            "convert it to one channel (grayscale)"
        )
    if t.ndim in (2, 3):
        t = t.reshape(1, 1, *t.shape)
    elif t.ndim in (4, 5):
        if t.shape[1] != 1:
            raise DeepGeometryError(
                f"{name}: expected one channel, got {t.shape[1]} channels (shape "
                f"{tuple(t.shape)}); convert it to one channel"
            )
    else:
        raise DeepGeometryError(f"{name}: expected a 2D or 3D image, got shape {tuple(t.shape)}")
    if min(t.shape[2:]) < 8:
        raise DeepGeometryError(f"{name}: every side must have at least 8 voxels, got {tuple(t.shape[2:])}")
    if not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).sum())
        raise DeepGeometryError(f"{name}: {bad} voxels are NaN or infinite")
    flat = t.flatten(1)
    if bool(((flat.max(1).values - flat.min(1).values) <= 1e-12 * (1 + flat.abs().max(1).values)).any()):
        raise DeepGeometryError(f"{name}: the image is constant, there is nothing to register")
    return t


def normalise(img: torch.Tensor) -> torch.Tensor:
    """Rescale each image to [0, 1] (min-max)."""
    flat = img.flatten(1)
    lo = flat.min(1).values.view(-1, *([1] * (img.ndim - 1)))
    hi = flat.max(1).values.view(-1, *([1] * (img.ndim - 1)))
    return (img - lo) / (hi - lo)


def make_method(method, **options):
    """``"svf"|"lddmm"|"shooting"`` or a method object -> a method object (options override defaults)."""
    if isinstance(method, str):
        key = method.lower()
        if key not in METHODS:
            raise DeepGeometryError(f"unknown registration method {method!r}; use one of {sorted(METHODS)}")
        try:
            return METHODS[key](**options)
        except TypeError as e:
            raise DeepGeometryError(f"bad option for method {key!r}: {e}") from None
    if options:
        raise DeepGeometryError("options are only accepted with a method name; configure the object instead")
    if not hasattr(method, "fit"):
        raise DeepGeometryError(f"method must be a name or an object with .fit, got {type(method).__name__}")
    return method


def register(
    fixed,
    moving,
    method="svf",
    *,
    affine: bool = False,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    normalize: bool = True,
    **options,
) -> Registration:
    """Register ``moving`` onto ``fixed`` with LDDMM, SVF or geodesic shooting.

    Parameters
    ----------
    fixed, moving
        Arrays or tensors, 2D or 3D, same dimensionality (see :func:`as_image`); ``moving`` is resampled
        to ``fixed``'s grid if the sizes differ (same field of view assumed).
    method
        ``"svf"`` (default), ``"lddmm"``, ``"shooting"`` or an :class:`SVF` / :class:`LDDMM` /
        :class:`Shooting`.
    affine
        Affine pre-alignment (global NCC) before the diffeomorphic part.
    device, dtype
        Where and in which precision to compute (float32 default, float64 for tests).
    normalize
        Rescale both images to [0, 1] first.
    **options
        Overrides of the method's defaults (e.g. ``reg=0.01, iterations=(100, 50, 20)``).

    Returns
    -------
    Registration
    """
    t0 = time.perf_counter()
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and not torch.cuda.is_available():
        raise DeepGeometryError(f"device {str(device)!r} requested but CUDA is not available")
    f = as_image(fixed, "fixed", dtype, device)
    m = as_image(moving, "moving", dtype, device)
    if f.ndim != m.ndim:
        raise DeepGeometryError(
            f"fixed is {f.ndim - 2}D {tuple(f.shape[2:])} but moving is {m.ndim - 2}D "
            f"{tuple(m.shape[2:])}: both must have the same dimensionality"
        )
    if f.shape[0] != m.shape[0] and 1 not in (f.shape[0], m.shape[0]):
        raise DeepGeometryError(f"batch sizes differ: fixed {f.shape[0]} vs moving {m.shape[0]}")
    if f.shape[2:] != m.shape[2:]:
        log.info("resampling moving %s to the fixed grid %s", tuple(m.shape[2:]), tuple(f.shape[2:]))
        m = fields.resize(m, tuple(f.shape[2:]))
    if normalize:
        f, m = normalise(f), normalise(m)
    meth = make_method(method, **options)
    trace = Trace()
    theta = None
    m_in = m
    shape = tuple(f.shape[2:])
    if affine:
        theta = affine_align(f, m)
        a_disp, a_inv = affine_displacements(theta, shape)
        m_in = fields.sample(m, a_disp)
    with torch.no_grad():
        out = meth.fit(f, m_in, trace)
    disp, inv = out["displacement"], out["inverse"]
    if theta is not None:
        disp = fields.compose(a_disp, disp)  # A o psi
        inv = fields.compose(inv, a_inv)  # psi^-1 o A^-1
    with torch.no_grad():
        warped = fields.sample(m, disp)
    reg = Registration(
        method=getattr(meth, "name", type(meth).__name__.lower()),
        fixed=f,
        moving=m,
        warped=warped,
        displacement=disp,
        inverse=inv,
        distance=out["distance"],
        energy=out["energy"],
        velocity=out.get("velocity"),
        momentum=out.get("momentum"),
        affine=theta,
        energy_history=trace.energy,
        level_starts=trace.level_starts,
        warnings=list(trace.warnings),
    )
    if trace.diverged or not torch.isfinite(disp).all():
        reg.status = "diverged"
        reg.warnings.append("the optimisation diverged (non-finite energy); the map is the last finite one")
    else:
        nf = reg.folds
        if nf > 0:
            reg.status = "folds"
            reg.warnings.append(
                f"the map folds: {nf} voxels have det J <= 0 (min {reg.min_jacobian:.3g}); "
                "increase reg or alpha"
            )
    reg.seconds = time.perf_counter() - t0
    if not math.isfinite(reg.seconds):  # pragma: no cover
        reg.seconds = 0.0
    return reg
