"""Fields, warps, exp, inverse, Jacobian, metric: closed-form properties."""

import pytest
import torch

from deepgeometry.diffeo import fields
from deepgeometry.diffeo.metric import FluidMetric
from deepgeometry.errors import DeepGeometryError


@pytest.mark.parametrize("shape", [(24, 30), (10, 12, 14)])
def test_sample_identity_and_translation(shape):
    torch.manual_seed(0)
    f = torch.rand(1, 1, *shape, dtype=torch.float64)
    zero = torch.zeros(1, len(shape), *shape, dtype=torch.float64)
    assert torch.allclose(fields.sample(f, zero), f, atol=1e-12)
    t = zero.clone()
    t[:, 0] = 1.0  # psi(x) = x + e_0: f o psi shifts by one voxel along axis 0
    out = fields.sample(f, t)
    assert torch.allclose(out[:, :, :-1], f[:, :, 1:], atol=1e-12)


@pytest.mark.parametrize("shape", [(20, 22), (8, 9, 10)])
def test_sample_vjp_is_the_adjoint(shape):
    torch.manual_seed(1)
    D = len(shape)
    f = torch.rand(2, 3, *shape, dtype=torch.float64, requires_grad=True)
    d = (1.5 * torch.randn(2, D, *shape, dtype=torch.float64)).requires_grad_(True)
    go = torch.randn(2, 3, *shape, dtype=torch.float64)
    df, dd = fields.sample_vjp(f.detach(), d.detach(), go)
    gf, gd = torch.autograd.grad((fields.sample(f, d) * go).sum(), (f, d))
    assert torch.allclose(df, gf, atol=1e-12)
    assert torch.allclose(dd, gd, atol=1e-12)


def test_grad_div_are_adjoint_and_det_vjp():
    torch.manual_seed(2)
    f = torch.randn(1, 1, 12, 13, dtype=torch.float64)
    v = torch.randn(1, 2, 12, 13, dtype=torch.float64)
    assert torch.allclose((fields.grad(f) * v).sum(), -(f * fields.div(v)).sum(), atol=1e-12)
    for shape in [(9, 10), (6, 7, 8)]:
        d = (0.3 * torch.randn(1, len(shape), *shape, dtype=torch.float64)).requires_grad_(True)
        go = torch.randn(1, 1, *shape, dtype=torch.float64)
        (g,) = torch.autograd.grad((fields.det_periodic(d) * go).sum(), d)
        assert torch.allclose(fields.det_periodic_vjp(d.detach(), go), g, atol=1e-12)


def test_exp_zero_is_identity_and_constant_is_translation():
    z = torch.zeros(1, 2, 16, 16, dtype=torch.float64)
    assert torch.equal(fields.exp_field(z), z)
    c = torch.zeros_like(z)
    c[:, 0], c[:, 1] = 2.5, -1.25
    assert torch.allclose(fields.exp_field(c), c, atol=1e-12)


@pytest.mark.parametrize("shape,amplitude", [((64, 64), 3.0), ((24, 24, 24), 1.5)])
def test_exp_v_composed_with_exp_minus_v_is_identity(shape, amplitude, synth):
    v = synth.smooth_field(shape, amplitude=amplitude, seed=3)
    err = fields.compose(fields.exp_field(v), fields.exp_field(-v)).abs()
    # interpolation accuracy: max error < 0.1 voxel (measured 0.055 / 0.073), mean < 0.01
    assert float(err.max()) < 0.1 and float(err.mean()) < 0.01
    # and exp agrees with a fine Euler integration of the flow dx/dt = v(x)
    d = torch.zeros_like(v)
    n = 256
    for _ in range(n):
        d = d + fields.sample(v, d) / n
    assert float((fields.exp_field(v) - d).abs().max()) < 0.05


def test_invert_and_jacobian(synth):
    v = synth.smooth_field((48, 48), amplitude=3.0, seed=4)
    d = fields.exp_field(v)
    e = fields.invert(d, iterations=50)
    assert float(fields.compose(d, e).abs().max()) < 1e-5  # the fixed point equation itself
    assert float(fields.compose(e, d).abs().max()) < 0.1  # the other side, to interpolation accuracy
    det = fields.jacobian_det(d)
    assert float(det.min()) > 0 and int(fields.count_folds(d).sum()) == 0
    # a linear map x -> A x has det J = det A everywhere
    grid = fields.identity_grid((20, 21), torch.float64).unsqueeze(0)
    A = torch.tensor([[1.2, 0.3], [-0.1, 0.8]], dtype=torch.float64)
    lin = torch.einsum("ij,bj...->bi...", A, grid) - grid
    assert torch.allclose(fields.jacobian_det(lin), torch.linalg.det(A).expand(1, 1, 20, 21), atol=1e-12)
    fold = -2.0 * grid  # x -> -x: det = +1 in 2D, so flip one axis only
    fold[:, 1] = 0.0
    assert int(fields.count_folds(fold)) == 20 * 21


@pytest.mark.parametrize("kernel", ["fluid", "gaussian"])
def test_flat_sharp_roundtrip_and_symmetry(kernel):
    torch.manual_seed(5)
    m = torch.randn(2, 2, 16, 18, dtype=torch.float64)
    w = torch.randn(2, 2, 16, 18, dtype=torch.float64)
    metric = FluidMetric(alpha=1.5, gamma=0.5, power=2, kernel=kernel, sigma=1.5)
    assert torch.allclose(metric.flat(metric.sharp(m)), m, atol=1e-10)
    assert torch.allclose(metric.sharp(metric.flat(m)), m, atol=1e-10)
    # K and L are self-adjoint and positive
    assert torch.allclose((metric.sharp(m) * w).sum(), (m * metric.sharp(w)).sum(), atol=1e-10)
    assert bool((metric.inner(None, m, m) > 0).all())
    # constant fields: L c = gamma^s c
    c = torch.ones(1, 2, 8, 8, dtype=torch.float64)
    if kernel == "fluid":
        assert torch.allclose(metric.flat(c), 0.25 * c, atol=1e-12)


def test_metric_bad_parameters():
    with pytest.raises(DeepGeometryError, match="gamma"):
        FluidMetric(gamma=0.0)
    with pytest.raises(DeepGeometryError, match="kernel"):
        FluidMetric(kernel="box")
    with pytest.raises(DeepGeometryError, match="shape"):
        FluidMetric().sharp(torch.zeros(3, 4))
