"""Claim 9 (Section III-A, Section IV): a network works by flattening a highly curved input manifold
("disentangling a highly curved input manifold into a flatter output manifold").

Four measurements, per layer (input = layer 0):

* swiss roll: MLPs (ReLU, tanh) trained to regress the roll's intrinsic coordinate t; the median ratio of
  kNN-graph geodesic to Euclidean distance (:func:`deepgeometry.claims._common.geodesic_ratio`, -> 1 when the
  manifold is flat) and the total turning angle of an in-manifold curve (the spiral at mid height);
* intrinsic dimension (TwoNN) of mnist5k test images through a trained CNN (Ansuini et al. 2019 report a
  rise then a fall in deep CNNs; we report what we see);
* topology of the three-annuli data set (:func:`deepgeometry.data.concentric_annuli`) through ReLU and tanh
  classifiers: per class, Vietoris-Rips persistence (:mod:`deepgeometry.claims.persistence`), summarised by
  the persistence "mass" (mean excess Betti number b0 - 1 + b1 over relative scales 0.2..0.4 of the
  diameter; 0 for a contractible blob) and Betti numbers at 0.3 x diameter.

Rule (pre-declared): F1 (flattening): median over seeds of the ReLU net's last-layer geodesic ratio ``r_L``
satisfies ``r_L - 1 <= (r_0 - 1) / 2``; F2 (topology simplifies): median "loops" (mean b1 over scales,
summed over both classes) at the ReLU net's last hidden layer < half the input's. Both: supported; neither:
not supported; one: inconclusive.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atlas.plate import Verdict
from . import _common as C
from .persistence import topological_complexity

CLAIM = (
    '"This means by applying the transformation U_CNN, the CNN transforms a highly curved input data space '
    'to a flatter output data space by a curvature flow like mechanism." (Section III-A); "a CNN works by '
    'disentangling a highly curved input manifold into a flatter output manifold" (Section IV)'
)
EXPECTED = (
    "topology of each class simplifies layer by layer, faster with ReLU than tanh (Naitzat et al. 2020, "
    "JMLR, 'Topology of deep neural networks'); intrinsic dimension rises then falls across a CNN "
    "(Ansuini et al. 2019, NeurIPS); geodesic/Euclidean ratio -> 1 when a manifold is unrolled"
)

ACTS = ("relu", "tanh")

QUICK = {
    "seeds": [0, 1, 2],
    "roll_n": 800,
    "roll_eval": 400,
    "roll_width": 64,
    "roll_depth": 4,
    "roll_steps": 300,
    "knn": 8,
    "annuli_n": 1500,
    "annuli_width": 16,
    "annuli_depth": 5,
    "annuli_steps": 500,
    "tda_points": 50,
    "cnn_train": 1000,
    "cnn_epochs": 2,
    "cnn_channels": [8, 16],
    "id_points": 500,
}
FULL = {
    "seeds": [0, 1, 2, 3, 4],
    "roll_n": 2000,
    "roll_eval": 800,
    "roll_width": 128,
    "roll_depth": 6,
    "roll_steps": 1500,
    "knn": 10,
    "annuli_n": 3000,
    "annuli_width": 25,
    "annuli_depth": 9,
    "annuli_steps": 2000,
    "tda_points": 90,
    "cnn_train": 4000,
    "cnn_epochs": 8,
    "cnn_channels": [16, 32],
    "id_points": 1000,
}


def _mlp(d_in: int, width: int, depth: int, d_out: int, act: str) -> nn.Sequential:
    a = {"relu": nn.ReLU, "tanh": nn.Tanh}[act]
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else width, width), a()]
    return nn.Sequential(*layers, nn.Linear(width, d_out))


def layer_outputs(net: nn.Sequential, x: torch.Tensor) -> list[np.ndarray]:
    """``[x, h_1, ..., h_L]``: the input and every activation's output (float64 arrays)."""
    outs = [x.double().numpy()]
    h = x
    with torch.no_grad():
        for m in net:
            h = m(h)
            if isinstance(m, (nn.ReLU, nn.Tanh)):
                outs.append(h.double().numpy())
    return outs


