"""Registration benchmark: deepgeometry (SVF / LDDMM / shooting) vs ANTsPy and SimpleITK, same run, same CPU.

Data: ``$DEEPGEOMETRY_DATA`` or ``<repo>/../shared/data/registration`` (skips cleanly if absent).
Each method runs in its own child process (one thread) so that CPU seconds, wall seconds and peak RSS are its
own. Peers (``antspyx``, ``SimpleITK``) are imported lazily and skipped if not installed.

CPU seconds (``time.process_time`` of the child, all its threads) are the fair measure on a shared machine;
wall seconds are inflated by whatever else runs. With ``--repeats N`` the row is the median run by CPU time.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_registration.py [--pairs circle-C,r16-r64,brain] [--repeats 3]
        [--threads 1] [--no-peers] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DEEPGEOMETRY_DATA", ROOT.parent / "shared" / "data" / "registration"))

# our settings per pair (tuned on these pairs; the same for every run). The 3D pair follows ANTs' own default
# schedule shape: the velocity is estimated on the coarse levels and the full-resolution level only upsamples
# it (ANTsPy SyN's defaults are (40, 20, 0) iterations). LDDMM's ``stationary_levels`` first finds the large
# deformation with one velocity shared by all time steps on the coarse levels, then frees every u_k.
# vector-momentum shooting: the momentum (and the EPDiff integration, Eulerian RK4 in core.euler_arnold)
# live on a grid of at most ``grid_size`` per side, the map is upsampled to the image; L-BFGS in the V-metric
VECTOR = dict(momentum="vector", grid_size=32, optimizer="lbfgs", step=2.0)
OURS = {
    "circle-C": {
        "svf": dict(reg=1e-5, levels=4, iterations=(400, 200, 40, 10)),
        "lddmm": dict(reg=1e-5, levels=4, iterations=(400, 200, 40, 10), stationary_levels=2),
        "shooting": dict(reg=1e-4, levels=3, iterations=(150, 40, 10)),
        # momentum particles (no CFL limit, ~2x cheaper per evaluation) leave time for the 128^2 and 256^2
        # image levels (momentum still on the 32 grid): NCC 0.969 -> 0.988 at fewer CPU s
        "shooting (vector)": dict(
            VECTOR,
            integrator="particle",
            reg=1e-5,
            alpha=8.0,
            levels=4,
            iterations=(60, 30, 30, 20),
            time_steps=8,
        ),
    },
    "r16-r64": {
        "svf": dict(reg=1e-4, levels=3, iterations=(150, 40, 10), affine=True),
        "lddmm": dict(
            reg=1e-4, levels=3, iterations=(150, 40, 0), affine=True, time_steps=6, stationary_levels=1
        ),
        "shooting": dict(reg=1e-3, levels=3, iterations=(100, 30, 10), affine=True),
        "shooting (vector)": dict(
            VECTOR, reg=1e-4, levels=2, iterations=(30, 0), time_steps=4, grid_size=64, affine=True
        ),
    },
    "brain": {
        "svf": dict(reg=1e-4, levels=3, iterations=(80, 30, 0), affine=True),
        "lddmm": dict(reg=1e-4, levels=3, iterations=(80, 30, 0), affine=True, time_steps=6),
    },
}
PEER = "ANTsPy SyN (default)"


def load_pair(name: str):
    """(fixed, moving) float32 arrays."""
    if name == "circle-C":
        return np.load(DATA / "C.npy").astype(np.float32), np.load(DATA / "circle.npy").astype(np.float32)
    if name == "r16-r64":
        from PIL import Image

        f = np.asarray(Image.open(DATA / "r16slice.jpg"), dtype=np.float32)
        m = np.asarray(Image.open(DATA / "r64slice.jpg"), dtype=np.float32)
        return f, m
    if name == "brain":
        import nibabel as nib

        f = np.asarray(nib.load(str(DATA / "claire_brain01.nii.gz")).dataobj, dtype=np.float32)
        m = np.asarray(nib.load(str(DATA / "claire_brain02.nii.gz")).dataobj, dtype=np.float32)
        return f, m
    raise ValueError(name)


def _metrics(fixed: np.ndarray, warped: np.ndarray, disp: np.ndarray | None) -> dict:
    """Global NCC and MSE on [0, 1]-normalised images; folds and min det J of a (D, *S) displacement."""
    import torch

    from deepgeometry.diffeo import fields, ncc

    def norm(a):
        a = a.astype(np.float64)
        return (a - a.min()) / (a.max() - a.min())

    f, w = norm(fixed), norm(warped)
    out = {
        "ncc": float(ncc(torch.from_numpy(w)[None, None], torch.from_numpy(f)[None, None])[0]),
        "mse": float(((w - f) ** 2).mean()),
    }
    if disp is not None:
        det = fields.jacobian_det(torch.from_numpy(disp.astype(np.float64))[None])
        out["folds"] = int((det <= 0).sum())
        out["min_det"] = float(det.min())
    return out


def run_ours(pair: str, method: str, opts: dict, threads: int = 1) -> dict:
    import torch

    torch.set_num_threads(threads)
    from deepgeometry.diffeo import register

    f, m = load_pair(pair)
    t0, c0 = time.perf_counter(), time.process_time()
    r = register(f, m, method=method.split()[0], **opts)  # "shooting (vector)" -> "shooting"
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    warped = r.warped[0, 0].numpy()
    out = _metrics(f, warped, r.displacement[0].numpy())
    out.update(cpu=cpu, wall=wall, status=r.status)
    return out


def _ants_disp(fwd, fixed_img):
    """Displacement (D, *S) in voxel units of ANTs' fixed->moving transform list (affine included)."""
    import ants

    dim = fixed_img.dimension
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in fixed_img.shape], indexing="ij"))
    pts = grid.reshape(dim, -1).T.astype(np.float64)
    phys = pts * np.array(fixed_img.spacing) + np.array(fixed_img.origin)  # ITK direction assumed identity
    import pandas as pd

    cols = ["x", "y", "z"][:dim]
    moved = ants.apply_transforms_to_points(dim, pd.DataFrame(phys, columns=cols), fwd)
    q = (moved[cols].to_numpy() - np.array(fixed_img.origin)) / np.array(fixed_img.spacing)
    return (q - pts).T.reshape(dim, *fixed_img.shape)


