"""Data-space geometry at every layer: the pullback picture of paper Section III-A.

The paper: "the CNN achieves a change of the metric from the input data space to the final output data
space defined by <w, v>_in = <U_* w, U_* v>_out ... the CNN transforms a highly curved input data space to
a flatter output data space", citing Poole et al. [23] for "a manifold with an exponentially growing
curvature with the depth". :func:`flow` measures that picture layer by layer, for layer outputs
``h_l = U_l(x)`` (``U_l`` = the network up to segment l; layer 0 is the input itself):

* **length and curvature of a 1-D input curve** ``x(t)`` (a great circle through the data, or the segment
  between two samples), pushed forward to ``h_l(t) = U_l(x(t))``. The velocity ``h_l'`` and acceleration
  ``h_l''`` come from nested forward-mode derivatives (``torch.func.jvp`` of ``torch.func.jvp``) through
  :func:`deepgeometry.nets.segments.intermediates`, so they are exact at every quadrature node; the length
  ``int |h'| dt`` is then integrated by the trapezoidal rule on a closed curve (spectrally accurate for a
  smooth periodic integrand) or by Gauss-Legendre on an open one. The curvature is
  ``kappa = |h''_perp| / |h'|^2`` with ``h''_perp`` the part of the acceleration normal to the velocity.
  Chords through sampled points (:func:`chord_lengths`, also returned) are what one would get without
  derivatives; in chaotic random nets they underestimate the length by orders of magnitude.
* **the pullback metric** ``J_l^T J_l`` at a base point (the metric ``<w, v>_in`` above): its top-k
  eigenvalues by Lanczos with one JVP and one VJP per product (:mod:`.lanczos`), never a Jacobian matrix.
* **intrinsic dimension** of the layer's point cloud (TwoNN, :func:`deepgeometry.nets.intrinsic.twonn`).
* **linear separability**: held-out accuracy of a logistic-regression probe on the layer's outputs.

Piecewise-linear activations (ReLU, max-pooling) have phi'' = a Dirac delta at their kinks; forward-mode
derivatives see the curvature between kinks (almost everywhere) and not the turning concentrated at them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import DeepGeometryError
from .intrinsic import MIN_TWONN_POINTS, linear_probe, twonn
from .lanczos import lanczos_topk
from .segments import find_segments, intermediates

__all__ = [
    "MEASURES",
    "CurveGeometry",
    "FlowResult",
    "InputCurve",
    "chord_lengths",
    "curve_geometry",
    "flow",
    "great_circle",
    "pullback_spectrum",
    "segment_path",
]

MEASURES = ("length", "curvature", "spectrum", "intrinsic_dim", "separability")


# ----------------------------------------------------------------------------------------------- input curves


@dataclass(frozen=True)
class InputCurve:
    """A smooth curve ``t -> x(t)`` in input space, ``t in [t0, t1]``.

    ``point`` maps a 1-D tensor of parameters ``(T,)`` to a batch of inputs ``(T, *shape)`` with torch
    operations only (it is differentiated twice by forward mode). ``closed`` curves satisfy
    ``x(t0) = x(t1)`` smoothly (they are integrated with the periodic trapezoidal rule). ``dtype`` and
    ``device`` are those of the parameter ``t`` fed to ``point`` (use the model's).
    """

    point: Callable[[torch.Tensor], torch.Tensor]
    t0: float
    t1: float
    closed: bool
    name: str = "curve"
    dtype: torch.dtype = torch.float32
    device: torch.device | str = "cpu"


def great_circle(center: torch.Tensor, u: torch.Tensor, v: torch.Tensor, radius: float) -> InputCurve:
    """The circle ``center + radius (e1 cos t + e2 sin t)``, t in [0, 2 pi), e1, e2 = Gram-Schmidt of (u, v).

    Its length is ``2 pi radius`` and its curvature ``1 / radius`` everywhere.
    """
    if not (math.isfinite(radius) and radius > 0):
        raise DeepGeometryError(f"great_circle: radius must be finite and > 0, got {radius}")
    if u.shape != center.shape or v.shape != center.shape:
        raise DeepGeometryError(f"great_circle: center, u, v must share a shape, got {tuple(center.shape)}, "
                                f"{tuple(u.shape)}, {tuple(v.shape)}")
    e1 = u / u.norm()
    v2 = v - (v * e1).sum() * e1
    if not torch.isfinite(e1).all() or v2.norm() <= 1e-6 * max(float(v.norm()), 1e-300):
        raise DeepGeometryError("great_circle: the two directions are zero or parallel; pick two samples "
                                "that are not collinear with the centre")
    e2 = v2 / v2.norm()
    shape = (1,) * center.ndim

    def point(t: torch.Tensor) -> torch.Tensor:
        tt = t.reshape(-1, *shape)
        return center + radius * (torch.cos(tt) * e1 + torch.sin(tt) * e2)

    return InputCurve(point, 0.0, 2.0 * math.pi, True, "great-circle", center.dtype, center.device)


def segment_path(x0: torch.Tensor, x1: torch.Tensor) -> InputCurve:
    """The straight segment ``x0 + t (x1 - x0)``, t in [0, 1] (length ``|x1 - x0|``, curvature 0)."""
    if x0.shape != x1.shape:
        raise DeepGeometryError(f"segment_path: endpoints differ in shape {tuple(x0.shape)} vs "
                                f"{tuple(x1.shape)}")
    if torch.equal(x0, x1):
        raise DeepGeometryError("segment_path: the two samples are identical; pick two different ones")
    d = x1 - x0
    shape = (1,) * x0.ndim

    def point(t: torch.Tensor) -> torch.Tensor:
        return x0 + t.reshape(-1, *shape) * d

    return InputCurve(point, 0.0, 1.0, False, "pair", x0.dtype, x0.device)


def _quadrature(curve: InputCurve, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = curve.t0, curve.t1
    if curve.closed:
        t = a + (b - a) * torch.arange(n, dtype=torch.float64) / n
        w = torch.full((n,), (b - a) / n, dtype=torch.float64)
    else:
        x, wl = np.polynomial.legendre.leggauss(n)
        t = torch.as_tensor(a + (b - a) * (x + 1.0) / 2.0)
        w = torch.as_tensor(wl * (b - a) / 2.0)
    return t.to(device=curve.device, dtype=curve.dtype), w


# ------------------------------------------------------------------------------------- length and curvature


@dataclass
class CurveGeometry:
    """Per-layer speed and curvature of a pushed-forward curve at the quadrature nodes.

    ``speed[l, i] = |h_l'(t_i)|``, ``kappa[l, i]`` the curvature there, ``weights[i]`` the quadrature weights.
    """

    t: torch.Tensor
    weights: torch.Tensor
    speed: torch.Tensor
    kappa: torch.Tensor

    @property
    def length(self) -> torch.Tensor:
        """``int |h'| dt`` per layer."""
        return self.speed @ self.weights

    @property
    def total_curvature(self) -> torch.Tensor:
        """``int kappa ds`` per layer (radians of turning; 2 pi for a circle)."""
        return (self.kappa * self.speed) @ self.weights

    @property
    def mean_curvature(self) -> torch.Tensor:
        """Length-weighted mean curvature ``int kappa ds / int ds`` (0 for a curve collapsed to a point)."""
        L = self.length
        return torch.where(L > 0, self.total_curvature / torch.where(L > 0, L, torch.ones_like(L)),
                           torch.zeros_like(L))

    @property
    def rms_curvature(self) -> torch.Tensor:
        """``sqrt(int kappa^2 ds / int ds)``, the quantity in Poole et al.'s curvature recursion."""
        L = self.length
        m2 = (self.kappa**2 * self.speed) @ self.weights
        safe = torch.where(L > 0, L, torch.ones_like(L))
        return torch.sqrt(torch.where(L > 0, m2 / safe, torch.zeros_like(L)))


def _jet(fn: Callable[[torch.Tensor], tuple], t: torch.Tensor) -> tuple[tuple, tuple]:
    """Velocity and acceleration of every output of ``fn`` along ``t`` (per-element parameters).

    ``fn`` maps ``(T,)`` to a tuple of ``(T, ...)`` tensors, each row depending on its own parameter only,
    so a tangent of ones gives every row's derivative at once. Nested forward mode: exact, 2nd order.
    """
    ones = torch.ones_like(t)

    def first(s: torch.Tensor) -> tuple:
        return torch.func.jvp(fn, (s,), (torch.ones_like(s),))

    (_, vel), (_, acc) = torch.func.jvp(first, (t,), (ones,))
    return vel, acc


@torch.no_grad()
def curve_geometry(fn: Callable[[torch.Tensor], tuple], curve: InputCurve, n_points: int = 256,
                   batch_size: int = 64) -> CurveGeometry:
    """Speed and curvature of ``t -> fn(curve.point(t))`` at ``n_points`` quadrature nodes.

    ``fn`` maps a batch of inputs to a tuple of layer outputs (e.g. ``intermediates(model, segments)``,
    optionally with the input prepended). Processed in chunks of ``batch_size`` parameters.
    """
    if n_points < 2:
        raise DeepGeometryError(f"n_points must be >= 2, got {n_points}")
    if batch_size < 1:
        raise DeepGeometryError(f"batch_size must be >= 1, got {batch_size}")
    t, w = _quadrature(curve, n_points)

    def g(s: torch.Tensor) -> tuple:
        return tuple(fn(curve.point(s)))

    speeds: list[torch.Tensor] = []
    kappas: list[torch.Tensor] = []
    for i in range(0, n_points, batch_size):
        vel, acc = _jet(g, t[i:i + batch_size])
        sp, kp = [], []
        for v, a in zip(vel, acc, strict=True):
            v = v.reshape(len(v), -1).to(torch.float64)
            a = a.reshape(len(a), -1).to(torch.float64)
            v2 = (v * v).sum(1)
            safe = torch.where(v2 > 0, v2, torch.ones_like(v2))
            a_perp = a - ((a * v).sum(1) / safe)[:, None] * v
            sp.append(torch.sqrt(v2))
            kp.append(torch.where(v2 > 0, a_perp.norm(dim=1) / safe, torch.zeros_like(v2)))
        speeds.append(torch.stack(sp))
        kappas.append(torch.stack(kp))
    speed = torch.cat(speeds, dim=1)
    kappa = torch.cat(kappas, dim=1)
    if not (torch.isfinite(speed).all() and torch.isfinite(kappa).all()):
        raise DeepGeometryError("non-finite derivatives along the input curve (the model overflows or is not "
                                "differentiable there)")
    return CurveGeometry(t.to(torch.float64).cpu(), w, speed.cpu(), kappa.cpu())


@torch.no_grad()
def chord_lengths(fn: Callable[[torch.Tensor], tuple], curve: InputCurve, n_chords: int = 256,
                  batch_size: int = 256) -> torch.Tensor:
    """Per-layer polyline length through ``n_chords + 1`` equally spaced points (closed: ``n_chords``).

    The estimator one gets without derivatives. It can only underestimate the length and it saturates once
    neighbouring points decorrelate (in chaotic nets that happens within a few layers).
    """
    if n_chords < 1:
        raise DeepGeometryError(f"n_chords must be >= 1, got {n_chords}")
    a, b = curve.t0, curve.t1
    if curve.closed:
        t = a + (b - a) * torch.arange(n_chords + 1, dtype=torch.float64) / n_chords
    else:
        t = torch.linspace(a, b, n_chords + 1, dtype=torch.float64)
    total: torch.Tensor | None = None
    prev: list[torch.Tensor] | None = None
    for i in range(0, len(t), batch_size):
        s = t[i:i + batch_size]
        pts = curve.point(s.to(device=curve.device, dtype=curve.dtype))
        outs = [o.reshape(len(s), -1).to(torch.float64) for o in fn(pts)]
        if prev is not None:
            outs_ext = [torch.cat([p, o]) for p, o in zip(prev, outs, strict=True)]
        else:
            outs_ext = outs
        seg = torch.stack([(o[1:] - o[:-1]).norm(dim=1).sum() for o in outs_ext])
        total = seg if total is None else total + seg
        prev = [o[-1:] for o in outs]
    assert total is not None
    return total.cpu()


# ------------------------------------------------------------------------------------------ pullback metric


@torch.no_grad()
def pullback_spectrum(fn: Callable[[torch.Tensor], tuple], x: torch.Tensor, k: int = 8, *,
                      n_iter: int | None = None, seed: int = 0) -> torch.Tensor:
    """Top-``k`` eigenvalues of ``J_l^T J_l`` at one input ``x`` for every output ``l`` of ``fn``.

    ``fn`` maps a batch ``(B, *shape)`` to a tuple of L outputs. The L Lanczos runs proceed in lockstep:
    each step is one ``vmap``-ed JVP (L tangents, the l-th output kept for the l-th run) and one ``vmap``-ed
    VJP (cotangent of run l on output l only), i.e. the matrix-free products of
    :meth:`deepgeometry.core.PullbackMetric.gram_matvec`, batched.
    Returns ``(L, k')`` with ``k' = min(k, dim x)``.
    """
    x1 = x.detach().unsqueeze(0)
    shape = x1.shape
    D = x1.numel()

    def f(z: torch.Tensor) -> tuple:
        return tuple(fn(z))

    outs, vjp_fn = torch.func.vjp(f, x1)
    L = len(outs)
    if L == 0:
        raise DeepGeometryError("pullback_spectrum: the function has no outputs")
    eye = torch.eye(L, dtype=x.dtype, device=x.device)

    def push(u: torch.Tensor) -> tuple:
        return torch.func.jvp(f, (x1,), (u.reshape(shape),))[1]

    def matvec(U: torch.Tensor) -> torch.Tensor:
        Ju = torch.func.vmap(push)(U)  # tuple over outputs, each (L, 1, ...)
        # Run l keeps output l: the cotangent of run l is J_l u_l on output l and 0 elsewhere.
        cot = tuple(Ju[l] * eye[:, l].reshape(L, *([1] * (Ju[l].ndim - 1))) for l in range(L))
        return torch.func.vmap(vjp_fn)(cot)[0].reshape(L, D)

    g = torch.Generator().manual_seed(int(seed))
    v0 = torch.randn(L, D, generator=g, dtype=torch.float64).to(device=x.device, dtype=x.dtype)
    return lanczos_topk(matvec, v0, k, n_iter=n_iter, generator=g).cpu()


# ------------------------------------------------------------------------------------------------- flow


@dataclass
class FlowResult:
    """Per-layer geometry of the data flow; every list has one entry per layer, layer 0 being the input.

    ``length``, ``curvature`` (length-weighted mean), ``total_curvature``, ``rms_curvature`` and
    ``chord_length`` refer to the input curve; ``spectrum[l]`` is the top-k of ``J_l^T J_l`` at the base
    point (all ones at the input); ``intrinsic_dim`` and ``separability`` use all ``inputs``. A measure
    that was not computed is a list of ``None`` and its reason is in ``skipped``.
    """

    layers: list[str]
    widths: list[int]
    length: list[float | None]
    curvature: list[float | None]
    total_curvature: list[float | None]
    rms_curvature: list[float | None]
    chord_length: list[float | None]
    spectrum: list[list[float] | None]
    intrinsic_dim: list[float | None]
    separability: list[float | None]
    path: str
    n_points: int
    n_chords: int
    skipped: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def length_ratio(self) -> list[float | None]:
        """``length[l] / length[l-1]`` for l >= 1."""
        out: list[float | None] = []
        for a, b in zip(self.length[:-1], self.length[1:], strict=True):
            out.append(None if a is None or b is None or a == 0 else b / a)
        return out

    def to_dict(self) -> dict:
        return {
            "layers": list(self.layers), "widths": list(self.widths), "length": list(self.length),
            "curvature": list(self.curvature), "total_curvature": list(self.total_curvature),
            "rms_curvature": list(self.rms_curvature), "chord_length": list(self.chord_length),
            "length_ratio": self.length_ratio, "spectrum": list(self.spectrum),
            "intrinsic_dim": list(self.intrinsic_dim), "separability": list(self.separability),
            "path": self.path, "n_points": self.n_points, "n_chords": self.n_chords,
            "skipped": dict(self.skipped), "info": dict(self.info),
        }


def _default_curve(inputs: torch.Tensor, path: str, endpoints: tuple[int, int]) -> InputCurve:
    i, j = endpoints
    n = len(inputs)
    if not (0 <= i < n and 0 <= j < n) or i == j:
        raise DeepGeometryError(f"endpoints {endpoints} must be two different indices into {n} inputs")
    if path == "pair":
        return segment_path(inputs[i], inputs[j])
    if path == "great-circle":
        if n < 3:
            raise DeepGeometryError(f"path='great-circle' needs >= 3 inputs (centred at their mean), got "
                                    f"{n}; use path='pair'")
        mu = inputs.mean(0)
        radius = float(((inputs - mu).reshape(n, -1).norm(dim=1) ** 2).mean().sqrt())
        return great_circle(mu, inputs[i] - mu, inputs[j] - mu, radius)
    raise DeepGeometryError(f"unknown path {path!r}; use 'great-circle', 'pair' or an InputCurve")


def flow(model: nn.Module, inputs: torch.Tensor, path: str | InputCurve = "great-circle",
         layers: Sequence[str] | None = None, *, n_points: int = 256, k: int = 8,
         labels: torch.Tensor | None = None, measures: Sequence[str] | None = None,
         endpoints: tuple[int, int] = (0, 1), n_chords: int | None = None, spectrum_at: int = 0,
         lanczos_iter: int | None = None, test_fraction: float = 0.3, seed: int = 0,
         batch_size: int = 64) -> FlowResult:
    """Geometry of the data manifold at every layer of ``model`` (paper Section III-A; see module doc).

    Parameters
    ----------
    model
        Any ``nn.Module`` acting on each sample independently (it is put in eval mode for the call and
        restored afterwards).
    inputs
        ``(N, *shape)`` samples (finite). The input curve is built from them unless ``path`` is a curve.
    path
        ``"great-circle"``: the circle centred at the inputs' mean, in the plane of samples ``endpoints``,
        with radius the inputs' RMS distance from the mean; ``"pair"``: the segment between the two
        ``endpoints`` samples; or any :class:`InputCurve`.
    layers
        Segment names (see :func:`deepgeometry.nets.segments.find_segments`); ``None`` finds them.
    n_points
        Quadrature nodes for length and curvature.
    k
        Eigenvalues of the pullback metric per layer.
    labels
        ``(N,)`` class labels, needed for ``separability``.
    measures
        Subset of :data:`MEASURES`. ``None``: every measure the inputs allow (``intrinsic_dim`` needs
        >= 1000 distinct inputs, ``separability`` needs labels); the others are listed in ``skipped``.
        Asking explicitly for a measure the inputs do not allow raises.
    n_chords
        Points of the chord estimator (default ``n_points``); computed with ``length``.
    spectrum_at
        Index of the input at which the pullback metric is evaluated.

    Returns
    -------
    FlowResult
        Lists indexed by layer, layer 0 = ``"input"``.

    Raises
    ------
    DeepGeometryError
        Bad shapes, non-finite inputs, unknown measures or layers, too few points.
    """
    if not isinstance(inputs, torch.Tensor) or inputs.ndim < 2:
        raise DeepGeometryError(f"inputs must be a tensor of shape (N, ...), got {type(inputs).__name__} "
                                f"{tuple(getattr(inputs, 'shape', ()))}")
    if not torch.isfinite(inputs).all():
        raise DeepGeometryError("inputs contain NaN or inf")
    if not inputs.is_floating_point():
        raise DeepGeometryError(f"inputs must be floating point, got {inputs.dtype}")
    if n_points < 4:
        raise DeepGeometryError(f"n_points must be >= 4, got {n_points}")
    if k < 1:
        raise DeepGeometryError(f"k must be >= 1, got {k}")
    n_chords = n_points if n_chords is None else int(n_chords)
    N = len(inputs)
    explicit = measures is not None
    wanted = list(MEASURES) if measures is None else list(measures)
    unknown = [m for m in wanted if m not in MEASURES]
    if unknown:
        raise DeepGeometryError(f"unknown measure(s) {unknown}; known: {list(MEASURES)}")
    if labels is not None:
        labels = torch.as_tensor(labels).reshape(-1)
        if len(labels) != N:
            raise DeepGeometryError(f"{N} inputs but {len(labels)} labels")

    skipped: dict[str, str] = {}

    def refuse(name: str, why: str) -> None:
        if explicit:
            raise DeepGeometryError(f"cannot compute {name}: {why}")
        skipped[name] = why
        wanted.remove(name)

    if "intrinsic_dim" in wanted:
        n_distinct = len(torch.unique(inputs.reshape(N, -1), dim=0))
        if n_distinct < MIN_TWONN_POINTS:
            refuse("intrinsic_dim", f"TwoNN needs >= {MIN_TWONN_POINTS} distinct inputs, got {n_distinct}")
    if "separability" in wanted:
        if labels is None:
            refuse("separability", "no labels given")
        elif len(torch.unique(labels)) < 2:
            refuse("separability", "labels have a single class")
    if "spectrum" in wanted and not 0 <= spectrum_at < N:
        raise DeepGeometryError(f"spectrum_at={spectrum_at} is not an index into {N} inputs")

    segments = find_segments(model, layers)
    inter = intermediates(model, segments)

    def fn(x: torch.Tensor) -> tuple:
        return (x,) + tuple(inter(x))

    names = ["input"] + [n for n, _ in segments]
    L = len(names)
    none: list = [None] * L
    keys = ("length", "curvature", "total_curvature", "rms_curvature", "chord_length", "spectrum",
            "intrinsic_dim", "separability")
    out: dict[str, list] = {key: list(none) for key in keys}

    curve: InputCurve | None = None
    if "length" in wanted or "curvature" in wanted:
        curve = path if isinstance(path, InputCurve) else _default_curve(inputs, str(path), endpoints)
        if curve.dtype != inputs.dtype:
            raise DeepGeometryError(f"the input curve has dtype {curve.dtype} but the inputs have "
                                    f"{inputs.dtype}")

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            probe = fn(inputs[:1])
            widths = [int(o[0].numel()) for o in probe]
            if len(probe) != L:
                raise DeepGeometryError("intermediates returned an unexpected number of outputs")
            if curve is not None:
                geo = curve_geometry(fn, curve, n_points=n_points, batch_size=batch_size)
                if "length" in wanted:
                    out["length"] = geo.length.tolist()
                    out["chord_length"] = chord_lengths(fn, curve, n_chords).tolist()
                if "curvature" in wanted:
                    out["curvature"] = geo.mean_curvature.tolist()
                    out["total_curvature"] = geo.total_curvature.tolist()
                    out["rms_curvature"] = geo.rms_curvature.tolist()
            if "spectrum" in wanted:
                spec = pullback_spectrum(lambda z: inter(z), inputs[spectrum_at], k, n_iter=lanczos_iter,
                                         seed=seed)
                kk = spec.shape[1]
                out["spectrum"] = [[1.0] * kk] + spec.tolist()
            if "intrinsic_dim" in wanted or "separability" in wanted:
                feats = _layer_features(fn, inputs, L, batch_size=max(batch_size, 256))
                for li, X in enumerate(feats):
                    if "intrinsic_dim" in wanted:
                        out["intrinsic_dim"][li] = twonn(X, min_points=3)
                    if "separability" in wanted:
                        assert labels is not None
                        out["separability"][li] = linear_probe(X, labels, test_fraction=test_fraction,
                                                               seed=seed)
    finally:
        model.train(was_training)

    for name in MEASURES:
        if name not in wanted:
            skipped.setdefault(name, "not requested")
    info = {"n_inputs": N, "k": k, "seed": seed, "endpoints": list(endpoints), "spectrum_at": spectrum_at,
            "curve_closed": None if curve is None else curve.closed}
    return FlowResult(layers=names, widths=widths, path=curve.name if curve is not None else str(path),
                      n_points=n_points, n_chords=n_chords, skipped=skipped, info=info, **out)


@torch.no_grad()
def _layer_features(fn: Callable[[torch.Tensor], tuple], inputs: torch.Tensor, L: int,
                    batch_size: int) -> list[torch.Tensor]:
    chunks: list[list[torch.Tensor]] = [[] for _ in range(L)]
    for i in range(0, len(inputs), batch_size):
        for li, o in enumerate(fn(inputs[i:i + batch_size])):
            chunks[li].append(o.reshape(len(o), -1).detach().to(device="cpu", dtype=torch.float32))
    return [torch.cat(c) for c in chunks]
