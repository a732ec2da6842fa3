"""``deepgeometry trace``: measure a user's model as a curve (paper Section III-A/B).

``deepgeometry trace MODEL --data NAME|FILE.npz [--layers a,b] [--out DIR] [--json]``

MODEL is one of

* ``zoo:NAME[:k=v,...]`` - a zoo model (:mod:`deepgeometry.nets.zoo`); ``in_shape`` and ``n_classes``
  default to the data's;
* ``path/to/file.py:factory`` - ``factory()`` (given ``in_shape`` / ``n_classes`` if it takes them) returns
  an ``nn.Module``; ``--weights state_dict.pt`` is loaded with ``torch.load(weights_only=True)``;
* ``model.pt2`` - a program saved by ``torch.export.save`` (its module hierarchy is restored with
  ``torch.export.unflatten``, so segments are its submodules). Pickled modules are never loaded.

Writes ``OUT/curve.json`` (segments with their three lengths, totals, balance and ``flow``: per-layer
length, curvature, intrinsic dimension and separability from :func:`deepgeometry.nets.flow.flow`) and
``OUT/segments.png`` / ``OUT/flow.png``. Everything is computed before anything is written; files land
atomically, so a bad input leaves no partial output.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import io
import logging
import math
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import DeepGeometryError

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``trace`` command to the main parser's sub-parsers."""
    p = subparsers.add_parser(
        "trace", help="measure a model as a curve: per-segment complexity, displacement, Jacobian deviation",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="zoo:NAME[:k=v,...] | path/to/file.py:factory | model.pt2")
    p.add_argument("--data", required=True, metavar="NAME|FILE.npz",
                   help="embedded data set (mnist5k, digits, mnist1d) or an .npz with array x (and y)")
    p.add_argument("--layers", default=None, help="comma-separated module names to use as segments")
    p.add_argument("--weights", default=None, metavar="STATE_DICT.pt",
                   help="state_dict to load (torch.load(weights_only=True), strict)")
    p.add_argument("--out", default="trace-out", metavar="DIR", help="output folder (default: trace-out)")
    p.add_argument("--json", action="store_true", help="print curve.json to stdout instead of the table")
    p.add_argument("--samples", type=int, default=256, help="inputs used for the segment lengths (256)")
    p.add_argument("--flow-samples", type=int, default=1000,
                   help="inputs used for intrinsic dimension and separability (1000; TwoNN needs >= 1000)")
    p.add_argument("--probes", type=int, default=8, help="Hutchinson probes per sample (8)")
    p.add_argument("--jacobian-mode", choices=["forward", "reverse"], default="forward",
                   help="JVPs (forward, default) or VJPs (reverse: ~2x faster for convolutions on CPU)")
    p.add_argument("--path", default="great-circle", choices=["great-circle", "pair"],
                   help="input curve for the data-flow length and curvature")
    p.add_argument("--no-flow", action="store_true", help="skip the data-flow geometry")
    p.add_argument("--train-epochs", type=int, default=0, help="train on the data's train split first (0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for small models)")
    p.set_defaults(func=run)


# --- loading ------------------------------------------------------------------------------------------------

def _one_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    return (" ".join(lines[:2]) if lines else type(e).__name__)[:300]


