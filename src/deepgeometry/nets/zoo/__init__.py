"""The model zoo: small reference networks by name (paper Section III-A/B).

``ZOO`` maps a name to a factory; :func:`build` calls it with keyword arguments and a fixed seed, and is
what the CLI's ``zoo:NAME[:k=v,...]`` syntax uses (:func:`parse_spec`). Other modules add models with
:func:`register`.

=================  ==============================================================================
name               model
=================  ==============================================================================
``mlp``            dense layers (``width``, ``depth``)
``cnn``            CONV-ReLU-Pooling stages (``channels``) + fully connected head (Fig. 4)
``plain_mlp``      stem, ``depth`` plain two-layer blocks, head
``residual_mlp``   stem, ``depth`` residual units (``block='post'|'pre'``), head
``plain_cnn``      conv stem, ``depth`` plain two-conv blocks, GAP head
``residual_cnn``   conv stem, ``depth`` residual units (``block='post'|'pre'``), GAP head
``resnet``         small CIFAR-style ResNet: stages of units with projection shortcuts (Fig. 5)
=================  ==============================================================================
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...errors import DeepGeometryError
from . import models
from .blocks import ConvStage as ConvStage
from .blocks import Dense as Dense
from .blocks import Head as Head
from .blocks import PlainBlock as PlainBlock
from .blocks import ResidualBlock as ResidualBlock
from .blocks import zero_last as zero_last
from .models import cnn as cnn
from .models import mlp as mlp
from .models import plain_cnn as plain_cnn
from .models import plain_mlp as plain_mlp
from .models import residual_cnn as residual_cnn
from .models import residual_mlp as residual_mlp
from .models import resnet as resnet

ZOO: dict[str, Callable[..., nn.Module]] = {
    "mlp": models.mlp,
    "cnn": models.cnn,
    "plain_mlp": models.plain_mlp,
    "residual_mlp": models.residual_mlp,
    "plain_cnn": models.plain_cnn,
    "residual_cnn": models.residual_cnn,
    "resnet": models.resnet,
}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a factory to :data:`ZOO` under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        ZOO[name] = fn
        return fn

    return deco


def build(name: str, *, seed: int | None = 0, **kwargs: Any) -> nn.Module:
    """Build the zoo model ``name`` with ``kwargs``; weights drawn from ``seed`` (global RNG untouched).

    Raises
    ------
    DeepGeometryError
        For an unknown name or keyword arguments the factory does not take.
    """
    if name not in ZOO:
        raise DeepGeometryError(f"unknown zoo model {name!r}; choose one of {sorted(ZOO)}")
    factory = ZOO[name]
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as e:
        params = [p for p in inspect.signature(factory).parameters]
        raise DeepGeometryError(f"zoo model {name!r}: {e}; it takes {params}") from None
    if seed is None:
        return factory(**kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return factory(**kwargs)


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in (q.strip() for q in parts) if p]


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Parse ``"NAME[:k=v,...]"`` (the part after ``zoo:``) into ``(name, kwargs)``.

    Values are Python literals (``width=32``, ``channels=(8,16)``, ``norm=true``) or bare strings
    (``block=pre``).
    """
    name, _, rest = spec.partition(":")
    name = name.strip()
    kwargs: dict[str, Any] = {}
    for item in _split_top(rest):
        key, eq, val = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise DeepGeometryError(f"bad zoo option {item!r} in {spec!r}; write key=value")
        kwargs[key.strip()] = _value(val.strip())
    return name, kwargs


__all__ = [
    "ZOO",
    "ConvStage",
    "Dense",
    "Head",
    "PlainBlock",
    "ResidualBlock",
    "build",
    "cnn",
    "mlp",
    "parse_spec",
    "plain_cnn",
    "plain_mlp",
    "register",
    "residual_cnn",
    "residual_mlp",
    "resnet",
    "zero_last",
]

# models contributed by other modules of the zoo register themselves on import
try:
    importlib.import_module(f"{__name__}.variants")
except ModuleNotFoundError as _e:  # pragma: no cover - the variants module is optional
    if _e.name != f"{__name__}.variants":
        raise
