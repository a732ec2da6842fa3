"""Grids, warps and vector fields on a regular grid (the state space V and the algebra of Diff(M)).

Conventions (paper Section II-B, eqs. 2-3 and 22-24):

* an image is a tensor ``(B, 1, *S)`` with ``S`` the ``D`` spatial sizes (``D = 2`` or ``3``);
* a vector field or a displacement is ``(B, D, *S)``; component ``i`` points along spatial axis ``i``
  (the first spatial axis first), in voxel units;
* a map ``psi(x) = x + d(x)`` is stored as its displacement ``d``; ``sample(f, d)`` evaluates ``f o psi``
  by (bi/tri)linear interpolation (``grid_sample``, ``align_corners=True``, border padding);
* images are deformed by pull-back, ``I o psi``; for a deformation ``g`` the deformed image is
  ``I o g^-1``, so the map we store for ``g`` is the *sampling map* ``g^-1`` (see :mod:`.group`);
* the differential operators used by the geodesic equations (``grad``, ``div``, ``jacobian``) are
  periodic central differences, so that ``grad`` and ``-div`` are exact adjoints (the fluid metric of
  :mod:`.metric` is periodic too); the Jacobian determinant reported to users uses one-sided differences at
  the border (:func:`jacobian_det`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import DeepGeometryError

_PAD = {"zeros": 0, "border": 1, "reflection": 2}


def spatial_ndim(field: torch.Tensor) -> int:
    """Number of spatial dimensions of a ``(B, C, *S)`` tensor (2 or 3)."""
    d = field.ndim - 2
    if d not in (2, 3):
        raise DeepGeometryError(
            f"expected a (B, C, H, W) or (B, C, D, H, W) tensor, got shape {tuple(field.shape)}"
        )
    return d


def identity_grid(shape: tuple[int, ...], dtype=torch.float32, device=None) -> torch.Tensor:
    """Voxel coordinates ``(D, *shape)``: component ``i`` is the index along axis ``i``."""
    axes = [torch.arange(n, dtype=dtype, device=device) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


_GRID_CACHE: dict = {}


def _grid_constants(shape: tuple[int, ...], dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached identity in ``grid_sample`` coordinates ``(1, *S, D)`` (last dim reversed) and the
    reversed per-axis scale ``2 / (n - 1)``."""
    key = (shape, dtype, str(device))
    hit = _GRID_CACHE.get(key)
    if hit is None:
        D = len(shape)
        scale = torch.tensor([2.0 / max(n - 1, 1) for n in shape], dtype=dtype, device=device)
        ident = identity_grid(shape, dtype, device) * scale.view(D, *([1] * D)) - 1.0
        base = ident.permute(*range(1, D + 1), 0).flip(-1).unsqueeze(0).contiguous()
        if len(_GRID_CACHE) >= 16:
            _GRID_CACHE.pop(next(iter(_GRID_CACHE)))
        hit = _GRID_CACHE[key] = (base, scale.flip(0).contiguous())
    return hit


def _normalised_grid(d: torch.Tensor) -> torch.Tensor:
    """Displacement ``(B, D, *S)`` -> ``grid_sample`` grid ``(B, *S, D)`` in [-1, 1], last dim reversed."""
    shape = tuple(d.shape[2:])
    D = len(shape)
    base, scale_rev = _grid_constants(shape, d.dtype, d.device)
    return base + d.flip(1).permute(0, *range(2, D + 2), 1) * scale_rev