def _load_weights(model: nn.Module, path: str) -> None:
    p = Path(path)
    if not p.is_file():
        raise DeepGeometryError(f"weights file not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickles of modules/objects are refused by weights_only
        raise DeepGeometryError(
            f"weights file {p} is not a plain state_dict (torch.load(weights_only=True) refused it: "
            f"{type(e).__name__}); pickled modules are never loaded - save model.state_dict() instead"
        ) from None
    if isinstance(state, dict) and set(state) == {"state_dict"} and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DeepGeometryError(f"weights file {p} does not hold a state_dict (a dict of tensors), "
                                f"got {type(state).__name__}")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append(f"wrong shapes {wrong[:3]}")
        raise DeepGeometryError(f"weights {p} do not match the model: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)


def _call_factory(factory: Any, label: str, in_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    kwargs: dict[str, Any] = {}
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    if "in_shape" in params:
        kwargs["in_shape"] = in_shape
    if "n_classes" in params:
        kwargs["n_classes"] = n_classes
    try:
        model = factory(**kwargs)
    except DeepGeometryError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's factory failed
        raise DeepGeometryError(f"{label} failed: {type(e).__name__}: {_one_line(e)}") from None
    if not isinstance(model, nn.Module):
        raise DeepGeometryError(f"{label} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _load_file_factory(spec: str, in_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    path, _, name = spec.rpartition(":")
    p = Path(path)
    if not p.is_file():
        raise DeepGeometryError(f"model file not found: {p}")
    if not name.isidentifier():
        raise DeepGeometryError(f"bad factory name {name!r} in {spec!r}; write path/to/file.py:factory")
    modname = f"_deepgeometry_user_{abs(hash(str(p.resolve())))}"
    try:
        module_spec = importlib.util.spec_from_file_location(modname, p)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot make an import spec for {p}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any failure importing the user's file
        raise DeepGeometryError(f"cannot import model file {p}: {type(e).__name__}: {_one_line(e)}") from None
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))[:10]
        raise DeepGeometryError(f"model file {p} has no callable {name!r} (found {found})")
    return _call_factory(factory, f"{p}:{name}()", in_shape, n_classes)


def _load_exported(path: str, sample_shape: tuple[int, ...]) -> nn.Module:
    p = Path(path)
    if not p.is_file():
        raise DeepGeometryError(f"exported program not found: {p}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch-internal pytree deprecations
            ep = torch.export.load(p)
    except Exception as e:  # noqa: BLE001 - not a torch.export archive
        raise DeepGeometryError(f"cannot read {p} as an exported program (torch.export.save): "
                                f"{type(e).__name__}: {_one_line(e)}") from None
    user = list(ep.graph_signature.user_inputs)
    if len(user) != 1:
        raise DeepGeometryError(f"exported program {p} takes {len(user)} inputs; trace needs exactly one")
    node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == user[0])
    val = node.meta.get("val")
    if val is not None and hasattr(val, "shape"):
        shape = tuple(val.shape)
        if isinstance(shape[0], int):
            raise DeepGeometryError(
                f"exported program {p} fixes the batch size to {shape[0]}; re-export with "
                "dynamic_shapes={'x': {0: torch.export.Dim.DYNAMIC}} on the batch dimension")
        fixed = [int(s) if isinstance(s, int) else None for s in shape[1:]]
        if len(fixed) != len(sample_shape) or any(
                f is not None and f != s for f, s in zip(fixed, sample_shape, strict=True)):
            raise DeepGeometryError(f"exported program {p} expects samples of shape {tuple(fixed)} but the "
                                    f"data has samples of shape {sample_shape}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.export.unflatten(ep)
    except Exception as e:  # noqa: BLE001
        raise DeepGeometryError(f"cannot restore the modules of exported program {p}: "
                                f"{_one_line(e)}") from None


def load_model(spec: str, *, in_shape: tuple[int, ...], n_classes: int, weights: str | None = None,
               seed: int = 0) -> nn.Module:
    """Resolve a MODEL string (see the module docstring) to an ``nn.Module``.

    Raises
    ------
    DeepGeometryError
        Unknown model, unreadable file, pickled module, factory failure, or weights that do not match.
    """
    if spec.startswith("zoo:"):
        from .zoo import build, parse_spec

        name, kwargs = parse_spec(spec[4:])
        kwargs.setdefault("in_shape", in_shape)
        kwargs.setdefault("n_classes", n_classes)
        try:
            model = build(name, seed=seed, **kwargs)
        except DeepGeometryError:
            raise
        except Exception as e:  # noqa: BLE001 - bad values for a zoo option
            raise DeepGeometryError(f"cannot build {spec!r}: {type(e).__name__}: {_one_line(e)}") from None
    elif spec.endswith(".pt2"):
        if weights:
            raise DeepGeometryError("--weights cannot be used with an exported program "
                                    "(.pt2 carries its weights)")
        return _load_exported(spec, in_shape)
    elif ".py:" in spec:
        model = _load_file_factory(spec, in_shape, n_classes)
    elif spec.endswith((".pt", ".pth", ".pkl", ".bin", ".ckpt")):
        raise DeepGeometryError(f"MODEL {spec!r}: pickled modules are never loaded; pass "
                                "path/to/file.py:factory with --weights STATE_DICT.pt, or a torch.export "
                                "program (.pt2)")
    else:
        raise DeepGeometryError(f"unknown model {spec!r}; use zoo:NAME[:k=v,...] (e.g. zoo:cnn), "
                                "path/to/file.py:factory or an exported program FILE.pt2")
    if weights:
        _load_weights(model, weights)
    return model


# --- the command --------------------------------------------------------------------------------------------

def _figure_bytes(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _flow_figure(flow: dict) -> Any:
    import matplotlib.pyplot as plt

    keys = [k for k in ("length", "curvature", "intrinsic_dim", "separability")
            if any(v is not None for v in flow.get(k, []))]
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(3.4 * max(1, len(keys)), 3.2), squeeze=False)
    xs = list(range(len(flow["layers"])))
    for ax, k in zip(axes[0], keys, strict=False):
        ys = [math.nan if v is None else v for v in flow[k]]
        ax.plot(xs, ys, "o-")
        ax.set_title(k.replace("_", " "), fontsize=9)
        ax.set_xticks(xs)
        ax.set_xticklabels(flow["layers"], rotation=70, fontsize=7)
        if k in ("length", "curvature") and all(v > 0 for v in ys if math.isfinite(v)):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _print_table(record: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    def num(v: Any, se: Any = None) -> str:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "-"
        s = f"{v:.4g}"
        return s if se is None or not isinstance(se, float) else f"{s} ± {se:.2g}"

    t = Table(title=f"{record['model']} on {record['data']} ({record['n_samples']} samples, "
                    f"{record['probes']} probes)")
    for col in ("segment", "kind", "in -> out", "params", "MACs", "displacement", "J deviation", ""):
        t.add_column(col, justify="left" if col in ("segment", "kind", "in -> out", "") else "right")
    for s in record["segments"]:
        shapes = f"{s.get('in_shape')} -> {s.get('out_shape')}".replace(" ", "")
        t.add_row(s["name"], s["kind"], shapes, f"{s['params']:,}",
                  "-" if s["macs"] is None else f"{int(s['macs']):,}",
                  num(s["displacement"], s.get("displacement_se")),
                  num(s["jacobian_deviation"], s.get("jacobian_deviation_se")),
                  "embedded" if s.get("embedded") else "")
    console = Console(file=sys.stdout, width=160)
    console.print(t)
    bal = record["balance"]
    console.print("balance (Gini, 0 = even): " + ", ".join(f"{m} {bal[m]['gini']:.3f}" for m in bal))


def _write_outputs(out: Path, files: dict[str, bytes]) -> None:
    """Write all files or none: into a temp folder first, then rename into place."""
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise DeepGeometryError(f"--out {out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if not out.exists():
            os.replace(tmp, out)
            return
        for name in files:
            os.replace(tmp / name, out / name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    """Handler of ``deepgeometry trace`` (returns the exit code; bad input raises DeepGeometryError)."""
    import matplotlib

    matplotlib.use("Agg")

    from .. import __version__
    from ..data import load
    from ..utils import dump_json, set_threads
    from .trace import plot_segments, trace
    from .train import train_classifier

    set_threads(args.threads)
    for name in ("samples", "probes"):
        if getattr(args, name) < 1:
            raise DeepGeometryError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    ds = load(args.data, seed=args.seed)
    x_all = torch.cat([ds.x_test, ds.x_train]) if len(ds.x_test) else ds.x_train
    y_all = torch.cat([ds.y_test, ds.y_train]) if len(ds.x_test) else ds.y_train
    if len(x_all) == 0:
        raise DeepGeometryError(f"data {args.data!r} has no samples")
    bad = int((~torch.isfinite(x_all)).sum())
    if bad:
        raise DeepGeometryError(f"data {args.data!r} contains {bad} NaN or infinite values")
    model = load_model(args.model, in_shape=ds.input_shape, n_classes=ds.n_classes, weights=args.weights,
                       seed=args.seed)
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None

    training = None
    if args.train_epochs > 0:
        res = train_classifier(model, ds.x_train, ds.y_train, ds.x_test, ds.y_test, epochs=args.train_epochs,
                               seed=args.seed)
        training = res.to_dict()

    x = x_all[: args.samples]
    curve = trace(model, x, layers, probes=args.probes, seed=args.seed, jacobian_mode=args.jacobian_mode)
    record: dict[str, Any] = {
        "model": args.model, "data": args.data, "weights": args.weights, "version": __version__,
        **curve.to_dict(), "training": training,
    }
    files: dict[str, bytes] = {}
    if not args.no_flow:
        from .flow import flow

        xf, yf = x_all[: args.flow_samples], y_all[: args.flow_samples]
        fr = flow(model, xf, path=args.path, layers=layers, labels=yf, seed=args.seed)
        record["flow"] = fr.to_dict()
        files["flow.png"] = _figure_bytes(_flow_figure(record["flow"]))
    else:
        record["flow"] = None
    files["segments.png"] = _figure_bytes(plot_segments(curve, title=f"{args.model} on {args.data}"))
    text = dump_json(record)
    files = {"curve.json": text.encode("utf-8"), **files}
    _write_outputs(Path(args.out), files)
    if args.json:
        sys.stdout.write(text + "\n")
    else:
        import json

        _print_table(json.loads(text))
        print(f"wrote {', '.join(sorted(files))} to {args.out}")
    return 0
