"""Building blocks of the model zoo (paper Section III-A: CONV-ReLU-Pooling; III-B, eqs. 4-5: residual units).

Every block is a plain ``nn.Module`` (never an ``nn.Sequential`` subclass), so segment discovery
(:func:`deepgeometry.nets.segments.find_segments`) treats one block as one segment of the network's curve.
Each block class carries a ``segment_kind`` label that :func:`deepgeometry.nets.trace` reports.

Layers are chosen by the input's rank: ``"linear"`` for feature vectors, ``"conv1d"`` for ``(C, L)``
signals, ``"conv2d"`` for ``(C, H, W)`` images.
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import DeepGeometryError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "hardtanh": nn.Hardtanh,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}

LAYER_KINDS = ("linear", "conv1d", "conv2d")


def activation(name: str) -> nn.Module:
    """A fresh activation module by name: relu, tanh, sigmoid, hardtanh, gelu or identity."""
    if name not in ACTIVATIONS:
        raise DeepGeometryError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def layer_kind(in_shape: tuple[int, ...]) -> str:
    """``"linear"``, ``"conv1d"`` or ``"conv2d"`` for samples of shape (D,), (C, L) or (C, H, W)."""
    if len(in_shape) == 1:
        return "linear"
    if len(in_shape) == 2:
        return "conv1d"
    if len(in_shape) == 3:
        return "conv2d"
    raise DeepGeometryError(f"in_shape must be (D,), (C, L) or (C, H, W), got {tuple(in_shape)}")


def make_layer(kind: str, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1,
               bias: bool = True) -> nn.Module:
    """A linear layer or a 'same'-padded convolution of the given kind."""
    if kind == "linear":
        return nn.Linear(c_in, c_out, bias=bias)
    conv = {"conv1d": nn.Conv1d, "conv2d": nn.Conv2d}.get(kind)
    if conv is None:
        raise DeepGeometryError(f"unknown layer kind {kind!r}; choose one of {LAYER_KINDS}")
    return conv(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias)


def make_norm(kind: str, c: int) -> nn.Module:
    return nn.BatchNorm2d(c) if kind == "conv2d" else nn.BatchNorm1d(c)


def make_pool(kind: str, k: int = 2) -> nn.Module:
    return nn.MaxPool2d(k) if kind == "conv2d" else nn.MaxPool1d(k)


class Dense(nn.Module):
    """``act(W flatten(x) + b)``: one fully connected layer of an MLP or of a CNN's head."""

    segment_kind = "dense"

    def __init__(self, d_in: int, d_out: int, act: str = "relu") -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.linear(x.flatten(1)))


class ConvStage(nn.Module):
    """One CONV-ReLU-Pooling operation (paper Section III-A): conv -> [norm] -> act -> [max-pool]."""

    segment_kind = "conv-relu-pool"

    def __init__(self, kind: str, c_in: int, c_out: int, kernel_size: int = 3, act: str = "relu",
                 norm: bool = False, pool: int = 2) -> None:
        super().__init__()
        self.conv = make_layer(kind, c_in, c_out, kernel_size, bias=not norm)
        self.norm = make_norm(kind, c_out) if norm else nn.Identity()
        self.act = activation(act)
        self.pool = make_pool(kind, pool) if pool > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.norm(self.conv(x))))


def _branch(kind: str, c_in: int, c_out: int, stride: int, act: str, norm: bool, pre: bool) -> nn.Sequential:
    """The residual function F of eq. (4): two layers, in post- (layer-norm-act-layer-norm) or
    full pre-activation order (norm-act-layer-norm-act-layer), He et al. 2016b."""
    mods: list[nn.Module] = []
    if pre:
        if norm:
            mods.append(make_norm(kind, c_in))
        mods += [activation(act), make_layer(kind, c_in, c_out, stride=stride, bias=not norm)]
        if norm:
            mods.append(make_norm(kind, c_out))
        mods += [activation(act), make_layer(kind, c_out, c_out)]
    else:
        mods.append(make_layer(kind, c_in, c_out, stride=stride, bias=not norm))
        if norm:
            mods.append(make_norm(kind, c_out))
        mods += [activation(act), make_layer(kind, c_out, c_out, bias=not norm)]
        if norm:
            mods.append(make_norm(kind, c_out))
    return nn.Sequential(*mods)


def zero_last(branch: nn.Module) -> None:
    """Zero the last parametrised layer of a branch (weight and bias), so the branch outputs exactly 0."""
    last = None
    for m in branch.modules():
        if getattr(m, "weight", None) is not None:
            last = m
    if last is None:
        raise DeepGeometryError("zero_last: the branch has no layer with weights")
    with torch.no_grad():
        last.weight.zero_()
        if getattr(last, "bias", None) is not None:
            last.bias.zero_()


class PlainBlock(nn.Module):
    """``x -> act(F(x))``: the post-activation residual unit without its shortcut (a 'plain' net)."""

    segment_kind = "plain"

    def __init__(self, kind: str, c_in: int, c_out: int | None = None, stride: int = 1, act: str = "relu",
                 norm: bool = False) -> None:
        super().__init__()
        self.branch = _branch(kind, c_in, c_out or c_in, stride, act, norm, pre=False)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.branch(x))


class ResidualBlock(nn.Module):
    """A residual unit, eqs. (4)-(5): ``y = h(x) + F(x)``, ``x' = f(y)``.

    ``block="post"`` is the original unit (He et al. 2016a): ``h = id``, ``f = act``.
    ``block="pre"`` is the full pre-activation unit (He et al. 2016b): ``h = id``, ``f = id``, the
    activations moved into ``F``. When the shape changes, ``h`` is a projection (1x1 conv or linear).
    With ``zero_init`` the last layer of ``F`` starts at zero, so a ``pre`` block is exactly the identity
    (and a ``post`` block too, on non-negative inputs).
    """

    def __init__(self, kind: str, c_in: int, c_out: int | None = None, stride: int = 1, act: str = "relu",
                 norm: bool = False, block: str = "post", zero_init: bool = False) -> None:
        super().__init__()
        if block not in ("post", "pre"):
            raise DeepGeometryError(f"block must be 'post' or 'pre', got {block!r}")
        c_out = c_out or c_in
        self.block = block
        self.segment_kind = f"residual-{block}"
        self.branch = _branch(kind, c_in, c_out, stride, act, norm, pre=(block == "pre"))
        if c_in != c_out or stride != 1:
            self.shortcut: nn.Module = make_layer(kind, c_in, c_out, kernel_size=1, stride=stride,
                                                  bias=False)
        else:
            self.shortcut = nn.Identity()
        self.act = activation(act) if block == "post" else nn.Identity()
        if zero_init:
            zero_last(self.branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + self.branch(x))


class Head(nn.Module):
    """Classifier head: [norm -> act] -> global average pool (conv inputs) -> flatten -> linear."""

    segment_kind = "head"

    def __init__(self, kind: str, c_in: int, n_classes: int, act: str | None = None,
                 norm: bool = False) -> None:
        super().__init__()
        pre: list[nn.Module] = []
        if norm:
            pre.append(make_norm(kind, c_in))
        if act is not None:
            pre.append(activation(act))
        self.pre = nn.Sequential(*pre)
        self.pool = nn.Identity() if kind == "linear" else (
            nn.AdaptiveAvgPool2d(1) if kind == "conv2d" else nn.AdaptiveAvgPool1d(1))
        self.linear = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.pool(self.pre(x)).flatten(1))
