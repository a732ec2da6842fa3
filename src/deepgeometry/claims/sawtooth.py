"""Claim 2 (Section III-A "Why deep CNN?", Section IV): a curve shorter than the geodesic never reaches the
target -- a too shallow network never works efficiently.

Oracle: Telgarsky's sawtooth ``f_k = tent^k`` on [0, 1] (``tent(x) = 2 min(x, 1 - x)``) has ``2^k`` linear
pieces. A ReLU net with one hidden layer of width ``w`` has at most ``w + 1`` pieces, so it needs
``w >= 2^k - 1`` to represent ``f_k``; a net of ``k`` hidden ReLU layers of width 2 represents it exactly
(:func:`sawtooth_net`, hand-built: ``tent(x) = 2 relu(x) - 4 relu(x - 1/2)`` composed ``k`` times).

Experiment: for k in ``ks``, depth-1 nets of width ``w = m 2^k`` (``m`` in ``width_factors``) are trained
(kinks drawn uniformly in [0, 1], read-out fitted by least squares, then all weights refined by
full-batch Adam) and scored by the relative error
``MSE / Var(f_k)`` on a dense grid (``Var(f_k) = 1/12`` for every k); deep-narrow nets with the
hand-built architecture are also trained from random initialisations (optimisation, not expressivity).
Linear pieces are counted by dense 1-D sampling (:func:`count_pieces`).

Rule (pre-declared): ``w*(k)`` = smallest width whose median relative error is <= ``threshold``;
``slope`` = least-squares slope of ``log2 w*`` against k over the k where ``w*`` exists.

* not supported if the hand-built deep net is not exact (max error > 1e-9 or pieces != 2^k) for some k,
  or if ``slope < 0.3`` (the shallow width needed does not grow exponentially);
* supported if ``w*`` exists for >= 2 values of k and ``slope >= 0.7``;
* inconclusive otherwise (too few k reached the threshold, or 0.3 <= slope < 0.7).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atlas.plate import Verdict
from ..errors import DeepGeometryError
from . import _common as C

CLAIM = (
    '"The reason to use the deep CNN is just that the length of U_CNN(t) should be longer than the length '
    "of the geodesic connecting the identity transformation I and U_CNN ... Otherwise it will not work since "
    "a short U_CNN(t) will never reach U_CNN.\" (Section III-A, 'Why deep CNN?'); \"A too shallow network "
    'will never work efficiently." (Section IV)'
)
EXPECTED = (
    "depth-1 ReLU nets need width >= 2^k - 1 (<= w+1 pieces) while k layers of width 2 are exact; "
    "trained deep-narrow nets often fail to find the exact solution (Telgarsky 2016, COLT, 'Benefits "
    "of depth in neural networks')"
)

QUICK = {
    "seeds": [0, 1, 2],
    "ks": [3, 4, 5],
    "width_factors": [0.5, 1.0, 2.0, 4.0],
    "steps": 200,
    "lr": 3e-3,
    "n_fit": 512,
    "n_eval": 4097,
    "threshold": 0.05,
    "deep_steps": 600,
}
FULL = {
    "seeds": [0, 1, 2, 3, 4],
    "ks": [3, 4, 5, 6, 7],
    "width_factors": [0.25, 0.5, 1.0, 2.0, 4.0],
    "steps": 1000,
    "lr": 3e-3,
    "n_fit": 2048,
    "n_eval": 16385,
    "threshold": 0.05,
    "deep_steps": 3000,
}


def tent(x: torch.Tensor) -> torch.Tensor:
    """``2 min(x, 1 - x)`` on [0, 1]."""
    return 2 * torch.minimum(x, 1 - x)


def sawtooth(x: torch.Tensor, k: int) -> torch.Tensor:
    """``tent`` composed ``k`` times: ``2^k`` linear pieces, ``2^(k-1)`` teeth."""
    if k < 0:
        raise DeepGeometryError(f"sawtooth: k must be >= 0, got {k}")
    for _ in range(k):
        x = tent(x)
    return x


def sawtooth_net(k: int, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """The exact deep representation: ``k`` hidden ReLU layers of width 2, then a linear read-out.

    Layer 1 computes ``(relu(x), relu(x - 1/2))``; each later layer computes the same pair of the previous
    tent ``t = 2 h_1 - 4 h_2``; the read-out returns the last ``t``.
    """
    if k < 1:
        raise DeepGeometryError(f"sawtooth_net: k must be >= 1, got {k}")
    layers: list[nn.Module] = []
    for i in range(k):
        lin = nn.Linear(1 if i == 0 else 2, 2).to(dtype)
        with torch.no_grad():
            if i == 0:
                lin.weight.copy_(torch.tensor([[1.0], [1.0]], dtype=dtype))
            else:
                lin.weight.copy_(torch.tensor([[2.0, -4.0], [2.0, -4.0]], dtype=dtype))
            lin.bias.copy_(torch.tensor([0.0, -0.5], dtype=dtype))
        layers += [lin, nn.ReLU()]
    out = nn.Linear(2, 1).to(dtype)
    with torch.no_grad():
        out.weight.copy_(torch.tensor([[2.0, -4.0]], dtype=dtype))
        out.bias.zero_()
    return nn.Sequential(*layers, out)


def count_pieces(y: np.ndarray | torch.Tensor, x: np.ndarray | torch.Tensor, rtol: float = 1e-6) -> int:
    """Number of linear pieces of a sampled piecewise-linear function.

    Consecutive sample intervals with equal slope (within ``rtol`` of the largest slope) form a run; a kink
    strictly inside an interval gives that interval a slope of its own (a run of length 1), so pieces are
    the runs of length >= 2. Needs a grid at least twice as fine as the shortest piece.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size != y.size or x.size < 3:
        raise DeepGeometryError(f"count_pieces: need >= 3 matching samples, got x {x.size}, y {y.size}")
    s = np.diff(y) / np.diff(x)
    tol = rtol * max(1.0, float(np.abs(s).max()))
    new = np.concatenate([[True], np.abs(np.diff(s)) > tol])
    starts = np.flatnonzero(new)
    lengths = np.diff(np.concatenate([starts, [s.size]]))
    return int(max(1, np.sum(lengths >= 2)))


