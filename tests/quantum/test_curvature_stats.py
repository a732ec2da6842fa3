"""Curvature of the penalty metric: the closed form for Pauli planes and the named plane measures."""

import numpy as np
import pytest
import torch

from deepgeometry.core.curvature import sectional_koszul
from deepgeometry.errors import DeepGeometryError
from deepgeometry.quantum import pauli
from deepgeometry.quantum.curvature import (
    MEASURES,
    biinvariant_curvature,
    curvature_stats,
    pauli_pair_curvature,
    pauli_planes,
    sample_curvatures,
)
from deepgeometry.quantum.metric import PenaltyMetric


def test_berger_closed_form():
    q = 5.0
    assert pauli_pair_curvature(1.0, 1.0, q) == pytest.approx(4 - 3 * q)
    assert pauli_pair_curvature(1.0, q, 1.0) == pytest.approx(q)
    assert pauli_pair_curvature(q, 1.0, 1.0) == pytest.approx(q)
    assert pauli_pair_curvature(1.0, 1.0, 1.0) == pytest.approx(1.0)


@pytest.mark.parametrize("q", [2.0, 10.0, 1000.0])
def test_n3_pauli_planes_fractions(q):
    st = curvature_stats(PenaltyMetric(3, q), "pauli-planes")
    assert st.count == 63 * 62 // 2
    assert st.negative == pytest.approx(162 / 1953) and round(100 * st.negative, 2) == 8.29
    assert round(100 * st.zero, 2) == 48.39
    assert st.minimum == pytest.approx(4 - 3 * q) and st.maximum == pytest.approx(q)


def test_closed_form_matches_generic_formula_on_pauli_planes():
    metric = PenaltyMetric(3, 6.0)
    k_all = pauli_planes(metric)
    ia, ib = np.triu_indices(63, k=1)
    e = torch.eye(63, dtype=torch.float64)
    rng = np.random.default_rng(0)
    for idx in rng.choice(ia.size, 40, replace=False):
        k = sectional_koszul(metric.group, metric, e[ia[idx]], e[ib[idx]])
        assert abs(float(k) - k_all[idx]) < 1e-10


def test_measures_run_and_q1_is_nonnegative():
    m1 = PenaltyMetric(3, 1.0)
    for measure in MEASURES:
        k = sample_curvatures(m1, measure, samples=50, seed=1)
        assert np.all(k >= -1e-12)
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(2, 5, 63, dtype=torch.float64, generator=g)
    assert np.allclose(sample_curvatures(m1, "biinv-isotropic", 5, seed=9),
                       sample_curvatures(m1, "biinv-isotropic", 5, seed=9))
    assert torch.all(biinvariant_curvature(x, y) >= 0)


def test_large_q_metric_isotropic_is_mostly_negative_and_seeded():
    metric = PenaltyMetric(4, 1000.0)
    a = curvature_stats(metric, "metric-isotropic", samples=200, seed=0)
    b = curvature_stats(metric, "metric-isotropic", samples=200, seed=0)
    assert a == b
    assert a.negative > 0.5
    assert a.negative + a.zero + a.positive == pytest.approx(1.0)


def test_bad_measure():
    with pytest.raises(DeepGeometryError, match="measure"):
        sample_curvatures(PenaltyMetric(2, 2.0), "haar-planes")
    with pytest.raises(DeepGeometryError, match="samples"):
        sample_curvatures(PenaltyMetric(2, 2.0), "metric-isotropic", samples=0)
    assert pauli.weights(2).max() == 2
