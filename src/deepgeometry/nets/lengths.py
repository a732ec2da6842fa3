"""Segment lengths of a network's curve (paper Section III-A, Fig. 4; Section III-B, Fig. 5, eqs. 4-5).

A segment ``f: x -> y`` (a layer or a block) gets three lengths:

**complexity** (:func:`complexity_macs`)
    The paper's complexity-oriented metric scales a layer with ``N_k`` kernels of size ``K_x K_y K_z`` on
    data of size ``S_x S_y S_z`` by ``N_k K_x K_y K_z S_x S_y S_z``. We use multiply-accumulates (MACs)
    per sample for every layer type, counted from the operations the segment actually runs
    (``torch.utils.flop_counter``, FLOPs / 2):

    * convolution (1-3d, also transposed): ``N_k * (C_in / groups) * prod(K) * prod(S_out)`` - the paper's
      factor with ``K_z = C_in / groups`` and ``S`` the output size (the input size for stride-1
      'same' convolutions);
    * linear layer / matrix product: ``d_in * d_out`` (per row), batched products and attention likewise;
    * activations, pooling, normalisation, additions (residual shortcuts) and reshapes: 0 - the paper's
      metric "omits the nonlinear operations"; these segments have complexity length 0.

**displacement** (:func:`displacement`)
    ``mean_i ||y_i - x_i|| / ||x_i||`` over the samples: how far the segment moves the data, 0 for the
    identity (a residual unit ``I + H`` with ``H = 0``). A shape-changing segment is measured through a
    fixed embedding of both spaces into ``R^n``, ``n = max(d_in, d_out)``: flatten (C order) and pad
    with zeros (the paper's "embed the input and output data of each step into a Euclidean space R^n").
    Such segments are flagged ``embedded``; their displacement mixes unrelated coordinates and is only a
    rough size.

**Jacobian deviation** (:func:`jacobian_deviation`)
    ``sqrt(mean_i ||J_i - E||_F^2) / ||E||_F`` with ``J_i = df/dx(x_i)`` and ``E`` the identity (or, for
    shape-changing segments, the ``d_out x d_in`` partial identity of the zero-padding embedding, so
    ``||E||_F^2 = min(d_in, d_out)``). It is 0 iff the segment is the identity to first order and 1 for
    a segment whose Jacobian vanishes. Estimated with Hutchinson's trace estimator,
    ``||A||_F^2 = E_v ||A v||^2`` for Rademacher ``v``, with ``A v = J v - E v`` from forward-mode
    ``torch.func.jvp`` vmapped over the probes - never an explicit Jacobian.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from ..errors import DeepGeometryError


class Estimate(NamedTuple):
    """A Monte-Carlo estimate with its standard error from ``n`` independent terms."""

    value: float
    se: float
    n: int


def _check_batch(x: torch.Tensor, what: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise DeepGeometryError(f"{what} must be a tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[0] < 1:
        raise DeepGeometryError(f"{what} must be a batch (N, ...) with N >= 1, got shape {tuple(x.shape)}")


def embed(v: torch.Tensor, n: int) -> torch.Tensor:
    """Flatten the trailing dims of ``v`` (batch dims: all but the sample dims folded into the last) and
    zero-pad to length ``n``: the fixed embedding ``R^d -> R^n`` of shape-changing segments.

    ``v`` has shape ``(..., d)``; returns ``(..., n)`` with ``n >= d``.
    """
    d = v.shape[-1]
    if n < d:
        raise DeepGeometryError(f"embed: target dimension {n} is smaller than the vector dimension {d}")
    if n == d:
        return v
    return torch.nn.functional.pad(v, (0, n - d))


def complexity_macs(module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    """Multiply-accumulates per sample when ``module`` runs on the batch ``x`` (see the module docstring).

    Counted on the first sample only; convolutions and matrix products are exact, everything else is 0.
    """
    _check_batch(x, "complexity_macs: x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # flop_counter's internal torch.jit use
        from torch.utils.flop_counter import FlopCounterMode

        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(x[:1])
    return int(counter.get_total_flops()) // 2


def parameter_count(module: nn.Module) -> int:
    """Number of scalar parameters of ``module`` (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    v = values.detach().to(torch.float64).ravel()
    n = v.numel()
    mean = float(v.mean())
    se = float(v.std(unbiased=True) / math.sqrt(n)) if n > 1 else 0.0
    return mean, se


def displacement(x: torch.Tensor, y: torch.Tensor) -> Estimate:
    """Mean relative displacement ``mean_i ||E y_i - E x_i|| / ||x_i||`` (zero-padding embedding ``E``).

    Samples with ``x_i = 0`` are left out (their ratio is undefined).

    Raises
    ------
    DeepGeometryError
        If the batch sizes differ, values are not finite, or every input is the zero vector.
    """
    _check_batch(x, "displacement: x")
    _check_batch(y, "displacement: y")
    if x.shape[0] != y.shape[0]:
        raise DeepGeometryError(f"displacement: batch sizes differ, x {tuple(x.shape)} vs y {tuple(y.shape)}")
    xf = x.detach().flatten(1).to(torch.float64)
    yf = y.detach().flatten(1).to(torch.float64)
    if not (torch.isfinite(xf).all() and torch.isfinite(yf).all()):
        raise DeepGeometryError("displacement: inputs or outputs contain NaN or infinite values")
    n = max(xf.shape[1], yf.shape[1])
    xn = xf.norm(dim=1)
    keep = xn > 0
    if not bool(keep.any()):
        raise DeepGeometryError("displacement: every input is the zero vector; the relative displacement "
                                "is undefined")
    ratio = (embed(yf, n) - embed(xf, n)).norm(dim=1)[keep] / xn[keep]
    mean, se = _mean_se(ratio)
    return Estimate(mean, se, int(ratio.numel()))


def rademacher(shape: tuple[int, ...], dtype: torch.dtype, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Independent +-1 entries with equal probability.

    Drawn as random bytes, eight signs per byte (drawing one random number per entry costs as much as
    several of the convolutions being probed).
    """
    n = math.prod(shape)
    raw = torch.randint(0, 256, ((n + 7) // 8,), dtype=torch.uint8, generator=generator)
    bits = (raw.unsqueeze(-1) >> torch.arange(8, dtype=torch.uint8)) & 1
    v = bits.reshape(-1)[:n].to(dtype).reshape(shape)
    return v.mul_(2).sub_(1).to(device if device is not None else "cpu")


def jacobian_deviation(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, probes: int = 8,
                       generator: torch.Generator | None = None,
                       chunk_size: int | None = None, mode: str = "forward") -> Estimate:
    """Hutchinson estimate of ``sqrt(mean_i ||J_i - E||_F^2) / ||E||_F`` and its standard error.

    Parameters
    ----------
    fn
        A per-sample function of a batch (``fn(x)[i]`` depends only on ``x[i]``; modules in eval mode).
    x
        The batch ``(N, ...)`` at which the Jacobians are taken.
    probes
        Rademacher probes per sample; all are pushed through one ``vmap(jvp)``.
    generator
        Source of the probes (for reproducibility).
    chunk_size
        Passed to ``vmap`` to bound memory (probes per chunk); ``None`` = all at once.
    mode
        ``"forward"``: probes pushed forward, ``||(J - E) v||^2`` by ``vmap(jvp)`` (no graph is stored).
        ``"reverse"``: probes pulled back, ``||(J - E)^T u||^2`` by one forward with a graph and one VJP per
        probe (``E[||A^T u||^2] = ||A||_F^2`` too). On CPU with convolutions in torch 2.x the reverse mode is
        about 2x faster (forward-mode convolution costs ~3.5 forward passes per probe); it needs autograd
        through ``fn`` and memory for one graph.

    Returns
    -------
    Estimate
        ``value``: the deviation; ``se``: its standard error by the delta method from the ``probes * N``
        terms ``||(J_i - E) v||^2 / ||E||_F^2`` (covers probe noise and the sampling of inputs); ``n``.
        A segment that is exactly the identity gives ``value = se = 0`` exactly: Rademacher probes make
        ``(J - I) v = 0`` without round-off.
    """
    _check_batch(x, "jacobian_deviation: x")
    if int(probes) < 1:
        raise DeepGeometryError(f"jacobian_deviation: probes must be >= 1, got {probes}")
    if not torch.is_floating_point(x):
        raise DeepGeometryError(f"jacobian_deviation: x must be floating point, got {x.dtype}")
    x = x.detach()
    if mode == "reverse":
        return _jacobian_deviation_reverse(fn, x, int(probes), generator)
    if mode != "forward":
        raise DeepGeometryError(f"jacobian_deviation: mode must be 'forward' or 'reverse', got {mode!r}")
    v = rademacher((int(probes), *x.shape), x.dtype, generator, x.device)

    def push(t: torch.Tensor) -> torch.Tensor:
        return torch.func.jvp(fn, (x,), (t,))[1]

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.func's internal torch.jit use
        jv = torch.func.vmap(push, chunk_size=chunk_size)(v).contiguous()
    p, n_batch = v.shape[0], v.shape[1]
    vf = v.reshape(p, n_batch, -1)
    jf = jv.reshape(p, n_batch, -1)
    d_in, d_out = vf.shape[-1], jf.shape[-1]
    d = min(d_in, d_out)
    # (J - E) v: J v minus the first d coordinates of v, plus J v's own extra coordinates when d_out > d_in;
    # when d_out < d_in, E v drops v's coordinates beyond d_out. Computed in place on J v (a fresh tensor).
    diff = jf[..., :d]
    diff.sub_(vf[..., :d])
    sq = torch.linalg.vector_norm(jf, dim=-1).to(torch.float64).square()
    terms = sq / d
    if not bool(torch.isfinite(terms).all()):
        raise DeepGeometryError("jacobian_deviation: the Jacobian-vector products are not finite")
    m2, se2 = _mean_se(terms)
    value = math.sqrt(max(m2, 0.0))
    se = se2 / (2 * value) if value > 0 else 0.0
    return Estimate(value, se, int(terms.numel()))


def _jacobian_deviation_reverse(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, probes: int,
                                generator: torch.Generator | None) -> Estimate:
    """Hutchinson on ``(J - E)^T``: one forward with a graph, one VJP per Rademacher probe ``u``."""
    xx = x.clone().requires_grad_(True)
    with torch.enable_grad():
        y = fn(xx)
        if not isinstance(y, torch.Tensor) or not y.requires_grad:
            raise DeepGeometryError("jacobian_deviation: the segment's output does not depend on its input")
        u = rademacher((probes, *y.shape), y.dtype, generator, y.device)
        n_batch = x.shape[0]
        d_in, d_out = x[0].numel(), y[0].numel()
        d = min(d_in, d_out)
        terms = []
        for k in range(probes):
            (g,) = torch.autograd.grad(y, xx, u[k], retain_graph=k < probes - 1)
            g = g.reshape(n_batch, -1)
            # (J - E)^T u = J^T u - E^T u, where E^T u keeps u's first d coordinates (zero-padded to d_in)
            g[:, :d] -= u[k].reshape(n_batch, -1)[:, :d]
            terms.append(torch.linalg.vector_norm(g, dim=-1).to(torch.float64).square() / d)
    t = torch.stack(terms)
    if not bool(torch.isfinite(t).all()):
        raise DeepGeometryError("jacobian_deviation: the vector-Jacobian products are not finite")
    m2, se2 = _mean_se(t)
    value = math.sqrt(max(m2, 0.0))
    se = se2 / (2 * value) if value > 0 else 0.0
    return Estimate(value, se, int(t.numel()))
