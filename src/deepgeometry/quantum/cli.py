"""``deepgeometry quantum complexity | curvature | synthesize`` (paper Section II-A, eq. 1)."""

from __future__ import annotations

import argparse
import math

from ..errors import DeepGeometryError


def _qlist(text: str) -> list[float]:
    try:
        vals = [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise DeepGeometryError(f"--q: expected a number or a comma-separated list, got {text!r}") from None
    if not vals or any(not math.isfinite(v) or v <= 0 for v in vals):
        raise DeepGeometryError(f"--q: values must be finite and > 0, got {text!r}")
    return vals


def _metric_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qubits", type=int, required=True, help="number of qubits n")
    p.add_argument("--q", default="1000", help="penalty on hard directions (or a comma-separated list)")
    p.add_argument("--locality", type=int, default=2, help="strings of weight <= K are easy (default 2)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def register(sub: argparse._SubParsersAction) -> None:
    qp = sub.add_parser("quantum", help="Nielsen's geometry of quantum computation (eq. 1)")
    qsub = qp.add_subparsers(dest="quantum_command", metavar="SUBCOMMAND")
    qp.set_defaults(func=lambda args: (qp.print_help(), 2)[1])

    c = qsub.add_parser("complexity", help="geodesic length from I to a target by continuation in q")
    c.add_argument("--target", required=True, help="cnot | toffoli | qft:K | haar:SEED | FILE.npy")
    _metric_args(c)
    c.add_argument("--phase", choices=["mod-phase", "su"], default="mod-phase")
    c.add_argument("--branches", type=int, default=2, help="q = 1 geodesics followed (default 2)")
    c.add_argument("--time-limit", type=float, default=None, help="wall-clock budget in seconds")
    c.set_defaults(func=_complexity)

    k = qsub.add_parser("curvature", help="sectional-curvature statistics under a plane measure")
    _metric_args(k)
    k.add_argument("--planes", default="metric-isotropic",
                   help="metric-isotropic | biinv-isotropic | pauli-planes | easy-planes")
    k.add_argument("--samples", type=int, default=1000)
    k.add_argument("--seed", type=int, default=0)
    k.set_defaults(func=_curvature)

    s = qsub.add_parser("synthesize", help="geodesic -> 1- and 2-qubit gates: gate count vs error")
    s.add_argument("--target", required=True, help="cnot | toffoli | qft:K | haar:SEED | FILE.npy")
    _metric_args(s)
    s.add_argument("--segments", default="1,2,4,8,16,32", help="comma-separated Trotter slice counts")
    s.set_defaults(func=_synthesize)


def _print_json(obj) -> None:
    from ..utils import dump_json

    print(dump_json(obj))


def _complexity(args: argparse.Namespace) -> int:
    from .geodesics import complexity, parse_target

    target = parse_target(args.target, args.qubits)
    qs = sorted(set(_qlist(args.q)))
    res = complexity(target, args.qubits, qs, locality=args.locality, phase=args.phase,
                     branches=args.branches, time_limit=args.time_limit)
    out = res.to_dict()
    out["target"] = args.target
    if args.json:
        _print_json(out)
    else:
        print(f"target {args.target} on {args.qubits} qubits, locality {args.locality}, {args.phase}")
        for q, length, r, ok in zip(res.q_values, res.lengths, res.residuals, res.converged, strict=True):
            shown = f"{length:.10f}" if ok else "not converged"
            rr = float("nan") if r is None else r
            print(f"  q = {q:<10g} length = {shown:>16s}   residual = {rr:.2e}")
        print(f"  q path ({len(res.q_path[0]) if res.q_path else 0} steps on branch 0), {res.seconds:.1f} s")
    return 0 if all(res.converged) else 1


def _curvature(args: argparse.Namespace) -> int:
    from .curvature import curvature_stats
    from .metric import PenaltyMetric

    qs = _qlist(args.q)
    rows = [curvature_stats(PenaltyMetric(args.qubits, q, args.locality), args.planes, args.samples,
                            args.seed).to_dict() for q in qs]
    if args.json:
        _print_json(rows if len(rows) > 1 else rows[0])
    else:
        for r in rows:
            print(f"n={r['n_qubits']} q={r['q']:g} planes={r['measure']} count={r['count']}: "
                  f"negative {r['negative']:.2%}, zero {r['zero']:.2%}, positive {r['positive']:.2%}, "
                  f"mean {r['mean']:.4g}, min {r['minimum']:.4g}, max {r['maximum']:.4g}")
            print("  quantiles " + ", ".join(f"{k}: {v:.4g}" for k, v in r["quantiles"].items()))
    return 0


def _synthesize(args: argparse.Namespace) -> int:
    from .geodesics import complexity, parse_target
    from .metric import PenaltyMetric
    from .synthesis import staircase

    try:
        segs = [int(x) for x in args.segments.split(",") if x.strip()]
    except ValueError:
        raise DeepGeometryError(f"--segments: expected integers, got {args.segments!r}") from None
    if not segs or min(segs) < 1:
        raise DeepGeometryError(f"--segments: expected positive integers, got {args.segments!r}")
    qs = _qlist(args.q)
    if len(qs) != 1:
        raise DeepGeometryError(f"synthesize takes one --q, got {args.q!r}")
    target = parse_target(args.target, args.qubits)
    res = complexity(target, args.qubits, qs, locality=args.locality, branches=1)
    conn = res.connections[-1]
    if conn is None:
        raise DeepGeometryError(f"no converged geodesic to {args.target} at q={qs[0]:g} "
                                f"(best residual {res.residuals[-1]})")
    metric = PenaltyMetric(args.qubits, qs[0], args.locality)
    rows = staircase(conn.geodesic, metric, target, segs)
    out = {"target": args.target, "q": qs[0], "complexity": conn.length, "residual": conn.residual,
           "staircase": rows,
           "sandwich_ok": all(conn.length <= r["circuit_length"] + 1e-9 for r in rows if r["error"] < 1e-2)}
    if args.json:
        _print_json(out)
    else:
        print(f"{args.target}: complexity {conn.length:.6f} at q = {qs[0]:g} (residual {conn.residual:.1e})")
        print(f"  {'segments':>8s} {'gates':>6s} {'2q':>5s} {'error':>10s} {'circuit length':>15s}")
        for r in rows:
            print(f"  {r['segments']:8d} {r['gates']:6d} {r['two_qubit_gates']:5d} {r['error']:10.2e} "
                  f"{r['circuit_length']:15.6f}")
    return 0
