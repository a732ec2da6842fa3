"""Benchmark: Jacobian deviation by Hutchinson probes (forward-mode jvp, vmapped) vs one forward pass and vs
explicit Jacobians (``torch.autograd.functional.jacobian``), measured in the same run.

Target (issue 2, section 6): on a residual CNN (8 blocks, 64 channels, batch 128 of mnist5k) the estimate
with 8 probes costs <= 12x one forward pass and is >= 20x faster than the same estimate via explicit
Jacobians.

An explicit Jacobian of one 64x14x14 block for one sample is a 12544 x 12544 matrix; doing that for every
segment and all 128 samples would take hours. The explicit path is therefore timed on
``--explicit-samples`` samples of ``--explicit-segments`` representative segments and extrapolated linearly
(cost per sample x samples, and per segment kind x number of segments of that kind); the printout says so
and shows the measured unit costs. The exact deviation of the measured sample is compared with a
many-probe Hutchinson estimate on the same sample as a correctness check.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_trace.py [--batch 128 --blocks 8 --width 64]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch


def _time(fn, reps: int) -> tuple[float, float]:
    """Median wall time and median CPU time (this process) of ``fn()`` over ``reps`` runs, after a warm-up.

    With one thread the CPU time is the compute time; on a shared machine the wall time also counts the
    time other processes held the core.
    """
    fn()
    walls, cpus = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def explicit_deviation(fn, x1: torch.Tensor) -> float:
    """``||J - E||_F / ||E||_F`` for one sample from the explicit Jacobian (E: (partial) identity)."""
    jac = torch.autograd.functional.jacobian(fn, x1, vectorize=True)
    d_out, d_in = fn(x1).numel(), x1.numel()
    j = jac.reshape(d_out, d_in)
    e = torch.eye(d_out, d_in, dtype=j.dtype)
    return float(torch.linalg.matrix_norm(j - e) / math.sqrt(min(d_in, d_out)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--probes", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--explicit-samples", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    from deepgeometry.data import mnist5k
    from deepgeometry.nets.lengths import jacobian_deviation
    from deepgeometry.nets.segments import find_segments
    from deepgeometry.nets.trace import _capture, trace
    from deepgeometry.nets.zoo import build

    torch.set_num_threads(args.threads)
    model = build("residual_cnn", depth=args.blocks, width=args.width).eval()
    x = mnist5k().x_test[: args.batch]
    segments = find_segments(model)
    print(f"residual CNN: {args.blocks} blocks x {args.width} channels, batch {args.batch} of mnist5k, "
          f"{args.probes} probes, {args.threads} thread(s), torch {torch.__version__}")

    with torch.no_grad():
        t_fwd, c_fwd = _time(lambda: model(x), args.reps)
    record = _capture(model, segments, x)
    inputs = {name: record[name]["args"][0] for name, _ in segments}

    def hutchinson_all(mode: str = "forward") -> list:
        g = torch.Generator().manual_seed(0)
        return [jacobian_deviation(mod, inputs[name], args.probes, g, mode=mode) for name, mod in segments]

    t_hutch, c_hutch = _time(hutchinson_all, args.reps)
    t_rev, c_rev = _time(lambda: hutchinson_all("reverse"), args.reps)
    t_trace, c_trace = _time(lambda: trace(model, x, probes=args.probes), max(1, args.reps - 1))

    # explicit Jacobians: one representative segment per kind, on a few samples, extrapolated
    kinds: dict[str, list[str]] = {}
    for name, mod in segments:
        kinds.setdefault(type(mod).__name__ + str(tuple(inputs[name].shape[1:])), []).append(name)
    mods = dict(segments)
    t_explicit = 0.0
    checks = []
    c_explicit = 0.0
    for _kind, names in kinds.items():
        name = names[0]
        mod = mods[name]
        n = min(args.explicit_samples, args.batch)
        t, c = time.perf_counter(), time.process_time()
        exact = [explicit_deviation(lambda z, mod=mod: mod(z.unsqueeze(0)).squeeze(0), inputs[name][i])
                 for i in range(n)]
        unit, unit_c = (time.perf_counter() - t) / n, (time.process_time() - c) / n
        t_explicit += unit * args.batch * len(names)
        c_explicit += unit_c * args.batch * len(names)
        est = jacobian_deviation(mod, inputs[name][:1], probes=512,
                                 generator=torch.Generator().manual_seed(1))
        checks.append((name, len(names), unit, exact[0], est.value, est.se))

    print(f"\n{'':40s}{'wall':>12s}{'CPU':>12s}{'wall ratio':>14s}{'CPU ratio':>12s}")
    print(f"{'one forward pass':40s}{t_fwd:11.3f}s{c_fwd:11.3f}s")
    print(f"{'Hutchinson J deviation, all segments':40s}{t_hutch:11.3f}s{c_hutch:11.3f}s"
          f"{t_hutch / t_fwd:11.2f} x{c_hutch / c_fwd:9.2f} x  forward (target <= 12x)")
    print(f"{'  same, reverse mode (VJPs)':40s}{t_rev:11.3f}s{c_rev:11.3f}s"
          f"{t_rev / t_fwd:11.2f} x{c_rev / c_fwd:9.2f} x  forward (target <= 12x)")
    print(f"{'whole trace() (capture, MACs, disp., J)':40s}{t_trace:11.3f}s{c_trace:11.3f}s"
          f"{t_trace / t_fwd:11.2f} x{c_trace / c_fwd:9.2f} x  forward")
    print(f"{'explicit Jacobians (extrapolated)':40s}{t_explicit:11.1f}s{c_explicit:11.1f}s"
          f"{t_explicit / t_hutch:11.0f} x{c_explicit / c_hutch:9.0f} x  Hutchinson (target >= 20x)")
    print("\nexplicit Jacobian unit costs (measured) and agreement with a 512-probe estimate on the same "
          "sample:")
    for name, count, unit, exact, est, se in checks:
        print(f"  {name:>10} (x{count:2d} segments)  {unit:8.2f} s/sample   exact {exact:.4f}   "
              f"Hutchinson {est:.4f} +- {se:.4f}")
    print("\nNote: the explicit cost is measured on "
          f"{args.explicit_samples} sample(s) of one segment per kind and scaled linearly to {args.batch} "
          "samples and all segments; timings on a shared machine are inflated by contention.")
    ok = c_hutch / c_fwd <= 12 and c_explicit / c_hutch >= 20
    ok_rev = c_rev / c_fwd <= 12 and c_explicit / c_rev >= 20
    print(f"\nRATIOS (CPU time) hutchinson/forward={c_hutch / c_fwd:.2f} "
          f"explicit/hutchinson={c_explicit / c_hutch:.0f}  {'PASS' if ok else 'MISS'}")
    print(f"RATIOS (CPU time, reverse mode) hutchinson/forward={c_rev / c_fwd:.2f} "
          f"explicit/hutchinson={c_explicit / c_rev:.0f}  {'PASS' if ok_rev else 'MISS'}")
    print(f"RATIOS (wall time) hutchinson/forward={t_hutch / t_fwd:.2f} "
          f"explicit/hutchinson={t_explicit / t_hutch:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
