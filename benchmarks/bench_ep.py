"""Benchmark: equilibrium propagation vs backprop on mnist5k -- seconds per epoch and test errors, measured
in the same run.

Target (issue 6, section 1): 784-500-10 trained by EP (Scellier & Bengio 2017) for 25 epochs on mnist5k
(4000/1000 split) reaches a test error within 1.5 points of a backprop-trained MLP of the same architecture
(logistic hidden units, Adam, cross-entropy) on the same split; report the seconds per epoch of both.

For every seed, EP and backprop are trained one after the other in this process, on one thread, and the table
gives each run's final test error, the gap in points, and the wall and CPU seconds per epoch (CPU time of this
process: on a shared machine the wall time also counts the time other processes held the core; the load
average is printed before and after). Several seeds give the median and the spread (min..max) of the gap.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ep.py               # 3 epochs, seed 0 (short)
      OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ep.py --epochs 25 --seeds 0 1 2
      ... --preset paper                  # the paper's Table 1 read literally (half the code's rates)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch


def _timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def run_seed(args: argparse.Namespace, ds, seed: int) -> dict:
    from deepgeometry.ep.training import scellier_bengio_config, train_backprop, train_ep

    cfg = scellier_bengio_config(
        args.arch, preset=args.preset, epochs=args.epochs, estimator=args.estimator, seed=seed
    )
    data = (ds.x_train, ds.y_train, ds.x_test, ds.y_test, ds.n_classes)
    (ep, _), ep_wall, ep_cpu = _timed(lambda: train_ep(cfg, *data))
    (bp, _), bp_wall, bp_cpu = _timed(lambda: train_backprop(cfg, *data))
    n_ep, n_bp = max(1, len(ep.epochs)), max(1, len(bp.epochs))
    return {
        "seed": seed,
        "ep_status": ep.status,
        "ep_detail": ep.detail,
        "ep_test_error": 100 * ep.final_test_error,
        "bp_test_error": 100 * bp.final_test_error,
        "gap_points": 100 * (ep.final_test_error - bp.final_test_error),
        "ep_s_per_epoch": ep_wall / n_ep,
        "ep_cpu_s_per_epoch": ep_cpu / n_ep,
        "bp_s_per_epoch": bp_wall / n_bp,
        "bp_cpu_s_per_epoch": bp_cpu / n_bp,
        "ep_curve": [round(100 * e["test_error"], 2) for e in ep.epochs],
        "bp_curve": [round(100 * e["test_error"], 2) for e in bp.epochs],
        "config": {k: v for k, v in ep.config.items() if k not in ("dead_patience", "dead_window")},
    }


def _warm_up(args: argparse.Namespace, ds) -> None:
    """One short epoch of each method on 100 examples, so that one-off start-up costs (lazy imports, first
    allocations) are not charged to the first timed run."""
    from deepgeometry.ep.training import scellier_bengio_config, train_backprop, train_ep

    cfg = scellier_bengio_config(args.arch, preset=args.preset, epochs=1)
    data = (ds.x_train[:100], ds.y_train[:100], ds.x_test[:100], ds.y_test[:100], ds.n_classes)
    train_ep(cfg, *data)
    train_backprop(cfg, *data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (3: short; 25: the issue's target)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--arch", default="784-500-10")
    ap.add_argument("--data", default="mnist5k")
    ap.add_argument("--preset", choices=["code", "paper"], default="code")
    ap.add_argument("--estimator", choices=["one-sided", "symmetric"], default="one-sided")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)

    from deepgeometry.data import load
    from deepgeometry.utils import set_threads

    set_threads(1)
    torch.set_num_threads(1)
    ds = load(args.data).flat()
    load0 = os.getloadavg()
    print(
        f"EP ({args.preset} preset, {args.estimator}) vs backprop, arch {args.arch}, {args.data} "
        f"({len(ds.x_train)}/{len(ds.x_test)}), {args.epochs} epochs, seeds {args.seeds}; one thread; "
        f"load average {load0[0]:.2f} on {os.cpu_count()} cores",
        flush=True,
    )
    _warm_up(args, ds)
    rows = []
    hdr = (
        f"{'seed':>4} {'EP err %':>9} {'BP err %':>9} {'gap pts':>8} {'EP s/ep':>8} {'(cpu)':>7} "
        f"{'BP s/ep':>8} {'(cpu)':>7} {'ratio':>6}  status"
    )
    print(hdr, flush=True)
    for seed in args.seeds:
        r = run_seed(args, ds, seed)
        rows.append(r)
        print(
            f"{seed:>4} {r['ep_test_error']:>9.2f} {r['bp_test_error']:>9.2f} {r['gap_points']:>+8.2f} "
            f"{r['ep_s_per_epoch']:>8.2f} {r['ep_cpu_s_per_epoch']:>7.2f} {r['bp_s_per_epoch']:>8.2f} "
            f"{r['bp_cpu_s_per_epoch']:>7.2f} {r['ep_s_per_epoch'] / r['bp_s_per_epoch']:>6.2f}  "
            f"{r['ep_status']}",
            flush=True,
        )
    gaps = [r["gap_points"] for r in rows]
    med = {
        k: statistics.median(r[k] for r in rows)
        for k in ("ep_test_error", "bp_test_error", "gap_points", "ep_s_per_epoch", "bp_s_per_epoch")
    }
    load1 = os.getloadavg()
    print(
        f"median over {len(rows)} seed(s): EP {med['ep_test_error']:.2f}% vs backprop "
        f"{med['bp_test_error']:.2f}%, gap {med['gap_points']:+.2f} points (range {min(gaps):+.2f}.."
        f"{max(gaps):+.2f}); EP {med['ep_s_per_epoch']:.2f} s/epoch vs backprop {med['bp_s_per_epoch']:.2f} "
        f"s/epoch (wall); load average now {load1[0]:.2f}"
    )
    if args.json:
        from deepgeometry.utils import atomic_write_text

        atomic_write_text(
            args.json,
            json.dumps({"args": vars(args), "rows": rows, "median": med, "load": [load0, load1]}, indent=1),
        )
    return 0 if all(r["ep_status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