def _shallow(width: int, g: torch.Generator, x: torch.Tensor, y: torch.Tensor) -> nn.Sequential:
    """Depth-1 net with kinks drawn uniformly in [0, 1] and the read-out fitted by least squares."""
    net = nn.Sequential(nn.Linear(1, width), nn.ReLU(), nn.Linear(width, 1)).double()
    with torch.no_grad():
        w = torch.where(torch.rand(width, 1, generator=g) < 0.5, -1.0, 1.0).double()
        kinks = torch.rand(width, 1, generator=g).double()
        net[0].weight.copy_(w)
        net[0].bias.copy_((-w * kinks).squeeze(1))
        h = torch.cat([net[1](net[0](x)), torch.ones_like(x)], 1)
        coef = torch.linalg.lstsq(h, y).solution
        net[2].weight.copy_(coef[:-1].T)
        net[2].bias.copy_(coef[-1])
    return net


def _deep_random(k: int, g: torch.Generator) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(k):
        lin = nn.Linear(1 if i == 0 else 2, 2).double()
        with torch.no_grad():
            lin.weight.normal_(0.0, math.sqrt(2.0 / (1 if i == 0 else 2)), generator=g)
            lin.bias.uniform_(-0.5, 0.5, generator=g)
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(2, 1).double())


