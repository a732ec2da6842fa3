"""Small reference models (paper Section III-A, Fig. 4: CNNs; III-B, Fig. 5: plain nets and ResNets).

Every factory takes ``in_shape`` (one sample's shape: ``(D,)``, ``(C, L)`` or ``(C, H, W)``) and
``n_classes``, and returns an ``nn.Sequential`` whose items are whole operations (a CONV-ReLU-Pooling
stage, a residual unit, the head), so each item is one segment of the network's curve. The defaults fit
mnist5k (1x28x28, 10 classes) and train in seconds on one CPU thread.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from ...errors import DeepGeometryError
from .blocks import ConvStage, Dense, Head, PlainBlock, ResidualBlock, layer_kind

MNIST_SHAPE = (1, 28, 28)


def _shape(in_shape: Sequence[int]) -> tuple[int, ...]:
    s = tuple(int(v) for v in in_shape)
    if not s or any(v < 1 for v in s):
        raise DeepGeometryError(f"in_shape must be positive sizes, got {tuple(in_shape)}")
    return s


def _check_depth(depth: int) -> int:
    if int(depth) < 0:
        raise DeepGeometryError(f"depth must be >= 0, got {depth}")
    return int(depth)


def _conv_kind(in_shape: tuple[int, ...], model: str) -> str:
    kind = layer_kind(in_shape)
    if kind == "linear":
        raise DeepGeometryError(f"{model} needs (C, L) or (C, H, W) inputs, got in_shape={in_shape}; "
                                "use an MLP")
    return kind


def mlp(in_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, width: int = 128, depth: int = 2,
        act: str = "relu") -> nn.Sequential:
    """Multi-layer perceptron: ``depth`` hidden :class:`Dense` layers of ``width`` units, linear output."""
    s = _shape(in_shape)
    d = math.prod(s)
    items: OrderedDict[str, nn.Module] = OrderedDict()
    for k in range(_check_depth(depth)):
        items[f"fc{k + 1}"] = Dense(d if k == 0 else width, width, act)
    items["out"] = Dense(width if depth > 0 else d, n_classes, "identity")
    return nn.Sequential(items)


def cnn(in_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, channels: Sequence[int] = (16, 32),
        kernel_size: int = 3, hidden: int = 64, act: str = "relu", norm: bool = False) -> nn.Sequential:
    """CNN of CONV-ReLU-Pooling stages (Section III-A) followed by a fully connected head.

    ``conv1 ... convK`` (each conv -> act -> 2x max-pool), ``fc`` (flatten -> linear -> act), ``out``.
    """
    s = _shape(in_shape)
    kind = _conv_kind(s, "cnn")
    if isinstance(channels, int):
        channels = (channels,)
    items: OrderedDict[str, nn.Module] = OrderedDict()
    c, spatial = s[0], list(s[1:])
    for k, c_out in enumerate(channels):
        pool = 2 if min(spatial) >= 2 else 1
        items[f"conv{k + 1}"] = ConvStage(kind, c, int(c_out), kernel_size, act, norm, pool)
        c, spatial = int(c_out), [v // pool for v in spatial]
    items["fc"] = Dense(c * math.prod(spatial), hidden, act)
    items["out"] = Dense(hidden, n_classes, "identity")
    return nn.Sequential(items)


def _deep(in_shape: Sequence[int], n_classes: int, width: int, depth: int, act: str, norm: bool,
          block: str | None, zero_init: bool, conv: bool) -> nn.Sequential:
    s = _shape(in_shape)
    kind = _conv_kind(s, "a CNN") if conv else "linear"
    items: OrderedDict[str, nn.Module] = OrderedDict()
    if conv:
        items["stem"] = ConvStage(kind, s[0], width, 3, act, norm, pool=2 if min(s[1:]) >= 2 else 1)
    else:
        items["stem"] = Dense(math.prod(s), width, act)
    for k in range(_check_depth(depth)):
        if block is None:
            items[f"block{k + 1}"] = PlainBlock(kind, width, act=act, norm=norm)
        else:
            items[f"block{k + 1}"] = ResidualBlock(kind, width, act=act, norm=norm, block=block,
                                                   zero_init=zero_init)
    pre = block == "pre"  # full pre-activation nets end with norm -> act before the head (He et al. 2016b)
    items["head"] = Head(kind, width, n_classes, act=act if pre else None, norm=norm and pre)
    return nn.Sequential(items)


def plain_mlp(in_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, width: int = 64, depth: int = 8,
              act: str = "relu", norm: bool = False) -> nn.Sequential:
    """``stem`` (dense), ``depth`` :class:`PlainBlock` s (two linear layers each), linear ``head``."""
    return _deep(in_shape, n_classes, width, depth, act, norm, None, False, conv=False)


def residual_mlp(in_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, width: int = 64, depth: int = 8,
                 act: str = "relu", norm: bool = False, block: str = "post",
                 zero_init: bool = False) -> nn.Sequential:
    """Like :func:`plain_mlp` with :class:`ResidualBlock` s (``block='post'`` or ``'pre'``)."""
    return _deep(in_shape, n_classes, width, depth, act, norm, block, zero_init, conv=False)


def plain_cnn(in_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, width: int = 16, depth: int = 8,
              act: str = "relu", norm: bool = False) -> nn.Sequential:
    """``stem`` (conv-act-pool), ``depth`` :class:`PlainBlock` s of two 3x3 convs, ``head`` (GAP + linear)."""
    return _deep(in_shape, n_classes, width, depth, act, norm, None, False, conv=True)


def residual_cnn(in_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, width: int = 16, depth: int = 8,
                 act: str = "relu", norm: bool = False, block: str = "post",
                 zero_init: bool = False) -> nn.Sequential:
    """Like :func:`plain_cnn` with :class:`ResidualBlock` s (``block='post'`` or ``'pre'``)."""
    return _deep(in_shape, n_classes, width, depth, act, norm, block, zero_init, conv=True)


def resnet(in_shape: Sequence[int] = MNIST_SHAPE, n_classes: int = 10, block: str = "post",
           widths: Sequence[int] = (8, 16, 32), blocks_per_stage: int = 1, act: str = "relu",
           norm: bool = True, zero_init: bool = False) -> nn.Sequential:
    """A small CIFAR-style ResNet (He et al. 2016a/b): stem conv, stages of residual units, GAP head.

    The first unit of every stage after the first halves the resolution and widens the channels through a
    1x1 projection shortcut. ``block='post'``: original units (ReLU after the addition); ``block='pre'``:
    full pre-activation units, with a final norm + ReLU in the head.
    """
    s = _shape(in_shape)
    kind = _conv_kind(s, "resnet")
    if block not in ("post", "pre"):
        raise DeepGeometryError(f"block must be 'post' or 'pre', got {block!r}")
    if isinstance(widths, int):
        widths = (widths,)
    if not widths or int(blocks_per_stage) < 1:
        raise DeepGeometryError(f"resnet needs >= 1 stage and >= 1 block per stage, got widths={widths}, "
                                f"blocks_per_stage={blocks_per_stage}")
    items: OrderedDict[str, nn.Module] = OrderedDict()
    items["stem"] = ConvStage(kind, s[0], int(widths[0]), 3, act, norm if block == "post" else False, pool=1)
    c = int(widths[0])
    for i, w in enumerate(widths):
        for j in range(int(blocks_per_stage)):
            stride = 2 if (i > 0 and j == 0) else 1
            items[f"stage{i + 1}_block{j + 1}"] = ResidualBlock(
                kind, c, int(w), stride=stride, act=act, norm=norm, block=block, zero_init=zero_init)
            c = int(w)
    items["head"] = Head(kind, c, n_classes, act=act if block == "pre" else None,
                         norm=norm and block == "pre")
    return nn.Sequential(items)
