import numpy as np
import pytest

from deepgeometry import DeepGeometryError
from deepgeometry.core import DiscreteCurve, gini


def test_gini_equal_values_is_zero():
    assert gini([2.0, 2.0, 2.0, 2.0]) == 0.0


def test_gini_one_holds_everything():
    n = 10
    x = np.zeros(n)
    x[3] = 5.0
    assert gini(x) == pytest.approx((n - 1) / n)


def test_gini_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    x = rng.random(17)
    pair = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size * x.sum())
    assert gini(x) == pytest.approx(pair, rel=1e-12)


@pytest.mark.parametrize("bad", [[], [1.0, -1.0], [np.nan, 1.0]])
def test_gini_rejects_bad_input(bad):
    with pytest.raises(DeepGeometryError):
        gini(bad)


def test_curve_length_energy_balance():
    c = DiscreteCurve.from_lengths({"a": [1.0, 1.0, 1.0, 1.0], "b": [4.0, 0.0, 0.0, 0.0]})
    assert c.length("a") == 4.0 and c.length("b") == 4.0
    # energy N sum l^2 >= length^2, equality iff balanced
    assert c.energy("a") == pytest.approx(c.length("a") ** 2)
    assert c.energy("b") == pytest.approx(4 * 16.0) and c.energy("b") > c.length("b") ** 2
    assert c.balance("a") == {"gini": 0.0, "max_over_mean": 1.0}
    assert c.balance("b")["max_over_mean"] == pytest.approx(4.0)
    np.testing.assert_allclose(c.cumulative("a"), [1, 2, 3, 4])
    d = c.to_dict()
    assert d["totals"]["a"] == 4.0 and len(d["segments"]) == 4


def test_curve_errors():
    with pytest.raises(DeepGeometryError):
        DiscreteCurve(())
    with pytest.raises(DeepGeometryError, match="disagree"):
        DiscreteCurve.from_lengths({"a": [1.0], "b": [1.0, 2.0]})
    c = DiscreteCurve.from_lengths({"a": [1.0]})
    with pytest.raises(DeepGeometryError, match="unknown metric"):
        c.length("nope")