def _match_batch(f: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if f.shape[0] == d.shape[0]:
        return f, d
    if f.shape[0] == 1:
        return f.expand(d.shape[0], *f.shape[1:]), d
    if d.shape[0] == 1:
        return f, d.expand(f.shape[0], *d.shape[1:])
    raise DeepGeometryError(f"batch sizes differ: {f.shape[0]} vs {d.shape[0]}")


def sample(f: torch.Tensor, d: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """``f o (id + d)``: pull ``f`` (``(B, C, *S)``) back through the map with displacement ``d``."""
    f, d = _match_batch(f, d)
    if f.shape[2:] != d.shape[2:]:
        raise DeepGeometryError(
            f"sample: field shape {tuple(f.shape[2:])} != displacement shape {tuple(d.shape[2:])}"
        )
    return F.grid_sample(f, _normalised_grid(d), mode="bilinear", padding_mode=padding, align_corners=True)


def sample_vjp(
    f: torch.Tensor, d: torch.Tensor, grad_out: torch.Tensor, padding: str = "border"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adjoint of :func:`sample`: ``(df, dd)`` with ``<grad_out, delta sample> = <df, delta f> + <dd,
    delta d>``.

    ``df`` is the transposed interpolation (a splat, the discrete ``-div(. u)`` transport of eq. 25) and
    ``dd`` is
    ``grad_out`` times the exact derivative of the interpolant. Uses ATen's grid-sampler backward kernels.
    """
    f, d = _match_batch(f, d)
    D = d.shape[1]
    grid = _normalised_grid(d)
    op = torch.ops.aten.grid_sampler_2d_backward if D == 2 else torch.ops.aten.grid_sampler_3d_backward
    df, dgrid = op(
        grad_out.contiguous(), f.contiguous(), grid.contiguous(), 0, _PAD[padding], True, [True, True]
    )
    scale = _grid_constants(tuple(d.shape[2:]), d.dtype, d.device)[1].flip(0)
    dd = dgrid.flip(-1).permute(0, D + 1, *range(1, D + 1)) * scale.view(1, D, *([1] * D))
    return df, dd


def compose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Displacement of ``(id + a) o (id + b)``: ``b + a o (id + b)``."""
    return b + sample(a, b)


def scaling_squaring_steps(v: torch.Tensor, max_step: float = 0.5) -> int:
    """Squarings so that ``max|v| / 2^N <= max_step`` voxels (at least 0, at most 16)."""
    vmax = float(v.detach().abs().max()) if v.numel() else 0.0
    if not math.isfinite(vmax):
        raise DeepGeometryError("velocity field contains NaN or infinity")
    if vmax <= max_step:
        return 0 if vmax == 0.0 else 2
    return min(16, int(math.ceil(math.log2(vmax / max_step))) + 2)


def exp_field(v: torch.Tensor, squarings: int | None = None) -> torch.Tensor:
    """Group exponential of a stationary velocity ``v``: the displacement of the time-1 flow of ``dx/dt
    = v(x)``.

    Scaling and squaring (Arsigny et al. 2006): ``exp(v) = exp(v / 2^N)^(2^N)`` with ``exp(w) ~ id + w``;
    this is the Lie-group curve ``exp(t v)`` of the SVF framework (paper Section II-B, Fig. 3 right).
    """
    n = scaling_squaring_steps(v) if squarings is None else int(squarings)
    d = v / (2.0**n)
    for _ in range(n):
        d = compose(d, d)
    return d


def invert(d: torch.Tensor, iterations: int = 30, tol: float = 1e-6) -> torch.Tensor:
    """Displacement ``e`` of the inverse map: ``e(x) = -d(x + e(x))`` by fixed-point iteration."""
    e = -d
    for _ in range(iterations):
        e_new = -sample(d, e)
        delta = float((e_new - e).detach().abs().max())
        e = e_new
        if delta < tol:
            break
    return e


def _roll_diff(f: torch.Tensor, axis: int) -> torch.Tensor:
    """Periodic central difference ``(f[i + 1] - f[i - 1]) / 2`` along ``axis``."""
    n = f.shape[axis]
    if n < 3 or (f.requires_grad and torch.is_grad_enabled()):
        return 0.5 * (torch.roll(f, -1, dims=axis) - torch.roll(f, 1, dims=axis))
    # written into one buffer (no rolled copies): interior, then the two wrapped ends
    out = torch.empty_like(f)
    torch.sub(f.narrow(axis, 2, n - 2), f.narrow(axis, 0, n - 2), out=out.narrow(axis, 1, n - 2))
    torch.sub(f.narrow(axis, 1, 1), f.narrow(axis, n - 1, 1), out=out.narrow(axis, 0, 1))
    torch.sub(f.narrow(axis, 0, 1), f.narrow(axis, n - 2, 1), out=out.narrow(axis, n - 1, 1))
    return out.mul_(0.5)


def grad(f: torch.Tensor) -> torch.Tensor:
    """Periodic central-difference gradient of a scalar field ``(B, 1, *S)`` -> ``(B, D, *S)``."""
    D = spatial_ndim(f)
    return torch.cat([_roll_diff(f, 2 + i) for i in range(D)], dim=1)


def div(v: torch.Tensor) -> torch.Tensor:
    """Periodic central-difference divergence ``(B, D, *S)`` -> ``(B, 1, *S)``; ``div = -grad^T`` exactly."""
    D = spatial_ndim(v)
    return sum(_roll_diff(v[:, i : i + 1], 2 + i) for i in range(D))


def jacobian(v: torch.Tensor) -> torch.Tensor:
    """Periodic central-difference Jacobian ``(B, D, D, *S)`` with ``[:, i, j] = d v_i / d x_j``."""
    D = spatial_ndim(v)
    return torch.stack([_roll_diff(v, 2 + j) for j in range(D)], dim=2)


def _det(J: torch.Tensor) -> torch.Tensor:
    """Determinant of ``(B, D, D, *S)`` matrices, written out (D = 2, 3)."""
    if J.shape[1] == 2:
        return J[:, 0, 0] * J[:, 1, 1] - J[:, 0, 1] * J[:, 1, 0]
    return (
        J[:, 0, 0] * (J[:, 1, 1] * J[:, 2, 2] - J[:, 1, 2] * J[:, 2, 1])
        - J[:, 0, 1] * (J[:, 1, 0] * J[:, 2, 2] - J[:, 1, 2] * J[:, 2, 0])
        + J[:, 0, 2] * (J[:, 1, 0] * J[:, 2, 1] - J[:, 1, 1] * J[:, 2, 0])
    )


def _eye_plus(Jd: torch.Tensor) -> torch.Tensor:
    D = Jd.shape[1]
    eye = torch.eye(D, dtype=Jd.dtype, device=Jd.device).view(1, D, D, *([1] * D))
    return Jd + eye


def det_periodic(d: torch.Tensor) -> torch.Tensor:
    """``det(I + Dd)`` with periodic central differences, ``(B, 1, *S)`` (used inside the shooting scheme)."""
    return _det(_eye_plus(jacobian(d))).unsqueeze(1)


def det_periodic_vjp(d: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`det_periodic`: cofactor matrix times ``grad_out``, pulled back through
    ``jacobian``."""
    A = _eye_plus(jacobian(d))
    D = A.shape[1]
    if D == 2:
        cof = torch.stack(
            [torch.stack([A[:, 1, 1], -A[:, 1, 0]], 1), torch.stack([-A[:, 0, 1], A[:, 0, 0]], 1)], 1
        )
    else:
        rows = []
        for i in range(3):
            row = []
            for j in range(3):
                r = [k for k in range(3) if k != i]
                c = [k for k in range(3) if k != j]
                minor = A[:, r[0], c[0]] * A[:, r[1], c[1]] - A[:, r[0], c[1]] * A[:, r[1], c[0]]
                row.append(minor if (i + j) % 2 == 0 else -minor)
            rows.append(torch.stack(row, 1))
        cof = torch.stack(rows, 1)
    G = cof * grad_out.unsqueeze(1)  # d det / d A_ij = cof_ij
    # jacobian[:, i, j] = roll_diff_j(d_i); adjoint of roll_diff is -roll_diff
    return -sum(_roll_diff(G[:, :, j], 2 + j) for j in range(D))


def jacobian_det(d: torch.Tensor) -> torch.Tensor:
    """Jacobian determinant of ``x -> x + d(x)``, ``(B, 1, *S)`` (central differences, one-sided at the
    border)."""
    D = spatial_ndim(d)
    rows = []
    for i in range(D):
        gi = torch.gradient(d[:, i], dim=list(range(1, D + 1)))
        rows.append(torch.stack(gi, dim=1))
    return _det(_eye_plus(torch.stack(rows, dim=1))).unsqueeze(1)


def count_folds(d: torch.Tensor) -> torch.Tensor:
    """Voxels where the Jacobian determinant is <= 0, per batch element (``(B,)`` int64)."""
    return (jacobian_det(d) <= 0).flatten(1).sum(1)


def resize(f: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Linear resampling of an image or a field to ``shape`` (corners aligned; values unchanged)."""
    if tuple(f.shape[2:]) == tuple(shape):
        return f
    mode = "bilinear" if len(shape) == 2 else "trilinear"
    return F.interpolate(f, size=tuple(shape), mode=mode, align_corners=True)


def resize_displacement(d: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Resample a displacement to ``shape`` and rescale each component to the new voxel size."""
    old = d.shape[2:]
    out = resize(d, shape)
    D = len(shape)
    scale = torch.tensor(
        [(n - 1) / max(o - 1, 1) for n, o in zip(shape, old, strict=False)], dtype=d.dtype, device=d.device
    )
    return out * scale.view(1, D, *([1] * D))


def downsample(img: torch.Tensor, factor: int) -> torch.Tensor:
    """Box-filtered downsampling by an integer factor (the pyramid's anti-aliased levels)."""
    if factor == 1:
        return img
    D = spatial_ndim(img)
    pool = F.avg_pool2d if D == 2 else F.avg_pool3d
    return pool(img, kernel_size=factor, stride=factor, ceil_mode=True, count_include_pad=False)


def smooth(f: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing (replicate border) with standard deviation ``sigma`` voxels."""
    if sigma <= 0:
        return f
    D = spatial_ndim(f)
    r = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=f.dtype, device=f.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    C = f.shape[1]
    out = f
    for ax in range(D):
        shape = [1] * D
        shape[ax] = 2 * r + 1
        w = k.view(1, 1, *shape).expand(C, 1, *shape)
        pad = [0] * (2 * D)
        pad[2 * (D - 1 - ax)] = r
        pad[2 * (D - 1 - ax) + 1] = r
        out = F.pad(out, pad, mode="replicate")
        conv = F.conv2d if D == 2 else F.conv3d
        out = conv(out, w, groups=C)
    return out
