"""``deepgeometry ep train``: train a Scellier-Bengio Hopfield net by EP, next to a backprop MLP.

Hyper-parameters come from ``--preset``: ``code`` (default; Scellier & Bengio's released code, translated to
the cost ``C = 1/2 ||y - d||^2``) or ``paper`` (the paper's Table 1 read literally); see
:mod:`deepgeometry.ep.training`. Any single value can be overridden (``--beta``, ``--lrs``, ...).

Exit codes: 0 trained; 1 the EP run died (dead outputs) or diverged (the record says which); 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import DeepGeometryError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ep", help="equilibrium propagation (paper Section III-F)")
    epsub = p.add_subparsers(dest="ep_command", metavar="SUBCOMMAND")
    t = epsub.add_parser(
        "train",
        help="train a Hopfield net by EP on an embedded data set, with a backprop "
        "MLP of the same architecture as reference",
    )
    t.add_argument("--arch", default="784-500-10", help="layer widths, input first (default 784-500-10)")
    t.add_argument("--data", default="mnist5k", help="embedded data set (mnist5k, digits, ...)")
    t.add_argument("--epochs", type=int, default=25)
    t.add_argument(
        "--preset",
        choices=["code", "paper"],
        default="code",
        help="Scellier-Bengio hyper-parameters: 'code' (default) = their released code "
        "(784-500-10: 20 free / 4 nudged, eps 0.5, beta 1, rates 0.2/0.1 with C = 1/2||y-d||^2; "
        "784-500-500-10: 150 / 6, beta 2, rates 0.8/0.2/0.02), 'paper' = the paper's Table 1 taken "
        "literally (784-500-10: rates 0.1/0.05; 784-500-500-10: 100 / 6, beta 1, rates 0.4/0.1/0.01)",
    )
    t.add_argument(
        "--estimator",
        choices=["one-sided", "symmetric"],
        default="one-sided",
        help="EP estimator: one-sided with random-sign beta (Scellier-Bengio) or symmetric "
        "+beta/-beta (Laborieux et al. 2021)",
    )
    t.add_argument("--beta", type=float, default=None, help="nudging strength (default: the preset's)")
    t.add_argument(
        "--free-steps", type=int, default=None, help="free-phase iterations (default: the preset's)"
    )
    t.add_argument(
        "--nudged-steps", type=int, default=None, help="nudged-phase iterations (default: the preset's)"
    )
    t.add_argument("--eps", type=float, default=None, help="Euler step (default: the preset's, 0.5)")
    t.add_argument(
        "--lrs", default=None, help="comma-separated per-layer learning rates (default: the preset's)"
    )
    t.add_argument("--batch-size", type=int, default=20)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-backprop", action="store_true", help="skip the backprop reference")
    t.add_argument("--out", default=None, help="write the JSON record to this file (atomically)")
    t.add_argument("--json", action="store_true", help="print the record as JSON on stdout")
    t.set_defaults(func=_train)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _overrides(args: argparse.Namespace) -> dict:
    over: dict = {
        "epochs": args.epochs,
        "estimator": args.estimator,
        "batch_size": args.batch_size,
        "seed": args.seed,
    }
    for name in ("beta", "free_steps", "nudged_steps", "eps"):
        if getattr(args, name) is not None:
            over[name] = getattr(args, name)
    if args.lrs is not None:
        try:
            over["lrs"] = tuple(float(v) for v in args.lrs.split(","))
        except ValueError:
            raise DeepGeometryError(f"--lrs must be comma-separated numbers, got {args.lrs!r}") from None
    return over


def _train(args: argparse.Namespace) -> int:
    import torch

    from ..data import load
    from ..utils import atomic_write_text, dump_json, set_threads
    from .training import _check_data, scellier_bengio_config, train_backprop, train_ep

    set_threads(1)
    cfg = scellier_bengio_config(args.arch, preset=args.preset, **_overrides(args))
    ds = load(args.data).flat()
    _check_data(cfg.arch, ds.x_train, ds.n_classes)  # fail before printing anything
    quiet = args.json
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(file=sys.stderr, quiet=quiet)
    console.print(
        f"EP {cfg.estimator} ({cfg.preset} preset) on {ds.name}: arch {'-'.join(map(str, cfg.arch))}, "
        f"{cfg.free_steps} free / {cfg.nudged_steps} nudged steps, eps {cfg.eps}, beta {cfg.beta}, "
        f"lrs {list(cfg.lrs)}"
    )
    rows: list[dict] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=quiet,
    ) as prog:
        task = prog.add_task("EP minibatches", total=None)

        def on_batch(i: int, n: int) -> None:
            prog.update(task, completed=i, total=n)

        def on_epoch(row: dict) -> None:
            rows.append(row)
            prog.console.print(
                f"epoch {row['epoch']:3d}  train {100 * row['train_error']:5.2f}%  test "
                f"{100 * row['test_error']:5.2f}%  dead out {row['dead_output_units']}  "
                f"resid {row['free_phase_residual']:.0e}  "
                f"{row['seconds']:6.2f} s"
            )

        torch.manual_seed(cfg.seed)
        ep_rec, _ = train_ep(
            cfg,
            ds.x_train,
            ds.y_train,
            ds.x_test,
            ds.y_test,
            ds.n_classes,
            on_epoch=on_epoch,
            on_batch=on_batch,
        )
    bp_rec = None
    if not args.no_backprop:
        console.print("backprop reference (MLP, same architecture and split, Adam + cross-entropy) ...")
        bp_rec, _ = train_backprop(cfg, ds.x_train, ds.y_train, ds.x_test, ds.y_test, ds.n_classes)
    record = {
        "data": ds.name,
        "n_train": len(ds.x_train),
        "n_test": len(ds.x_test),
        "ep": ep_rec.to_dict(),
        "backprop": bp_rec.to_dict() if bp_rec is not None else None,
    }
    if bp_rec is not None and ep_rec.epochs and bp_rec.epochs:
        record["gap_points"] = 100 * (ep_rec.final_test_error - bp_rec.final_test_error)
        record["time_ratio"] = ep_rec.seconds_per_epoch / bp_rec.seconds_per_epoch
    _table(console, ep_rec, bp_rec)
    text = dump_json(record)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    if args.json:
        print(json.dumps(json.loads(text), indent=2))
    return 0 if ep_rec.status == "ok" else 1


def _table(console, ep_rec, bp_rec) -> None:
    from rich.table import Table

    t = Table(title="per-epoch test error (%)")
    t.add_column("epoch", justify="right")
    t.add_column("EP", justify="right")
    if bp_rec is not None:
        t.add_column("backprop", justify="right")
    n = max(len(ep_rec.epochs), len(bp_rec.epochs) if bp_rec else 0)
    for i in range(n):
        cells = [str(i + 1), f"{100 * ep_rec.epochs[i]['test_error']:.2f}" if i < len(ep_rec.epochs) else "-"]
        if bp_rec is not None:
            cells.append(f"{100 * bp_rec.epochs[i]['test_error']:.2f}" if i < len(bp_rec.epochs) else "-")
        t.add_row(*cells)
    console.print(t)
    console.print(
        f"EP: status {ep_rec.status}{' (' + ep_rec.detail + ')' if ep_rec.detail else ''}; "
        f"{ep_rec.seconds_per_epoch:.2f} s/epoch"
    )
    if bp_rec is not None and bp_rec.epochs:
        console.print(
            f"backprop: {bp_rec.seconds_per_epoch:.2f} s/epoch; test error EP "
            f"{100 * ep_rec.final_test_error:.2f}% vs backprop {100 * bp_rec.final_test_error:.2f}%"
        )
