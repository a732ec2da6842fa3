"""Speed figures for the quantum world (issue 3).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_quantum.py [--slow] [--branches 2]

Prints, in one process:
  1. Pauli decomposition: fast butterfly O(n 4^n) vs 4^n traces (same matrices), n = 3..6;
  2. n = 3, locality 2, Haar target: continuation q = 1 -> 1000, residual at every step;
  3. curvature statistics for n = 5 (dimension 1023): 2000 metric-isotropic planes;
  4. (--slow) n = 4 continuation to q = 100;
  5. (optional) Qiskit's qs_decomposition CNOT counts for Haar targets, when qiskit is installed.
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


def bench_continuation(n: int, qmax: float, seed: int = 0, branches: int = 1) -> None:
    from deepgeometry.quantum import geodesics as C
    qs = [q for q in (1.0, 10.0, 100.0, 1000.0) if q <= qmax]
    t = time.perf_counter()
    res = C.complexity(C.haar(n, seed), n, qs, branches=branches)
    dt = time.perf_counter() - t
    worst = max(max(p) for p in res.path_residuals if p)
    steps = sum(len(p) for p in res.q_path)
    print(f"continuation n={n} Haar seed {seed}, q 1 -> {qmax:g}, {branches} branch(es): {dt:.1f} s, "
          f"{steps} q steps, worst residual on the path {worst:.1e}, converged {all(res.converged)}, "
          f"multiple-shooting rescues {res.multiple_shooting_steps}")
    for q, length, e in zip(res.q_values, res.lengths, res.to_dict()["integration_error"], strict=True):
        print(f"  q={q:<7g} length {length}  integration error {e}")


def bench_curvature() -> None:
    from deepgeometry.quantum.curvature import curvature_stats
    from deepgeometry.quantum.metric import PenaltyMetric

    t = time.perf_counter()
    st = curvature_stats(PenaltyMetric(5, 1000.0), "metric-isotropic", samples=2000, seed=0)
    print(f"curvature n=5 (D=1023), 2000 metric-isotropic planes, q=1000: {time.perf_counter() - t:.1f} s; "
          f"negative {st.negative:.1%}, mean {st.mean:.3f}")


def bench_qiskit() -> None:
    from deepgeometry.quantum.geodesics import haar
    from deepgeometry.quantum.synthesis import qiskit_cnot_count

    counts = {n: qiskit_cnot_count(haar(n, 0)) for n in (2, 3, 4)}
    if counts[2] is None:
        print("qiskit not installed: skipped the CNOT-count comparison (pip install qiskit)")
        return
    print(f"qiskit qs_decomposition CNOT counts, Haar n=2/3/4: {counts[2]}/{counts[3]}/{counts[4]} "
          "(issue: 3/19/95; lower bound 3/14/61)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow", action="store_true", help="also n = 4 to q = 100")
    ap.add_argument("--branches", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    bench_decompose()
    bench_curvature()
    bench_continuation(3, 1000.0, branches=args.branches)
    if args.slow:
        bench_continuation(4, 100.0)
    bench_qiskit()


if __name__ == "__main__":
    main()
