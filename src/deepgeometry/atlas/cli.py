"""``deepgeometry atlas`` (the main job) and ``deepgeometry report`` (re-render from records)."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "atlas", help="run the atlas: every paper figure and claim, measured; writes OUT/index.html"
    )
    p.add_argument(
        "--profile",
        choices=["quick", "full"],
        default="quick",
        help="quick: minutes on 2 cores (default); full: more seeds and larger models",
    )
    p.add_argument("--only", default=None, help="comma-separated plate names or worlds")
    p.add_argument("--out", default="atlas", help="output folder (records/, figures/, index.html)")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes for sweeps inside a plate (local) or local Ray CPUs",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per worker (default 1: fastest for small models on a shared machine)",
    )
    p.add_argument("--force", action="store_true", help="rerun plates even when a finished record exists")
    p.add_argument(
        "--plates-from",
        action="append",
        default=[],
        metavar="FILE.py",
        help="also load plates registered in this Python file (repeatable)",
    )
    p.add_argument("--list", action="store_true", help="list the plates and exit")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_atlas)

    r = sub.add_parser("report", help="render OUT/index.html from the records in OUT/records")
    r.add_argument("out", nargs="?", default="atlas")
    r.set_defaults(func=_report)


def _atlas(args: argparse.Namespace) -> int:
    from .runner import collect_plates, run_atlas, select

    if args.list:
        plates = select(collect_plates(args.plates_from), args.only)
        for p in plates:
            print(f"{p.name:32s} {p.kind:6s} {p.section:14s} {p.title}")
        return 0
    summary = run_atlas(
        args.out,
        profile=args.profile,
        only=args.only,
        executor=args.executor,
        address=args.address,
        jobs=args.jobs,
        threads=args.threads,
        force=args.force,
        extra_plate_files=args.plates_from,
        progress=not args.json,
    )
    if args.json:
        print(json.dumps({"report": str(summary.report), "plates": summary.rows}, indent=2))
    else:
        _print_summary(summary)
    return 1 if summary.failed else 0


def _print_summary(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="atlas summary")
    for c in ("plate", "status", "seconds", "verdict"):
        t.add_column(c)
    for r in summary.rows:
        status = r["status"] + (f": {r['error']}" if r.get("error") else "")
        t.add_row(r["plate"], status, f"{r['seconds']:.1f}", r.get("verdict") or "")
    con = Console(file=sys.stdout)
    con.print(t)
    con.print(f"report: {summary.report}")


def _report(args: argparse.Namespace) -> int:
    from ..report import render_dir

    print(render_dir(args.out))
    return 0
