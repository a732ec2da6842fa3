"""Verdict rules of the EP plates say every verdict on synthetic results."""

from deepgeometry.atlas.plates.ep import learns_rule, shooting_rule, structure_rule, summarise_gdu


def _learn(**kw):
    n = {
        "ep_status": "ok",
        "ep_test_error": 0.08,
        "bp_test_error": 0.07,
        "gap_points": 1.0,
        "epochs": 25,
        "gdu_min_cos": 0.999,
        "gdu_shrinking": True,
        "gdu_symmetric_closer": True,
    }
    n.update(kw)
    return {"numbers": n}


def test_learns_rule():
    assert learns_rule(_learn()).verdict == "supported"
    assert learns_rule(_learn(gap_points=2.0)).verdict == "not supported"
    assert learns_rule(_learn(gdu_min_cos=0.9)).verdict == "not supported"
    assert learns_rule(_learn(deep_status="dead outputs", deep_test_error=0.9)).verdict == "not supported"
    assert learns_rule(_learn(ep_status="diverged")).verdict.startswith("inconclusive")


def test_summarise_gdu():
    rows = [
        {"cos_one_sided": 0.9, "cos_symmetric": 0.95, "err_one_sided": 0.2, "err_symmetric": 0.1},
        {"cos_one_sided": 0.995, "cos_symmetric": 0.999, "err_one_sided": 0.02, "err_symmetric": 0.001},
    ]
    s = summarise_gdu([rows])
    assert s == {"gdu_min_cos": 0.995, "gdu_shrinking": True, "gdu_symmetric_closer": True}
    assert not summarise_gdu([rows[::-1]])["gdu_shrinking"]


def test_shooting_rule():
    n = {
        "smallest_beta": 0.01,
        "shooting_cos_smallest_beta": 0.999,
        "shooting_err_smallest_beta": 1e-3,
        "shooting_err_decreasing": True,
        "mlp_cos_smallest_beta": 0.9999,
    }
    assert shooting_rule({"numbers": n}).verdict == "supported"
    assert shooting_rule({"numbers": {**n, "shooting_cos_smallest_beta": 0.5}}).verdict == "not supported"


def test_structure_rule():
    n = {"reinforce_near_optimal_fraction": 1.0, "reinforce_mean_distinct": 10.0, "grid_size": 18}
    assert structure_rule({"numbers": n}).verdict == "supported"
    assert (
        structure_rule({"numbers": {**n, "reinforce_near_optimal_fraction": 0.5}}).verdict == "not supported"
    )
    assert structure_rule(
        {"numbers": {**n, "reinforce_near_optimal_fraction": float("nan")}}
    ).verdict.startswith("inconclusive")


def test_learning_plate_assembles_the_runs(tmp_path, monkeypatch):
    """The plate's full profile runs EP (code preset), backprop, the code's literal deep settings, the deep
    net that learns (paper table, symmetric) and the paper table for 784-500-10 (fake workers)."""
    from deepgeometry.atlas.plate import PLATES, SimpleContext
    from deepgeometry.atlas.plates import ep as plates_ep

    seen = []

    def fake_train(item):
        seen.append(item)
        err = {"backprop": 0.063}.get(item["method"], 0.061 if item.get("preset") != "paper" else 0.081)
        status = "dead outputs" if item["overrides"] == {"epochs": 1} else "ok"
        ep = [{"epoch": 1, "test_error": err}]
        return {
            "status": status,
            "detail": "",
            "final_test_error": err,
            "seconds_per_epoch": 1.0,
            "epochs": ep,
        }

    def fake_gdu(seed):
        return [
            {
                "beta": 0.1,
                "cos_one_sided": 0.99,
                "cos_symmetric": 0.999,
                "err_one_sided": 0.1,
                "err_symmetric": 0.01,
            },
            {
                "beta": 0.01,
                "cos_one_sided": 0.999,
                "cos_symmetric": 1.0,
                "err_one_sided": 0.01,
                "err_symmetric": 1e-4,
            },
        ]

    monkeypatch.setattr(plates_ep, "train_item", fake_train)
    monkeypatch.setattr(plates_ep, "gdu_item", fake_gdu)
    p = PLATES["ep-learns-like-backprop"]
    out = p.run(p.config("full"), SimpleContext(tmp_path, profile="full"))
    n = out["numbers"]
    assert abs(n["gap_points"] - (-0.2)) < 1e-9 and abs(n["ep_paper_table_gap_points"] - 1.8) < 1e-9
    assert n["literal_two_layer_status"] == "dead outputs" and n["deep_status"] == "ok"
    deep = [i for i in seen if i["arch"] == "784-500-500-10" and i["overrides"]["epochs"] > 1]
    assert deep[0]["preset"] == "paper" and deep[0]["overrides"]["estimator"] == "symmetric"
    assert p.verdict(out).verdict == "supported"
