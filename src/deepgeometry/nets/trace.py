"""A network as a measured curve (paper Section III-A, Fig. 4; Section III-B, Fig. 5).

:func:`trace` cuts a model into segments (:func:`deepgeometry.nets.segments.find_segments`), runs the
inputs through it once with forward hooks to record every segment's input and output, and measures each
segment under the three lengths of :mod:`deepgeometry.nets.lengths`. The result, a
:class:`NetworkCurve`, is a :class:`~deepgeometry.core.DiscreteCurve` with metrics ``"complexity"``,
``"displacement"`` and ``"jacobian_deviation"``, so total length, energy and balance (Gini coefficient)
come from the shared frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.curve import DiscreteCurve, Segment
from ..errors import DeepGeometryError
from .lengths import complexity_macs, displacement, jacobian_deviation, parameter_count
from .segments import find_segments

METRICS = ("complexity", "displacement", "jacobian_deviation")


@dataclass(frozen=True)
class NetworkCurve(DiscreteCurve):
    """The curve of a network: one :class:`~deepgeometry.core.curve.Segment` per layer or block.

    Each segment's ``lengths`` has ``complexity`` (MACs per sample), ``displacement`` and
    ``jacobian_deviation``; its ``info`` has ``in_shape``, ``out_shape``, ``params``, ``macs``,
    ``displacement``/``displacement_se``, ``jacobian_deviation``/``jacobian_deviation_se``, ``embedded``
    (shape-changing: measured through the zero-padding embedding) and ``flags`` (why a length is missing).
    """

    input_shape: tuple[int, ...] = ()
    n_samples: int = 0
    probes: int = 0
    seed: int = 0

    def table(self) -> list[dict[str, Any]]:
        """One flat row per segment (name, kind, shapes, params, MACs, the lengths and their errors)."""
        rows = []
        for s in self.segments:
            rows.append({"name": s.name, "kind": s.kind, **dict(s.info)})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``segments[]`` (flat rows plus ``lengths``), ``totals``, ``balance``, settings."""
        base = super().to_dict()
        return {
            "segments": [{**row, "lengths": dict(s.lengths)}
                         for row, s in zip(self.table(), self.segments, strict=True)],
            "totals": base["totals"],
            "balance": base["balance"],
            "input_shape": list(self.input_shape),
            "n_samples": self.n_samples,
            "probes": self.probes,
            "seed": self.seed,
        }


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def _capture(model: nn.Module, segments: Sequence[tuple[str, nn.Module]], inputs: torch.Tensor) -> dict:
    """Run the model once; record each segment's positional args, kwargs, output and call count."""
    record: dict[str, dict] = {}
    handles = []
    for name, mod in segments:
        def hook(_m, args, kwargs, out, name=name):
            r = record.setdefault(name, {"calls": 0})
            r.update(args=args, kwargs=kwargs, out=out)
            r["calls"] += 1
        handles.append(mod.register_forward_hook(hook, with_kwargs=True))
    try:
        with torch.no_grad():
            model(inputs)
    except DeepGeometryError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of the user's model on these inputs is bad input
        raise DeepGeometryError(
            f"the model failed on inputs of shape {tuple(inputs.shape)} ({inputs.dtype}): "
            f"{type(e).__name__}: {_first_line(e)}"
        ) from None
    finally:
        for h in handles:
            h.remove()
    return record


def _shape(t: Any) -> list[int] | None:
    return list(t.shape[1:]) if isinstance(t, torch.Tensor) else None


