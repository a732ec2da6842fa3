"""Quantum plates: Fig. 1 measured, and the claim that large-q curvature is almost everywhere negative."""

from __future__ import annotations

from ..plate import PlateContext, Verdict, plate

NEG_SUPPORTED = 0.9  # "almost everywhere negative": at least 90% of planes
NEG_REFUTED = 0.5  # fewer than half negative: the claim fails under that measure


def _complexity_job(item: dict) -> dict:
    """One target's continuation (module level: picklable for ctx.map)."""
    from deepgeometry.quantum import geodesics as C
    u = C.parse_target(item["target"], item["n"])
    res = C.complexity(u, item["n"], item["q"], branches=item.get("branches", 1),
                       time_limit=item.get("time_limit"))
    out = res.to_dict()
    out["target"] = item["target"]
    conn = res.connections[-1]
    if conn is not None:
        from deepgeometry.quantum.metric import PenaltyMetric
        from deepgeometry.quantum.synthesis import staircase

        metric = PenaltyMetric(item["n"], item["q"][-1])
        vel = conn.geodesic.velocities
        out["easy_norm"] = metric.project_easy(vel).norm(dim=-1).tolist()
        out["hard_norm"] = metric.project_hard(vel).norm(dim=-1).tolist()
        out["times"] = conn.geodesic.times.tolist()
        out["staircase"] = staircase(conn.geodesic, metric, u, item.get("segments", [1, 2, 4, 8, 16, 32]))
    return out


@plate("quantum-fig1", title="Fig. 1 measured: complexity vs q, easy/hard Hamiltonian, gate staircase",
       section="II-A", kind="figure", order=10, world="quantum",
       profiles={"quick": {"n": 3, "q": [1.0, 3.0, 10.0, 30.0, 100.0, 1000.0],
                           "targets": ["cnot", "toffoli", "qft:3", "haar:0"],
                           "time_limit": 40},
                 "full": {"n": 3, "q": [1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0],
                          "targets": ["cnot", "toffoli", "qft:3", "haar:0", "haar:1", "haar:2"],
                          "branches": 2, "time_limit": 900}})
def fig1(config: dict, ctx: PlateContext) -> dict:
    items = [{"target": t, "n": config["n"], "q": config["q"], "branches": config.get("branches", 1),
              "time_limit": config.get("time_limit")} for t in config["targets"]]
    runs = ctx.map(_complexity_job, items)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    for r in runs:
        qs = [q for q, ok in zip(r["q"], r["converged"], strict=True) if ok]
        ls = [v for v, ok in zip(r["length"], r["converged"], strict=True) if ok]
        ax[0].plot(qs, ls, "o-", label=r["target"])
    ax[0].set_xscale("log")
    ax[0].set_xlabel("q")
    ax[0].set_ylabel("complexity d(I, U)")
    ax[0].legend()
    haar = next((r for r in runs if r["target"].startswith("haar") and "times" in r), None)
    if haar is not None:
        ax[1].plot(haar["times"], haar["easy_norm"], label="|P H(t)| easy")
        ax[1].plot(haar["times"], haar["hard_norm"], label="|Q H(t)| hard")
        ax[1].set_title(f"{haar['target']} at q = {config['q'][-1]:g}")
        ax[1].set_xlabel("t")
        ax[1].legend()
        st = haar["staircase"]
        ax[2].loglog([s["error"] for s in st], [s["gates"] for s in st], "s-")
        ax[2].set_xlabel("operator-norm error (mod phase)")
        ax[2].xaxis.set_minor_formatter(plt.NullFormatter())  # minor log labels overlap
        ax[2].set_ylabel("1- and 2-qubit gates")
    ctx.save_figure(fig, "quantum-fig1",
                    caption="Left: geodesic length vs penalty q (continuation from q = 1). Middle: easy and "
                    "hard parts of H(t) along the Haar geodesic. Right: gate count vs error.")
    rows = [[r["target"]] + [None if v is None else round(v, 6) for v in r["length"]] for r in runs]
    numbers = {f"d[{r['target']}] q={config['q'][-1]:g}": r["length"][-1] for r in runs}
    numbers["max residual"] = max((x for r in runs for x in r["residual"] if x is not None), default=None)
    return {"numbers": numbers,
            "tables": [{"title": "complexity vs q", "columns": ["target"] + [f"q={q:g}" for q in config["q"]],
                        "rows": rows}],
            "runs": runs,
            "notes": "Lengths modulo global phase; None = not converged (its residual is in the record)."}