def _train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> None:
    """Full-batch Adam with a cosine schedule; keeps the best parameters seen (training loss)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    best = (float("inf"), None)
    for _ in range(steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((net(x) - y) ** 2)
        if torch.isfinite(loss) and loss.item() < best[0]:
            best = (loss.item(), {k: v.detach().clone() for k, v in net.state_dict().items()})
        if _ == steps or not torch.isfinite(loss):
            break
        loss.backward()
        opt.step()
        sched.step()
    if best[1] is not None:
        net.load_state_dict(best[1])


def _one(item: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    cfg, k, seed, kind, width = item["config"], item["k"], item["seed"], item["kind"], item["width"]
    g = torch.Generator().manual_seed(10_000 * k + 100 * seed + width)
    x = torch.linspace(0, 1, cfg["n_fit"], dtype=torch.float64)[:, None]
    xe = torch.linspace(0, 1, cfg["n_eval"], dtype=torch.float64)[:, None]
    y = sawtooth(x, k)
    net = _shallow(width, g, x, y) if kind == "shallow" else _deep_random(k, g)
    _train(net, x, y, cfg["steps"] if kind == "shallow" else cfg["deep_steps"], cfg["lr"])
    with torch.no_grad():
        pe = net(xe)
    rel = float(torch.mean((pe - sawtooth(xe, k)) ** 2) / (1.0 / 12.0))
    return {
        "k": k,
        "seed": seed,
        "kind": kind,
        "width": width,
        "rel_mse": rel,
        "pieces": count_pieces(pe.numpy(), xe.numpy()),
    }


def _w_star(
    rows: list[dict], k: int, widths: list[int], seeds: list[int], thr: float
) -> tuple[int | None, dict]:
    med = {}
    for w in widths:
        vals = [r["rel_mse"] for r in rows if r["k"] == k and r["width"] == w and r["kind"] == "shallow"]
        med[w] = C.summary(vals)
    ok = [w for w in widths if med[w]["median"] <= thr]
    return (min(ok) if ok else None), med


def run(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    t0 = C.timer()
    seeds, ks = list(config["seeds"]), list(config["ks"])
    widths = {k: sorted({max(1, int(round(f * 2**k))) for f in config["width_factors"]}) for k in ks}
    items = [
        {"config": config, "k": k, "seed": s, "kind": "shallow", "width": w}
        for k in ks
        for w in widths[k]
        for s in seeds
    ]
    items += [{"config": config, "k": k, "seed": s, "kind": "deep", "width": 2} for k in ks for s in seeds]
    rows = ctx.map(_one, items)
    xe = torch.linspace(0, 1, config["n_eval"], dtype=torch.float64)[:, None]
    table, exact, wstar = [], {}, {}
    for k in ks:
        with torch.no_grad():
            yd = sawtooth_net(k)(xe)
        err = float((yd - sawtooth(xe, k)).abs().max())
        exact[k] = {"max_err": err, "pieces": count_pieces(yd.numpy(), xe.numpy())}
        ws, med = _w_star(rows, k, widths[k], seeds, config["threshold"])
        wstar[k] = ws
        deep = [r["rel_mse"] for r in rows if r["k"] == k and r["kind"] == "deep"]
        deep_p = [r["pieces"] for r in rows if r["k"] == k and r["kind"] == "deep"]
        for w in widths[k]:
            pcs = [r["pieces"] for r in rows if r["k"] == k and r["width"] == w and r["kind"] == "shallow"]
            table.append(
                [
                    k,
                    2**k,
                    f"shallow w={w}",
                    C.fmt_pm(
                        [
                            r["rel_mse"]
                            for r in rows
                            if r["k"] == k and r["width"] == w and r["kind"] == "shallow"
                        ],
                        1.0,
                        3,
                    ),
                    f"{np.median(pcs):.0f}",
                ]
            )
        table.append([k, 2**k, "deep k x 2, trained", C.fmt_pm(deep, 1.0, 3), f"{np.median(deep_p):.0f}"])
        table.append([k, 2**k, "deep k x 2, hand-built", f"{err:.1e}", str(exact[k]["pieces"])])
    found = [k for k in ks if wstar[k] is not None]
    slope = float(np.polyfit(found, np.log2([wstar[k] for k in found]), 1)[0]) if len(found) >= 2 else None
    deep_all = [r["rel_mse"] for r in rows if r["kind"] == "deep" and r["k"] == max(ks)]
    numbers = {
        "hand_built_max_err": max(e["max_err"] for e in exact.values()),
        "hand_built_pieces_ok": all(exact[k]["pieces"] == 2**k for k in ks),
        "n_k_reached": len(found),
        "n_k": len(ks),
        "log2_width_slope": slope if slope is not None else "n/a",
        "w_star": ", ".join(f"k={k}: {wstar[k] if wstar[k] else '>' + str(max(widths[k]))}" for k in ks),
        "deep_trained_rel_mse_kmax": C.summary(deep_all)["median"],
        "threshold": config["threshold"],
        "n_seeds": len(seeds),
        "seconds": C.timer() - t0,
    }
    figure(rows, ks, widths, ctx)
    return {
        "numbers": numbers,
        "seeds": seeds,
        "runs": rows,
        "tables": [
            {
                "title": "Sawtooth f_k: relative MSE (MSE / Var f_k), median [min, max] over seeds, "
                "and linear pieces counted on a dense grid",
                "columns": ["k", "pieces of f_k", "net", "rel. MSE", "pieces (median)"],
                "rows": table,
            }
        ],
        "notes": "Depth-1 nets: kinks drawn uniformly in [0, 1], read-out by least squares, then "
        "full-batch Adam (cosine schedule); float64. Deep nets: k hidden ReLU layers of width 2 (2k units).",
    }


def figure(rows: list[dict], ks: list[int], widths: dict[int, list[int]], ctx: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3))
    for k in ks:
        med = [
            np.median(
                [r["rel_mse"] for r in rows if r["k"] == k and r["width"] == w and r["kind"] == "shallow"]
            )
            for w in widths[k]
        ]
        ax.loglog(widths[k], med, "o-", label=f"k={k}")
    ax.set_xlabel("width of the depth-1 net")
    ax.set_ylabel("MSE / Var(f_k)")
    ax.legend(fontsize=7)
    ctx.save_figure(
        fig, "sawtooth-width", caption="Shallow nets need exponentially growing width (median over seeds)."
    )


def rule(result: dict[str, Any]) -> Verdict:
    """Pure decision rule of claim 2 (see the module docstring)."""
    n = result["numbers"]
    slope = n["log2_width_slope"]
    s = "n/a" if not isinstance(slope, (int, float)) else f"{slope:.2f}"
    measured = (
        f"hand-built deep err {n['hand_built_max_err']:.1e}; shallow width needed {n['w_star']} "
        f"(log2-slope {s}); trained deep-narrow rel. MSE {n['deep_trained_rel_mse_kmax']:.3f}"
    )
    r = "exact deep net and log2 w*(k) slope >= 0.7 (>= 2 k reached): supported; slope < 0.3: not supported"
    if n["hand_built_max_err"] > 1e-9 or not n["hand_built_pieces_ok"]:
        v = "not supported"
    elif isinstance(slope, (int, float)) and slope < 0.3:
        v = "not supported"
    elif n["n_k_reached"] >= 2 and isinstance(slope, (int, float)) and slope >= 0.7:
        v = "supported"
    elif n["n_k_reached"] < 2:
        v = "inconclusive: shallow nets reached the error threshold for fewer than 2 values of k"
    else:
        v = f"inconclusive: width grows with k but slower than exponentially (slope {s})"
    return Verdict(v, rule=r, measured=measured, expected=EXPECTED)
