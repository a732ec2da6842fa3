"""Plates of the networks world: a CNN is a curve (Fig. 4) and a ResNet is many short segments (Fig. 5).

Paper Section III-A: "Any given CNN structure corresponds a curve in T_CNN, where each line segment
corresponds to the CONV-ReLU-Pooling operation of each layer and the length of the line segment is
proportional to the computational complexity of this layer." Section III-B: the ResNet curve "consists of a
large number of short line segments corresponding to simple operations ... near the identity", and "the
ResNet achieves a roughly uniform distribution of the complexity of the problem along the curve".

Both plates train small zoo models on mnist5k and measure them with :func:`deepgeometry.nets.trace`
(complexity = MACs, displacement, Jacobian deviation by Hutchinson probes) and, for Fig. 4, the data-flow
geometry of :func:`deepgeometry.nets.flow.flow`.
"""

from __future__ import annotations

import math
from typing import Any

from ...utils import to_jsonable
from ..plate import PlateContext, plate

FIG4_TITLE = "Fig. 4: a CNN is a curve"
FIG5_TITLE = "Fig. 5: a ResNet is many short segments"
VARIANTS = {
    "plain": ("plain_cnn", {}),
    "residual (post-act.)": ("residual_cnn", {"block": "post"}),
    "residual (pre-act.)": ("residual_cnn", {"block": "pre"}),
}


def _train_and_trace(task: dict) -> dict:
    """Build ``task['model']`` from the zoo, train it on mnist5k and trace it (module level, picklable)."""
    import torch

    from ...data import mnist5k
    from ...nets.trace import trace
    from ...nets.train import train_classifier
    from ...nets.zoo import build
    from ...utils import set_threads

    set_threads(1)
    ds = mnist5k()
    x_train, x_test = ds.x_train, ds.x_test
    pool = int(task.get("pool", 1))
    if pool > 1:  # average-pool the images (28x28 -> 14x14): 4x cheaper, same digits
        x_train = torch.nn.functional.avg_pool2d(x_train, pool)
        x_test = torch.nn.functional.avg_pool2d(x_test, pool)
    kwargs = dict(task.get("kwargs", {}))
    if pool > 1:
        kwargs.setdefault("in_shape", tuple(x_train.shape[1:]))
    model = build(task["model"], seed=task["seed"], **kwargs)
    res = train_classifier(model, x_train, ds.y_train, x_test, ds.y_test, epochs=task["epochs"],
                           lr=task["lr"], batch_size=task.get("batch_size", 64), seed=task["seed"])
    x = x_test[: task["n_trace"]]
    curve = trace(model, x, probes=task["probes"], seed=task["seed"])
    out: dict[str, Any] = {"name": task["name"], "seed": task["seed"], "train": res.to_dict(),
                           "curve": to_jsonable(curve.to_dict())}
    if task.get("flow"):
        from ...nets.flow import flow

        n = task["flow_samples"]
        fr = flow(model, ds.x_test[:n], path="great-circle", labels=ds.y_test[:n], n_points=task["n_points"],
                  seed=task["seed"])
        out["flow"] = to_jsonable(fr.to_dict())
    del torch
    return out


def _curve_from_record(rec: dict):
    """Rebuild a :class:`DiscreteCurve` from ``curve.to_dict()`` output (None -> NaN)."""
    from ...core.curve import DiscreteCurve, Segment

    segs = []
    for s in rec["segments"]:
        lengths = {k: (math.nan if v is None else float(v)) for k, v in s["lengths"].items()}
        segs.append(Segment(name=s["name"], kind=s["kind"], lengths=lengths,
                            info={"embedded": s.get("embedded", False)}))
    return DiscreteCurve(tuple(segs))


def _gini(values: list) -> float | None:
    from ...core.curve import gini

    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return gini(xs) if xs else None


# --- Fig. 4 -------------------------------------------------------------------------------------------------

@plate("nets-fig4-cnn-curve", title=FIG4_TITLE, section="III-A", order=40,
       profiles={
           "quick": {"seeds": [0], "epochs": 2, "channels": [16, 32], "hidden": 64, "lr": 2e-3,
                     "n_trace": 256, "probes": 8, "flow_samples": 1000, "n_points": 128},
           "full": {"seeds": [0], "epochs": 6, "channels": [16, 32], "hidden": 64, "lr": 2e-3,
                    "n_trace": 1000, "probes": 16, "flow_samples": 1000, "n_points": 512},
       })
