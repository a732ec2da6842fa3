"""Claim 3 (Sections III-A/B, IV): a too deep plain network fails to converge; a residual one does not.

Part A (the verdict): depth sweep of plain vs residual nets with batch norm (zoo ``plain_mlp`` /
``residual_mlp`` with full pre-activation units on mnist1d; the full profile adds ``plain_cnn`` /
``residual_cnn`` on mnist5k), same width, optimiser and epochs; ``depth`` counts two-layer blocks.

Part B (reported next to it): tanh nets at sigma_b^2 = 0.05 across sigma_w^2, initialised as in mean-field
theory, trained with SGD; a cell (sigma_w^2, L) is "trainable" when its median training accuracy reaches
half-way from chance to the best cell. Agreement = fraction of cells where trainable == (L <= 6 xi_c), xi_c
from :func:`deepgeometry.nets.meanfield.meanfield` (Schoenholz et al. 2017).

Rule (pre-declared, on Part A, first data set): ``drop(net)`` = (best median test accuracy over depths) -
(median at the largest depth); ``noise`` = largest seed half-range among the compared samples (>= 1 pt).

A net "fails" when its drop exceeds 5 pts + noise.

* supported if the plain net fails, the residual net does not, and the residual net beats the plain one at
  the largest depth by more than ``noise``;
* not supported if ``drop(plain) <= noise`` (the deep plain net did not degrade) or the residual net fails
  too;
* inconclusive otherwise (e.g. the plain net degrades by less than 5 pts).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..atlas.plate import Verdict
from . import _common as C

CLAIM = (
    "\"On the other side, it's not difficult to guess that a too deep CNN may also fail to converge if the "
    "curve U_CNN(t) is too long due to both the depth L and an improper design of CONV-ReLU-Pooling "
    "operations.\" (Section III-A, 'Why deep CNN?'); ResNets' near-identity segments \"help to improve the "
    'convergence of the optimization procedure" (Section III-B)'
)
EXPECTED = (
    "plain nets degrade with depth even with BN while ResNets keep improving (He et al. 2016a, CVPR, "
    "Fig. 1/Table 2: plain-34 worse than plain-18); random tanh nets are trainable iff depth <~ 6 xi_c "
    "(Schoenholz et al. 2017, ICLR, 'Deep information propagation')"
)

QUICK = {
    "seeds": [0, 1, 2],
    "depths": [2, 8, 24],
    "width": 48,
    "n_train": 2000,
    "n_test": 1000,
    "epochs": 5,
    "lr": 2e-3,
    "cnn": False,
    "mf_sigma_w2": [1.0, 1.76, 3.0],
    "mf_depths": [10, 60],
    "mf_width": 64,
    "mf_epochs": 2,
    "mf_lr": 1e-2,
    "mf_n_train": 2000,
}
FULL = {
    "seeds": [0, 1, 2, 3, 4],
    "depths": [2, 4, 8, 16, 32],
    "width": 64,
    "n_train": 4000,
    "n_test": 1000,
    "epochs": 15,
    "lr": 2e-3,
    "cnn": True,
    "cnn_depths": [2, 8, 16],
    "cnn_width": 16,
    "cnn_epochs": 4,
    "mf_sigma_w2": [1.0, 1.25, 1.5, 1.76, 2.0, 2.5, 3.0],
    "mf_depths": [10, 20, 40, 80, 160],
    "mf_width": 128,
    "mf_epochs": 5,
    "mf_lr": 1e-2,
    "mf_n_train": 4000,
}
SIGMA_B2 = 0.05


def _one_depth(item: dict[str, Any]) -> dict[str, Any]:
    from ..nets.zoo import build

    torch.set_num_threads(1)
    cfg, kind, depth, seed, ds = item["config"], item["kind"], item["depth"], item["seed"], item["data"]
    if ds == "mnist1d":
        data = C.subset("mnist1d", cfg["n_train"], cfg["n_test"])
        shape, width, epochs = (1, 40), cfg["width"], cfg["epochs"]
        name = "plain_mlp" if kind == "plain" else "residual_mlp"
    else:
        data = C.subset("mnist5k", cfg["n_train"], cfg["n_test"])
        shape, width, epochs = (1, 28, 28), cfg["cnn_width"], cfg["cnn_epochs"]
        name = "plain_cnn" if kind == "plain" else "residual_cnn"
    kw = {"in_shape": shape, "width": width, "depth": depth, "norm": True}
    if kind == "residual":
        kw["block"] = "pre"
    r = C.fit(build(name, seed=seed, **kw), data, epochs=epochs, lr=cfg["lr"], seed=seed)
    return {"data": ds, "kind": kind, "depth": depth, "seed": seed, **r}


def _one_mf(item: dict[str, Any]) -> dict[str, Any]:
    from ..nets.zoo import build

    torch.set_num_threads(1)
    cfg, sw2, depth, seed = item["config"], item["sigma_w2"], item["depth"], item["seed"]
    data = C.subset("mnist1d", cfg["mf_n_train"], 500)
    g = torch.Generator().manual_seed(seed)
    model = build("mlp", seed=seed, in_shape=(1, 40), width=cfg["mf_width"], depth=depth, act="tanh")
    C.init_normal(model, sw2, SIGMA_B2, g)
    r = C.fit(model, data, epochs=cfg["mf_epochs"], lr=cfg["mf_lr"], seed=seed, optimizer="sgd")
    return {"sigma_w2": sw2, "depth": depth, "seed": seed, **r}


def xi_c(sigma_w2: float, sigma_b2: float = SIGMA_B2) -> float:
    """Schoenholz et al.'s correlation depth scale of a tanh net (via :mod:`deepgeometry.nets.meanfield`)."""
    from ..nets.meanfield import meanfield

    return float(meanfield("tanh", math.sqrt(sigma_w2), math.sqrt(sigma_b2)).xi_c)


