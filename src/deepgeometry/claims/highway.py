"""Claim 8 (Section III-B): highway networks perform worse than ResNets because their extra nonlinear gating
does not match the first-order structure I + H.

Matched depth, width and parameter count: zoo ``highway_net`` (``y = T H + (1 - T) x``, two weight layers per
unit, transform-gate bias -2, Srivastava et al. 2015) vs zoo ``residual_mlp``
(``x + W2 relu(W1 relu(x))``, two
weight layers per unit, full pre-activation order), neither with normalisation, on mnist1d, at each depth.

Rule (pre-declared, at the largest depth): ``gap`` = median over seeds of the paired test accuracy
residual - highway; ``noise`` = largest seed half-range among the two nets and the paired gaps (>= 1 pt).
supported if ``gap > noise``; not supported if ``gap < -noise``; inconclusive otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..atlas.plate import Verdict
from . import _common as C

CLAIM = (
    '"Another related observation is that the highway network usually performs worse than the ResNet since '
    "it introduces unnecessary complexity to the system by adding extra nonlinear transformations to the "
    "system so the structure of the highway network does not match the natural structure given by the "
    'first-order approximation." (Section III-B)'
)
EXPECTED = (
    "identity shortcuts beat gated ones (He et al. 2016b, ECCV, Table 1: exclusive gating 8.70% vs "
    "original 6.61%); highway and residual nets reach similar accuracy at matched size in other studies "
    "(Srivastava et al. 2015, NeurIPS; Greff et al. 2017, ICLR) -- a small or no gap"
)

QUICK = {
    "seeds": [0, 1, 2],
    "depths": [4, 16],
    "width": 48,
    "n_train": 2000,
    "n_test": 1000,
    "epochs": 6,
    "lr": 2e-3,
    "gate_bias": -2.0,
    "batch_size": 128,
}
FULL = {
    "seeds": [0, 1, 2, 3, 4],
    "depths": [4, 16, 32, 64],
    "width": 64,
    "n_train": 4000,
    "n_test": 1000,
    "epochs": 20,
    "lr": 1e-3,
    "gate_bias": -2.0,
    "batch_size": 64,
}


def _one(item: dict[str, Any]) -> dict[str, Any]:
    from ..nets.zoo import build

    torch.set_num_threads(1)
    cfg, kind, depth, seed = item["config"], item["kind"], item["depth"], item["seed"]
    data = C.subset("mnist1d", cfg["n_train"], cfg["n_test"])
    kw = {"in_shape": (1, 40), "width": cfg["width"], "depth": depth}
    if kind == "highway":
        model = build("highway_net", seed=seed, gate_bias=cfg["gate_bias"], **kw)
    else:
        model = build("residual_mlp", seed=seed, block="pre", norm=False, **kw)
    n_params = sum(p.numel() for p in model.parameters())
    r = C.fit(
        model, data, epochs=cfg["epochs"], lr=cfg["lr"], seed=seed, batch_size=cfg.get("batch_size", 64)
    )
    return {"kind": kind, "depth": depth, "seed": seed, "params": n_params, **r}


def run(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    t0 = C.timer()
    seeds = list(config["seeds"])
    out = ctx.map(
        _one,
        [
            {"config": config, "kind": k, "depth": d, "seed": s}
            for k in ("residual", "highway")
            for d in config["depths"]
            for s in seeds
        ],
    )

    def sel(kind: str, d: int, key: str = "test_acc") -> list[float]:
        return [
            r[key] for s in seeds for r in out if r["kind"] == kind and r["depth"] == d and r["seed"] == s
        ]

    rows = []
    for d in config["depths"]:
        rows.append(
            [
                d,
                C.fmt_pm(sel("residual", d)),
                C.fmt_pm(sel("highway", d)),
                C.fmt_pm(C.paired(sel("residual", d), sel("highway", d))),
                f"{sel('residual', d, 'params')[0]} / {sel('highway', d, 'params')[0]}",
            ]
        )
    dmax = max(config["depths"])
    gap = C.paired(sel("residual", dmax), sel("highway", dmax))
    numbers = {
        "residual_minus_highway": C.summary(gap)["median"],
        "noise": C.noise(gap, sel("residual", dmax), sel("highway", dmax)),
        "max_depth": dmax,
        "acc_residual": C.summary(sel("residual", dmax))["median"],
        "acc_highway": C.summary(sel("highway", dmax))["median"],
        "params_residual": sel("residual", dmax, "params")[0],
        "params_highway": sel("highway", dmax, "params")[0],
        "n_seeds": len(seeds),
        "seconds": C.timer() - t0,
    }
    figure(config, out, ctx)
    return {
        "numbers": numbers,
        "seeds": seeds,
        "runs": out,
        "tables": [
            {
                "title": "mnist1d test accuracy (%), median [min, max] over seeds",
                "columns": [
                    "units",
                    "residual",
                    "highway",
                    "residual - highway (paired)",
                    "parameters res. / hw.",
                ],
                "rows": rows,
            }
        ],
        "notes": f"width {config['width']}, no normalisation, Adam lr {config['lr']}, "
        f"{config['epochs']} epochs, "
        f"highway gate bias {config['gate_bias']}.",
    }


def figure(config: dict[str, Any], out: list[dict], ctx: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3))
    for kind in ("residual", "highway"):
        med = [
            100 * np.median([r["test_acc"] for r in out if r["kind"] == kind and r["depth"] == d])
            for d in config["depths"]
        ]
        ax.plot(config["depths"], med, "o-", label=kind)
    ax.set_xlabel("units (2 weight layers each)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend()
    ctx.save_figure(fig, "highway-vs-residual", caption="Highway vs residual MLP at matched depth and width.")


def rule(result: dict[str, Any]) -> Verdict:
    """Pure decision rule of claim 8 (see the module docstring)."""
    n = result["numbers"]
    gap, nz = n["residual_minus_highway"], n["noise"]
    measured = (
        f"{n['max_depth']} units: residual {100 * n['acc_residual']:.1f}% vs highway "
        f"{100 * n['acc_highway']:.1f}%, paired gap {100 * gap:+.1f} pts (noise {100 * nz:.1f})"
    )
    r = "paired residual - highway accuracy at max depth: > noise supported, < -noise not supported"
    if gap > nz:
        v = "supported"
    elif gap < -nz:
        v = "not supported"
    else:
        v = "inconclusive: residual and highway nets are within seed noise"
    return Verdict(v, rule=r, measured=measured, expected=EXPECTED)
