"""Mean-field theory of wide random networks (Poole et al. 2016; Schoenholz et al. 2017).

The paper (Section III-A, ref. [23]) points to Poole et al. for the one case in which the curvature of the
data manifold along a deep network is known: a random fully connected network

    h^l = W^l phi(h^{l-1}) + b^l,   W_ij ~ N(0, sigma_w^2 / N),   b_i ~ N(0, sigma_b^2),

in the limit of infinite width N. Every quantity below is a one- or two-dimensional Gaussian integral,
evaluated by (tensor-product) Gauss-Hermite quadrature with the probabilists' weight exp(-z^2 / 2), its
order growing with q (the integrands vary on a scale 1/sqrt(q) in z; see ``_order``) - except where
Gauss-Hermite meets a kink it cannot resolve: ReLU uses the arc-cosine kernel in closed form, hard_tanh
closed forms (erf) and, for its correlation map, Gauss-Legendre panels split at the kinks:

* length map     q^l = sigma_w^2 E[phi(sqrt(q^{l-1}) z)^2] + sigma_b^2, with fixed point ``q_star``;
* correlation map c^l = (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q*,  u1 = sqrt(q*) z1,
  u2 = sqrt(q*) (c z1 + sqrt(1 - c^2) z2), with stable fixed point ``c_star``;
* ``chi1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]``: the slope of the correlation map at c = 1 and the factor by
  which a curve's squared length element grows per layer, so lengths grow by ``sqrt(chi1)`` per layer;
* ``chi2 = sigma_w^2 E[phi''(sqrt(q*) z)^2]``: the curvature growth term. With kappa_bar = sqrt(N) kappa the
  width-normalised curvature of a curve (Poole et al. 2016, extrinsic curvature),
  ``kappa_bar_l^2 = kappa_bar_{l-1}^2 / chi1 + 3 chi2 / chi1^2`` (:func:`curvature_recursion`);
* ``critical_sigma_w``: the sigma_w with chi1 = 1 (the order-to-chaos edge) for a given sigma_b;
* depth scales (Schoenholz et al. 2017): ``xi_c = -1 / log(chi_c)`` with chi_c = sigma_w^2
  E[phi'(u1) phi'(u2)] at c*, the slope of the correlation map at its stable fixed point (chi_c = chi1 in
  the ordered phase, so xi_c diverges at the edge of chaos), and ``xi_q = -1 / log(chi_q)`` with
  chi_q = chi1 + sigma_w^2 E[phi''(sqrt(q*) z) phi(sqrt(q*) z)], the slope of the length map at q*.

Piecewise-linear activations (``relu``, ``hard_tanh``) have a Dirac delta for phi''; for them ``chi2`` is
``inf`` (curvature concentrates at kinks) and ``xi_q`` uses the length map's slope in closed form.
An unbounded length map (ReLU with sigma_w^2 > 2, or sigma_w^2 = 2 with sigma_b > 0) has ``q_star = inf``
(then ``c_star = 1``, ``chi_c = 1`` and both depth scales are ``inf``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, special

from ..errors import DeepGeometryError

__all__ = [
    "ACTIVATIONS",
    "MeanField",
    "c_map",
    "chi1",
    "critical_sigma_w",
    "curvature_recursion",
    "gauss_hermite",
    "meanfield",
    "q_map",
    "q_star",
]

Array = np.ndarray


def _tanh(x: Array) -> Array:
    return np.tanh(x)


def _dtanh(x: Array) -> Array:
    t = np.tanh(x)
    return 1.0 - t * t


def _d2tanh(x: Array) -> Array:
    t = np.tanh(x)
    return -2.0 * t * (1.0 - t * t)


def _sigmoid(x: Array) -> Array:
    return special.expit(x)


def _dsigmoid(x: Array) -> Array:
    s = special.expit(x)
    return s * (1.0 - s)


def _d2sigmoid(x: Array) -> Array:
    s = special.expit(x)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0)


def _drelu(x: Array) -> Array:
    return (x > 0).astype(float)


def _hard_tanh(x: Array) -> Array:
    return np.clip(x, -1.0, 1.0)


def _dhard_tanh(x: Array) -> Array:
    return (np.abs(x) < 1.0).astype(float)


def _zero(x: Array) -> Array:
    return np.zeros_like(x)


@dataclass(frozen=True)
class _Activation:
    phi: Callable[[Array], Array]
    dphi: Callable[[Array], Array]
    d2phi: Callable[[Array], Array]
    smooth: bool  # False: phi'' is a sum of Dirac deltas (chi2 = inf)


ACTIVATIONS: dict[str, _Activation] = {
    "tanh": _Activation(_tanh, _dtanh, _d2tanh, True),
    "sigmoid": _Activation(_sigmoid, _dsigmoid, _d2sigmoid, True),
    "relu": _Activation(_relu, _drelu, _zero, False),
    "hard_tanh": _Activation(_hard_tanh, _dhard_tanh, _zero, False),
}


def _activation(name: str) -> _Activation:
    key = name.lower().replace("-", "_")
    if key == "hardtanh":
        key = "hard_tanh"
    if key not in ACTIVATIONS:
        raise DeepGeometryError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]


@lru_cache(maxsize=32)
def gauss_hermite(n: int) -> tuple[Array, Array]:
    """Nodes and weights with ``sum(w * f(z)) ~= E[f(z)]`` for ``z ~ N(0, 1)`` (probabilists' Hermite).

    ``n`` is rounded up to an even number so that no node sits at 0, where piecewise-linear activations
    have their kink (an even rule integrates ReLU's step ``1{z > 0}`` exactly: weight 1/2).
    """
    if n < 2:
        raise DeepGeometryError(f"Gauss-Hermite order must be >= 2, got {n}")
    n = int(n) + (int(n) % 2)
    z, w = special.roots_hermitenorm(n)
    return z, w / math.sqrt(2.0 * math.pi)


def _order(q: float, n: int, per_q: float, cap: int) -> int:
    """Gauss-Hermite order for integrands ``f(sqrt(q) z)``.

    The activations vary on a unit scale in u = sqrt(q) z, i.e. on a scale 1/sqrt(q) in z, while the node
    spacing near 0 is about pi / sqrt(2 n), so the order must grow like q. Measured against adaptive
    quadrature for q in [0.3, 50]: 256 q nodes give relative errors <= 2e-12 for phi^2, phi'^2 and phi''^2
    of tanh and sigmoid (64 q nodes leave 5e-6 on tanh's phi''^2).
    """
    return int(min(cap, max(n, math.ceil(per_q * q))))


def _name(act: _Activation) -> str:
    return next(k for k, v in ACTIVATIONS.items() if v is act)


def _check(sigma_w: float, sigma_b: float) -> None:
    if not (math.isfinite(sigma_w) and sigma_w > 0):
        raise DeepGeometryError(f"sigma_w must be finite and > 0, got {sigma_w}")
    if not (math.isfinite(sigma_b) and sigma_b >= 0):
        raise DeepGeometryError(f"sigma_b must be finite and >= 0, got {sigma_b}")


def _e1(f: Callable[[Array], Array], q: float, n: int) -> float:
    """``E[f(sqrt(q) z)]`` for ``z ~ N(0, 1)`` by Gauss-Hermite quadrature."""
    z, w = gauss_hermite(_order(q, n, 256.0, 16384))
    return float(np.dot(w, f(math.sqrt(q) * z)))


def _e2(f: Callable[[Array], Array], g: Callable[[Array], Array], q: float, c: float, n: int) -> float:
    """``E[f(u1) g(u2)]`` for centred Gaussians with variance q and correlation c (tensor-product rule)."""
    z, w = gauss_hermite(_order(q, n, 128.0, 1024))
    c = min(1.0, max(-1.0, c))
    s = math.sqrt(q)
    u1 = s * z[:, None]
    u2 = s * (c * z[:, None] + math.sqrt(max(0.0, 1.0 - c * c)) * z[None, :])
    return float(np.einsum("i,j,ij->", w, w, f(u1) * g(u2)))


def _npdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


# Closed forms where they exist (piecewise-linear activations, whose phi' is a step that Gauss-Hermite
# resolves only to O(node spacing)). ReLU: the arc-cosine kernel (Cho & Saul 2009).

def _e_phi2(name: str, act: _Activation, q: float, n: int) -> float:
    if name == "relu":
        return q / 2.0
    if name == "hard_tanh":
        if q == 0.0:
            return 0.0
        a = 1.0 / math.sqrt(q)
        inside = math.erf(a / math.sqrt(2.0))
        return q * (inside - 2.0 * a * _npdf(a)) + (1.0 - inside)
    return _e1(lambda x: act.phi(x) ** 2, q, n)


def _e_dphi2(name: str, act: _Activation, q: float, n: int) -> float:
    if name == "relu":
        return 0.5
    if name == "hard_tanh":
        return 1.0 if q == 0.0 else math.erf(1.0 / math.sqrt(2.0 * q))
    return _e1(lambda x: act.dphi(x) ** 2, q, n)


def _mean_clip(m: Array, s: float) -> Array:
    """``E[clip(X, -1, 1)]`` for ``X ~ N(m, s^2)``, s > 0."""
    lo, hi = (-1.0 - m) / s, (1.0 - m) / s
    pdf = lambda x: np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)  # noqa: E731
    return (special.ndtr(-hi) - special.ndtr(lo) + m * (special.ndtr(hi) - special.ndtr(lo))
            + s * (pdf(lo) - pdf(hi)))


def _e_phiphi(name: str, act: _Activation, q: float, c: float, n: int) -> float:
    c = min(1.0, max(-1.0, c))
    if name == "relu":
        return q / (2.0 * math.pi) * (math.sqrt(max(0.0, 1.0 - c * c)) + (math.pi - math.acos(c)) * c)
    if name == "hard_tanh":
        # Outer integral over z1 by Gauss-Legendre panels split at hard_tanh's kinks z1 = +-1/sqrt(q); the
        # inner expectation over z2 in closed form (_mean_clip), so no quadrature node straddles a kink.
        sq, s = math.sqrt(q), math.sqrt(q * max(0.0, 1.0 - c * c))
        a, L = 1.0 / sq, 12.0
        cuts = {-L, L, -a, a}
        if abs(c) > 1e-12:  # the inner expectation turns over a width s / (sqrt(q) |c|) around z1 = +-a / c
            width = s / (sq * abs(c))
            for k in (a / c, -a / c):
                cuts.update({k, k - 10.0 * width, k + 10.0 * width})
        edges = sorted(e for e in cuts if -L <= e <= L)
        x, w = np.polynomial.legendre.leggauss(128)
        total = 0.0
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            z1 = lo + (hi - lo) * (x + 1.0) / 2.0
            inner = _mean_clip(sq * c * z1, s) if s > 1e-12 else np.clip(sq * c * z1, -1.0, 1.0)
            vals = np.exp(-0.5 * z1 * z1) / math.sqrt(2.0 * math.pi) * np.clip(sq * z1, -1.0, 1.0) * inner
            total += (hi - lo) / 2.0 * float(np.dot(w, vals))
        return total
    return _e2(act.phi, act.phi, q, c, n)


def _e_dphidphi(name: str, act: _Activation, q: float, c: float, n: int) -> float:
    c = min(1.0, max(-1.0, c))
    if name == "relu":
        return 0.25 + math.asin(c) / (2.0 * math.pi)
    if name == "hard_tanh":
        # P(|u1| < 1, |u2| < 1) = int_{-a}^{a} pdf(z1) P(|c z1 + s z2| < a) dz1, a smooth integrand on
        # [-a, a]: Gauss-Legendre.
        a = 1.0 / math.sqrt(q)
        s = math.sqrt(max(0.0, 1.0 - c * c))
        if s < 1e-12:  # u2 = +-u1
            return math.erf(a / math.sqrt(2.0))
        x, w = np.polynomial.legendre.leggauss(96)
        z1 = a * x
        inner = special.ndtr((a - c * z1) / s) - special.ndtr((-a - c * z1) / s)
        return float(a * np.dot(w, np.exp(-0.5 * z1 * z1) / math.sqrt(2.0 * math.pi) * inner))
    return _e2(act.dphi, act.dphi, q, c, n)


def q_map(q: float, sigma_w: float, sigma_b: float, activation: str = "tanh", n: int = 200) -> float:
    """One step of the length map ``q -> sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2``."""
    _check(sigma_w, sigma_b)
    act = _activation(activation)
    return sigma_w**2 * _e_phi2(_name(act), act, q, n) + sigma_b**2


def q_star(sigma_w: float, sigma_b: float, activation: str = "tanh", *, n: int = 200,
           q0: float = 1.0) -> float:
    """Fixed point of the length map.

    ReLU's map is linear, ``q -> sigma_w^2 q / 2 + sigma_b^2``: its fixed point is in closed form, every q is
    fixed when sigma_w^2 = 2 and sigma_b = 0 (then ``q0`` is returned), and it is ``inf`` when the map is
    unbounded. The other activations are bounded (phi^2 <= 1), so the fixed point lies in
    ``[0, sigma_w^2 + sigma_b^2]`` and is found with Brent's method. With sigma_b = 0 and phi(0) = 0 (tanh,
    hard_tanh), q = 0 is a fixed point, and the only one unless sigma_w^2 phi'(0)^2 > 1.
    """
    _check(sigma_w, sigma_b)
    act = _activation(activation)
    name = _name(act)
    if name == "relu":
        slope = sigma_w**2 / 2.0
        if abs(slope - 1.0) < 1e-15:
            return q0 if sigma_b == 0 else math.inf
        return sigma_b**2 / (1.0 - slope) if slope < 1.0 else math.inf
    F = lambda q: q_map(q, sigma_w, sigma_b, name, n) - q  # noqa: E731
    lo, hi = 0.0, sigma_w**2 + sigma_b**2
    if F(lo) <= 0.0:  # q = 0 is fixed; a non-zero fixed point exists only if the map's slope there exceeds 1
        if sigma_w**2 * float(act.dphi(np.zeros(1))[0]) ** 2 <= 1.0:
            return 0.0
        lo = 1e-3 * hi  # F(q) ~ (sigma_w^2 phi'(0)^2 - 1) q > 0 for small q
        while F(lo) <= 0.0:
            lo /= 10.0
            if lo < 1e-200:
                return 0.0
    if F(hi) > 0.0:  # cannot happen for phi^2 <= 1 up to rounding
        return float(hi)
    return float(optimize.brentq(F, lo, hi, xtol=1e-15, rtol=1e-15))


def chi1(sigma_w: float, sigma_b: float, activation: str = "tanh", *, n: int = 200,
         q: float | None = None) -> float:
    """``sigma_w^2 E[phi'(sqrt(q*) z)^2]``: the per-layer growth of a curve's squared length element."""
    act = _activation(activation)
    if act is ACTIVATIONS["relu"]:
        _check(sigma_w, sigma_b)
        return sigma_w**2 / 2.0
    qs = q_star(sigma_w, sigma_b, activation, n=n) if q is None else q
    return sigma_w**2 * _e_dphi2(_name(act), act, qs, n)


def c_map(c: float, sigma_w: float, sigma_b: float, activation: str = "tanh", *, n: int = 200,
          q: float | None = None) -> float:
    """One step of the correlation map at the length fixed point (Poole et al. 2016)."""
    act = _activation(activation)
    qs = q_star(sigma_w, sigma_b, activation, n=n) if q is None else q
    if not math.isfinite(qs):
        raise DeepGeometryError(f"the length map diverges for {activation} at sigma_w={sigma_w}, "
                                f"sigma_b={sigma_b}: there is no correlation map at q*")
    if qs == 0.0:
        return 1.0
    return (sigma_w**2 * _e_phiphi(_name(act), act, qs, c, n) + sigma_b**2) / qs


def _c_star(sigma_w: float, sigma_b: float, activation: str, qs: float, chi: float, n: int) -> float:
    if chi <= 1.0 + 1e-12 or qs == 0.0:
        return 1.0
    F = lambda c: c_map(c, sigma_w, sigma_b, activation, n=n, q=qs) - c  # noqa: E731
    eps = 1e-3
    while F(1.0 - eps) >= 0.0 and eps < 1.0:
        eps *= 2.0
    if F(-1.0) < 0.0 or eps >= 1.0:
        raise DeepGeometryError(f"could not bracket c* for {activation} at sigma_w={sigma_w}, "
                                f"sigma_b={sigma_b}")
    return float(optimize.brentq(F, -1.0, 1.0 - eps, xtol=1e-14, rtol=1e-14))


def critical_sigma_w(sigma_b: float, activation: str = "tanh", *, n: int = 200,
                     bracket: tuple[float, float] = (0.05, 20.0)) -> float:
    """The sigma_w at which ``chi1 = 1`` (the order-to-chaos transition) for a given sigma_b.

    ReLU: sqrt(2) for every sigma_b. Raises if chi1 - 1 does not change sign on ``bracket``.
    """
    _check(1.0, sigma_b)
    act = _activation(activation)
    if act is ACTIVATIONS["relu"]:
        return math.sqrt(2.0)
    if sigma_b == 0.0 and float(act.phi(np.zeros(1))[0]) == 0.0:
        # q* = 0 up to the transition, where chi1 = sigma_w^2 phi'(0)^2 reaches 1 (tanh, hard_tanh:
        # sigma_w = 1).
        return 1.0 / abs(float(act.dphi(np.zeros(1))[0]))
    F = lambda sw: chi1(sw, sigma_b, activation, n=n) - 1.0  # noqa: E731
    a, b = bracket
    if F(a) * F(b) > 0:
        raise DeepGeometryError(f"chi1 = 1 has no root for {activation}, sigma_b={sigma_b} with sigma_w in "
                                f"{bracket}")
    return float(optimize.brentq(F, a, b, xtol=1e-12, rtol=1e-12, maxiter=300))


def curvature_recursion(kappa0: float, chi1: float, chi2: float, depth: int) -> list[float]:
    """Width-normalised curvature ``kappa_bar_l = sqrt(N) kappa_l`` for ``l = 0..depth`` (Poole et al.).

    ``kappa_bar_l^2 = kappa_bar_{l-1}^2 / chi1 + 3 chi2 / chi1^2``; a great circle of radius sqrt(N q*) starts
    at ``kappa0 = 1 / sqrt(q*)``.
    """
    if chi1 <= 0 or depth < 0:
        raise DeepGeometryError(f"curvature_recursion needs chi1 > 0 and depth >= 0, got {chi1}, {depth}")
    k2 = [kappa0**2]
    for _ in range(depth):
        k2.append(k2[-1] / chi1 + 3.0 * chi2 / chi1**2)
    return [math.sqrt(v) for v in k2]


@dataclass(frozen=True)
class MeanField:
    """Mean-field summary of one (activation, sigma_w, sigma_b); see the module docstring."""

    activation: str
    sigma_w: float
    sigma_b: float
    q_star: float
    chi1: float
    chi2: float
    c_star: float
    chi_c: float
    xi_c: float
    xi_q: float
    critical_sigma_w: float

    @property
    def length_ratio(self) -> float:
        """Expected per-layer growth of a curve's length, ``sqrt(chi1)``."""
        return math.sqrt(self.chi1)

    @property
    def phase(self) -> str:
        """``"ordered"`` (chi1 < 1), ``"critical"`` (|chi1 - 1| < 1e-9) or ``"chaotic"``."""
        if abs(self.chi1 - 1.0) < 1e-9:
            return "critical"
        return "ordered" if self.chi1 < 1.0 else "chaotic"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["length_ratio"] = self.length_ratio
        d["phase"] = self.phase
        return d


def _depth_scale(slope: float) -> float:
    if slope <= 0.0:
        return 0.0
    if slope >= 1.0 - 1e-12:
        return math.inf
    return -1.0 / math.log(slope)


def meanfield(activation: str = "tanh", sigma_w: float = 1.0, sigma_b: float = 0.0, *, n: int = 200,
              q0: float = 1.0) -> MeanField:
    """All mean-field quantities of a wide random net at ``(sigma_w, sigma_b)``.

    Parameters
    ----------
    activation
        ``"tanh"``, ``"relu"``, ``"hard_tanh"`` or ``"sigmoid"``.
    sigma_w, sigma_b
        Weight and bias standard deviations (weights have variance ``sigma_w^2 / N``).
    n
        Gauss-Hermite order per dimension (rounded up to even). 200 gives ~1e-12 for the smooth
        activations; piecewise-linear ones converge more slowly (about 1e-4 for hard_tanh's chi1).
    q0
        Start of the length-map iteration (and ReLU's q* when every q is fixed).

    Examples
    --------
    >>> mf = meanfield("tanh", sigma_w=2.5, sigma_b=0.3)
    >>> round(mf.chi1, 4), round(mf.q_star, 4)
    (1.5852, 4.0791)
    """
    _check(sigma_w, sigma_b)
    act = _activation(activation)
    name = _name(act)
    qs = q_star(sigma_w, sigma_b, name, n=n, q0=q0)
    c1 = chi1(sigma_w, sigma_b, name, n=n, q=qs)
    crit = critical_sigma_w(sigma_b, name, n=n)
    if not math.isfinite(qs):
        # Unbounded ReLU length map: the bias becomes negligible and the normalised correlation map tends to
        # the arc-cosine map, whose stable fixed point c = 1 has slope 1 (no finite depth scale).
        return MeanField(name, sigma_w, sigma_b, qs, c1, math.inf, 1.0, 1.0, math.inf, math.inf, crit)
    if act.smooth:
        c2 = sigma_w**2 * _e1(lambda x: act.d2phi(x) ** 2, qs, n)
        chi_q = c1 + sigma_w**2 * _e1(lambda x: act.d2phi(x) * act.phi(x), qs, n)
    else:
        c2 = math.inf
        # d/dq [sigma_w^2 E phi(sqrt q z)^2] = sigma_w^2 E[phi'(u)^2 + phi(u) phi''(u)] (Gaussian integration
        # by parts). For piecewise-linear phi, phi'' is a sum of deltas: ReLU's kink is at phi = 0 (no term);
        # hard_tanh's kinks at u = -+1 add phi(-+1) (+-delta), i.e. -2 * density(u = 1), in closed form.
        chi_q = c1
        if name == "hard_tanh" and qs > 0:
            # E[phi(u) phi''(u)] with phi'' = delta(u + 1) - delta(u - 1): -2 * density of u at 1.
            dens = math.exp(-1.0 / (2.0 * qs)) / math.sqrt(2.0 * math.pi * qs)
            chi_q = c1 - sigma_w**2 * 2.0 * dens * 1.0
    cs = _c_star(sigma_w, sigma_b, name, qs, c1, n)
    chi_c = sigma_w**2 * _e_dphidphi(name, act, qs, cs, n) if qs > 0 else c1
    return MeanField(name, sigma_w, sigma_b, qs, c1, c2, cs, chi_c, _depth_scale(chi_c), _depth_scale(chi_q),
                     crit)
