"""The protocol shared by claims 6 and 7 (He et al. 2016b, Tables 1 and 2): train every variant of a deep
residual net for several seeds, rank the variants by median test error, compare the ranking with the
published one (Kendall tau-b), and ask whether the end-to-end Jacobian spectrum at initialisation predicts it.

Decision rule (pre-declared, :func:`ranking_rule`): ``noise`` = the largest seed half-range among the
variants (>= 1 pt); ``resolved`` = fraction of variant pairs whose median errors differ by more than
``noise``.

* inconclusive if ``resolved < 0.5`` (most of the variants' differences sit inside seed noise);
* supported if ``tau >= 0.6``;
* not supported otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atlas.plate import Verdict
from . import _common as C


def jacobian_spectrum(model: nn.Sequential, x: torch.Tensor, n_points: int = 4) -> dict[str, float]:
    """Singular values of the Jacobian of the block stack (stem output -> last block output) at init.

    Evaluated in eval mode (BN = identity at init, dropout off) on ``n_points`` inputs. Returns, pooled over
    the points, ``isometry_gap`` = median of ``|log sigma|`` (0 for dynamical isometry; robust to the
    near-zero singular values that ReLU rank deficiency produces) and ``median_log_sv``.
    """
    model = model.eval()
    children = list(model.children())
    stem, blocks = children[0], nn.Sequential(*children[1:-1])
    logs = []
    with torch.no_grad():
        h = stem(x[:n_points])
    for i in range(len(h)):
        jac = torch.func.jacrev(lambda v: blocks(v[None])[0].flatten())(h[i])
        s = torch.linalg.svdvals(jac.detach().reshape(jac.shape[0], -1).double())
        logs.append(torch.log(s.clamp_min(1e-300)).numpy())
    lg = np.concatenate(logs)
    return {"isometry_gap": float(np.median(np.abs(lg))), "median_log_sv": float(np.median(lg))}


def one_variant(item: dict[str, Any]) -> dict[str, Any]:
    """Train one (factory, variant, seed) on mnist1d; return test error and the Jacobian spectrum at init."""
    from ..nets.zoo import build

    torch.set_num_threads(1)
    cfg, factory, key, variant, seed = (
        item["config"],
        item["factory"],
        item["key"],
        item["variant"],
        item["seed"],
    )
    data = C.subset("mnist1d", cfg["n_train"], cfg["n_test"])
    kw = {"in_shape": (1, 40), "width": cfg["width"], "depth": cfg["depth"], key: variant}
    model = build(factory, seed=seed, **kw)
    spec = jacobian_spectrum(model, data["x_test"])
    r = C.fit(
        model, data, epochs=cfg["epochs"], lr=cfg["lr"], seed=seed, batch_size=cfg.get("batch_size", 64)
    )
    return {"variant": variant, "seed": seed, "error": 1.0 - r["test_acc"], "diverged": r["diverged"], **spec}


def run_ranking(
    config: dict[str, Any], ctx: Any, factory: str, key: str, table: dict[str, float], title: str
) -> dict[str, Any]:
    """Run all variants of ``table`` and summarise (see the module docstring)."""
    t0 = C.timer()
    seeds = list(config["seeds"])
    variants = list(config.get("variants", list(table)))
    out = ctx.map(
        one_variant,
        [
            {"config": config, "factory": factory, "key": key, "variant": v, "seed": s}
            for v in variants
            for s in seeds
        ],
    )

    def sel(v: str, k: str) -> list[float]:
        return [r[k] for s in seeds for r in out if r["variant"] == v and r["seed"] == s]

    med = {v: C.summary(sel(v, "error"))["median"] for v in variants}
    spec = {
        v: C.summary(sel(v, "isometry_gap"))["median"] for v in variants
    }  # larger gap -> worse, predicted
    paper = [table[v] for v in variants]
    tau = C.kendall_tau([med[v] for v in variants], paper)
    tau_spec_paper = C.kendall_tau([spec[v] for v in variants], paper)
    tau_spec_measured = C.kendall_tau([spec[v] for v in variants], [med[v] for v in variants])
    rows = [
        [
            v,
            "fail" if math.isinf(table[v]) else f"{table[v]:.2f}",
            C.fmt_pm(sel(v, "error")),
            C.fmt_pm(sel(v, "isometry_gap"), 1.0, 2),
            C.fmt_pm(sel(v, "median_log_sv"), 1.0, 2),
        ]
        for v in variants
    ]
    numbers = {
        "kendall_tau": tau,
        "spread": max(med.values()) - min(med.values()),
        "noise": (nz := C.noise(*[sel(v, "error") for v in variants])),
        "resolved_pairs": resolved_fraction([med[v] for v in variants], nz),
        "best_variant": min(med, key=med.get),
        "tau_jacobian_vs_paper": tau_spec_paper,
        "tau_jacobian_vs_measured": tau_spec_measured,
        **{f"error_{v}": med[v] for v in variants},
        "n_seeds": len(seeds),
        "seconds": C.timer() - t0,
    }
    _figure(variants, sel, table, factory, ctx)
    return {
        "numbers": numbers,
        "seeds": seeds,
        "runs": out,
        "tables": [
            {
                "title": title,
                "columns": [
                    "variant",
                    "paper error (%)",
                    "measured error (%)",
                    "median |log sigma(J)| at init",
                    "median log sigma(J) at init",
                ],
                "rows": rows,
            }
        ],
        "notes": f"mnist1d ({config['n_train']} train / {config['n_test']} test), MLP units of width "
        f"{config['width']}, {config['depth']} units, Adam lr {config['lr']}, {config['epochs']} epochs. "
        "Jacobian: block stack from stem output to last unit, eval mode, at initialisation.",
    }


def _figure(variants: list[str], sel: Any, table: dict[str, float], name: str, ctx: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    fin = [v for v in variants if math.isfinite(table[v])]
    worst = max([table[v] for v in fin], default=10.0) + 2
    for v in variants:
        e = 100 * np.asarray(sel(v, "error"))
        px = table[v] if math.isfinite(table[v]) else worst
        ax.scatter([px] * len(e), e, s=12, alpha=0.6)
        ax.annotate(v, (px, float(np.median(e))), fontsize=6)
    ax.set_xlabel("He et al. 2016b error (%) (fail plotted at right)")
    ax.set_ylabel("measured error (%)")
    ctx.save_figure(fig, f"{name}-ranking", caption="Measured test error per seed vs the published error.")


def resolved_fraction(medians: list[float], noise: float) -> float:
    """Fraction of pairs ``(i, j)`` with ``|m_i - m_j| > noise``."""
    m = np.asarray(medians, dtype=np.float64)
    iu = np.triu_indices(m.size, 1)
    return float(np.mean(np.abs(m[:, None] - m[None, :])[iu] > noise)) if m.size > 1 else 0.0


def ranking_rule(result: dict[str, Any], expected: str, what: str) -> Verdict:
    """Pure decision rule shared by claims 6 and 7 (see the module docstring)."""
    n = result["numbers"]
    tau, res, nz = n["kendall_tau"], n["resolved_pairs"], n["noise"]
    ts = "nan" if tau is None or (isinstance(tau, float) and math.isnan(tau)) else f"{tau:+.2f}"
    tj = n.get("tau_jacobian_vs_paper")
    tjs = "nan" if tj is None or (isinstance(tj, float) and math.isnan(tj)) else f"{tj:+.2f}"
    measured = (
        f"Kendall tau vs {what} {ts}; {100 * res:.0f}% of variant pairs differ by more than the seed "
        f"noise {100 * nz:.1f} pts; best: {n['best_variant']}; Jacobian-spectrum tau vs {what} {tjs}"
    )
    r = "< 50% of pairs resolved beyond noise: inconclusive; else tau >= 0.6: supported, else not supported"
    if res < 0.5:
        v = f"inconclusive: {100 * (1 - res):.0f}% of the variant pairs differ by less than the seed noise"
    elif tau is not None and not (isinstance(tau, float) and math.isnan(tau)) and tau >= 0.6:
        v = "supported"
    else:
        v = "not supported"
    return Verdict(v, rule=r, measured=measured, expected=expected)
