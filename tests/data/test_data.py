import socket

import numpy as np
import pytest
import torch

from deepgeometry import DeepGeometryError
from deepgeometry import data as D


@pytest.fixture
def no_network(monkeypatch):
    def guard(*a, **k):
        raise AssertionError("a data loader tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket, "create_connection", guard)
    monkeypatch.setattr(socket, "getaddrinfo", guard)


def test_every_embedded_dataset_loads_offline(no_network):
    D.mnist5k.cache_clear()
    from deepgeometry.data import embedded

    embedded._mnist5k_raw.cache_clear()
    D.digits.cache_clear()
    D.mnist1d.cache_clear()
    for name, shape, n_train, n_test in [
        ("mnist5k", (1, 28, 28), 4000, 1000),
        ("digits", (1, 8, 8), 1437, 360),
        ("mnist1d", (1, 40), 4000, 1000),
    ]:
        d = D.load(name)
        assert d.input_shape == shape
        assert abs(len(d.x_train) - n_train) <= 2 and abs(len(d.x_test) - n_test) <= 2
        assert d.n_classes == 10
        assert torch.isfinite(d.x_train).all()
        # stratified: every class has the same share in train and test (within rounding)
        tr = np.bincount(d.y_train.numpy(), minlength=10) / len(d.y_train)
        te = np.bincount(d.y_test.numpy(), minlength=10) / len(d.y_test)
        assert np.abs(tr - te).max() < 0.01
    for f in (D.gaussian_mixture, D.concentric_circles, D.concentric_annuli, D.swiss_roll):
        x, y = f(seed=1)
        assert torch.isfinite(x).all() and len(x) == len(y)


def test_mnist5k_is_shuffled_and_scaled():
    d = D.mnist5k()
    assert float(d.x_train.min()) == 0.0 and float(d.x_train.max()) == 1.0
    # the package ships it sorted by class; the first 50 training labels must not all be equal
    assert len(set(d.y_train[:50].tolist())) > 5
    assert D.mnist5k(seed=0) is D.mnist5k(seed=0)
    assert not torch.equal(D.mnist5k(seed=1).y_train, d.y_train)


def test_toys_are_seeded():
    a, _ = D.gaussian_mixture(seed=3)
    b, _ = D.gaussian_mixture(seed=3)
    c, _ = D.gaussian_mixture(seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_npz_loading_and_errors(tmp_path):
    x = np.random.rand(50, 4).astype(np.float32)
    np.savez(tmp_path / "ok.npz", x=x, y=np.arange(50) % 3)
    d = D.load(str(tmp_path / "ok.npz"))
    assert len(d.x_train) == 40 and d.n_classes == 3
    np.savez(tmp_path / "nan.npz", x=np.full((5, 2), np.nan))
    with pytest.raises(DeepGeometryError, match="NaN"):
        D.load(str(tmp_path / "nan.npz"))
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DeepGeometryError, match="pickle"):
        D.load(str(tmp_path / "obj.npz"))
    with pytest.raises(DeepGeometryError, match="not found"):
        D.load(str(tmp_path / "missing.npz"))
    with pytest.raises(DeepGeometryError, match="unknown data set"):
        D.load("imagenet")
