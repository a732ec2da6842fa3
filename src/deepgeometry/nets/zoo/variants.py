"""Residual-unit variants of He et al. 2016b ("Identity mappings in deep residual networks") and highway
units (Srivastava et al. 2015), for the claims of paper Section III-B, eqs. (4)-(5):

    y_l = h(x_l) + F(x_l, W_l),     x_{l+1} = f(y_l).

* :class:`ShortcutBlock` changes the shortcut ``h`` (He et al. 2016b, Table 1 / Fig. 2), with the original
  post-activation ``f = ReLU`` and ``F = layer-BN-ReLU-layer-BN``;
* :class:`PlacementBlock` moves BN and ReLU around the addition (Table 2 / Fig. 4);
* :class:`HighwayBlock` is ``y = T(x) H(x) + (1 - T(x)) x`` with ``T = sigmoid(W_T x + b_T)``.

Every block works on vectors (``"linear"``), signals (``"conv1d"``) or images (``"conv2d"``); a "1x1 conv"
shortcut is a 1x1 convolution for signals/images and a full ``width x width`` linear map for vectors (the
only per-position map an MLP has). The factories :func:`shortcut_net`, :func:`placement_net` and
:func:`highway_net` build small nets (stem, ``depth`` blocks, head) for mnist1d / mnist5k and register in
:data:`deepgeometry.nets.zoo.ZOO` as ``shortcut_net``, ``placement_net`` and ``highway_net``.

The published CIFAR-10 errors of ResNet-110 are kept in :data:`TABLE1_ERROR` and :data:`TABLE2_ERROR`
(``math.inf`` stands for "fail").
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ...errors import DeepGeometryError
from . import register
from .blocks import ConvStage, Dense, Head, activation, layer_kind, make_layer, make_norm

#: He et al. 2016b, Table 1 (CIFAR-10, ResNet-110, test error %); ``inf`` = "fail".
TABLE1_ERROR: dict[str, float] = {
    "original": 6.61,
    "scale-0.5": 12.35,  # constant scaling, 0.5 on shortcut and on F
    "exclusive-gate-6": 8.70,  # (1 - g) x + g F, b_g initialised to -6
    "exclusive-gate0": math.inf,  # the same with b_g = 0: "fail"
    "shortcut-gate-6": 6.91,  # (1 - g) x + F, b_g = -6
    "shortcut-gate0": 12.86,  # (1 - g) x + F, b_g = 0
    "conv1x1": 12.22,  # 1x1 convolution shortcut
    "dropout": math.inf,  # dropout (p = 0.5) on the shortcut: "fail"
}
SHORTCUTS: tuple[str, ...] = tuple(TABLE1_ERROR)

#: He et al. 2016b, Table 2 (CIFAR-10, ResNet-110, test error %).
TABLE2_ERROR: dict[str, float] = {
    "original": 6.61,
    "bn-after-add": 8.17,
    "relu-before-add": 7.84,
    "relu-only-preact": 6.71,
    "full-preact": 6.37,
}
PLACEMENTS: tuple[str, ...] = tuple(TABLE2_ERROR)


def _gate_bias(shortcut: str) -> float | None:
    if shortcut.endswith("gate-6"):
        return -6.0
    if shortcut.endswith("gate0"):
        return 0.0
    return None


class ShortcutBlock(nn.Module):
    """``x -> ReLU(h-combination of x and F(x))`` for one shortcut variant of He et al. 2016b, Table 1.

    ``F(x) = BN(W2 ReLU(BN(W1 x)))`` (BN optional). Variants (``g(x) = sigmoid(W_g x + b_g)``):
    ``original``: x + F; ``scale-0.5``: 0.5 x + 0.5 F; ``exclusive-gate*``: (1 - g) x + g F;
    ``shortcut-gate*``: (1 - g) x + F; ``conv1x1``: W_s x + F; ``dropout``: dropout_{0.5}(x) + F.
    """

    segment_kind = "residual-shortcut"

    def __init__(
        self, kind: str, width: int, shortcut: str = "original", act: str = "relu", norm: bool = True
    ) -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise DeepGeometryError(f"unknown shortcut {shortcut!r}; choose one of {list(SHORTCUTS)}")
        self.shortcut = shortcut
        self.segment_kind = f"residual-{shortcut}"
        mods: list[nn.Module] = [make_layer(kind, width, width, bias=not norm)]
        if norm:
            mods.append(make_norm(kind, width))
        mods += [activation(act), make_layer(kind, width, width, bias=not norm)]
        if norm:
            mods.append(make_norm(kind, width))
        self.branch = nn.Sequential(*mods)
        self.act = activation(act)
        b = _gate_bias(shortcut)
        self.gate: nn.Module | None = None
        self.proj: nn.Module | None = None
        self.drop: nn.Module | None = None
        if b is not None:
            self.gate = make_layer(kind, width, width, kernel_size=1)
            with torch.no_grad():
                self.gate.bias.fill_(b)
        elif shortcut == "conv1x1":
            self.proj = make_layer(kind, width, width, kernel_size=1, bias=False)
        elif shortcut == "dropout":
            self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.branch(x)
        s = self.shortcut
        if s == "original":
            y = x + f
        elif s == "scale-0.5":
            y = 0.5 * x + 0.5 * f
        elif s.startswith("exclusive"):
            g = torch.sigmoid(self.gate(x))
            y = (1 - g) * x + g * f
        elif s.startswith("shortcut-gate"):
            g = torch.sigmoid(self.gate(x))
            y = (1 - g) * x + f
        elif s == "conv1x1":
            y = self.proj(x) + f
        else:  # dropout
            y = self.drop(x) + f
        return self.act(y)


class PlacementBlock(nn.Module):
    """One of the five BN/ReLU placements of He et al. 2016b, Table 2 (``W`` = linear layer or conv):

    ``original``          ReLU(x + BN(W ReLU(BN(W x))))
    ``bn-after-add``      ReLU(BN(x + W ReLU(BN(W x))))
    ``relu-before-add``   x + ReLU(BN(W ReLU(BN(W x))))
    ``relu-only-preact``  x + BN(W ReLU(BN(W ReLU(x))))
    ``full-preact``       x + W ReLU(BN(W ReLU(BN(x))))
    """

    def __init__(self, kind: str, width: int, placement: str = "original", act: str = "relu") -> None:
        super().__init__()
        if placement not in PLACEMENTS:
            raise DeepGeometryError(f"unknown placement {placement!r}; choose one of {list(PLACEMENTS)}")
        self.placement = placement
        self.segment_kind = f"residual-{placement}"
        w1 = make_layer(kind, width, width, bias=False)
        w2 = make_layer(kind, width, width, bias=False)
        bn1, bn2 = make_norm(kind, width), make_norm(kind, width)
        a1, a2 = activation(act), activation(act)
        if placement in ("original", "relu-before-add"):
            mods = [w1, bn1, a1, w2, bn2]
        elif placement == "bn-after-add":
            mods = [w1, bn1, a1, w2]
        elif placement == "relu-only-preact":
            mods = [a1, w1, bn1, a2, w2, bn2]
        else:
            mods = [bn1, a1, w1, bn2, a2, w2]
        self.branch = nn.Sequential(*mods)
        self.post: nn.Module = nn.Identity()
        self.inner: nn.Module = nn.Identity()
        if placement == "original":
            self.post = activation(act)
        elif placement == "bn-after-add":
            self.post = nn.Sequential(make_norm(kind, width), activation(act))
        elif placement == "relu-before-add":
            self.inner = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(x + self.inner(self.branch(x)))


class HighwayBlock(nn.Module):
    """Highway unit (Srivastava et al. 2015): ``y = T(x) * H(x) + (1 - T(x)) * x`` with
    ``H(x) = act(W_H x + b_H)`` and transform gate ``T(x) = sigmoid(W_T x + b_T)``, ``b_T`` initialised to
    ``gate_bias`` (negative: start close to the identity). Two weight layers, like a two-layer residual unit.
    """

    segment_kind = "highway"

    def __init__(self, kind: str, width: int, act: str = "relu", gate_bias: float = -2.0) -> None:
        super().__init__()
        self.h = make_layer(kind, width, width)
        self.t = make_layer(kind, width, width)
        with torch.no_grad():
            self.t.bias.fill_(float(gate_bias))
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.t(x))
        return t * self.act(self.h(x)) + (1 - t) * x


def _shape(in_shape: Sequence[int]) -> tuple[int, ...]:
    s = tuple(int(v) for v in in_shape)
    if not s or any(v < 1 for v in s):
        raise DeepGeometryError(f"in_shape must be positive sizes, got {tuple(in_shape)}")
    return s


def _net(
    in_shape: Sequence[int],
    n_classes: int,
    width: int,
    depth: int,
    make_block,
    conv: bool,
    pre_head: bool,
    norm: bool,
    act: str,
) -> nn.Sequential:
    s = _shape(in_shape)
    if int(depth) < 0 or int(width) < 1:
        raise DeepGeometryError(f"depth must be >= 0 and width >= 1, got depth={depth}, width={width}")
    kind = layer_kind(s) if conv else "linear"
    if conv and kind == "linear":
        raise DeepGeometryError(f"conv=True needs (C, L) or (C, H, W) inputs, got in_shape={s}")
    items: OrderedDict[str, nn.Module] = OrderedDict()
    if conv:
        items["stem"] = ConvStage(
            kind, s[0], width, 3, act, norm and not pre_head, pool=2 if min(s[1:]) >= 2 else 1
        )
    else:
        items["stem"] = Dense(math.prod(s), width, act)
    for k in range(int(depth)):
        items[f"block{k + 1}"] = make_block(kind)
    items["head"] = Head(kind, width, n_classes, act=act if pre_head else None, norm=norm and pre_head)
    return nn.Sequential(items)


@register("shortcut_net")
def shortcut_net(
    in_shape: Sequence[int] = (1, 40),
    n_classes: int = 10,
    width: int = 64,
    depth: int = 8,
    shortcut: str = "original",
    act: str = "relu",
    norm: bool = True,
    conv: bool = False,
) -> nn.Sequential:
    """Stem, ``depth`` :class:`ShortcutBlock` s of one Table-1 variant, linear head (MLP unless ``conv``)."""
    if shortcut not in SHORTCUTS:
        raise DeepGeometryError(f"unknown shortcut {shortcut!r}; choose one of {list(SHORTCUTS)}")
    return _net(
        in_shape,
        n_classes,
        width,
        depth,
        lambda kind: ShortcutBlock(kind, width, shortcut, act, norm),
        conv,
        False,
        norm,
        act,
    )


@register("placement_net")
def placement_net(
    in_shape: Sequence[int] = (1, 40),
    n_classes: int = 10,
    width: int = 64,
    depth: int = 8,
    placement: str = "original",
    act: str = "relu",
    conv: bool = False,
) -> nn.Sequential:
    """Stem, ``depth`` :class:`PlacementBlock` s, head; pre-activation placements end with BN-ReLU."""
    if placement not in PLACEMENTS:
        raise DeepGeometryError(f"unknown placement {placement!r}; choose one of {list(PLACEMENTS)}")
    pre = placement in ("relu-only-preact", "full-preact")
    return _net(
        in_shape,
        n_classes,
        width,
        depth,
        lambda kind: PlacementBlock(kind, width, placement, act),
        conv,
        pre,
        True,
        act,
    )


@register("highway_net")
def highway_net(
    in_shape: Sequence[int] = (1, 40),
    n_classes: int = 10,
    width: int = 64,
    depth: int = 8,
    act: str = "relu",
    gate_bias: float = -2.0,
    conv: bool = False,
) -> nn.Sequential:
    """Stem, ``depth`` :class:`HighwayBlock` s, linear head (no normalisation, as in Srivastava et al.)."""
    return _net(
        in_shape,
        n_classes,
        width,
        depth,
        lambda kind: HighwayBlock(kind, width, act, gate_bias),
        conv,
        False,
        False,
        act,
    )


__all__ = [
    "PLACEMENTS",
    "SHORTCUTS",
    "TABLE1_ERROR",
    "TABLE2_ERROR",
    "HighwayBlock",
    "PlacementBlock",
    "ShortcutBlock",
    "highway_net",
    "placement_net",
    "shortcut_net",
]
