"""Claim 10 (Section III-A, "Fully connected network"): the fully connected head only clusters; "with the
increase of the kernel number and depth, the FC part can be omitted".

CNNs of ``depth`` CONV-ReLU-Pooling stages with ``channels`` kernels each, on mnist5k, with two heads:
``fc`` (flatten -> dense hidden layer -> linear, zoo ``cnn``) and ``gap`` (global average pooling -> linear),
over a grid of growing (channels, depth).

Rule (pre-declared): ``gap(config)`` = median over seeds of the paired test accuracy fc - gap;
``noise`` = largest seed half-range among the compared samples (>= 1 pt). At the largest configuration:
supported if ``gap <= noise`` (the FC head can be omitted); inconclusive if it is above noise but shrank by
more than ``noise`` from the smallest configuration; not supported otherwise.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atlas.plate import Verdict
from . import _common as C

CLAIM = (
    '"Also we know with the increase of the kernel number and depth, the FC part can be omitted. In another '
    "word, the convolutional network before the FC network in fact has already achieved an over "
    'classification of the objects, the FC network only achieve a clustering of the information." '
    "(Section III-A, 'Fully connected network')"
)
EXPECTED = (
    "global average pooling + linear matches an FC head once the conv stack is wide and deep enough "
    "(Lin, Chen & Yan 2014, ICLR, 'Network in network'; Springenberg et al. 2015, ICLR workshop, "
    "all-convolutional net)"
)

QUICK = {
    "seeds": [0, 1, 2],
    "grid": [[4, 1], [8, 2], [16, 3]],
    "pool": 2,
    "n_train": 1500,
    "n_test": 1000,
    "epochs": 4,
    "lr": 3e-3,
    "hidden": 64,
}
FULL = {
    "seeds": [0, 1, 2, 3, 4],
    "grid": [[4, 1], [8, 2], [16, 3], [32, 3], [64, 4]],
    "pool": 1,
    "n_train": 4000,
    "n_test": 1000,
    "epochs": 10,
    "lr": 2e-3,
    "hidden": 128,
}


def conv_net(
    in_shape: tuple[int, ...], channels: int, depth: int, head: str, hidden: int = 64, n_classes: int = 10
) -> nn.Sequential:
    """``depth`` CONV-ReLU-Pooling stages (zoo ``ConvStage``) and an ``"fc"`` or ``"gap"`` head."""
    from ..nets.zoo import ConvStage

    items: OrderedDict[str, nn.Module] = OrderedDict()
    c, hw = in_shape[0], list(in_shape[1:])
    for k in range(depth):
        pool = 2 if min(hw) >= 2 else 1
        items[f"conv{k + 1}"] = ConvStage("conv2d", c, channels, 3, "relu", False, pool)
        c, hw = channels, [v // pool for v in hw]
    if head == "fc":
        items["fc"] = nn.Sequential(nn.Flatten(), nn.Linear(c * math.prod(hw), hidden), nn.ReLU())
        items["out"] = nn.Linear(hidden, n_classes)
    elif head == "gap":
        items["gap"] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        items["out"] = nn.Linear(c, n_classes)
    else:
        from ..errors import DeepGeometryError

        raise DeepGeometryError(f"head must be 'fc' or 'gap', got {head!r}")
    return nn.Sequential(items)


def _one(item: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    cfg, ch, depth, head, seed = item["config"], item["channels"], item["depth"], item["head"], item["seed"]
    data = C.subset("mnist5k", cfg["n_train"], cfg["n_test"], pool=cfg["pool"])
    torch.manual_seed(seed)
    model = conv_net(tuple(data["x_train"].shape[1:]), ch, depth, head, cfg["hidden"])
    r = C.fit(model, data, epochs=cfg["epochs"], lr=cfg["lr"], seed=seed)
    return {"channels": ch, "depth": depth, "head": head, "seed": seed, **r}


def run(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    t0 = C.timer()
    seeds = list(config["seeds"])
    grid = [tuple(g) for g in config["grid"]]
    out = ctx.map(
        _one,
        [
            {"config": config, "channels": c, "depth": d, "head": h, "seed": s}
            for c, d in grid
            for h in ("fc", "gap")
            for s in seeds
        ],
    )

    def sel(c: int, d: int, h: str) -> list[float]:
        return [
            r["test_acc"]
            for s in seeds
            for r in out
            if (r["channels"], r["depth"], r["head"], r["seed"]) == (c, d, h, s)
        ]

    rows, gaps = [], {}
    for c, d in grid:
        gaps[(c, d)] = C.paired(sel(c, d, "fc"), sel(c, d, "gap"))
        rows.append([c, d, C.fmt_pm(sel(c, d, "fc")), C.fmt_pm(sel(c, d, "gap")), C.fmt_pm(gaps[(c, d)])])
    first, last = grid[0], grid[-1]
    numbers = {
        "gap_smallest": C.summary(gaps[first])["median"],
        "gap_largest": C.summary(gaps[last])["median"],
        "noise": C.noise(gaps[last], sel(*last, "fc"), sel(*last, "gap")),
        "noise_smallest": C.noise(gaps[first]),
        "largest": f"{last[0]} kernels x {last[1]} stages",
        "smallest": f"{first[0]} kernels x {first[1]} stages",
        "acc_fc_largest": C.summary(sel(*last, "fc"))["median"],
        "acc_gap_largest": C.summary(sel(*last, "gap"))["median"],
        "n_seeds": len(seeds),
        "seconds": C.timer() - t0,
    }
    figure(grid, gaps, ctx)
    res = 28 // config["pool"]
    return {
        "numbers": numbers,
        "seeds": seeds,
        "runs": out,
        "tables": [
            {
                "title": "mnist5k test accuracy (%) with an FC head vs global average pooling + linear, "
                "median [min, max] over seeds",
                "columns": ["kernels", "stages", "FC head", "GAP head", "FC - GAP (paired)"],
                "rows": rows,
            }
        ],
        "notes": f"mnist5k at {res}x{res}, {config['n_train']} training images, Adam lr {config['lr']}, "
        f"{config['epochs']} epochs; FC head hidden width {config['hidden']}.",
    }


def figure(grid: list[tuple[int, int]], gaps: dict, ctx: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3))
    med = [100 * np.median(gaps[g]) for g in grid]
    lo = [100 * np.min(gaps[g]) for g in grid]
    hi = [100 * np.max(gaps[g]) for g in grid]
    ax.fill_between(range(len(grid)), lo, hi, alpha=0.3)
    ax.plot(range(len(grid)), med, "o-")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(range(len(grid)), [f"{c}x{d}" for c, d in grid])
    ax.set_xlabel("kernels x stages")
    ax.set_ylabel("FC - GAP test acc. (pts)")
    ctx.save_figure(
        fig, "fc-head-gap", caption="What the FC head adds over GAP + linear as the conv stack grows."
    )


def rule(result: dict[str, Any]) -> Verdict:
    """Pure decision rule of claim 10 (see the module docstring)."""
    n = result["numbers"]
    g0, g1, nz = n["gap_smallest"], n["gap_largest"], n["noise"]
    measured = (
        f"FC - GAP {100 * g0:+.1f} pts at {n['smallest']} -> {100 * g1:+.1f} pts at {n['largest']} "
        f"(noise {100 * nz:.1f})"
    )
    r = "FC - GAP at the largest config <= noise: supported; shrinking by > noise but above: inconclusive"
    if g1 <= nz:
        v = "supported"
    elif g1 < g0 - max(nz, n["noise_smallest"]):
        v = "inconclusive: the FC head's advantage shrinks with kernels and depth but is still above noise"
    else:
        v = "not supported"
    return Verdict(v, rule=r, measured=measured, expected=EXPECTED)
