"""``deepgeometry register FIXED MOVING``: diffeomorphic registration from the command line.

Writes into ``--out`` (all files appear together, or none): ``warped.nii.gz``, ``displacement.nii.gz``
(``(*S, D)`` voxel displacements of the sampling map), ``inverse.nii.gz``, ``jacobian.nii.gz``, ``panel.png``
(moving | warped + grid | fixed | difference | det J), ``warped.png`` for 2D inputs, and
``registration.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import DeepGeometryError
from ..utils import dump_json


def register(subparsers) -> None:
    """Add the ``register`` command to the main parser."""
    p = subparsers.add_parser(
        "register",
        help="diffeomorphic registration of MOVING onto FIXED",
        description="Register MOVING onto FIXED with LDDMM, SVF or geodesic shooting (paper Section II-B).",
    )
    p.add_argument("fixed", help="fixed image (PNG/JPEG/.npy/NIfTI)")
    p.add_argument("moving", help="moving image (same dimensionality)")
    p.add_argument("--method", choices=("lddmm", "svf", "shooting"), default="svf")
    p.add_argument("--affine", action="store_true", help="affine pre-alignment first")
    p.add_argument("--similarity", choices=("ssd", "ncc", "lncc"), default=None)
    p.add_argument("--reg", type=float, default=None, help="regularisation weight lambda")
    p.add_argument("--iterations", default=None, help="iterations per level, coarsest first, e.g. 300,100,20")
    p.add_argument("--out", default="registration-out", help="output folder (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print registration.json to stdout")
    p.set_defaults(func=run)


def _options(args) -> dict:
    opts: dict = {}
    if args.similarity:
        opts["similarity"] = args.similarity
    if args.reg is not None:
        if not args.reg > 0:
            raise DeepGeometryError(f"--reg must be > 0, got {args.reg!r}")
        opts["reg"] = args.reg
    if args.iterations:
        try:
            its = tuple(int(s) for s in str(args.iterations).split(","))
        except ValueError:
            msg = f"--iterations must be comma-separated integers, got {args.iterations!r}"
            raise DeepGeometryError(msg) from None
        if any(i < 1 for i in its):
            raise DeepGeometryError(f"--iterations must be positive, got {args.iterations!r}")
        opts["iterations"] = its
        opts["levels"] = len(its)
    return opts


def run(args: argparse.Namespace) -> int:
    import torch

    from .io import load_image, panel_figure, save_image
    from .registration import register as do_register

    fixed, fmeta = load_image(args.fixed)
    moving, _ = load_image(args.moving)
    if fixed.ndim != moving.ndim:
        raise DeepGeometryError(
            f"{args.fixed!r} is {fixed.ndim}D {fixed.shape} but {args.moving!r} is "
            f"{moving.ndim}D {moving.shape}: both must have the same dimensionality"
        )
    t0, c0 = time.perf_counter(), time.process_time()
    reg = do_register(
        fixed, moving, method=args.method, affine=args.affine, device=args.device, **_options(args)
    )
    summary = reg.summary()
    summary.update(
        {
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0,
            "fixed": str(args.fixed),
            "moving": str(args.moving),
            "affine": bool(args.affine),
            "device": str(args.device),
        }
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:

        def arr(t):
            return t.detach().to("cpu", torch.float32).numpy()[0]

        D = fixed.ndim
        warped = arr(reg.warped)[0]
        det = arr(reg.jacobian_det)[0]
        disp = np.moveaxis(arr(reg.displacement), 0, -1)
        inv = np.moveaxis(arr(reg.inverse), 0, -1)
        save_image(tmp / "warped.nii.gz", warped, fmeta)
        save_image(tmp / "displacement.nii.gz", disp, fmeta)
        save_image(tmp / "inverse.nii.gz", inv, fmeta)
        save_image(tmp / "jacobian.nii.gz", det, fmeta)
        f_img, m_img = arr(reg.fixed)[0], arr(reg.moving)[0]
        if D == 2:
            save_image(tmp / "warped.png", warped)
            fig = panel_figure(f_img, m_img, warped, det, arr(reg.displacement), title=summary["method"])
        else:
            mid = fixed.shape[0] // 2
            fig = panel_figure(
                f_img[mid],
                m_img[mid],
                warped[mid],
                det[mid],
                arr(reg.displacement)[1:, mid],
                title=f"{summary['method']} (slice {mid})",
            )
        fig.savefig(tmp / "panel.png", dpi=90)
        import matplotlib.pyplot as plt

        plt.close(fig)
        text = dump_json(summary)
        (tmp / "registration.json").write_text(text + "\n")
        if out.exists() and not out.is_dir():
            raise DeepGeometryError(f"--out {str(out)!r} exists and is not a folder")
        if not out.exists():
            os.replace(tmp, out)
        else:
            for f in tmp.iterdir():
                os.replace(f, out / f.name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(text)
    else:
        print(
            f"{summary['method']}: NCC {summary['ncc_before']:.4f} -> {summary['ncc_after']:.4f}, "
            f"folds {summary['folds']}, min det J {summary['min_jacobian']:.3f}, "
            f"{summary['seconds']:.1f} s -> {out}"
        )
    for w in reg.warnings:
        print(f"deepgeometry: warning: {w}", file=sys.stderr)
    return 0