def _full_batch(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, loss_fn: Any) -> float:
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
    return float(loss.detach())


def _roll(item: dict[str, Any]) -> dict[str, Any]:
    from ..data import swiss_roll

    torch.set_num_threads(1)
    cfg, act, seed = item["config"], item["act"], item["seed"]
    torch.manual_seed(seed)
    x, t = swiss_roll(cfg["roll_n"], seed=seed)
    mu, sd = x.mean(0), x.std(0)
    tm, ts = t.mean(), t.std()
    xs, tn = (x - mu) / sd, ((t - tm) / ts)[:, None]
    net = _mlp(3, cfg["roll_width"], cfg["roll_depth"], 1, act)
    loss = _full_batch(net, xs, tn, cfg["roll_steps"], nn.functional.mse_loss)
    xe, _ = swiss_roll(cfg["roll_eval"], seed=10_000 + seed)
    ratios = [C.geodesic_ratio(h, cfg["knn"]) for h in layer_outputs(net, (xe - mu) / sd)]
    th = torch.linspace(1.5 * math.pi, 4.5 * math.pi, 400)
    spiral = torch.stack([th * torch.cos(th), torch.full_like(th, 10.5), th * torch.sin(th)], 1)
    turns = [C.turning_angle(h) for h in layer_outputs(net, (spiral - mu) / sd)]
    return {"act": act, "seed": seed, "geo_ratio": ratios, "turning": turns, "r2": 1.0 - loss}


def _annuli(item: dict[str, Any]) -> dict[str, Any]:
    from ..data import concentric_annuli

    torch.set_num_threads(1)
    cfg, act, seed = item["config"], item["act"], item["seed"]
    torch.manual_seed(seed)
    x, y = concentric_annuli(cfg["annuli_n"], seed=seed)
    net = _mlp(2, cfg["annuli_width"], cfg["annuli_depth"], 2, act)
    _full_batch(net, x, y, cfg["annuli_steps"], nn.functional.cross_entropy)
    with torch.no_grad():
        acc = float((net(x).argmax(1) == y).float().mean())
    outs = layer_outputs(net, x)
    yl = y.numpy()
    topo = {
        c: [topological_complexity(h[yl == c], n_points=cfg["tda_points"], seed=seed) for h in outs]
        for c in (0, 1)
    }
    return {
        "act": act,
        "seed": seed,
        "train_acc": acc,
        "mass": {str(c): [t["mass"] for t in topo[c]] for c in topo},
        "loops": [topo[0][i]["loops"] + topo[1][i]["loops"] for i in range(len(outs))],
        "betti": {str(c): [[t["b0"], t["b1"]] for t in topo[c]] for c in topo},
    }


def _ids(item: dict[str, Any]) -> dict[str, Any]:
    from ..nets.segments import find_segments, intermediates
    from ..nets.zoo import build

    torch.set_num_threads(1)
    cfg, seed = item["config"], item["seed"]
    data = C.subset("mnist5k", cfg["cnn_train"], 1000)
    model = build("cnn", seed=seed, channels=tuple(cfg["cnn_channels"]), hidden=64)
    r = C.fit(model, data, epochs=cfg["cnn_epochs"], lr=3e-3, seed=seed)
    model.eval()
    segs = find_segments(model)
    x = data["x_test"][: cfg["id_points"]]
    with torch.no_grad():
        outs = intermediates(model, segs)(x)
    ids = [C.two_nn_dimension(x.flatten(1).double().numpy())]
    ids += [C.two_nn_dimension(o.flatten(1).double().numpy()) for o in outs]
    return {"seed": seed, "ids": ids, "layers": ["input"] + [n for n, _ in segs], "test_acc": r["test_acc"]}


