"""Data-flow geometry (paper III-A): exact lengths and curvatures, pullback spectra, random-net ratios."""

import json
import math

import pytest
import torch
from scipy import special
from torch import nn

from deepgeometry.errors import DeepGeometryError
from deepgeometry.nets.flow import (
    FlowResult,
    InputCurve,
    chord_lengths,
    curve_geometry,
    flow,
    great_circle,
    pullback_spectrum,
    segment_path,
)
from deepgeometry.nets.meanfield import meanfield
from deepgeometry.utils import dump_json

D = 12


def _orthogonal_net(depth: int = 4, seed: int = 0) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(*[nn.Linear(D, D) for _ in range(depth)]).double()
    with torch.no_grad():
        for m in net:
            m.weight.copy_(torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))[0])
            m.bias.copy_(torch.randn(D, generator=g, dtype=torch.float64))
    return net


def _data(n: int = 40, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("path", ["great-circle", "pair"])
def test_orthogonal_layers_preserve_length_and_curvature_and_have_pullback_metric_identity(path):
    net, x = _orthogonal_net(), _data()
    r = flow(net, x, path=path, n_points=32, k=6, measures=["length", "curvature", "spectrum"])
    assert r.layers == ["input", "0", "1", "2", "3"]
    if path == "great-circle":
        mu = x.mean(0)
        radius = float(((x - mu).norm(dim=1) ** 2).mean().sqrt())
        expected_length, expected_kappa = 2 * math.pi * radius, 1 / radius
    else:
        expected_length, expected_kappa = float((x[1] - x[0]).norm()), 0.0
    for L, kap, tot in zip(r.length, r.curvature, r.total_curvature, strict=True):
        assert L == pytest.approx(expected_length, rel=1e-12)
        assert kap == pytest.approx(expected_kappa, abs=1e-12, rel=1e-10)
        assert tot == pytest.approx(2 * math.pi if path == "great-circle" else 0.0, abs=1e-10)
    for spec in r.spectrum:
        assert spec == pytest.approx([1.0] * 6, abs=1e-10)
    assert r.length_ratio == pytest.approx([1.0] * 4, rel=1e-12)


def test_ellipse_length_and_curvature_against_closed_forms():
    """A diagonal linear layer maps the unit circle to an ellipse: length 4 a E(1 - b^2/a^2), turning 2 pi."""
    a, b = 3.0, 0.5
    lin = nn.Linear(2, 2, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.diag(torch.tensor([a, b], dtype=torch.float64)))
    net = nn.Sequential(lin)
    circle = great_circle(torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64),
                          torch.tensor([0.0, 1.0], dtype=torch.float64), 1.0)
    r = flow(net, torch.zeros(3, 2, dtype=torch.float64), path=circle, n_points=128, measures=["length",
                                                                                                 "curvature"])
    assert r.length[1] == pytest.approx(4 * a * special.ellipe(1 - b**2 / a**2), rel=1e-12)
    assert r.total_curvature[1] == pytest.approx(2 * math.pi, rel=1e-8)
    # kappa(t) = a b / (a^2 sin^2 t + b^2 cos^2 t)^(3/2): at t = 0 it is a / b^2.
    geo = curve_geometry(lambda z: (net(z),), circle, n_points=8)
    t = geo.t
    exact = a * b / (a**2 * torch.sin(t) ** 2 + b**2 * torch.cos(t) ** 2) ** 1.5
    assert torch.allclose(geo.kappa[0], exact, rtol=1e-12)
    assert float(geo.kappa[0, 0]) == pytest.approx(a / b**2)


def test_exact_length_is_the_limit_of_chords_and_chords_never_exceed_it():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 8)).double()
    x = _data()
    circle = great_circle(x.mean(0), x[0] - x.mean(0), x[1] - x.mean(0), 3.0)

    def fn(z):
        return (z, *[z := m(z) for m in net])

    exact = curve_geometry(fn, circle, n_points=256).length
    coarse = chord_lengths(fn, circle, 16)
    fine = chord_lengths(fn, circle, 4096)
    assert torch.all(coarse <= exact * (1 + 1e-12)) and torch.all(fine <= exact * (1 + 1e-12))
    assert torch.allclose(fine, exact, rtol=1e-5)
    assert torch.all(coarse < fine)
    # The trapezoidal rule on a smooth closed curve converges spectrally: 64 nodes already agree to 1e-9.
    assert torch.allclose(curve_geometry(fn, circle, n_points=64).length, exact, rtol=1e-9)


