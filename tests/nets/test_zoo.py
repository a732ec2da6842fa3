"""The model zoo: every model builds, runs on its input shapes, is one segment per block, and trains."""

import pytest
import torch

from deepgeometry.errors import DeepGeometryError
from deepgeometry.nets import zoo
from deepgeometry.nets.segments import find_segments

CONV = ["cnn", "plain_cnn", "residual_cnn", "resnet"]
DENSE = ["mlp", "plain_mlp", "residual_mlp"]


@pytest.mark.parametrize("name", CONV + DENSE)
def test_models_run_on_mnist_shape(name):
    m = zoo.build(name)
    out = m(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", CONV)
def test_conv_models_take_signals(name):
    m = zoo.build(name, in_shape=(2, 40), n_classes=4)
    assert m(torch.rand(5, 2, 40)).shape == (5, 4)


@pytest.mark.parametrize("name", DENSE)
def test_dense_models_take_vectors(name):
    m = zoo.build(name, in_shape=(7,), n_classes=3)
    assert m(torch.rand(4, 7)).shape == (4, 3)


def test_conv_model_rejects_vectors():
    with pytest.raises(DeepGeometryError, match="in_shape"):
        zoo.build("cnn", in_shape=(7,))


@pytest.mark.parametrize("name,kw", [("plain_cnn", {"depth": 5}), ("residual_cnn", {"depth": 5}),
                                     ("residual_mlp", {"depth": 5, "block": "pre"}),
                                     ("plain_mlp", {"depth": 5})])
def test_one_segment_per_block(name, kw):
    segs = find_segments(zoo.build(name, **kw))
    assert [n for n, _ in segs] == ["stem"] + [f"block{k}" for k in range(1, 6)] + ["head"]


def test_resnet_segments_and_kinds():
    m = zoo.build("resnet", block="pre", widths=(4, 8), blocks_per_stage=2)
    segs = find_segments(m)
    assert [n for n, _ in segs] == ["stem", "stage1_block1", "stage1_block2", "stage2_block1",
                                    "stage2_block2", "head"]
    assert segs[1][1].segment_kind == "residual-pre"
    # the first unit of stage 2 halves the resolution through a projection shortcut
    y = m.stage2_block1(torch.rand(2, 4, 28, 28))
    assert y.shape == (2, 8, 14, 14)


def test_build_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = zoo.build("mlp", seed=7)
    after = torch.rand(1)
    b = zoo.build("mlp", seed=7)
    c = zoo.build("mlp", seed=8)
    assert torch.equal(before, after)
    assert torch.equal(a.fc1.linear.weight, b.fc1.linear.weight)
    assert not torch.equal(a.fc1.linear.weight, c.fc1.linear.weight)


def test_build_errors_name_the_problem():
    with pytest.raises(DeepGeometryError, match="nosuch"):
        zoo.build("nosuch")
    with pytest.raises(DeepGeometryError, match="wdth"):
        zoo.build("mlp", wdth=3)
    with pytest.raises(DeepGeometryError, match="block"):
        zoo.build("resnet", block="middle")
    with pytest.raises(DeepGeometryError, match="activation"):
        zoo.build("mlp", act="swish")


def test_parse_spec():
    assert zoo.parse_spec("resnet") == ("resnet", {})
    assert zoo.parse_spec("resnet:block=pre,widths=(4,8),norm=false,width=3") == (
        "resnet", {"block": "pre", "widths": (4, 8), "norm": False, "width": 3})
    with pytest.raises(DeepGeometryError, match="key=value"):
        zoo.parse_spec("mlp:width")


def test_register_adds_a_model():
    @zoo.register("_tiny_test_model")
    def tiny(in_shape=(3,), n_classes=2):
        return torch.nn.Sequential(torch.nn.Linear(3, 2))

    try:
        assert zoo.build("_tiny_test_model")(torch.rand(1, 3)).shape == (1, 2)
    finally:
        zoo.ZOO.pop("_tiny_test_model")


def test_zero_init_pre_block_is_exactly_identity_and_post_block_is_relu():
    x = torch.randn(4, 6, 5, 5, dtype=torch.float64)
    pre = zoo.ResidualBlock("conv2d", 6, block="pre", zero_init=True).double()
    post = zoo.ResidualBlock("conv2d", 6, block="post", zero_init=True).double()
    assert torch.equal(pre(x), x)
    assert torch.equal(post(x), torch.relu(x))


def test_zero_init_with_norm_zeroes_the_last_norm():
    blk = zoo.ResidualBlock("linear", 5, block="post", norm=True, zero_init=True).eval()
    x = torch.rand(3, 5)
    assert torch.equal(blk(x), x)  # x >= 0, so relu(x + 0) = x


def test_cnn_trains_on_mnist5k_in_seconds():
    from deepgeometry.data import mnist5k
    from deepgeometry.nets.train import train_classifier

    ds = mnist5k()
    m = zoo.build("cnn")
    res = train_classifier(m, ds.x_train, ds.y_train, ds.x_test, ds.y_test, epochs=1, lr=2e-3, batch_size=64)
    assert res.final_test_acc > 0.8
