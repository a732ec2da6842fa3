"""Claim 5 (Section III-B): the segments of a ResNet's curve are near-identity maps I + H, and a ResNet
spreads its complexity roughly uniformly along the curve.

A residual MLP (zoo ``residual_mlp``, full pre-activation units with BN, so every unit is exactly
``x + F(x)``) and a plain MLP of the same width and depth (zoo ``plain_mlp`` with BN) are trained on mnist1d.
Per block, on test signals:

* ``||F(x)|| / ||x||`` (median over signals) -- near-identity means << 1;
* ``cos(F(x), dL/dx)`` (Jastrzebski et al. 2018: negative, i.e. F moves x down the loss gradient; note the
  issue text says "with the negative loss gradient ... mostly negative", which is the opposite sign);
* lesions (Veit et al. 2016): the test accuracy lost when one block is replaced by the identity;
* balance: Gini coefficient of the per-block displacement ``median ||out - in|| / ||in||``
  (:func:`deepgeometry.core.gini`; 0 = evenly spread along the curve).

Rule (pre-declared): C1: median over blocks of ``||F|| / ||x||`` < 0.5; C2: median residual lesion drop
< 2 pts
and median plain lesion drop > 20 pts; C3: Gini(residual) < Gini(plain). All three: supported; at most one:
not supported; two: inconclusive (naming the failed criterion).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..atlas.plate import Verdict
from ..core.curve import gini
from . import _common as C

CLAIM = (
    "\"It's easy to tell that when L is big enough, U_ResNet(l delta) is near the identity operation I so "
    "that "
    "the first-order approximation of U_ResNet(l delta) gives U_ResNet(l delta) ~ I + H_ResNet(l delta) ... "
    "The ResNet achieves a roughly uniform distribution of the complexity of the problem along the curve "
    'U_ResNet(t)." (Section III-B)'
)
EXPECTED = (
    "||F(x)||/||x|| small in trained ResNets and F aligned against dL/dx (Jastrzebski et al. 2018, ICLR, "
    "'Residual connections encourage iterative inference'); removing one residual block costs little, "
    "removing a plain layer is fatal (Veit et al. 2016, NeurIPS, 'Residual networks behave like ensembles "
    "of relatively shallow networks')"
)

QUICK = {
    "seeds": [0, 1, 2],
    "depth": 8,
    "width": 64,
    "n_train": 2000,
    "n_test": 1000,
    "epochs": 8,
    "lr": 2e-3,
}
FULL = {
    "seeds": [0, 1, 2, 3, 4],
    "depth": 16,
    "width": 128,
    "n_train": 4000,
    "n_test": 1000,
    "epochs": 20,
    "lr": 2e-3,
}


def block_io(
    model: nn.Sequential, x: torch.Tensor, blocks: list[str]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Inputs and outputs of the named top-level blocks on ``x`` (eval mode, no grad)."""
    store: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    mods = dict(model.named_children())
    hs = [
        mods[b].register_forward_hook(lambda m, i, o, b=b: store.__setitem__(b, (i[0].detach(), o.detach())))
        for b in blocks
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hs:
            h.remove()
    return [store[b] for b in blocks]


def residual_alignment(
    model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, blocks: list[str]
) -> list[float]:
    """Per block: mean over samples of ``cos(F(x_b), dL/dx_b)`` with ``F(x_b) = block(x_b) - x_b``."""
    mods = dict(model.named_children())
    ins: dict[str, torch.Tensor] = {}
    outs: dict[str, torch.Tensor] = {}

    hs = []
    for b in blocks:
        hs.append(mods[b].register_forward_pre_hook(lambda m, i, b=b: ins.__setitem__(b, i[0])))
        hs.append(mods[b].register_forward_hook(lambda m, i, o, b=b: outs.__setitem__(b, o)))
    try:
        loss = nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, [ins[b] for b in blocks])
    finally:
        for h in hs:
            h.remove()
    cos = []
    for b, gr in zip(blocks, grads, strict=True):
        f = (outs[b] - ins[b]).detach().flatten(1)
        cos.append(float(nn.functional.cosine_similarity(f, gr.flatten(1), dim=1).mean()))
    return cos


def lesion_drops(model: nn.Sequential, data: dict[str, Any], blocks: list[str]) -> list[float]:
    """Test-accuracy drop when each block in turn is replaced by the identity (Veit et al. 2016)."""
    from ..nets.train import accuracy

    base = accuracy(model, data["x_test"], data["y_test"])
    drops = []
    for b in blocks:
        orig = getattr(model, b)
        setattr(model, b, nn.Identity())
        try:
            drops.append(base - accuracy(model, data["x_test"], data["y_test"]))
        finally:
            setattr(model, b, orig)
    return drops


def _one(item: dict[str, Any]) -> dict[str, Any]:
    from ..nets.zoo import build

    torch.set_num_threads(1)
    cfg, kind, seed = item["config"], item["kind"], item["seed"]
    data = C.subset("mnist1d", cfg["n_train"], cfg["n_test"])
    kw = {"in_shape": (1, 40), "width": cfg["width"], "depth": cfg["depth"], "norm": True}
    model = (
        build("residual_mlp", seed=seed, block="pre", **kw)
        if kind == "residual"
        else build("plain_mlp", seed=seed, **kw)
    )
    r = C.fit(model, data, epochs=cfg["epochs"], lr=cfg["lr"], seed=seed)
    model.eval()
    blocks = [f"block{i + 1}" for i in range(cfg["depth"])]
    io = block_io(model, data["x_test"], blocks)
    ratio = [
        float(torch.median((o - i).flatten(1).norm(dim=1) / i.flatten(1).norm(dim=1).clamp_min(1e-12)))
        for i, o in io
    ]
    out = {
        "kind": kind,
        "seed": seed,
        "test_acc": r["test_acc"],
        "displacement": ratio,
        "gini": gini(ratio),
        "lesion": lesion_drops(model, data, blocks),
    }
    if kind == "residual":
        out["cos_F_grad"] = residual_alignment(model, data["x_test"][:500], data["y_test"][:500], blocks)
    return out