def trace(model: nn.Module, inputs: torch.Tensor, layers: Sequence[str] | None = None, *, probes: int = 8,
          seed: int = 0, chunk_size: int | None = None, jacobian: bool = True,
          jacobian_mode: str = "forward") -> NetworkCurve:
    """Measure a network as a curve: segments with complexity, displacement and Jacobian deviation.

    Parameters
    ----------
    model
        Any ``nn.Module`` taking one batch tensor. It is run in eval mode (restored afterwards).
    inputs
        A batch ``(N, ...)`` of finite inputs (e.g. ``mnist5k().x_test[:256]``).
    layers
        Qualified module names to use as segments; ``None`` finds them (top-level children,
        ``nn.Sequential`` items, residual blocks).
    probes
        Hutchinson probes per sample for the Jacobian deviation.
    seed
        Seed of the probes.
    chunk_size
        Probes per ``vmap`` chunk (memory bound); ``None`` = all at once.
    jacobian
        ``False`` skips the Jacobian deviation (NaN, flagged).
    jacobian_mode
        ``"forward"`` (JVPs, no graph stored) or ``"reverse"`` (VJPs; about 2x faster for convolutions on
        CPU): see :func:`deepgeometry.nets.lengths.jacobian_deviation`.

    Returns
    -------
    NetworkCurve

    Raises
    ------
    DeepGeometryError
        For non-tensor, empty or non-finite inputs, unknown layer names, a model with nothing to trace or a
        model that fails on the inputs.
    """
    if not isinstance(model, nn.Module):
        raise DeepGeometryError(f"trace: model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, torch.Tensor):
        raise DeepGeometryError(f"trace: inputs must be a tensor batch (N, ...), got {type(inputs).__name__}")
    if inputs.ndim < 2 or inputs.shape[0] < 1:
        raise DeepGeometryError(f"trace: inputs must be a batch (N, ...) with N >= 1 and one sample "
                                f"dimension at least, got shape {tuple(inputs.shape)}")
    if not torch.is_floating_point(inputs):
        raise DeepGeometryError(f"trace: inputs must be floating point, got {inputs.dtype}")
    bad = int((~torch.isfinite(inputs)).sum())
    if bad:
        raise DeepGeometryError(f"trace: inputs contain {bad} NaN or infinite values")
    if int(probes) < 1:
        raise DeepGeometryError(f"trace: probes must be >= 1, got {probes}")
    if jacobian_mode not in ("forward", "reverse"):
        raise DeepGeometryError(f"trace: jacobian_mode must be 'forward' or 'reverse', got {jacobian_mode!r}")
    segments = find_segments(model, layers)
    inputs = inputs.detach()
    modes = {m: m.training for m in model.modules()}
    for m in model.modules():  # not model.eval(): exported-program modules refuse it
        m.training = False
    try:
        record = _capture(model, segments, inputs)
        gen = torch.Generator().manual_seed(int(seed))
        out: list[Segment] = []
        for name, mod in segments:
            out.append(_measure(name, mod, record.get(name), probes, gen, chunk_size, jacobian,
                                jacobian_mode))
    finally:
        for m, t in modes.items():
            m.training = t
    return NetworkCurve(tuple(out), input_shape=tuple(inputs.shape[1:]), n_samples=int(inputs.shape[0]),
                        probes=int(probes), seed=int(seed))


def _measure(name: str, mod: nn.Module, rec: dict | None, probes: int, gen: torch.Generator,
             chunk_size: int | None, jacobian: bool, jacobian_mode: str = "forward") -> Segment:
    kind = str(getattr(mod, "segment_kind", "") or type(mod).__name__)
    info: dict[str, Any] = {"params": parameter_count(mod), "flags": []}
    nan = math.nan
    if rec is None:
        raise DeepGeometryError(f"trace: segment {name!r} never ran in the forward pass")
    args, kwargs, y = rec["args"], rec["kwargs"], rec["out"]
    if rec["calls"] > 1:
        info["flags"].append(f"ran {rec['calls']} times; measured on the last call")
    if isinstance(y, (tuple, list)) and y and isinstance(y[0], torch.Tensor):
        y = y[0]
        info["flags"].append("tuple output; measured on its first item")
    x = args[0] if len(args) >= 1 else None
    single = len(args) == 1 and not kwargs and isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
    info["in_shape"], info["out_shape"] = _shape(x), _shape(y)
    macs, disp, jd = nan, (nan, nan), (nan, nan)
    if not single:
        info["flags"].append("segment takes other than one tensor input; lengths not measured")
    else:
        info["embedded"] = tuple(x.shape) != tuple(y.shape)
        if info["embedded"]:
            info["flags"].append("shape-changing: displacement and Jacobian deviation through the "
                                 "zero-padding embedding")
        macs = complexity_macs(mod, x)
        if torch.is_floating_point(x) and torch.is_floating_point(y):
            try:
                d = displacement(x, y)
                disp = (d.value, d.se)
            except DeepGeometryError as e:
                info["flags"].append(f"displacement: {e}")
            if jacobian:
                try:
                    j = jacobian_deviation(mod, x, probes, gen, chunk_size, mode=jacobian_mode)
                    jd = (j.value, j.se)
                except DeepGeometryError as e:
                    info["flags"].append(f"jacobian: {e}")
                except Exception as e:  # noqa: BLE001 - an op without forward-mode AD
                    info["flags"].append(f"jacobian: forward-mode AD failed ({type(e).__name__}: "
                                         f"{_first_line(e)})")
            else:
                info["flags"].append("jacobian deviation skipped")
        else:
            info["flags"].append("non-float input or output; displacement and Jacobian not measured")
    info.update(macs=macs, displacement=disp[0], displacement_se=disp[1], jacobian_deviation=jd[0],
                jacobian_deviation_se=jd[1])
    info.setdefault("embedded", False)
    lengths = {"complexity": float(macs), "displacement": disp[0], "jacobian_deviation": jd[0]}
    return Segment(name=name, kind=kind, lengths=lengths, info=info)


# --- figures (matplotlib imported lazily) -------------------------------------------------------------------

METRIC_LABELS = {
    "complexity": "complexity (MACs / sample)",
    "displacement": "displacement  mean |f(x)-x| / |x|",
    "jacobian_deviation": "Jacobian deviation  |J-I|_F / sqrt(d)",
}


def polyline(lengths: Sequence[float], turn_deg: float | None = None) -> tuple[list[float], list[float]]:
    """Vertices of the paper's piecewise curve (Fig. 4): segment k has length ``lengths[k]`` and turns by
    ``turn_deg`` (default ``120 / n`` for n segments, so the whole curve bends by 120 degrees) from the
    previous one. Non-finite lengths count as 0."""
    n = max(1, len(lengths))
    step = math.radians(120.0 / n if turn_deg is None else turn_deg)
    xs, ys = [0.0], [0.0]
    for k, ell in enumerate(lengths):
        ell = float(ell) if math.isfinite(float(ell)) else 0.0
        xs.append(xs[-1] + ell * math.cos(k * step))
        ys.append(ys[-1] + ell * math.sin(k * step))
    return xs, ys


def draw_curve(ax: Any, curve: DiscreteCurve, metric: str, color: str = "C0", label: bool = True) -> None:
    """Draw ``curve`` as a piecewise line whose segment lengths are the measured ones (normalised to
    total length 1), with a dot at every segment end and segment names as labels."""
    ell = curve.segment_lengths(metric)
    total = float(sum(v for v in ell if math.isfinite(v)))
    norm = [v / total if total > 0 else 0.0 for v in ell]
    xs, ys = polyline(norm)
    ax.plot(xs, ys, "-", color=color, lw=2)
    ax.plot(xs, ys, "o", color=color, ms=4)
    ax.plot(xs[:1], ys[:1], "s", color="k", ms=6)
    if label:
        for k, s in enumerate(curve.segments):
            ax.annotate(s.name, ((xs[k] + xs[k + 1]) / 2, (ys[k] + ys[k + 1]) / 2), fontsize=7,
                        xytext=(0, 6), textcoords="offset points", ha="center")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    b = curve.balance(metric)
    ax.set_title(f"{metric}: Gini {b['gini']:.2f}", fontsize=9)


def plot_segments(curve: NetworkCurve, title: str = "") -> Any:
    """Bar charts of the three segment lengths (error bars: one standard error; hatched: embedded)."""
    import matplotlib.pyplot as plt

    names = curve.names
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.35 * len(names) + 1.8), sharey=True)
    y = list(range(len(names)))
    for ax, metric in zip(axes, METRICS, strict=True):
        vals = [0.0 if not math.isfinite(v) else v for v in curve.segment_lengths(metric)]
        err = None
        if metric != "complexity":
            err = [s.info.get(f"{metric}_se", 0.0) for s in curve.segments]
            err = [0.0 if not (isinstance(e, float) and math.isfinite(e)) else e for e in err]
        bars = ax.barh(y, vals, xerr=err, color="C0" if metric == "complexity" else "C1", alpha=0.8)
        for bar, s in zip(bars, curve.segments, strict=True):
            if s.info.get("embedded"):
                bar.set_hatch("//")
        ax.set_xlabel(METRIC_LABELS[metric], fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
