"""Generic sectional curvature of right-invariant metrics: three formulas, closed forms."""

import pytest
import torch

from deepgeometry.core.curvature import (
    orthonormal_basis,
    sectional_arnold,
    sectional_curvature,
    sectional_koszul,
    sectional_milnor,
)
from deepgeometry.core.lie import MatrixLieGroup
from deepgeometry.core.metric import RightInvariantMetric
from deepgeometry.errors import DeepGeometryError
from deepgeometry.quantum.metric import PenaltyMetric


def _so3_metric(inertia):
    """SO(3) as 3x3 antisymmetric matrices; metric diag(inertia) in the hat basis."""
    group = MatrixLieGroup()
    basis = torch.zeros(3, 3, 3, dtype=torch.float64)
    for k, (i, j) in enumerate([(1, 2), (2, 0), (0, 1)]):
        basis[k, i, j], basis[k, j, i] = -1.0, 1.0
    w = torch.tensor(inertia, dtype=torch.float64)

    def coords(a):
        return torch.stack([a[..., 2, 1], a[..., 0, 2], a[..., 1, 0]], dim=-1)

    def hat(v):
        return torch.tensordot(v, basis, dims=([-1], [0]))

    # pair is Frobenius = 2 * dot in hat coordinates
    metric = RightInvariantMetric(group, flat=lambda a: hat(w * coords(a)) / 2,
                                  sharp=lambda m: hat(2 * coords(m) / w))
    return group, metric, basis


@pytest.mark.parametrize("inertia", [(1.0, 1.0, 1.0), (1.0, 2.0, 3.0), (0.5, 4.0, 1.5)])
def test_three_formulas_agree_on_matrix_so3(inertia):
    group, metric, basis = _so3_metric(inertia)
    onb = orthonormal_basis(group, metric, basis)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        x = torch.tensordot(torch.randn(3, dtype=torch.float64, generator=g), basis, dims=([0], [0]))
        y = torch.tensordot(torch.randn(3, dtype=torch.float64, generator=g), basis, dims=([0], [0]))
        ka, kk = sectional_arnold(group, metric, x, y), sectional_koszul(group, metric, x, y)
        km = sectional_milnor(group, metric, x, y, onb)
        assert abs(float(ka - kk)) < 1e-10 and abs(float(ka - km)) < 1e-10


def test_round_so3_has_constant_curvature():
    # |x|^2 = sum of squares of hat coordinates: the unit sphere S^3 / +-1 scaled, K = 1/4 * |[x,y]|^2 = 1/4
    group, metric, basis = _so3_metric((1.0, 1.0, 1.0))
    k = sectional_koszul(group, metric, basis[0], basis[1])
    assert abs(float(k) - 0.25) < 1e-12


def test_berger_sphere_oracle():
    q = 7.0
    metric = PenaltyMetric(1, q, easy=["X", "Y"])
    group, e = metric.group, torch.eye(3, dtype=torch.float64)
    for method in ("arnold", "koszul"):
        assert abs(float(sectional_curvature(group, metric, e[0], e[1], method)) - (4 - 3 * q)) < 1e-10
        assert abs(float(sectional_curvature(group, metric, e[0], e[2], method)) - q) < 1e-10
        assert abs(float(sectional_curvature(group, metric, e[1], e[2], method)) - q) < 1e-10


@pytest.mark.parametrize("q", [1.0, 10.0, 1000.0])
def test_formulas_agree_on_random_planes_su8(q):
    metric = PenaltyMetric(3, q)
    group = metric.group
    onb = orthonormal_basis(group, metric, torch.eye(63, dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 63, dtype=torch.float64, generator=g)
    y = torch.randn(4, 63, dtype=torch.float64, generator=g)
    ka, kk = sectional_arnold(group, metric, x, y), sectional_koszul(group, metric, x, y)
    km = torch.stack([sectional_milnor(group, metric, x[i], y[i], onb) for i in range(4)])
    scale = max(1.0, float(ka.abs().max()))
    assert float((ka - kk).abs().max()) < 1e-10 * scale
    assert float((ka - km).abs().max()) < 1e-10 * scale


def test_biinvariant_curvature_is_quarter_bracket_norm():
    metric = PenaltyMetric(3, 1.0)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(63, dtype=torch.float64, generator=g)
    y = torch.randn(63, dtype=torch.float64, generator=g)
    k = sectional_arnold(metric.group, metric, x, y)
    xy = metric.group.ad(x, y)
    ref = 0.25 * (xy @ xy) / ((x @ x) * (y @ y) - (x @ y) ** 2)
    assert float(k) >= 0 and abs(float(k - ref)) < 1e-12


def test_degenerate_plane_and_bad_method():
    metric = PenaltyMetric(2, 2.0)
    x = torch.ones(15, dtype=torch.float64)
    with pytest.raises(DeepGeometryError, match="plane"):
        sectional_arnold(metric.group, metric, x, 2 * x)
    with pytest.raises(DeepGeometryError, match="method"):
        sectional_curvature(metric.group, metric, x, x.flip(0), "ricci")