def meanfield_agreement(acc: dict[tuple[float, int], float], chance: float, xi: dict[float, float]) -> dict:
    """Fraction of cells ``(sigma_w2, L)`` where ``trainable`` == ``L <= 6 xi_c``.

    ``acc`` maps cells to median training accuracy; trainable means ``acc >= chance + (best - chance) / 2``.
    """
    best = max(acc.values())
    thr = chance + 0.5 * (best - chance)
    agree = [(acc[c] >= thr) == (c[1] <= 6 * xi[c[0]]) for c in acc]
    return {"agreement": float(np.mean(agree)), "threshold": thr, "n_cells": len(acc)}


def run(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    t0 = C.timer()
    seeds = list(config["seeds"])
    items = [
        {"config": config, "kind": k, "depth": d, "seed": s, "data": "mnist1d"}
        for k in ("plain", "residual")
        for d in config["depths"]
        for s in seeds
    ]
    if config.get("cnn"):
        items += [
            {"config": config, "kind": k, "depth": d, "seed": s, "data": "mnist5k"}
            for k in ("plain", "residual")
            for d in config["cnn_depths"]
            for s in seeds
        ]
    items_mf = [
        {"config": config, "sigma_w2": w, "depth": d, "seed": s}
        for w in config["mf_sigma_w2"]
        for d in config["mf_depths"]
        for s in seeds
    ]
    out = ctx.map(_one_depth, items)
    out_mf = ctx.map(_one_mf, items_mf)

    def accs(ds: str, kind: str, d: int, key: str = "test_acc") -> list[float]:
        return [
            r[key]
            for s in seeds
            for r in out
            if (r["data"], r["kind"], r["depth"], r["seed"]) == (ds, kind, d, s)
        ]

    tables, per = [], {}
    for ds, depths in (("mnist1d", config["depths"]), ("mnist5k", config.get("cnn_depths", []))):
        if ds == "mnist5k" and not config.get("cnn"):
            continue
        rows = []
        for d in depths:
            rows.append(
                [
                    d,
                    C.fmt_pm(accs(ds, "plain", d)),
                    C.fmt_pm(accs(ds, "residual", d)),
                    C.fmt_pm(accs(ds, "plain", d, "train_acc")),
                    C.fmt_pm(accs(ds, "residual", d, "train_acc")),
                ]
            )
        tables.append(
            {
                "title": f"{ds}: test / train accuracy (%) vs depth (blocks of two layers), median "
                f"[min, max] over seeds",
                "columns": ["blocks", "plain test", "residual test", "plain train", "residual train"],
                "rows": rows,
            }
        )
        dmax = max(depths)
        best_p = max(depths, key=lambda d: C.summary(accs(ds, "plain", d))["median"])
        best_r = max(depths, key=lambda d: C.summary(accs(ds, "residual", d))["median"])
        per[ds] = {
            "plain_drop": C.summary(accs(ds, "plain", best_p))["median"]
            - C.summary(accs(ds, "plain", dmax))["median"],
            "residual_drop": (
                C.summary(accs(ds, "residual", best_r))["median"]
                - C.summary(accs(ds, "residual", dmax))["median"]
            ),
            "residual_minus_plain_at_max": C.summary(
                C.paired(accs(ds, "residual", dmax), accs(ds, "plain", dmax))
            )["median"],
            "noise": C.noise(
                accs(ds, "plain", best_p),
                accs(ds, "plain", dmax),
                accs(ds, "residual", best_r),
                accs(ds, "residual", dmax),
            ),
            "max_depth": dmax,
        }
    xi = {w: xi_c(w) for w in config["mf_sigma_w2"]}
    cell = {
        (w, d): C.summary([r["train_acc"] for r in out_mf if r["sigma_w2"] == w and r["depth"] == d])[
            "median"
        ]
        for w in config["mf_sigma_w2"]
        for d in config["mf_depths"]
    }
    mf = meanfield_agreement(cell, 0.1, xi)
    mf_rows = [
        [w, f"{xi[w]:.1f}", f"{6 * xi[w]:.0f}"] + [f"{100 * cell[(w, d)]:.1f}" for d in config["mf_depths"]]
        for w in config["mf_sigma_w2"]
    ]
    tables.append(
        {
            "title": f"tanh nets, sigma_b^2 = {SIGMA_B2}: median train accuracy (%) after "
            f"{config['mf_epochs']} SGD epochs; trainable if >= {100 * mf['threshold']:.1f}",
            "columns": ["sigma_w^2", "xi_c", "6 xi_c"] + [f"L={d}" for d in config["mf_depths"]],
            "rows": mf_rows,
        }
    )
    p = per["mnist1d"]
    numbers = {
        **{k: v for k, v in p.items()},
        "meanfield_agreement": mf["agreement"],
        "meanfield_cells": mf["n_cells"],
        "n_seeds": len(seeds),
        "seconds": C.timer() - t0,
    }
    if "mnist5k" in per:
        numbers.update({f"cnn_{k}": v for k, v in per["mnist5k"].items()})
    figure(config, out, seeds, ctx)
    return {
        "numbers": numbers,
        "seeds": seeds,
        "tables": tables,
        "runs": out,
        "runs_meanfield": out_mf,
        "notes": f"mnist1d ({config['n_train']} train), width {config['width']}, Adam lr {config['lr']}, "
        f"{config['epochs']} epochs; residual units are full pre-activation (He et al. 2016b).",
    }


def figure(config: dict[str, Any], out: list[dict], seeds: list[int], ctx: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3))
    for kind in ("plain", "residual"):
        med = [
            100
            * np.median(
                [
                    r["test_acc"]
                    for r in out
                    if r["data"] == "mnist1d" and r["kind"] == kind and r["depth"] == d
                ]
            )
            for d in config["depths"]
        ]
        ax.plot(config["depths"], med, "o-", label=kind)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("blocks (2 layers each)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend()
    ctx.save_figure(
        fig,
        "depth-plain-vs-residual",
        caption="mnist1d: plain vs residual MLP (BN) vs depth, median over seeds.",
    )


def rule(result: dict[str, Any]) -> Verdict:
    """Pure decision rule of claim 3 (see the module docstring)."""
    n = result["numbers"]
    dp, dr, gap, nz = n["plain_drop"], n["residual_drop"], n["residual_minus_plain_at_max"], n["noise"]
    measured = (
        f"at {n['max_depth']} blocks: plain drop {100 * dp:.1f} pts, residual drop {100 * dr:.1f} pts, "
        f"residual - plain {100 * gap:+.1f} pts (noise {100 * nz:.1f}); mean-field 6*xi_c agreement "
        f"{n['meanfield_agreement']:.2f} over {n['meanfield_cells']} cells"
    )
    r = (
        "fail := drop > 5 pts + noise; plain fails, residual does not and wins at max depth by > noise: "
        "supported; plain drop <= noise or residual fails: not supported"
    )
    plain_fail, res_fail = dp > 0.05 + nz, dr > 0.05 + nz
    if plain_fail and not res_fail and gap > nz:
        v = "supported"
    elif dp <= nz or res_fail:
        v = "not supported"
    else:
        v = "inconclusive: the plain net degrades with depth, but by less than 5 points beyond noise"
    return Verdict(v, rule=r, measured=measured, expected=EXPECTED)
