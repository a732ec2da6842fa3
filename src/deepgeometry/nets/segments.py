"""Cutting a model into the segments of its curve (paper Section III-A, Fig. 4; III-B, Fig. 5).

A segment is a module whose input and output are consecutive points of the data's path through the
network. By default the segments are the model's top-level children, with ``nn.Sequential`` /
``nn.ModuleList`` containers opened up recursively, so a ``Sequential`` of residual blocks gives one
segment per block. Users may name the segments instead (``layers=["features.0", "layer1.0", ...]``).

:func:`intermediates` turns a model and its segments into a pure function ``x -> (out_1, ..., out_L)``
that returns every segment's output. It is safe under ``torch.func`` transforms (``jvp``, ``vjp``,
``vmap``): the outputs are captured by forward hooks into a list local to the call and returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..errors import DeepGeometryError

_CONTAINERS = (nn.Sequential, nn.ModuleList)


def find_segments(model: nn.Module, layers: Sequence[str] | None = None) -> list[tuple[str, nn.Module]]:
    """Return ``[(qualified_name, module), ...]`` in forward order.

    Parameters
    ----------
    model
        Any ``nn.Module``.
    layers
        Qualified names from ``model.named_modules()``; ``None`` finds the segments automatically.

    Raises
    ------
    DeepGeometryError
        If a named layer does not exist or nothing can be traced.
    """
    modules = dict(model.named_modules())
    if layers:
        missing = [n for n in layers if n not in modules or n == ""]
        if missing:
            known = [n for n in modules if n][:20]
            raise DeepGeometryError(f"unknown layer name(s) {missing}; the model has e.g. {known}")
        return [(n, modules[n]) for n in layers]

    out: list[tuple[str, nn.Module]] = []

    def visit(prefix: str, mod: nn.Module) -> None:
        for name, child in mod.named_children():
            q = f"{prefix}.{name}" if prefix else name
            if isinstance(child, _CONTAINERS):
                visit(q, child)
            else:
                out.append((q, child))

    if isinstance(model, _CONTAINERS) or len(list(model.children())) > 0:
        visit("", model)
    if not out:
        raise DeepGeometryError(
            f"model {type(model).__name__} has no sub-modules to trace; name the layers explicitly or wrap "
            "it in nn.Sequential"
        )
    return out


def intermediates(model: nn.Module, segments: Sequence[tuple[str, nn.Module]]) -> Callable[..., tuple]:
    """A function ``x -> tuple of segment outputs`` (in the order the segments first run).

    Segments that run more than once (weight sharing) contribute their last output. Segments that never
    run raise :class:`DeepGeometryError`.
    """
    names = [n for n, _ in segments]

    def f(x: torch.Tensor) -> tuple:
        acts: dict[str, torch.Tensor] = {}
        handles = []
        for n, m in segments:
            def hook(_m, _inp, out, n=n):
                acts[n] = out[0] if isinstance(out, (tuple, list)) else out
            handles.append(m.register_forward_hook(hook))
        try:
            model(x)
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in names if n not in acts]
        if missing:
            raise DeepGeometryError(f"segment(s) {missing} never ran in the forward pass")
        return tuple(acts[n] for n in names)

    return f