def fig4_cnn_curve(config: dict, ctx: PlateContext) -> dict:
    """Train the zoo CNN (CONV-ReLU-Pool x2 + FC head) on mnist5k; draw its curve under the three metrics
    and the data flow (curve length, curvature, intrinsic dimension, separability) per layer."""
    seed = int(config["seeds"][0])
    task = {"name": "cnn", "model": "cnn", "seed": seed, "epochs": config["epochs"], "lr": config["lr"],
            "kwargs": {"channels": tuple(config["channels"]), "hidden": config["hidden"]},
            "n_trace": config["n_trace"], "probes": config["probes"], "flow": True,
            "flow_samples": config["flow_samples"], "n_points": config["n_points"]}
    ctx.log("training and tracing the CNN")
    res = ctx.map(_train_and_trace, [task])[0]
    fig = fig4_curve_figure(res["curve"], res["train"]["final_test_acc"])
    ctx.save_figure(fig, "fig4-curve", caption=(
        "The trained CNN as a piecewise curve: one segment per CONV-ReLU-Pool stage / dense layer, segment "
        "lengths measured under the complexity metric (MACs, the paper's N_k K S), the displacement "
        "|f(x)-x|/|x| and the Jacobian deviation |J-I|_F/sqrt(d) (Hutchinson, error bars = 1 s.e.). "
        "Hatched: shape-changing segments, measured through the zero-padding embedding."))
    fig = fig4_flow_figure(res["flow"])
    ctx.save_figure(fig, "fig4-flow", caption=(
        "Data flow through the same CNN: length and mean curvature of a great circle through the test data "
        "(exact forward-mode derivatives), TwoNN intrinsic dimension and linear-probe separability of "
        "1000 test images, per layer."))
    curve = res["curve"]
    fl = res["flow"]
    numbers: dict[str, Any] = {
        "test_accuracy": res["train"]["final_test_acc"],
        "total_MACs_per_sample": curve["totals"]["complexity"],
        "gini_complexity": curve["balance"]["complexity"]["gini"],
        "gini_displacement": curve["balance"]["displacement"]["gini"],
        "gini_jacobian_deviation": curve["balance"]["jacobian_deviation"]["gini"],
        "separability_input": fl["separability"][0],
        "separability_last_hidden": fl["separability"][-2],
        "length_ratio_output_over_input": (fl["length"][-1] / fl["length"][0]
                                           if fl["length"][0] and fl["length"][-1] is not None else None),
    }
    rows = [[s["name"], s["kind"], str(s["in_shape"]), str(s["out_shape"]), s["params"], s["macs"],
             s["displacement"], s["jacobian_deviation"], s["jacobian_deviation_se"]]
            for s in curve["segments"]]
    flow_rows = [[fl["layers"][i], fl["length"][i], fl["curvature"][i], fl["intrinsic_dim"][i],
                  fl["separability"][i]] for i in range(len(fl["layers"]))]
    return {
        "numbers": numbers,
        "tables": [
            {"title": "segments", "columns": ["segment", "kind", "in", "out", "params", "MACs",
                                              "displacement", "J deviation", "J dev. s.e."], "rows": rows},
            {"title": "data flow", "columns": ["layer", "length", "curvature", "intrinsic dim.",
                                               "separability"], "rows": flow_rows},
        ],
        "notes": ("Complexity counts only convolutions and matrix products (the paper omits the nonlinear "
                  "operations). All four segments change shape, so displacement and Jacobian deviation "
                  "are read through the fixed zero-padding embedding and are rough sizes, flagged in the "
                  "record."),
        "curve": curve, "flow": fl, "train": res["train"],
    }


