"""The Fig. 4 / Fig. 5 plates: registered with both profiles, run end to end on tiny settings, and their
summaries are pure functions of the runs."""

import json
import math

import pytest

from deepgeometry.atlas.plate import PLATES, SimpleContext
from deepgeometry.atlas.plates import nets_curves
from deepgeometry.utils import dump_json


def test_plates_are_registered_with_both_profiles():
    for name in ("nets-fig4-cnn-curve", "nets-fig5-resnet-segments"):
        p = PLATES[name]
        assert set(p.profiles) >= {"quick", "full"}
        assert p.kind == "figure"
    assert PLATES["nets-fig4-cnn-curve"].title == "Fig. 4: a CNN is a curve"
    assert PLATES["nets-fig5-resnet-segments"].title == "Fig. 5: a ResNet is many short segments"


def test_fig4_runs_on_tiny_settings(tmp_path):
    cfg = {"seeds": [0], "epochs": 0, "channels": [2, 3], "hidden": 5, "lr": 1e-3, "n_trace": 6, "probes": 2,
           "flow_samples": 40, "n_points": 16}
    ctx = SimpleContext(tmp_path)
    res = nets_curves.fig4_cnn_curve(cfg, ctx)
    rec = json.loads(dump_json(res))
    assert [r[0] for r in rec["tables"][0]["rows"]] == ["conv1", "conv2", "fc", "out"]
    assert rec["flow"]["layers"] == ["input", "conv1", "conv2", "fc", "out"]
    assert rec["numbers"]["total_MACs_per_sample"] == 2 * 9 * 784 + 3 * 2 * 9 * 196 + 3 * 49 * 5 + 5 * 10
    assert {f["name"] for f in ctx.figures} == {"fig4-curve", "fig4-flow"}
    assert all((tmp_path / f"{f['name']}.png").stat().st_size > 1000 for f in ctx.figures)


def test_fig5_runs_on_tiny_settings(tmp_path):
    cfg = {"seeds": [0], "depth": 2, "width": 3, "epochs": 0, "lr": 1e-3, "n_trace": 6, "probes": 2}
    ctx = SimpleContext(tmp_path)
    res = nets_curves.fig5_resnet_segments(cfg, ctx)
    rec = json.loads(dump_json(res))
    assert set(rec["summary"]) == set(nets_curves.VARIANTS)
    assert len(rec["runs"]) == 3
    for v in rec["summary"].values():
        assert len(v["block_displacement"]) == 2
        # the blocks have equal MACs, so complexity only varies through the stem and the head
        assert 0 < v["gini_complexity"] < 1
    assert [f["name"] for f in ctx.figures] == ["fig5-segments"]


def _run(name, disp, jd, acc=0.5):
    segs = [{"name": "stem", "displacement": 1.0, "jacobian_deviation": 1.0, "displacement_se": 0.0,
             "jacobian_deviation_se": 0.0}]
    segs += [{"name": f"block{k + 1}", "displacement": d, "jacobian_deviation": j, "displacement_se": 0.01,
              "jacobian_deviation_se": 0.01} for k, (d, j) in enumerate(zip(disp, jd, strict=True))]
    return {"name": name, "seed": 0, "train": {"final_test_acc": acc},
            "curve": {"segments": segs, "balance": {"complexity": {"gini": 0.25}}}}


def test_fig5_summary_on_synthetic_runs():
    runs = [_run("plain", [1.0, 1.0], [1.0, 1.0], 0.1), _run("plain", [3.0, 1.0], [1.0, 3.0], 0.3),
            _run("residual (pre-act.)", [0.1, 0.1], [0.0, 0.2])]
    s = nets_curves.fig5_summary(runs)
    assert set(s) == {"plain", "residual (pre-act.)"}
    assert s["plain"]["test_accuracy"] == pytest.approx(0.2)
    assert s["plain"]["block_displacement"] == [2.0, 1.0]
    assert s["plain"]["mean_block_jacobian_deviation"] == pytest.approx(1.5)
    # equal blocks -> Gini 0 for the first plain run, 0.25 for (3, 1); mean over seeds 0.125
    assert s["plain"]["gini_displacement"] == pytest.approx(0.125)
    assert s["residual (pre-act.)"]["gini_jacobian_deviation"] == pytest.approx(0.5)
    assert math.isclose(s["residual (pre-act.)"]["gini_complexity"], 0.25)
    fig = nets_curves.fig5_figure(runs)
    assert len(fig.axes) == 3
