"""Claim 4 (Section III-A, "Why does ReLU work better than the sigmoid in deep CNNs?"): ReLU is a weaker
nonlinearity than the sigmoid, so deep ReLU nets have lower complexity and converge better.

Measurements for ReLU, tanh and sigmoid MLPs with each activation's standard initialisation (He: sigma_w^2
= 2 for ReLU; Glorot: sigma_w^2 = 1 for tanh and sigmoid; zero biases):

* random nets (Poole et al. 2016): a circle in input space pushed through the layers; per layer its length
  ratio ``len_l / len_0`` and total turning angle (integrated curvature, radians; 2 pi for the input circle);
* gradient norms per layer at initialisation, ``log10(|dL/dW_1| / |dL/dW_L|)`` (vanishing gradients: < 0);
* trainability: mnist1d test accuracy after a fixed budget (Adam) vs depth; and the turning angle of a circle
  through the deepest trained nets.

Rule (pre-declared): (i) ``gap`` = median paired test accuracy ReLU - sigmoid at the largest depth, noise =
largest seed half-range (>= 1 pt); (ii) ReLU "bends less": median turning angle at the last layer of the
random nets is smaller for ReLU than for the sigmoid.

* not supported if ``gap < -noise`` (the sigmoid trains better);
* inconclusive if ``|gap| <= noise``;
* supported if ``gap > noise`` and (ii) holds; inconclusive if ``gap > noise`` but (ii) fails (ReLU trains
  better but is not the weaker nonlinearity in this measure).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atlas.plate import Verdict
from . import _common as C

CLAIM = (
    '"Obviously ReLU is a weaker nonlinear function than the sigmoid. This means for a given CNN structure, '
    "using ReLU will have a lower representation capability than using the sigmoid ... So for a general deep "
    "CNN, the sigmoid is too complex and ReLU is a proper activation function that can produce a Riemannian "
    "manifold with a proper curvature.\" (Section III-A, 'Why does ReLU work better than the sigmoid in "
    "deep CNNs?')"
)
EXPECTED = (
    "deep sigmoid nets saturate and their gradients vanish toward the input, ReLU nets train "
    "(Glorot & Bengio 2010, AISTATS; Glorot, Bordes & Bengio 2011); curvature of curves through random "
    "nets grows with depth in the chaotic phase, set by sigma_w (Poole et al. 2016, NeurIPS)"
)

ACTS = ("relu", "tanh", "sigmoid")
SIGMA_W2 = {"relu": 2.0, "tanh": 1.0, "sigmoid": 1.0}

QUICK = {
    "seeds": [0, 1, 2],
    "random_width": 128,
    "random_depth": 10,
    "n_curve": 400,
    "depths": [4, 16],
    "width": 64,
    "n_train": 2000,
    "n_test": 1000,
    "epochs": 5,
    "lr": 1e-3,
}
FULL = {
    "seeds": [0, 1, 2, 3, 4],
    "random_width": 512,
    "random_depth": 20,
    "n_curve": 1000,
    "depths": [2, 4, 8, 16, 32],
    "width": 128,
    "n_train": 4000,
    "n_test": 1000,
    "epochs": 15,
    "lr": 1e-3,
}


def _mlp(act: str, width: int, depth: int, d_in: int, n_out: int, g: torch.Generator) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [
            nn.Linear(d_in if i == 0 else width, width),
            {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[act](),
        ]
    layers.append(nn.Linear(width, n_out))
    net = nn.Sequential(nn.Flatten(), *layers)
    C.init_normal(net, SIGMA_W2[act], 0.0, g)
    return net


def _circle(center: torch.Tensor, radius: float, m: int, g: torch.Generator) -> torch.Tensor:
    d = center.numel()
    q, _ = torch.linalg.qr(torch.randn(d, 2, generator=g))
    th = torch.linspace(0, 2 * math.pi, m + 1)[:-1]
    return center[None] + radius * (torch.cos(th)[:, None] * q[:, 0] + torch.sin(th)[:, None] * q[:, 1])


def curve_profile(net: nn.Sequential, curve: torch.Tensor) -> dict[str, list[float]]:
    """Length ratio and turning angle of a closed curve after each activation of ``net`` (in float64, so a
    curve contracted by a saturating net is not drowned in float32 rounding)."""
    import copy

    net = copy.deepcopy(net).double().eval()
    curve = curve.double()
    lens, turns = [C.curve_length(curve.numpy(), True)], [C.turning_angle(curve.numpy(), True)]
    h = curve
    with torch.no_grad():
        for m in net:
            h = m(h)
            if isinstance(m, (nn.ReLU, nn.Tanh, nn.Sigmoid)):
                p = h.numpy()
                lens.append(C.curve_length(p, True))
                turns.append(C.turning_angle(p, True))
    return {"length_ratio": [v / lens[0] for v in lens], "turning": turns}


def grad_norms(net: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """``|dL/dW_l|_F`` for every linear layer (cross-entropy on the batch)."""
    net.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(net(x), y).backward()
    return [float(m.weight.grad.norm()) for m in net if isinstance(m, nn.Linear)]


def _one_random(item: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    cfg, act, seed = item["config"], item["act"], item["seed"]
    g = torch.Generator().manual_seed(seed)
    d = 40
    net = _mlp(act, cfg["random_width"], cfg["random_depth"], d, 10, g)
    prof = curve_profile(net, _circle(torch.zeros(d), math.sqrt(d), cfg["n_curve"], g))
    return {"act": act, "seed": seed, **prof}


def _one_train(item: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    cfg, act, depth, seed = item["config"], item["act"], item["depth"], item["seed"]
    g = torch.Generator().manual_seed(seed)
    data = C.subset("mnist1d", cfg["n_train"], cfg["n_test"])
    net = _mlp(act, cfg["width"], depth, 40, data["n_classes"], g)
    gn = grad_norms(net, data["x_train"][:256], data["y_train"][:256])
    r = C.fit(net, data, epochs=cfg["epochs"], lr=cfg["lr"], seed=seed)
    x = data["x_train"].flatten(1)
    center, radius = x.mean(0), float(x.std(0).norm())
    prof = curve_profile(net, _circle(center, radius, cfg["n_curve"], g))
    return {
        "act": act,
        "depth": depth,
        "seed": seed,
        "grad_norms": gn,
        "log10_grad_ratio": math.log10(max(gn[0], 1e-300) / max(gn[-2], 1e-300)),
        "trained_turning_last": prof["turning"][-1],
        **r,
    }


def run(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    t0 = C.timer()
    seeds = list(config["seeds"])
    rnd = ctx.map(_one_random, [{"config": config, "act": a, "seed": s} for a in ACTS for s in seeds])
    trn = ctx.map(
        _one_train,
        [
            {"config": config, "act": a, "depth": d, "seed": s}
            for a in ACTS
            for d in config["depths"]
            for s in seeds
        ],
    )

    def rsel(act: str, key: str, i: int = -1) -> list[float]:
        return [r[key][i] for s in seeds for r in rnd if r["act"] == act and r["seed"] == s]

    def tsel(act: str, d: int, key: str) -> list[float]:
        return [r[key] for s in seeds for r in trn if r["act"] == act and r["depth"] == d and r["seed"] == s]

    dmax = max(config["depths"])
    rows_r = [
        [
            a,
            C.fmt_pm(rsel(a, "length_ratio"), 1.0, 2),
            C.fmt_pm(rsel(a, "turning"), 1.0, 2),
            f"{SIGMA_W2[a]:g}",
        ]
        for a in ACTS
    ]
    rows_t = []
    for a in ACTS:
        for d in config["depths"]:
            rows_t.append(
                [
                    a,
                    d,
                    C.fmt_pm(tsel(a, d, "test_acc")),
                    C.fmt_pm(tsel(a, d, "log10_grad_ratio"), 1.0, 2),
                    C.fmt_pm(tsel(a, d, "trained_turning_last"), 1.0, 1),
                ]
            )
    gap = C.paired(tsel("relu", dmax, "test_acc"), tsel("sigmoid", dmax, "test_acc"))
    numbers = {
        "relu_minus_sigmoid_acc": C.summary(gap)["median"],
        "relu_minus_tanh_acc": C.summary(
            C.paired(tsel("relu", dmax, "test_acc"), tsel("tanh", dmax, "test_acc"))
        )["median"],
        "noise": C.noise(gap, tsel("relu", dmax, "test_acc"), tsel("sigmoid", dmax, "test_acc")),
        "max_depth": dmax,
        **{f"turning_random_{a}": C.summary(rsel(a, "turning"))["median"] for a in ACTS},
        **{f"length_ratio_random_{a}": C.summary(rsel(a, "length_ratio"))["median"] for a in ACTS},
        **{f"log10_grad_ratio_{a}": C.summary(tsel(a, dmax, "log10_grad_ratio"))["median"] for a in ACTS},
        **{f"acc_{a}": C.summary(tsel(a, dmax, "test_acc"))["median"] for a in ACTS},
        "n_seeds": len(seeds),
        "seconds": C.timer() - t0,
    }
    figure(rnd, ctx)
    return {
        "numbers": numbers,
        "seeds": seeds,
        "runs_random": rnd,
        "runs_trained": trn,
        "tables": [
            {
                "title": f"Random nets (depth {config['random_depth']}, width {config['random_width']}): "
                "input circle at the last layer, median [min, max] over seeds",
                "columns": ["activation", "length ratio", "turning angle (rad; input 2 pi)", "sigma_w^2"],
                "rows": rows_r,
            },
            {
                "title": "Trained MLPs on mnist1d: test acc. (%), log10 |dL/dW_1| / |dL/dW_L| at init, "
                "turning angle of a data circle at the last layer after training",
                "columns": ["activation", "depth", "test acc.", "log10 grad ratio", "turning (trained)"],
                "rows": rows_t,
            },
        ],
        "notes": f"Adam lr {config['lr']}, {config['epochs']} epochs, {config['n_train']} training signals.",
    }


def figure(rnd: list[dict], ctx: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(8, 3))
    for a in ACTS:
        t = np.median([r["turning"] for r in rnd if r["act"] == a], axis=0)
        lr = np.median([r["length_ratio"] for r in rnd if r["act"] == a], axis=0)
        axs[0].plot(lr, "o-", ms=3, label=a)
        axs[1].plot(t, "o-", ms=3, label=a)
    axs[0].set_yscale("log")
    axs[0].set_xlabel("layer")
    axs[0].set_ylabel("length / input length")
    axs[1].set_xlabel("layer")
    axs[1].set_ylabel("turning angle (rad)")
    axs[1].legend(fontsize=7)
    ctx.save_figure(
        fig,
        "activations-curves",
        caption="A circle through random nets: length and integrated "
        "curvature per layer (median over seeds).",
    )


def rule(result: dict[str, Any]) -> Verdict:
    """Pure decision rule of claim 4 (see the module docstring)."""
    n = result["numbers"]
    gap, nz = n["relu_minus_sigmoid_acc"], n["noise"]
    weaker = n["turning_random_relu"] < n["turning_random_sigmoid"]
    measured = (
        f"depth {n['max_depth']}: ReLU - sigmoid {100 * gap:+.1f} pts (noise {100 * nz:.1f}); turning angle "
        f"in random nets ReLU {n['turning_random_relu']:.1f} vs sigmoid {n['turning_random_sigmoid']:.1f} "
        f"rad; log10 grad ratio sigmoid {n['log10_grad_ratio_sigmoid']:.1f}, ReLU "
        f"{n['log10_grad_ratio_relu']:.1f}"
    )
    r = "ReLU - sigmoid acc > noise and ReLU bends less: supported; < -noise: not supported"
    if gap < -nz:
        v = "not supported"
    elif gap <= nz:
        v = "inconclusive: ReLU and sigmoid nets train equally well within seed noise"
    elif weaker:
        v = "supported"
    else:
        v = "inconclusive: ReLU trains better but bends curves more than the sigmoid (mechanism not seen)"
    return Verdict(v, rule=r, measured=measured, expected=EXPECTED)
