"""Quantum atlas plates: verdict rule on synthetic inputs; quick profiles run end to end."""

import pytest

from deepgeometry.atlas.plate import PLATES, SimpleContext
from deepgeometry.atlas.plates import quantum as qp


@pytest.mark.parametrize("fr, start", [
    ({"metric-isotropic": 0.95, "pauli-planes": 0.92}, "supported"),
    ({"metric-isotropic": 0.2, "pauli-planes": 0.08}, "not supported"),
    ({"metric-isotropic": 0.95, "pauli-planes": 0.08}, "inconclusive"),
    ({"metric-isotropic": 0.7, "pauli-planes": 0.7}, "inconclusive"),
])
def test_curvature_verdict_can_say_everything(fr, start):
    v = qp.curvature_verdict({"negative_fraction": fr})
    assert v.verdict.startswith(start)
    assert "metric-isotropic" in v.measured


def test_curvature_plate_quick(tmp_path):
    p = PLATES["quantum-curvature-negative"]
    cfg = dict(p.config("quick"), n=[3], samples=100)
    ctx = SimpleContext(out_dir=tmp_path)
    res = p.run(cfg, ctx)
    assert res["negative_fraction"]["pauli-planes"] == pytest.approx(162 / 1953)
    assert p.verdict(res).verdict.startswith("inconclusive")
    assert ctx.figures and (tmp_path / "quantum-curvature.png").exists()


@pytest.mark.slow
def test_fig1_plate_quick(tmp_path):
    p = PLATES["quantum-fig1"]
    ctx = SimpleContext(out_dir=tmp_path)
    res = p.run(p.config("quick"), ctx)
    assert all(all(r["converged"]) for r in res["runs"])
    assert ctx.figures