def test_open_path_uses_gauss_legendre_and_matches_fine_chords():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, 4)).double()
    x = _data()
    path = segment_path(x[0], x[1])
    r = flow(net, x, path=path, n_points=40, n_chords=20000, measures=["length"])
    assert r.length == pytest.approx(r.chord_length, rel=1e-6)
    assert r.length[0] == pytest.approx(float((x[1] - x[0]).norm()), rel=1e-12)


def test_scaling_layers_scale_length_curvature_and_spectrum():
    s = 1.7
    net = nn.Sequential(*[nn.Linear(D, D, bias=False) for _ in range(3)]).double()
    with torch.no_grad():
        for m in net:
            m.weight.copy_(s * torch.eye(D, dtype=torch.float64))
    r = flow(net, _data(), n_points=16, k=3, measures=["length", "curvature", "spectrum"])
    for l in range(4):
        assert r.length[l] == pytest.approx(r.length[0] * s**l, rel=1e-12)
        assert r.curvature[l] == pytest.approx(r.curvature[0] / s**l, rel=1e-12)
        assert r.spectrum[l] == pytest.approx([s ** (2 * l)] * 3, rel=1e-10)


def test_pullback_spectrum_matches_the_explicit_jacobian():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(D, 20), nn.Tanh(), nn.Linear(20, 5), nn.Tanh(), nn.Linear(5, 30)).double()
    x = _data()[3]
    outs = lambda z: (net[0](z), net[1](net[0](z)), net[:3](z), net[:4](z), net(z))  # noqa: E731
    spec = pullback_spectrum(outs, x, k=8, n_iter=D)
    for l in range(5):
        J = torch.autograd.functional.jacobian(lambda z, l=l: outs(z.unsqueeze(0))[l].squeeze(0), x)
        ev = torch.linalg.eigvalsh(J.T @ J).flip(0)[:8]
        assert torch.allclose(spec[l], ev, rtol=1e-9, atol=1e-10)
    # rank 5 after the bottleneck: the rest of the spectrum is zero
    assert torch.all(spec[2, 5:].abs() < 1e-10)


def test_intrinsic_dimension_and_separability_per_layer():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(1200, 3, generator=g, dtype=torch.float64)
    A = torch.linalg.qr(torch.randn(D, 3, generator=g, dtype=torch.float64))[0]
    x = z @ A.T
    y = (z[:, 0] > 0).long()
    r = flow(_orthogonal_net(2), x, labels=y, measures=["intrinsic_dim", "separability"])
    assert r.intrinsic_dim == pytest.approx([3.0] * 3, rel=0.1)
    assert all(acc >= 0.97 for acc in r.separability)
    assert r.length == [None] * 3 and "length" in r.skipped


def test_defaults_skip_what_the_inputs_do_not_allow_and_explicit_requests_raise():
    net, x = _orthogonal_net(2), _data()
    r = flow(net, x, n_points=8, k=2)
    assert r.intrinsic_dim == [None] * 3 and "1000" in r.skipped["intrinsic_dim"]
    assert r.separability == [None] * 3 and "labels" in r.skipped["separability"]
    with pytest.raises(DeepGeometryError, match="TwoNN needs >= 1000"):
        flow(net, x, measures=["intrinsic_dim"])
    with pytest.raises(DeepGeometryError, match="no labels"):
        flow(net, x, measures=["separability"])


def test_to_dict_has_one_entry_per_layer_and_is_json():
    net, x = _orthogonal_net(3), _data()
    d = flow(net, x, n_points=8, k=2).to_dict()
    for key in ("layers", "length", "curvature", "intrinsic_dim", "separability", "chord_length", "spectrum"):
        assert len(d[key]) == 4, key
    assert d["layers"][0] == "input" and d["path"] == "great-circle"
    json.loads(dump_json(d))
    assert isinstance(flow(net, x, n_points=8, k=2), FlowResult)


def test_model_mode_is_restored_and_inputs_untouched():
    net, x = _orthogonal_net(2), _data()
    x0 = x.clone()
    net.train()
    flow(net, x, n_points=8, k=2)
    assert net.training and torch.equal(x, x0)
    net.eval()
    flow(net, x, n_points=8, k=2)
    assert not net.training


