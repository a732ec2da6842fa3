"""EP training of the Hopfield net: it learns, dead outputs are detected, bad input is refused."""

import pytest

from deepgeometry.data import digits
from deepgeometry.ep.hopfield import init_hopfield
from deepgeometry.ep.training import SCELLIER_BENGIO, scellier_bengio_config, train_backprop, train_ep
from deepgeometry.errors import DeepGeometryError


@pytest.fixture(scope="module")
def data():
    return digits().flat()


def test_paper_defaults():
    cfg = scellier_bengio_config("784-500-10")
    assert (cfg.free_steps, cfg.nudged_steps, cfg.eps, cfg.beta, cfg.lrs, cfg.batch_size) == (
        20,
        4,
        0.5,
        1.0,
        (0.1, 0.05),
        20,
    )
    assert scellier_bengio_config("784-500-500-10").lrs == SCELLIER_BENGIO[2][4]


def test_ep_learns_digits(data):
    cfg = scellier_bengio_config("64-64-10", epochs=6)
    rec, net = train_ep(cfg, data.x_train, data.y_train, data.x_test, data.y_test, 10)
    assert rec.status == "ok" and len(rec.epochs) == 6
    assert rec.final_test_error < 0.25  # chance is 0.9
    assert rec.epochs[-1]["train_cost"] < rec.epochs[0]["train_cost"]


def test_dead_outputs_are_detected(data):
    cfg = scellier_bengio_config(
        "64-32-10", epochs=2, dead_patience=3, dead_window=5, random_sign=False, beta=-1.0
    )
    net = init_hopfield(cfg.arch, seed=0)
    net.biases[-1] -= 50.0  # output units can never leave 0
    rec, _ = train_ep(cfg, data.x_train, data.y_train, data.x_test, data.y_test, 10, net=net)
    assert rec.status == "dead outputs"
    assert "output units" in rec.detail and rec.epochs and rec.epochs[0]["dead_output_units"] == 10


def test_backprop_baseline_learns(data):
    cfg = scellier_bengio_config("64-64-10", epochs=3)
    rec, _ = train_backprop(cfg, data.x_train, data.y_train, data.x_test, data.y_test, 10)
    assert rec.status == "ok" and rec.final_test_error < 0.25


def test_bad_input(data):
    with pytest.raises(DeepGeometryError, match="does not match the data"):
        train_ep(
            scellier_bengio_config("784-500-10", epochs=1),
            data.x_train,
            data.y_train,
            data.x_test,
            data.y_test,
            10,
        )
    with pytest.raises(DeepGeometryError, match="beta"):
        scellier_bengio_config("64-10-10", beta=0.0)
    with pytest.raises(DeepGeometryError, match="learning rate"):
        scellier_bengio_config("64-10-10", lrs=(0.1,))
    with pytest.raises(DeepGeometryError, match=r"\[0, 1\]"):
        train_ep(
            scellier_bengio_config("64-10-10", epochs=1),
            data.x_train * 3,
            data.y_train,
            data.x_test,
            data.y_test,
            10,
        )
