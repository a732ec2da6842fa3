"""Speed figures for the quantum world (issue 3).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_quantum.py [--slow] [--branches 2]

Prints, in one process:
  1. Pauli decomposition: fast butterfly O(n 4^n) vs 4^n traces (same matrices), n = 3..6;
  2. n = 3, locality 2, Haar target: continuation q = 1 -> 1000, residual at every step;
  3. curvature statistics for n = 5 (dimension 1023): 2000 metric-isotropic planes;
  4. gate count vs operator-norm error of the Trotterised n = 3 geodesic, beside Qiskit's exact CNOT
     count for the same unitary;
  5. (--slow) n = 4 continuation to q = 100 and its gate staircase.
Qiskit (qiskit.synthesis.qs_decomposition) is an optional benchmark-only dependency, imported lazily;
without it the comparison is skipped.
"""

from __future__ import annotations

import argparse
import time

import torch


def bench_decompose() -> None:
    from deepgeometry.quantum import pauli

    print("Pauli decomposition (fast butterfly vs 4^n traces)")
    for n in (3, 4, 5, 6):
        g = torch.Generator().manual_seed(n)
        m = torch.randn(2**n, 2**n, dtype=torch.complex128, generator=g)
        t = time.perf_counter()
        for _ in range(20):
            fast = pauli.decompose(m)
        tf = (time.perf_counter() - t) / 20
        reps = 1 if n >= 5 else 3
        t = time.perf_counter()
        for _ in range(reps):
            naive = pauli.decompose_naive(m)
        tn = (time.perf_counter() - t) / reps
        err = float((fast - naive).abs().max())
        print(f"  n={n}: fast {tf * 1e3:8.3f} ms, naive {tn * 1e3:9.2f} ms, ratio {tn / tf:7.1f}x, "
              f"max diff {err:.1e}")


def bench_continuation(n: int, qmax: float, seed: int = 0, branches: int = 1):
    from deepgeometry.quantum import geodesics as C

    qs = [q for q in (1.0, 10.0, 100.0, 1000.0) if q <= qmax]
    t, tc = time.perf_counter(), time.process_time()
    res = C.complexity(C.haar(n, seed), n, qs, branches=branches)
    dt, dc = time.perf_counter() - t, time.process_time() - tc
    worst = max(max(p) for p in res.path_residuals if p)
    steps = sum(len(p) for p in res.q_path)
    print(f"continuation n={n} Haar seed {seed}, q 1 -> {qmax:g}, {branches} branch(es): {dt:.1f} s wall "
          f"({dc:.1f} s CPU), "
          f"{steps} q steps, worst residual on the path {worst:.1e}, converged {all(res.converged)}, "
          f"multiple-shooting rescues {res.multiple_shooting_steps}")
    reached = [f"{p[-1]:.4g}" if p else "-" for p in res.q_path]
    print(f"  last q reached per branch: {', '.join(reached)} (a branch stops where the q step falls below "
          "1e-3 in log q, e.g. at a fold)")
    for q, length, e in zip(res.q_values, res.lengths, res.to_dict()["integration_error"], strict=True):
        print(f"  q={q:<7g} length {length}  integration error {e}")
    return res


def bench_gates(n: int, res, seed: int = 0) -> None:
    """Our Trotterised gate counts (1- and 2-qubit gates) vs operator-norm error, beside Qiskit's exact
    CNOT count for the same Haar unitary. One of our 2-qubit gates is a general SU(4) element (<= 3 CNOTs)."""
    from deepgeometry.quantum import geodesics as C
    from deepgeometry.quantum.metric import PenaltyMetric
    from deepgeometry.quantum.synthesis import qiskit_cnot_count, staircase

    u = C.haar(n, seed)
    cx = qiskit_cnot_count(u)
    conn = res.connections[-1] if res is not None else None
    if conn is None:
        print(f"  gates n={n}: no converged geodesic")
        return
    q = res.q_values[-1]
    rows = staircase(conn.geodesic, PenaltyMetric(n, q), u, [1, 4, 16, 64, 256])
    print(f"gate count vs error, n={n} Haar seed {seed}, geodesic at q={q:g} (length {conn.length:.4f}); "
          f"qiskit qs_decomposition: {'not installed' if cx is None else f'{cx} CNOTs (exact)'}")
    for r in rows:
        print(f"  {r['segments']:4d} slices: {r['gates']:5d} gates ({r['two_qubit_gates']:5d} two-qubit, "
              f"<= {3 * r['two_qubit_gates']} CNOTs), error {r['error']:.2e}, circuit length "
              f"{r['circuit_length']:.4f}")


def bench_curvature() -> None:
    from deepgeometry.quantum.curvature import curvature_stats
    from deepgeometry.quantum.metric import PenaltyMetric

    t = time.perf_counter()
    st = curvature_stats(PenaltyMetric(5, 1000.0), "metric-isotropic", samples=2000, seed=0)
    print(f"curvature n=5 (D=1023), 2000 metric-isotropic planes, q=1000: {time.perf_counter() - t:.1f} s; "
          f"negative {st.negative:.1%}, mean {st.mean:.3f}")


def bench_qiskit(seeds: int = 3) -> None:
    """Qiskit's quantum Shannon decomposition CNOT counts for Haar-random n = 2, 3, 4 (lazy import)."""
    from deepgeometry.quantum.geodesics import haar
    from deepgeometry.quantum.synthesis import qiskit_cnot_count

    counts = {n: [qiskit_cnot_count(haar(n, s)) for s in range(seeds)] for n in (2, 3, 4)}
    if counts[2][0] is None:
        print("qiskit not installed: skipped the CNOT-count comparison (pip install qiskit)")
        return
    print(f"qiskit qs_decomposition CNOT counts, Haar n=2/3/4 (seeds 0..{seeds - 1}): "
          f"{counts[2]}/{counts[3]}/{counts[4]} (issue: 3/19/95; lower bound 3/14/61)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow", action="store_true", help="also n = 4 to q = 100")
    ap.add_argument("--branches", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    bench_decompose()
    bench_curvature()
    bench_qiskit()
    res3 = bench_continuation(3, 1000.0, branches=args.branches)
    bench_gates(3, res3)
    if args.slow:
        res4 = bench_continuation(4, 100.0, branches=3)  # the two shortest q = 1 branches fold (q ~ 20, 2.8)
        bench_gates(4, res4)


if __name__ == "__main__":
    main()