def test_bad_input_raises_named_errors():
    net, x = _orthogonal_net(2), _data()
    bad = x.clone()
    bad[2, 3] = float("nan")
    with pytest.raises(DeepGeometryError, match="NaN"):
        flow(net, bad)
    with pytest.raises(DeepGeometryError, match="unknown measure"):
        flow(net, x, measures=["lenght"])
    with pytest.raises(DeepGeometryError, match="unknown path"):
        flow(net, x, path="spiral")
    with pytest.raises(DeepGeometryError, match="endpoints"):
        flow(net, x, endpoints=(0, 0))
    with pytest.raises(DeepGeometryError, match="unknown layer"):
        flow(net, x, layers=["nope"])
    with pytest.raises(DeepGeometryError, match="labels"):
        flow(net, x, labels=torch.zeros(3))
    with pytest.raises(DeepGeometryError, match="identical"):
        segment_path(x[0], x[0])
    with pytest.raises(DeepGeometryError, match="parallel"):
        great_circle(x[0], x[1], 2 * x[1], 1.0)
    with pytest.raises(DeepGeometryError, match="great-circle"):
        flow(net, x[:2])
    with pytest.raises(DeepGeometryError, match="shape"):
        flow(net, torch.ones(5))
    with pytest.raises(DeepGeometryError, match="dtype"):
        flow(net, x, path=segment_path(x[0].float(), x[1].float()))
    blowup = nn.Sequential(nn.Linear(D, D), nn.Linear(D, D)).double()
    with torch.no_grad():
        blowup[1].weight.fill_(float("inf"))
    with pytest.raises(DeepGeometryError, match="non-finite"):
        flow(blowup, x, measures=["length"])


def _random_net(act: type, sigma_w: float, sigma_b: float, width: int, depth: int,
                seed: int) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    mods: list[nn.Module] = []
    for _ in range(depth):
        lin = nn.Linear(width, width)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(width, width, generator=g) * sigma_w / math.sqrt(width))
            lin.bias.copy_(torch.randn(width, generator=g) * sigma_b)
        mods += [act(), lin]
    return nn.Sequential(*mods)


@pytest.mark.parametrize("name, act, sigma_w, sigma_b, expected", [
    ("tanh", nn.Tanh, 1.3, 0.3, 0.969), ("tanh", nn.Tanh, 2.5, 0.3, 1.259),
    ("tanh", nn.Tanh, 4.0, 0.3, 1.541), ("relu", nn.ReLU, math.sqrt(2.0), 0.0, 1.000)])
def test_random_net_length_ratio_is_sqrt_chi1(name, act, sigma_w, sigma_b, expected):
    """Poole et al.: a great circle at q* grows by sqrt(chi1) per layer (width 1000, depth 20, 2%)."""
    width, depth = 1000, 20
    mf = meanfield(name, sigma_w, sigma_b)
    assert mf.length_ratio == pytest.approx(expected, abs=3e-3)
    q = mf.q_star if math.isfinite(mf.q_star) and mf.q_star > 0 else 1.0
    g = torch.Generator().manual_seed(7)
    u, v = torch.randn(width, generator=g), torch.randn(width, generator=g)
    circle = great_circle(torch.zeros(width), u, v, math.sqrt(width * q))
    net = _random_net(act, sigma_w, sigma_b, width, depth, seed=0)
    r = flow(net, torch.zeros(3, width), path=circle, layers=[str(2 * i + 1) for i in range(depth)],
             n_points=48, measures=["length"])
    ratio = (r.length[-1] / r.length[0]) ** (1 / depth)
    assert ratio == pytest.approx(mf.length_ratio, rel=0.02)
    if sigma_w >= 2.5:  # chaotic: chords through 48 points miss most of the length at depth 20
        assert r.chord_length[-1] < 0.5 * r.length[-1]


def test_custom_input_curve_object():
    net = _orthogonal_net(1)
    helix = InputCurve(lambda t: torch.stack([torch.cos(t), torch.sin(t), t] + [0 * t] * (D - 3), dim=1),
                       0.0, 4 * math.pi, closed=False, name="helix", dtype=torch.float64)
    r = flow(net, _data(), path=helix, n_points=64, measures=["length", "curvature"])
    assert r.path == "helix"
    assert r.length[1] == pytest.approx(4 * math.pi * math.sqrt(2), rel=1e-12)
    assert r.curvature[1] == pytest.approx(0.5, rel=1e-10)  # helix kappa = r / (r^2 + c^2)