def run_ants(pair: str, transform: str) -> dict:
    import ants

    f, m = load_pair(pair)
    fi, mi = ants.from_numpy(f), ants.from_numpy(m)
    t0, c0 = time.perf_counter(), time.process_time()
    tx = ants.registration(fixed=fi, moving=mi, type_of_transform=transform)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    warped = tx["warpedmovout"].numpy()
    try:
        disp = _ants_disp(tx["fwdtransforms"], fi)
    except Exception:  # pragma: no cover - pandas or API differences
        disp = None
    out = _metrics(f, warped, disp)
    out.update(cpu=cpu, wall=wall)
    return out


def run_sitk_demons(pair: str) -> dict:
    import SimpleITK as sitk

    f, m = load_pair(pair)
    fi, mi = sitk.GetImageFromArray(f), sitk.GetImageFromArray(m)
    t0, c0 = time.perf_counter(), time.process_time()
    demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
    demons.SetNumberOfIterations(50)
    demons.SetStandardDeviations(1.5)
    shrink = [4, 2, 1]
    field = None
    for s in shrink:
        fs = sitk.Shrink(fi, [s] * fi.GetDimension())
        ms = sitk.Shrink(mi, [s] * mi.GetDimension())
        if field is None:
            init = sitk.Image(fs.GetSize(), sitk.sitkVectorFloat64)
            init.CopyInformation(fs)
        else:
            init = sitk.Resample(field, fs)
        field = demons.Execute(fs, ms, init)
    tx = sitk.DisplacementFieldTransform(sitk.Cast(sitk.Resample(field, fi), sitk.sitkVectorFloat64))
    warped = sitk.GetArrayFromImage(sitk.Resample(mi, fi, tx, sitk.sitkLinear, 0.0))
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    disp_img = sitk.TransformToDisplacementField(
        tx, sitk.sitkVectorFloat64, fi.GetSize(), fi.GetOrigin(), fi.GetSpacing(), fi.GetDirection()
    )
    d = sitk.GetArrayFromImage(disp_img)  # (*S, D) with components in x, y(, z) = reversed axes
    disp = np.moveaxis(d[..., ::-1], -1, 0)
    out = _metrics(f, warped, disp)
    out.update(cpu=cpu, wall=wall)
    return out


def run_memory(steps: int) -> dict:
    """Peak RSS of one explicit-adjoint gradient of shooting on circle->C (256^2), recompute=True/False."""
    import torch

    torch.set_num_threads(1)
    from deepgeometry.diffeo import FluidMetric, adjoint_gradient, fields

    f, m = load_pair("circle-C")
    src, tgt = torch.from_numpy(m)[None, None], torch.from_numpy(f)[None, None]
    p0 = 0.1 * fields.smooth(tgt - src, 4.0)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {}
    for rec in (True, False):
        adjoint_gradient(p0, src, tgt, FluidMetric(2.0, 1.0, 2.0), steps=steps, recompute=rec)
        out[f"rss_recompute_{rec}"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    return out


def run_memory_vector(steps: int, checkpointed: bool) -> dict:
    """Bytes autograd saves for the backward pass of vector shooting on circle->C at 128^2 (counted with
    ``saved_tensors_hooks``; peak RSS is too noisy for this on a shared machine), with or without per-step
    checkpointing, and the peak RSS of the whole forward + backward."""
    import torch

    torch.set_num_threads(1)
    from deepgeometry.diffeo import FluidMetric, fields, vector_shooting_loss

    f, m = load_pair("circle-C")
    src = fields.downsample(torch.from_numpy(m)[None, None], 2)
    tgt = fields.downsample(torch.from_numpy(f)[None, None], 2)
    metric = FluidMetric(2.0, 1.0, 2.0)
    m0 = metric.flat(0.1 * fields.smooth(torch.cat([tgt - src, src - tgt], 1), 4.0)).requires_grad_(True)
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = vector_shooting_loss(m0, src, tgt, metric, steps=steps, checkpointed=checkpointed)
    loss.sum().backward()
    return {"saved_mb": saved[0] / 2**20}


def _child(q, fn, args):
    try:
        res = fn(*args)
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        q.put(res)
    except Exception as e:  # report, do not crash the table
        q.put({"error": f"{type(e).__name__}: {e}"[:200]})


def in_child(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, fn, args))
    p.start()
    res = q.get()
    p.join()
    return res


