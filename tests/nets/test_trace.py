"""trace: the oracles of the issue (zeroed residual branch -> displacement 0 and J = I exactly; equal segments
-> balance 0), MACs per segment, modes restored, JSON output, and every bad input."""

import json
import math

import pytest
import torch
from torch import nn

from deepgeometry import nets
from deepgeometry.errors import DeepGeometryError
from deepgeometry.nets import zoo
from deepgeometry.nets.trace import NetworkCurve
from deepgeometry.utils import dump_json

D = torch.float64


@pytest.mark.parametrize("name,shape", [("residual_cnn", (1, 12, 12)), ("residual_mlp", (10,))])
def test_zeroed_pre_activation_branch_is_exactly_the_identity(name, shape):
    m = zoo.build(name, in_shape=shape, width=6, depth=3, block="pre", zero_init=True).double()
    c = nets.trace(m, torch.randn(16, *shape, dtype=D), probes=4)
    blocks = [s for s in c.segments if s.name.startswith("block")]
    assert len(blocks) == 3
    for s in blocks:
        assert s.lengths["displacement"] == 0.0
        assert s.lengths["jacobian_deviation"] == 0.0
        assert s.info["jacobian_deviation_se"] == 0.0
        assert s.kind == "residual-pre"
        assert not s.info["embedded"]


def test_zeroed_post_activation_branch_is_relu_so_j_is_identity_only_on_positive_coordinates():
    """relu(x + 0) with x >= 0: displacement 0; J = diag(x > 0), so ||J - I||_F^2 = #zero coordinates and
    with Rademacher probes every Hutchinson term equals it exactly."""
    m = zoo.build("residual_cnn", in_shape=(1, 10, 10), width=5, depth=2, block="post", zero_init=True)
    m = m.double()
    x = torch.randn(8, 1, 10, 10, dtype=D)
    c = nets.trace(m, x, probes=3)
    h = m.stem(x)
    want = math.sqrt(float((h == 0).to(D).flatten(1).mean(1).mean()))
    for s in c.segments[1:3]:
        assert s.lengths["displacement"] == 0.0
        assert s.lengths["jacobian_deviation"] == pytest.approx(want, rel=1e-12)
    assert want > 0.1


def test_equal_segments_have_balance_zero_and_lengths_add_up():
    m = zoo.build("residual_cnn", in_shape=(1, 8, 8), width=4, depth=4)
    x = torch.rand(4, 1, 8, 8)
    c = nets.trace(m, x, layers=["block1", "block2", "block3", "block4"], jacobian=False)
    assert c.names == ["block1", "block2", "block3", "block4"]
    assert c.balance("complexity") == {"gini": 0.0, "max_over_mean": 1.0}
    macs = 2 * 4 * 4 * 9 * 4 * 4  # two 3x3 convs, 4 -> 4 channels, on 4x4 after the stem's pooling
    assert c.segment_lengths("complexity").tolist() == [macs] * 4
    assert c.length("complexity") == 4 * macs


def test_cnn_segments_shapes_params_macs():
    m = zoo.build("cnn", channels=(4, 8), hidden=16)
    c = nets.trace(m, torch.rand(5, 1, 28, 28), probes=2)
    rows = {r["name"]: r for r in c.table()}
    assert list(rows) == ["conv1", "conv2", "fc", "out"]
    assert rows["conv1"]["kind"] == "conv-relu-pool"
    assert rows["conv1"]["in_shape"] == [1, 28, 28] and rows["conv1"]["out_shape"] == [4, 14, 14]
    assert rows["conv1"]["macs"] == 4 * 1 * 9 * 28 * 28
    assert rows["conv2"]["macs"] == 8 * 4 * 9 * 14 * 14
    assert rows["fc"]["macs"] == 8 * 7 * 7 * 16
    assert rows["out"]["params"] == 16 * 10 + 10
    assert all(r["embedded"] for r in rows.values())
    assert all(r["jacobian_deviation"] > 0 and r["jacobian_deviation_se"] > 0 for r in rows.values())


def test_trace_is_reproducible_and_restores_training_mode():
    m = zoo.build("resnet", widths=(4, 8), norm=True)  # BatchNorm: traced in eval mode
    m.train()
    x = torch.rand(6, 1, 28, 28)
    a = nets.trace(m, x, probes=2, seed=3)
    b = nets.trace(m, x, probes=2, seed=3)
    assert all(m2.training for m2 in m.modules())
    assert a.to_dict() == b.to_dict()


def test_to_dict_is_json_with_the_documented_keys():
    m = zoo.build("mlp", in_shape=(6,), width=5, depth=1)
    c = nets.trace(m, torch.randn(4, 6), probes=2)
    assert isinstance(c, NetworkCurve)
    d = json.loads(dump_json(c.to_dict()))
    for s in d["segments"]:
        for key in ("name", "kind", "macs", "params", "in_shape", "out_shape", "displacement",
                    "displacement_se", "jacobian_deviation", "jacobian_deviation_se", "embedded", "lengths"):
            assert key in s
    assert set(d["totals"]) == {"complexity", "displacement", "jacobian_deviation"}
    assert d["n_samples"] == 4 and d["input_shape"] == [6] and d["probes"] == 2


class TwoInputs(nn.Module):
    def forward(self, a, b):
        return a + b


class UsesTwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.add = TwoInputs()

    def forward(self, x):
        return self.add(self.lin(x), x)


def test_segment_with_two_inputs_is_flagged_not_measured():
    c = nets.trace(UsesTwoInputs(), torch.randn(2, 3), probes=2)
    seg = c.segments[1]
    assert seg.name == "add"
    assert math.isnan(seg.lengths["displacement"])
    assert any("one tensor input" in f for f in seg.info["flags"])
    assert json.loads(dump_json(c.to_dict()))["segments"][1]["displacement"] is None


def test_bad_inputs_name_the_problem():
    m = zoo.build("mlp", in_shape=(6,), width=5, depth=1)
    with pytest.raises(DeepGeometryError, match="NaN"):
        nets.trace(m, torch.full((2, 6), float("nan")))
    with pytest.raises(DeepGeometryError, match=r"failed on inputs of shape \(2, 7\)"):
        nets.trace(m, torch.randn(2, 7))
    with pytest.raises(DeepGeometryError, match="batch"):
        nets.trace(m, torch.randn(6))
    with pytest.raises(DeepGeometryError, match="unknown layer"):
        nets.trace(m, torch.randn(2, 6), layers=["nope"])
    with pytest.raises(DeepGeometryError, match="no sub-modules"):
        nets.trace(nn.ReLU(), torch.randn(2, 6))
    with pytest.raises(DeepGeometryError, match="Module"):
        nets.trace(lambda x: x, torch.randn(2, 6))
    with pytest.raises(DeepGeometryError, match="floating"):
        nets.trace(m, torch.ones(2, 6, dtype=torch.int64))


def test_nets_trace_is_the_function_even_after_module_import():
    import deepgeometry.nets.trace  # noqa: F401
    from deepgeometry.nets.trace import trace

    assert nets.trace is trace and callable(nets.trace)