def curvature_verdict(result: dict) -> Verdict:
    """Supported if every plane measure has >= 90% negative planes at the largest q; not supported if
    every measure has < 50%; otherwise inconclusive because the answer depends on the measure."""
    fr = result["negative_fraction"]
    rule = (f"negative fraction >= {NEG_SUPPORTED:.0%} under every plane measure at the largest q "
            f"(< {NEG_REFUTED:.0%} under all: not supported)")
    measured = ", ".join(f"{k}: {v:.1%}" for k, v in fr.items())
    if all(v >= NEG_SUPPORTED for v in fr.values()):
        verdict = "supported"
    elif all(v < NEG_REFUTED for v in fr.values()):
        verdict = "not supported"
    else:
        ok = [k for k, v in fr.items() if v >= NEG_SUPPORTED]
        bad = [k for k, v in fr.items() if v < NEG_REFUTED]
        verdict = (f"inconclusive: depends on the plane measure (holds for {ok or 'none'}, "
                   f"fails for {bad or 'none'})")
    return Verdict(verdict, rule=rule, measured=measured, expected="almost everywhere negative (paper II-A)")


def _curv_job(item: dict) -> dict:
    from deepgeometry.quantum.curvature import curvature_stats
    from deepgeometry.quantum.metric import PenaltyMetric

    return curvature_stats(PenaltyMetric(item["n"], item["q"]), item["measure"], item["samples"],
                           item["seed"]).to_dict()


@plate("quantum-curvature-negative",
       title="Is the sectional curvature almost everywhere negative for large q?",
       section="II-A", kind="claim", order=11, world="quantum", verdict=curvature_verdict,
       claim="For the metric given in (1), the sectional curvature is almost negative everywhere when q is "
             "large enough.",
       profiles={"quick": {"n": [3, 4], "q": [1.0, 10.0, 1000.0], "samples": 400, "seed": 0},
                 "full": {"n": [3, 4, 5], "q": [1.0, 10.0, 100.0, 1000.0], "samples": 2000, "seed": 0}})
def curvature_claim(config: dict, ctx: PlateContext) -> dict:
    from deepgeometry.quantum.curvature import MEASURES

    items = [{"n": n, "q": q, "measure": m, "samples": config["samples"], "seed": config["seed"]}
             for n in config["n"] for q in config["q"] for m in MEASURES]
    stats = ctx.map(_curv_job, items)
    nmax, qmax = max(config["n"]), max(config["q"])
    frac = {s["measure"]: s["negative"] for s in stats if s["n_qubits"] == nmax and s["q"] == qmax}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for m in MEASURES:
        for n in config["n"]:
            pts = [(s["q"], s["negative"]) for s in stats if s["measure"] == m and s["n_qubits"] == n]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{m}, n={n}")
    ax.set_xscale("log")
    ax.set_xlabel("q")
    ax.set_ylabel("fraction of negative planes")
    ax.legend(fontsize=7)
    ctx.save_figure(fig, "quantum-curvature", caption="Fraction of planes with negative sectional curvature, "
                    "per plane measure: the answer to the paper's claim depends on how planes are drawn.")
    rows = [[s["n_qubits"], s["q"], s["measure"], round(s["negative"], 4), round(s["zero"], 4),
             round(s["mean"], 4), round(s["minimum"], 4), round(s["maximum"], 4)] for s in stats]
    return {"numbers": {f"negative[{k}] n={nmax} q={qmax:g}": v for k, v in frac.items()},
            "negative_fraction": frac,
            "tables": [{"title": "sectional curvature statistics",
                        "columns": ["n", "q", "measure", "negative", "zero", "mean", "min", "max"],
                        "rows": rows}],
            "notes": "pauli-planes are exact (all pairs); the others are Gaussian planes (seeded)."}