def _fmt(r: dict) -> str:
    ratio = r.get("ratio")
    return (
        f"| {r['pair']} | {r['method']} | {r['cpu']:.2f} | {r['wall']:.2f} | {r['peak_rss_mb']:.0f} | "
        f"{r['ncc']:.4f} | {r['mse']:.5f} | {r.get('folds', '-')} | {r.get('min_det', float('nan')):.3f} | "
        f"{'-' if ratio is None else f'{ratio:.2f}'} | {r['runs']} |"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default="circle-C,r16-r64,brain")
    ap.add_argument("--methods", default="svf,lddmm,shooting", help="our methods to run (where configured)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per method (the median run by CPU s)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in our runs")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-sitk", action="store_true", help="skip the SimpleITK demons peer")
    ap.add_argument("--no-memory", action="store_true", help="skip the shooting memory check")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"bench_registration: data folder {DATA} not found; skipping (set DEEPGEOMETRY_DATA)")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    methods = args.methods.split(",")
    rows = []
    print(
        "| pair | method | CPU s | wall s | peak RSS MB | NCC | MSE | folds | min det J "
        "| CPU / ANTsPy SyN | runs |\n|---|---|---|---|---|---|---|---|---|---|---|",
        flush=True,
    )
    for pair in args.pairs.split(","):
        jobs = []
        if not args.no_peers:
            jobs.append((PEER, run_ants, (pair, "SyN")))
            if not args.no_sitk:
                jobs.append(("SimpleITK 3-level demons", run_sitk_demons, (pair,)))
        jobs += [
            (
                f"ours {meth}" + (f" ({args.threads} threads)" if args.threads != 1 else ""),
                run_ours,
                (pair, meth, opts, args.threads),
            )
            for meth, opts in OURS[pair].items()
            if meth.split()[0] in methods
        ]
        peer_cpu = None
        for label, fn, fargs in jobs:
            runs = [in_child(fn, *fargs) for _ in range(max(1, args.repeats))]
            ok = [r for r in runs if "error" not in r]
            if not ok:
                rows.append({"pair": pair, "method": label, "error": runs[0]["error"]})
                print(f"| {pair} | {label} | skipped: {runs[0]['error']} |", flush=True)
                continue
            ok.sort(key=lambda r: r["cpu"])
            r = ok[len(ok) // 2]
            r.update(pair=pair, method=label, runs=len(ok), cpu_all=[x["cpu"] for x in ok])
            if label == PEER:
                peer_cpu = r["cpu"]
            elif label.startswith("ours") and peer_cpu:
                r["ratio"] = r["cpu"] / peer_cpu
            rows.append(r)
            print(_fmt(r), flush=True)
    if args.no_memory:
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows}, indent=2, default=str))
        return 0
    mem = {s: in_child(run_memory, s) for s in (8, 32)}
    for rec in (True, False):
        k = f"rss_recompute_{rec}"
        if all(k in mem[s] for s in mem):
            a, b = mem[8][k], mem[32][k]
            print(
                f"shooting explicit adjoint, recompute={rec}: extra peak RSS {a / 1024:.1f} MB at 8 steps, "
                f"{b / 1024:.1f} MB at 32 steps"
            )
    for ck in (False, True):
        vm = {s: in_child(run_memory_vector, s, ck) for s in (8, 32)}
        if all("saved_mb" in vm[s] for s in vm):
            print(
                f"vector shooting autograd gradient (128^2), checkpointed={ck}: autograd saves "
                f"{vm[8]['saved_mb']:.1f} MB at 8 steps, {vm[32]['saved_mb']:.1f} MB at 32 steps "
                f"(peak RSS {vm[8]['peak_rss_mb']:.0f} / {vm[32]['peak_rss_mb']:.0f} MB)"
            )
        mem[f"vector_checkpointed_{ck}"] = vm
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "memory": mem}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