def fig4_curve_figure(curve: dict, acc: float | None = None) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...nets.trace import METRIC_LABELS, METRICS, draw_curve

    c = _curve_from_record(curve)
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), gridspec_kw={"height_ratios": [1.3, 1]})
    names = c.names
    for j, metric in enumerate(METRICS):
        draw_curve(axes[0, j], c, metric, color=f"C{j}")
        ax = axes[1, j]
        vals = [0.0 if not math.isfinite(v) else v for v in c.segment_lengths(metric)]
        err = None
        if metric != "complexity":
            err = [s.get(f"{metric}_se") or 0.0 for s in curve["segments"]]
        bars = ax.bar(range(len(names)), vals, yerr=err, color=f"C{j}", alpha=0.8)
        for bar, s in zip(bars, curve["segments"], strict=True):
            if s.get("embedded"):
                bar.set_hatch("//")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=8)
        ax.set_ylabel(METRIC_LABELS[metric], fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    acc_txt = f" (test accuracy {acc:.3f})" if isinstance(acc, float) else ""
    fig.suptitle(f"A CNN is a curve: segment lengths under three metrics{acc_txt}", fontsize=11)
    fig.tight_layout()
    return fig


def fig4_flow_figure(fl: dict) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("length", "curve length", True), ("curvature", "mean curvature", True),
            ("intrinsic_dim", "intrinsic dimension (TwoNN)", False),
            ("separability", "linear separability (held-out acc.)", False)]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    xs = list(range(len(fl["layers"])))
    for ax, (k, label, logy) in zip(axes, keys, strict=True):
        ys = [math.nan if v is None else float(v) for v in fl.get(k, [None] * len(xs))]
        ax.plot(xs, ys, "o-", color="C3")
        ax.set_title(label, fontsize=9)
        ax.set_xticks(xs)
        ax.set_xticklabels(fl["layers"], rotation=45, fontsize=8)
        if logy and all(v > 0 for v in ys if math.isfinite(v)) and any(math.isfinite(v) for v in ys):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --- Fig. 5 -------------------------------------------------------------------------------------------------

@plate("nets-fig5-resnet-segments", title=FIG5_TITLE, section="III-B", order=42,
       profiles={
           "quick": {"seeds": [0], "depth": 8, "width": 16, "epochs": 4, "lr": 3e-3, "batch_size": 32,
                     "pool": 2, "n_trace": 128, "probes": 8},
           "full": {"seeds": [0, 1, 2], "depth": 20, "width": 16, "epochs": 8, "lr": 2e-3, "batch_size": 32,
                    "pool": 1, "n_trace": 512, "probes": 16},
       })
def fig5_resnet_segments(config: dict, ctx: PlateContext) -> dict:
    """Plain vs residual (post-activation) vs full pre-activation CNNs of equal depth and width: per-block
    displacement and Jacobian deviation, and how evenly each metric spreads along the curve."""
    tasks = []
    for seed in config["seeds"]:
        for label, (model, kw) in VARIANTS.items():
            tasks.append({"name": label, "model": model, "seed": int(seed), "epochs": config["epochs"],
                          "lr": config["lr"], "batch_size": config.get("batch_size", 64),
                          "pool": config.get("pool", 1),
                          "kwargs": {**kw, "depth": config["depth"], "width": config["width"]},
                          "n_trace": config["n_trace"], "probes": config["probes"]})
    ctx.log(f"training and tracing {len(tasks)} networks")
    results = ctx.map(_train_and_trace, tasks)
    summary = fig5_summary(results)
    fig = fig5_figure(results)
    ctx.save_figure(fig, "fig5-segments", caption=(
        f"Plain, residual (original post-activation) and full pre-activation CNNs, {config['depth']} blocks "
        "of "
        f"two 3x3 convolutions, {config['width']} channels, trained {config['epochs']} epoch(s) on mnist5k"
        f"{' average-pooled to 14x14' if config.get('pool', 1) == 2 else ''}. "
        "Left, middle: per-block displacement |f(x)-x|/|x| and Jacobian deviation |J-I|_F/sqrt(d) (mean over "
        "seeds, bars = 1 s.e.); right: the blocks drawn as a piecewise curve with the measured Jacobian "
        "deviations as segment lengths (not normalised)."))
    rows = [[v["variant"], v["test_accuracy"], v["mean_block_displacement"],
             v["mean_block_jacobian_deviation"],
             v["gini_complexity"], v["gini_displacement"], v["gini_jacobian_deviation"]]
            for v in summary.values()]
    numbers: dict[str, Any] = {}
    for v in summary.values():
        key = v["variant"].split(" ")[0] if v["variant"] == "plain" else (
            "post" if "post" in v["variant"] else "pre")
        numbers[f"{key}_test_acc"] = v["test_accuracy"]
        numbers[f"{key}_mean_block_displacement"] = v["mean_block_displacement"]
        numbers[f"{key}_mean_block_jacobian_deviation"] = v["mean_block_jacobian_deviation"]
        numbers[f"{key}_gini_jacobian_deviation"] = v["gini_jacobian_deviation"]
    return {
        "numbers": numbers,
        "tables": [{"title": "per variant (mean over seeds)",
                    "columns": ["variant", "test acc.", "mean block displacement", "mean block J deviation",
                                "Gini complexity (whole curve)", "Gini displacement (blocks)",
                                "Gini J deviation (blocks)"], "rows": rows}],
        "notes": ("Blocks have identical MACs by construction, so the complexity metric is perfectly "
                  "balanced over the blocks in all three nets (its Gini over the whole curve comes from the "
                  "stem and the "
                  "head); the displacement and the Jacobian deviation say how far each block is from the "
                  "identity. A post-activation block cannot be the identity on coordinates that its ReLU "
                  "zeroes, which is why the pre-activation unit (f = identity, eq. 5) can be the nearest."),
        "summary": summary, "runs": results,
    }


