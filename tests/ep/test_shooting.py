"""Geodesic shooting as EP: EP's update in P(0) tends to the registration world's explicit adjoint."""

import pytest
import torch

from deepgeometry.ep.shooting import shooting_chain, shooting_ep_check
from deepgeometry.errors import DeepGeometryError


def test_shooting_ep_converges_to_explicit_adjoint():
    res = shooting_ep_check(size=16, steps=4, betas=[3.0, 0.3, 0.03])
    rows = res["rows"]
    assert res["adjoint_vs_autograd"] < 1e-10
    assert rows[-1]["cos_one_sided"] >= 0.99 and rows[-1]["cos_symmetric"] >= 0.99
    for a, b in zip(rows, rows[1:], strict=False):
        assert b["err_one_sided"] < a["err_one_sided"]
    assert rows[-1]["err_symmetric"] < rows[-1]["err_one_sided"]
    assert all(r["stationarity_one_sided"] < 1e-8 for r in rows)


def test_bad_images():
    from deepgeometry.diffeo.metric import FluidMetric

    with pytest.raises(DeepGeometryError, match="shape"):
        shooting_chain(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9), FluidMetric())
