"""TwoNN intrinsic dimension (Facco et al. 2017) and the logistic-regression probe."""

import pytest
import torch

from deepgeometry.errors import DeepGeometryError
from deepgeometry.nets.intrinsic import linear_probe, two_nearest, twonn


def _flat(n: int, d: int, ambient: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    A = torch.linalg.qr(torch.randn(ambient, d, generator=g, dtype=torch.float64))[0]
    return z @ A.T


@pytest.mark.parametrize("d", [1, 2, 4, 7])
def test_twonn_recovers_the_dimension_of_a_linear_subspace(d):
    assert twonn(_flat(1500, d, 40, d)) == pytest.approx(d, rel=0.08)


def test_twonn_on_a_curved_manifold_the_sphere():
    x = torch.randn(2000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert twonn(x / x.norm(dim=1, keepdim=True)) == pytest.approx(2.0, rel=0.08)


def test_twonn_deduplicates_points():
    x = _flat(1200, 3, 10, 5)
    assert twonn(torch.cat([x, x[:400], x[:10]])) == twonn(x)


def test_two_nearest_matches_brute_force():
    x = _flat(300, 5, 9, 2)
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    ref = torch.sort(d, dim=1).values[:, :2]
    r1, r2 = two_nearest(x, chunk=64)
    assert torch.allclose(r1, ref[:, 0], rtol=1e-12) and torch.allclose(r2, ref[:, 1], rtol=1e-12)


def test_twonn_bad_input():
    with pytest.raises(DeepGeometryError, match="distinct points"):
        twonn(torch.ones(50, 4))
    with pytest.raises(DeepGeometryError, match="NaN"):
        twonn(torch.full((10, 2), float("nan")))
    with pytest.raises(DeepGeometryError, match="discard_fraction"):
        twonn(torch.randn(10, 2), discard_fraction=1.0)


def test_linear_probe_separable_vs_random_labels():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(600, 30, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    assert linear_probe(x, y) >= 0.9
    y_rand = torch.randint(0, 2, (600,), generator=g)
    assert linear_probe(x, y_rand) < 0.65



def test_projection_onto_the_training_span_does_not_change_the_probe():
    """Representer theorem: L2-regularised logistic regression lives in the span of the training points."""
    g = torch.Generator().manual_seed(2)
    z = torch.randn(200, 3, generator=g, dtype=torch.float64)
    x = torch.cat([z.repeat(1, 40), torch.randn(200, 400, generator=g, dtype=torch.float64)], dim=1)
    y = (z[:, 0] > 0).long()
    fast = linear_probe(x, y, C=0.1, max_iter=5000)
    slow = linear_probe(x, y, C=0.1, max_iter=5000, project=False)
    assert fast == pytest.approx(slow, abs=1 / 60)  # at most one of the 60 test points may flip
    assert fast > 0.8


def test_linear_probe_bad_input():
    with pytest.raises(DeepGeometryError, match="labels"):
        linear_probe(torch.randn(10, 2), torch.zeros(9))
    with pytest.raises(DeepGeometryError, match="two classes"):
        linear_probe(torch.randn(10, 2), torch.zeros(10))
