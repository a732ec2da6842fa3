"""The plate "Random deep nets bend curves (Poole et al.)": its verdict rule and a small end-to-end run."""

import json
import math

import pytest

from deepgeometry.atlas.plate import PLATES, SimpleContext
from deepgeometry.atlas.plates.nets_poole import SETTINGS, label, poole_random_nets, poole_verdict
from deepgeometry.utils import dump_json


def _result(measured: list) -> dict:
    theory = [0.9694, 1.2591, 1.5386, 1.0]
    return {"ratios": [{"label": f"s{i}", "theory": t, "measured": m}
                       for i, (t, m) in enumerate(zip(theory, measured, strict=True))]}


def test_verdict_supported_when_every_setting_is_within_two_percent():
    v = poole_verdict(_result([0.9694 * 1.019, 1.2591 * 0.985, 1.5386, 0.999]))
    assert v.verdict == "supported" and "s0" in v.measured and "+1.90%" in v.measured


def test_verdict_not_supported_when_one_setting_misses():
    v = poole_verdict(_result([0.9694, 1.2591, 1.5386 * 1.021, 1.0]))
    assert v.verdict == "not supported" and "worst s2 +2.10%" in v.measured


@pytest.mark.parametrize("measured", [[0.97, None, 1.54, 1.0], [0.97, math.nan, 1.54, 1.0],
                                      [0.97, math.inf, 1.54, 1.0]])
def test_verdict_inconclusive_on_missing_or_non_finite_values(measured):
    assert poole_verdict(_result(measured)).verdict.startswith("inconclusive")


def test_verdict_inconclusive_without_settings():
    assert poole_verdict({}).verdict.startswith("inconclusive")
    assert poole_verdict({"ratios": []}).verdict.startswith("inconclusive")


def test_plate_is_registered_with_the_issue_settings():
    p = PLATES["nets-poole-random-nets"]
    assert p.kind == "claim" and p.verdict is poole_verdict and p.section == "III-A"
    for prof in ("quick", "full"):
        cfg = p.config(prof)
        assert cfg["width"] == 1000 and cfg["depth"] == 20
        names = [label(s) for s in cfg["settings"]]
        assert names == ["tanh sw=1.3", "tanh sw=2.5", "tanh sw=4", "relu sw^2=2"]
    assert SETTINGS[3]["sigma_w"] ** 2 == pytest.approx(2.0)


def test_small_run_writes_figures_and_a_json_record(tmp_path):
    cfg = {"width": 300, "depth": 6, "n_points": 24, "seeds": [0], "chord_sweep": [8],
           "settings": [SETTINGS[1], SETTINGS[3]]}
    ctx = SimpleContext(out_dir=tmp_path)
    res = poole_random_nets(cfg, ctx)
    assert {f["name"] for f in ctx.figures} == {"poole-length", "poole-chords-curvature"}
    assert all((tmp_path / f"{f['name']}.png").stat().st_size > 1000 for f in ctx.figures)
    rec = json.loads(dump_json(res))
    assert [r["label"] for r in rec["ratios"]] == ["tanh sw=2.5", "relu sw^2=2"]
    for r in rec["ratios"]:  # narrow and shallow, so only loosely
        assert r["measured"] == pytest.approx(r["theory"], rel=0.06)
    assert poole_verdict(rec).verdict in ("supported", "not supported")
    runs = rec["settings"][0]["runs"]
    assert set(runs[0]["chord"]) == {"24", "8"} and len(runs[0]["length"]) == 7
