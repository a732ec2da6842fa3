"""``deepgeometry <command>``: the command-line shell over the Python API.

Each world contributes its sub-commands through a module with ``register(subparsers)``; every handler
takes the parsed ``args`` and returns an exit code. A :class:`DeepGeometryError` anywhere becomes one line
on stderr and exit code 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .errors import DeepGeometryError

#: modules that add sub-commands; a world that is not installed is skipped
WORLD_CLIS = (
    "deepgeometry.atlas.cli",
    "deepgeometry.nets.cli",
    "deepgeometry.quantum.cli",
    "deepgeometry.diffeo.cli",
    "deepgeometry.ep.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepgeometry",
        description="Measure the geometry of deep learning: networks as curves, Nielsen geodesics, "
        "diffeomorphic registration.",
    )
    parser.add_argument("--version", action="version", version=f"deepgeometry {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for modname in WORLD_CLIS:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name is not None and modname.startswith(e.name):
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as e:  # argparse: 0 for --help/--version, 2 for usage errors
        return int(e.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DeepGeometryError as e:
        print(f"deepgeometry: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepgeometry: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