def fig5_summary(results: list[dict]) -> dict[str, dict]:
    """Per variant, mean over seeds: accuracy, mean per-block displacement / Jacobian deviation, Ginis."""
    out: dict[str, dict] = {}
    for label in VARIANTS:
        runs = [r for r in results if r["name"] == label]
        if not runs:
            continue

        def mean(xs: list) -> float | None:
            xs = [float(x) for x in xs if x is not None and math.isfinite(float(x))]
            return sum(xs) / len(xs) if xs else None

        blocks = [[s for s in r["curve"]["segments"] if s["name"].startswith("block")] for r in runs]
        out[label] = {
            "variant": label,
            "test_accuracy": mean([r["train"]["final_test_acc"] for r in runs]),
            "mean_block_displacement": mean([s["displacement"] for b in blocks for s in b]),
            "mean_block_jacobian_deviation": mean([s["jacobian_deviation"] for b in blocks for s in b]),
            "gini_complexity": mean([r["curve"]["balance"]["complexity"]["gini"] for r in runs]),
            "gini_displacement": mean([_gini([s["displacement"] for s in b]) for b in blocks]),
            "gini_jacobian_deviation": mean([_gini([s["jacobian_deviation"] for s in b]) for b in blocks]),
            "block_displacement": [mean([b[k]["displacement"] for b in blocks])
                                   for k in range(len(blocks[0]))],
            "block_jacobian_deviation": [mean([b[k]["jacobian_deviation"] for b in blocks])
                                         for k in range(len(blocks[0]))],
            "block_jacobian_deviation_se": [mean([b[k]["jacobian_deviation_se"] for b in blocks])
                                            for k in range(len(blocks[0]))],
            "block_displacement_se": [mean([b[k]["displacement_se"] for b in blocks])
                                      for k in range(len(blocks[0]))],
        }
    return out


def fig5_figure(results: list[dict]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...nets.trace import polyline

    summary = fig5_summary(results)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for i, (label, v) in enumerate(summary.items()):
        ks = list(range(1, len(v["block_displacement"]) + 1))
        for ax, key in zip(axes[:2], ("block_displacement", "block_jacobian_deviation"), strict=True):
            ys = [math.nan if y is None else y for y in v[key]]
            err = [0.0 if e is None else e for e in v[f"{key}_se"]]
            ax.errorbar(ks, ys, yerr=err, marker="o", ms=3, color=f"C{i}", label=label, capsize=2)
        xs, ys = polyline([0.0 if y is None else y for y in v["block_jacobian_deviation"]])
        axes[2].plot(xs, ys, "o-", ms=3, color=f"C{i}", label=label)
    axes[0].set_ylabel("displacement |f(x)-x|/|x|")
    axes[1].set_ylabel("Jacobian deviation |J-I|_F/sqrt(d)")
    for ax in axes[:2]:
        ax.set_xlabel("block")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[2].set_aspect("equal", adjustable="datalim")
    axes[2].set_title("blocks as a curve (segment length = J deviation)", fontsize=9)
    axes[2].set_xticks([])
    axes[2].set_yticks([])
    fig.tight_layout()
    return fig