def run(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    t0 = C.timer()
    seeds = list(config["seeds"])
    out = ctx.map(
        _one, [{"config": config, "kind": k, "seed": s} for k in ("residual", "plain") for s in seeds]
    )
    res = [r for s in seeds for r in out if r["kind"] == "residual" and r["seed"] == s]
    pla = [r for s in seeds for r in out if r["kind"] == "plain" and r["seed"] == s]
    ratio_med = [float(np.median(r["displacement"])) for r in res]
    cos_med = [float(np.median(r["cos_F_grad"])) for r in res]
    frac_neg = [float(np.mean(np.asarray(r["cos_F_grad"]) < 0)) for r in res]
    les_r = [float(np.median(r["lesion"])) for r in res]
    les_p = [float(np.median(r["lesion"])) for r in pla]
    numbers = {
        "ratio_F_x": C.summary(ratio_med)["median"],
        "ratio_F_x_max_block": float(np.median([max(r["displacement"]) for r in res])),
        "cos_F_grad": C.summary(cos_med)["median"],
        "frac_blocks_cos_negative": C.summary(frac_neg)["median"],
        "lesion_residual": C.summary(les_r)["median"],
        "lesion_residual_max": float(np.median([max(r["lesion"]) for r in res])),
        "lesion_plain": C.summary(les_p)["median"],
        "gini_residual": C.summary([r["gini"] for r in res])["median"],
        "gini_plain": C.summary([r["gini"] for r in pla])["median"],
        "acc_residual": C.summary([r["test_acc"] for r in res])["median"],
        "acc_plain": C.summary([r["test_acc"] for r in pla])["median"],
        "n_seeds": len(seeds),
        "seconds": C.timer() - t0,
    }
    rows = []
    for b in range(config["depth"]):
        rows.append(
            [
                b + 1,
                C.fmt_pm([r["displacement"][b] for r in res], 1.0, 3),
                C.fmt_pm([r["cos_F_grad"][b] for r in res], 1.0, 2),
                C.fmt_pm([r["lesion"][b] for r in res]),
                C.fmt_pm([r["displacement"][b] for r in pla], 1.0, 3),
                C.fmt_pm([r["lesion"][b] for r in pla]),
            ]
        )
    figure(res, pla, ctx)
    return {
        "numbers": numbers,
        "seeds": seeds,
        "runs": out,
        "tables": [
            {
                "title": "Per block, median [min, max] over seeds (displacement = ||out - in|| / ||in||; "
                "for the residual net that is ||F(x)|| / ||x||)",
                "columns": [
                    "block",
                    "residual displ.",
                    "residual cos(F, dL/dx)",
                    "residual lesion (pts)",
                    "plain displ.",
                    "plain lesion (pts)",
                ],
                "rows": rows,
            }
        ],
        "notes": f"mnist1d, width {config['width']}, {config['depth']} blocks, BN, Adam, {config['epochs']} "
        "epochs. Lesion = replace one block by the identity at test time.",
    }


def figure(res: list[dict], pla: list[dict], ctx: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(8, 3))
    for rows, lab in ((res, "residual"), (pla, "plain")):
        axs[0].plot(np.median([r["displacement"] for r in rows], 0), "o-", label=lab)
        axs[1].plot(100 * np.median([r["lesion"] for r in rows], 0), "o-", label=lab)
    axs[0].set_yscale("log")
    axs[0].set_xlabel("block")
    axs[0].set_ylabel("||out - in|| / ||in||")
    axs[1].set_xlabel("block removed")
    axs[1].set_ylabel("test acc. drop (pts)")
    axs[1].legend()
    ctx.save_figure(
        fig, "near-identity", caption="Per-block displacement and single-block lesions (median over seeds)."
    )


def rule(result: dict[str, Any]) -> Verdict:
    """Pure decision rule of claim 5 (see the module docstring)."""
    n = result["numbers"]
    c1 = n["ratio_F_x"] < 0.5
    c2 = n["lesion_residual"] < 0.02 and n["lesion_plain"] > 0.20
    c3 = n["gini_residual"] < n["gini_plain"]
    measured = (
        f"||F||/||x|| {n['ratio_F_x']:.2f}; cos(F, dL/dx) {n['cos_F_grad']:+.2f}; lesion residual "
        f"{100 * n['lesion_residual']:.1f} vs plain {100 * n['lesion_plain']:.1f} pts; Gini residual "
        f"{n['gini_residual']:.2f} vs plain {n['gini_plain']:.2f}"
    )
    r = "C1 ||F||/||x|| < 0.5; C2 lesion residual < 2 pts, plain > 20 pts; C3 Gini res < plain; 3: supported"
    ok = [c1, c2, c3]
    names = ["near-identity (C1)", "lesions (C2)", "balance (C3)"]
    if all(ok):
        v = "supported"
    elif sum(ok) <= 1:
        v = "not supported"
    else:
        v = f"inconclusive: {names[ok.index(False)]} not met"
    return Verdict(v, rule=r, measured=measured, expected=EXPECTED)