def run(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    t0 = C.timer()
    seeds = list(config["seeds"])
    roll = ctx.map(_roll, [{"config": config, "act": a, "seed": s} for a in ACTS for s in seeds])
    ann = ctx.map(_annuli, [{"config": config, "act": a, "seed": s} for a in ACTS for s in seeds])
    ids = ctx.map(_ids, [{"config": config, "seed": s} for s in seeds])

    def rsel(act: str, key: str) -> np.ndarray:
        return np.asarray([r[key] for r in roll if r["act"] == act])

    def mass(act: str) -> np.ndarray:  # (seeds * classes, layers)
        return np.asarray([r["mass"][c] for r in ann if r["act"] == act for c in ("0", "1")])

    def loops(act: str) -> np.ndarray:  # (seeds, layers), summed over the two classes
        return np.asarray([r["loops"] for r in ann if r["act"] == act])

    tables = []
    n_layers = config["roll_depth"] + 1
    rows = []
    for li in range(n_layers):
        rows.append(
            [li]
            + [C.fmt_pm(rsel(a, "geo_ratio")[:, li], 1.0, 3) for a in ACTS]
            + [C.fmt_pm(rsel(a, "turning")[:, li], 1.0, 2) for a in ACTS]
        )
    tables.append(
        {
            "title": "Swiss roll: kNN-geodesic / Euclidean ratio and turning angle (rad) of the mid-height "
            "spiral, per layer (0 = input), median [min, max] over seeds",
            "columns": ["layer", "ratio ReLU", "ratio tanh", "turning ReLU", "turning tanh"],
            "rows": rows,
        }
    )
    rows = []
    for li in range(config["annuli_depth"] + 1):
        row = [li]
        for a in ACTS:
            m = mass(a)[:, li]
            b = [r["betti"][c][li] for r in ann if r["act"] == a for c in ("0", "1")]
            row += [
                C.fmt_pm(loops(a)[:, li], 1.0, 2),
                C.fmt_pm(m, 1.0, 2),
                " ".join(f"({u},{v})" for u, v in b[:2]),
            ]
        rows.append(row)
    tables.append(
        {
            "title": "Three annuli, per layer: loops (mean b1 over scales, both classes; median [min, max] "
            "over "
            "seeds), excess Betti mass per class, (b0, b1) of classes 0 and 1 at 0.3 x diameter for the "
            "first seed",
            "columns": [
                "layer",
                "loops ReLU",
                "mass ReLU",
                "Betti ReLU",
                "loops tanh",
                "mass tanh",
                "Betti tanh",
            ],
            "rows": rows,
        }
    )
    idm = np.asarray([r["ids"] for r in ids])
    tables.append(
        {
            "title": "mnist5k CNN: TwoNN intrinsic dimension per layer, median [min, max] over seeds",
            "columns": ids[0]["layers"],
            "rows": [[C.fmt_pm(idm[:, j], 1.0, 1) for j in range(idm.shape[1])]],
        }
    )
    idmed = np.median(idm, axis=0)
    gr = {a: np.median(rsel(a, "geo_ratio"), axis=0) for a in ACTS}
    mm = {a: np.median(mass(a), axis=0) for a in ACTS}
    lp = {a: np.median(loops(a), axis=0) for a in ACTS}
    numbers = {
        "geo_ratio_input": float(gr["relu"][0]),
        "geo_ratio_last_relu": float(gr["relu"][-1]),
        "geo_ratio_last_tanh": float(gr["tanh"][-1]),
        "turning_input": float(np.median(rsel("relu", "turning")[:, 0])),
        "turning_last_relu": float(np.median(rsel("relu", "turning")[:, -1])),
        "turning_last_tanh": float(np.median(rsel("tanh", "turning")[:, -1])),
        "loops_input": float(lp["relu"][0]),
        "loops_last_relu": float(lp["relu"][-1]),
        "loops_last_tanh": float(lp["tanh"][-1]),
        "loops_mean_hidden_relu": float(np.mean(lp["relu"][1:])),
        "loops_mean_hidden_tanh": float(np.mean(lp["tanh"][1:])),
        "mass_input": float(mm["relu"][0]),
        "mass_last_relu": float(mm["relu"][-1]),
        "mass_last_tanh": float(mm["tanh"][-1]),
        "mass_mean_hidden_relu": float(np.mean(mm["relu"][1:])),
        "mass_mean_hidden_tanh": float(np.mean(mm["tanh"][1:])),
        "annuli_train_acc_relu": float(np.median([r["train_acc"] for r in ann if r["act"] == "relu"])),
        "annuli_train_acc_tanh": float(np.median([r["train_acc"] for r in ann if r["act"] == "tanh"])),
        "id_input": float(idmed[0]),
        "id_max_layer": ids[0]["layers"][int(np.argmax(idmed))],
        "id_profile": ", ".join(f"{v:.1f}" for v in idmed),
        "id_hunchback": bool(0 < int(np.argmax(idmed)) < len(idmed) - 1),
        "n_seeds": len(seeds),
        "seconds": C.timer() - t0,
    }
    figure(gr, lp, idmed, ids[0]["layers"], ctx)
    return {
        "numbers": numbers,
        "seeds": seeds,
        "tables": tables,
        "runs_roll": roll,
        "runs_annuli": ann,
        "runs_id": ids,
        "notes": "Swiss roll: MLP regression of t (standardised), full-batch Adam; annuli: MLP classifiers, "
        "full-batch Adam; persistence on subsampled classes scaled by their diameter; mnist5k CNN: zoo "
        "'cnn'.",
    }


def figure(gr: dict, mm: dict, idmed: np.ndarray, layers: list[str], ctx: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 3, figsize=(11, 3))
    for a in ACTS:
        axs[0].plot(gr[a], "o-", label=a)
        axs[1].plot(mm[a], "o-", label=a)
    axs[0].axhline(1, color="k", lw=0.5)
    axs[0].set_xlabel("layer")
    axs[0].set_ylabel("geodesic / Euclidean")
    axs[0].set_title("swiss roll", fontsize=9)
    axs[1].set_xlabel("layer")
    axs[1].set_ylabel("loops (mean b1 over scales)")
    axs[1].set_title("three annuli", fontsize=9)
    axs[1].legend(fontsize=7)
    axs[2].plot(idmed, "o-")
    axs[2].set_xticks(range(len(layers)), layers, rotation=45, fontsize=7)
    axs[2].set_ylabel("TwoNN dimension")
    axs[2].set_title("mnist5k CNN", fontsize=9)
    ctx.save_figure(
        fig,
        "flattening",
        caption="Flattening (median over seeds): geodesic ratio, persistence mass, "
        "intrinsic dimension per layer.",
    )


def rule(result: dict[str, Any]) -> Verdict:
    """Pure decision rule of claim 9 (see the module docstring)."""
    n = result["numbers"]
    r0, rl = n["geo_ratio_input"], n["geo_ratio_last_relu"]
    m0, ml = n["loops_input"], n["loops_last_relu"]
    f1 = (rl - 1) <= 0.5 * (r0 - 1)
    f2 = ml < 0.5 * m0
    measured = (
        f"geodesic/Euclid {r0:.2f} -> {rl:.2f} (ReLU), {n['geo_ratio_last_tanh']:.2f} (tanh); loops "
        f"{m0:.2f} -> {ml:.2f} (ReLU), {n['loops_last_tanh']:.2f} (tanh); ID profile {n['id_profile']}"
    )
    r = "F1 (r_L - 1) <= (r_0 - 1)/2, F2 loops_L < loops_0/2 (ReLU nets): both supported, none not supported"
    if f1 and f2:
        v = "supported"
    elif not f1 and not f2:
        v = "not supported"
    else:
        v = "inconclusive: " + ("the topology does not simplify" if f1 else "the manifold is not flattened")
    return Verdict(v, rule=r, measured=measured, expected=EXPECTED)
