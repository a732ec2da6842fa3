"""The fluid metric on vector fields: inertia ``L = (alpha (-Laplacian) + gamma)^s`` and ``K = L^-1``.

The paper's metric ``<u, u>_V = <Lu, u>_{L2}`` (eq. 2; our ``flat`` is the inertia operator, called ``L^+L``
there) and its inverse ``K`` (eq. 3, "K(L^+L) = 1") are diagonal in the discrete Fourier basis of a periodic
grid, so both are one FFT, one multiplication and one inverse FFT per component. The discrete Laplacian is the
(2D+1)-point stencil, with symbol ``-sum_i (2 - 2 cos(2 pi k_i / N_i)) / h_i^2``. A Gaussian ``K`` (the
classical choice of computational anatomy) is available with ``kernel="gaussian"``; its ``flat`` divides by a
floored symbol so that ``flat(sharp(m)) == m`` holds exactly.
"""

from __future__ import annotations

import math

import torch

from ..errors import DeepGeometryError


def _check_positive(name: str, value: float, allow_zero: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise DeepGeometryError(
            f"FluidMetric: {name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}"
        )
    return value


def laplacian_symbol(
    shape: tuple[int, ...], spacing: tuple[float, ...] | None = None, dtype=torch.float64, device=None
) -> torch.Tensor:
    """Eigenvalues of ``-Laplacian`` (periodic, (2D+1)-point stencil) on the ``rfftn`` half grid."""
    D = len(shape)
    spacing = spacing or (1.0,) * D
    total = None
    for i, n in enumerate(shape):
        k = torch.arange(n // 2 + 1 if i == D - 1 else n, dtype=dtype, device=device)
        lam = (2.0 - 2.0 * torch.cos(2.0 * math.pi * k / n)) / float(spacing[i]) ** 2
        view = [1] * D
        view[i] = lam.numel()
        lam = lam.view(view)
        total = lam if total is None else total + lam
    return total


class FluidMetric:
    """Right-invariant metric on vector fields ``(B, D, *S)`` with a Fourier-diagonal inertia operator.

    Parameters
    ----------
    alpha, gamma, power
        ``L = (alpha (-Laplacian) + gamma)^power``; ``gamma > 0`` keeps ``L`` invertible.
    kernel
        ``"fluid"`` (the operator above) or ``"gaussian"`` (``K`` = Gaussian of width ``sigma`` voxels,
        normalised to ``K(0) = 1 / gamma``).
    spacing
        Voxel size per axis (defaults to 1), entering the Laplacian symbol.

    ``flat(v)`` is the momentum ``m = Lv`` (velocity -> momentum), ``sharp(m)`` is ``Km`` (momentum ->
    velocity),
    ``inner(None, u, w) = <Lu, w>_{L2}``. Multipliers are cached per (shape, dtype, device).
    """

    def __init__(
        self,
        alpha: float = 1.0,
        gamma: float = 1.0,
        power: float = 2.0,
        kernel: str = "fluid",
        sigma: float = 2.0,
        spacing: tuple[float, ...] | None = None,
    ):
        if kernel not in ("fluid", "gaussian"):
            raise DeepGeometryError(f"FluidMetric: kernel must be 'fluid' or 'gaussian', got {kernel!r}")
        self.alpha = _check_positive("alpha", alpha, allow_zero=True)
        self.gamma = _check_positive("gamma", gamma)
        self.power = _check_positive("power", power)
        self.sigma = _check_positive("sigma", sigma)
        self.kernel = kernel
        self.spacing = tuple(float(s) for s in spacing) if spacing is not None else None
        self._cache: dict = {}

    def __repr__(self) -> str:
        if self.kernel == "gaussian":
            return f"FluidMetric(kernel='gaussian', sigma={self.sigma}, gamma={self.gamma})"
        return f"FluidMetric(alpha={self.alpha}, gamma={self.gamma}, power={self.power})"

    def with_spacing(self, spacing: tuple[float, ...]) -> FluidMetric:
        """The same metric on a grid with another voxel size (used by the multi-resolution pyramid)."""
        return FluidMetric(self.alpha, self.gamma, self.power, self.kernel, self.sigma, tuple(spacing))

    def multiplier(self, shape: tuple[int, ...], dtype=torch.float32, device=None) -> torch.Tensor:
        """The symbol of ``L`` on the ``rfftn`` half grid of ``shape``."""
        real = torch.float64 if dtype in (torch.float64, torch.complex128) else torch.float32
        key = (tuple(shape), real, str(device))
        if key not in self._cache:
            lam = laplacian_symbol(tuple(shape), self.spacing, torch.float64, device)
            if self.kernel == "fluid":
                sym = (self.alpha * lam + self.gamma) ** self.power
            else:
                sym = self.gamma * torch.exp(0.5 * self.sigma**2 * lam)
                sym = torch.clamp(sym, max=1e12)
            self._cache[key] = sym.to(real)
        return self._cache[key]

    def _apply(self, v: torch.Tensor, inverse: bool) -> torch.Tensor:
        D = v.ndim - 2
        if D not in (2, 3):
            raise DeepGeometryError(f"FluidMetric: expected a (B, D, *S) field, got shape {tuple(v.shape)}")
        shape = tuple(v.shape[2:])
        sym = self.multiplier(shape, v.dtype, v.device)
        dims = tuple(range(2, 2 + D))
        fv = torch.fft.rfftn(v, dim=dims)
        fv = fv / sym if inverse else fv * sym
        return torch.fft.irfftn(fv, s=shape, dim=dims)

    def flat(self, v: torch.Tensor) -> torch.Tensor:
        """Velocity -> momentum, ``m = L v``."""
        return self._apply(v, inverse=False)

    def sharp(self, m: torch.Tensor) -> torch.Tensor:
        """Momentum -> velocity, ``v = K m``."""
        return self._apply(m, inverse=True)

    def inner(self, x: torch.Tensor | None, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``<u, w>_V = <L u, w>_{L2}`` per batch element."""
        return (self.flat(u) * w).flatten(1).sum(1)

    def norm(self, x: torch.Tensor | None, u: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(torch.clamp(self.inner(x, u, u), min=0.0))
