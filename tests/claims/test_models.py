"""The He et al. 2016b variants, highway units and the block permutation of claim 1."""

import math

import pytest
import torch

from deepgeometry.claims.locality import permute_blocks
from deepgeometry.errors import DeepGeometryError
from deepgeometry.nets.zoo import ZOO, build, zero_last
from deepgeometry.nets.zoo.variants import (
    PLACEMENTS,
    SHORTCUTS,
    TABLE1_ERROR,
    TABLE2_ERROR,
    HighwayBlock,
    PlacementBlock,
    ShortcutBlock,
)


def test_registered_and_tables():
    assert {"shortcut_net", "placement_net", "highway_net"} <= set(ZOO)
    assert len(SHORTCUTS) == 8 and len(PLACEMENTS) == 5
    assert min(TABLE1_ERROR, key=TABLE1_ERROR.get) == "original"
    assert min(TABLE2_ERROR, key=TABLE2_ERROR.get) == "full-preact"
    assert math.isinf(TABLE1_ERROR["dropout"])


@pytest.mark.parametrize("shortcut", SHORTCUTS)
@pytest.mark.parametrize("in_shape", [(1, 40), (1, 12, 12)])
def test_shortcut_nets_run(shortcut, in_shape):
    conv = len(in_shape) == 3
    m = build("shortcut_net", in_shape=in_shape, width=8, depth=2, shortcut=shortcut, conv=conv)
    assert m(torch.randn(3, *in_shape)).shape == (3, 10)


def test_shortcut_block_algebra():
    torch.manual_seed(0)
    x = torch.randn(5, 6, dtype=torch.float64)
    for s, expect in [("original", torch.relu(x)), ("scale-0.5", torch.relu(0.5 * x))]:
        b = ShortcutBlock("linear", 6, s, norm=False).double()
        zero_last(b.branch)
        assert torch.allclose(b(x), expect)
    b = ShortcutBlock("linear", 6, "shortcut-gate0", norm=False).double()
    zero_last(b.branch)
    with torch.no_grad():
        b.gate.weight.zero_()
    assert torch.allclose(b(x), torch.relu(0.5 * x))  # g = sigmoid(0) = 1/2
    b = ShortcutBlock("linear", 6, "exclusive-gate-6", norm=False).double()
    with torch.no_grad():
        b.gate.weight.zero_()
    g = torch.sigmoid(torch.tensor(-6.0, dtype=torch.float64))
    assert torch.allclose(b(x), torch.relu((1 - g) * x + g * b.branch(x)))
    with pytest.raises(DeepGeometryError):
        ShortcutBlock("linear", 6, "nope")


def test_preact_placements_are_identity_with_zero_branch():
    x = torch.randn(7, 6, dtype=torch.float64)
    for p in PLACEMENTS:
        b = PlacementBlock("linear", 6, p).double().eval()
        zero_last(b.branch)
        out = b(x)
        if p in ("full-preact", "relu-only-preact", "relu-before-add"):
            assert torch.allclose(out, x), p  # f = identity and F = 0 (relu(0) = 0)
        elif p == "original":
            assert torch.allclose(out, torch.relu(x))
    with pytest.raises(DeepGeometryError):
        build("placement_net", placement="nope")


def test_highway_gate_limits():
    x = torch.randn(4, 6, dtype=torch.float64)
    closed = HighwayBlock("linear", 6, gate_bias=-1e4).double()
    assert torch.allclose(closed(x), x)
    opened = HighwayBlock("linear", 6, gate_bias=1e4).double()
    assert torch.allclose(opened(x), torch.relu(opened.h(x)))


def test_permute_blocks():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    assert torch.equal(permute_blocks(x, 4, g), x)
    y = permute_blocks(x, 2, g)
    for i in range(2):  # same multiset of 2x2 blocks in every image
        bx = sorted(tuple(x[i, 0, r : r + 2, c : c + 2].flatten().tolist()) for r in (0, 2) for c in (0, 2))
        by = sorted(tuple(y[i, 0, r : r + 2, c : c + 2].flatten().tolist()) for r in (0, 2) for c in (0, 2))
        assert bx == by
    perm = torch.tensor([3, 2, 1, 0])
    z = permute_blocks(x, 2, fixed=perm)
    assert torch.equal(z[:, :, :2, :2], x[:, :, 2:, 2:])
    assert torch.equal(permute_blocks(z, 2, fixed=perm), x)  # this permutation is an involution
    ones = torch.ones(1, 1, 1, 16)
    assert torch.equal(permute_blocks(ones, 1, g), ones)
    with pytest.raises(DeepGeometryError):
        permute_blocks(x, 3, g)
    with pytest.raises(DeepGeometryError):
        permute_blocks(x, 2, fixed=torch.tensor([0, 0, 1, 2]))
