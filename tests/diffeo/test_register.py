"""register(): synthetic ground truth, the three methods, batched pairs, bad input, the CLI."""

import json

import numpy as np
import pytest
import torch

from deepgeometry.cli import main
from deepgeometry.diffeo import LDDMM, SVF, Shooting, fields, register
from deepgeometry.diffeo.io import load_image, save_image
from deepgeometry.errors import DeepGeometryError


def _textured(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return fields.smooth(torch.randn(1, 1, *shape, generator=g, dtype=torch.float64), 1.5)


def test_recovers_a_known_svf(synth):
    shape = (48, 48)
    moving = _textured(shape)
    v = synth.smooth_field(shape, amplitude=3.0, seed=6)
    true = fields.exp_field(-v)  # sampling map of exp(v)
    fixed = fields.sample(moving, true)
    r = register(fixed, moving, method="svf", dtype=torch.float64, reg=1e-5, levels=2, iterations=(200, 100))
    err = (r.displacement - true).norm(dim=1)[:, 6:-6, 6:-6]
    truth = true.norm(dim=1)[:, 6:-6, 6:-6]
    # stated error (measured: mean 0.18 voxel vs mean true displacement 0.60, max 0.70 voxel)
    assert float(err.mean()) < 0.4 * float(truth.mean())
    assert float(err.max()) < 1.0
    assert r.folds == 0 and r.status == "ok"
    s = r.summary()
    assert s["ncc_after"] > 0.999 > s["ncc_before"]
    # the inverse is the inverse
    assert float(fields.compose(r.displacement, r.inverse).abs().max()) < 0.1


@pytest.mark.parametrize(
    "method",
    [
        LDDMM(reg=1e-4, levels=2, iterations=(60, 30)),
        SVF(reg=1e-4, levels=2, iterations=(60, 30)),
        Shooting(reg=1e-4, levels=2, iterations=(40, 20), time_steps=6),
    ],
)
def test_each_method_matches_a_disc_to_an_ellipse(synth, method):
    shape = (40, 40)
    moving = synth.disc(shape, 9.0)
    grid = fields.identity_grid(shape, torch.float64)
    fixed = torch.sigmoid(
        (1.0 - torch.sqrt(((grid[0] - 19.5) / 13) ** 2 + ((grid[1] - 19.5) / 7) ** 2)) * 9.0
    )
    r = register(fixed, moving, method=method, dtype=torch.float64)
    s = r.summary()
    assert s["ncc_after"] > 0.97 and s["ncc_before"] < 0.9
    assert r.folds == 0 and r.min_jacobian > 0
    assert float(r.distance) > 0 and r.energy_history[-1] < r.energy_history[0]
    for a, b in zip(
        r.level_starts[:-1], r.level_starts[1:], strict=False
    ):  # monotone within each level (backtracking)
        assert all(
            x >= y - 1e-12
            for x, y in zip(r.energy_history[a : b - 1], r.energy_history[a + 1 : b], strict=False)
        )
    assert r.warped.shape == (1, 1, *shape) and r.displacement.shape == (1, 2, *shape)


def test_batched_3d_and_affine(synth):
    shape = (16, 18, 20)
    moving = torch.cat([synth.disc(shape, 5.0), synth.disc(shape, 6.0)])
    fixed = torch.cat([synth.disc(shape, 6.0), synth.disc(shape, 5.0)])
    r = register(fixed, moving, method="svf", reg=1e-4, levels=2, iterations=(40, 20), affine=True)
    assert r.displacement.shape == (2, 3, *shape) and r.affine.shape == (2, 3, 4)
    from deepgeometry.diffeo import ncc

    assert bool((ncc(r.warped, r.fixed) > ncc(r.moving, r.fixed)).all()) and r.folds == 0


def test_bad_input():
    ok = np.random.default_rng(0).random((32, 32))
    with pytest.raises(DeepGeometryError, match="same dimensionality"):
        register(ok, np.random.default_rng(1).random((16, 16, 16)))
    bad = ok.copy()
    bad[3, 4] = np.nan
    with pytest.raises(DeepGeometryError, match="NaN or infinite"):
        register(ok, bad)
    with pytest.raises(DeepGeometryError, match="constant"):
        register(ok, np.ones((32, 32)))
    with pytest.raises(DeepGeometryError, match="3-channel"):
        register(ok, np.random.default_rng(1).random((32, 32, 3)))
    with pytest.raises(DeepGeometryError, match="channels"):
        register(ok, np.random.default_rng(1).random((1, 2, 32, 32)))
    with pytest.raises(DeepGeometryError, match="unknown registration method"):
        register(ok, ok, method="demons")
    with pytest.raises(DeepGeometryError, match="bad option"):
        register(ok, ok, method="svf", nonsense=1)


def test_io_roundtrip_keeps_affine(tmp_path):
    arr = np.random.default_rng(0).random((10, 11, 12)).astype(np.float32)
    aff = np.diag([2.0, 1.5, 1.0, 1.0])
    save_image(tmp_path / "a.nii.gz", arr, {"affine": aff, "spacing": (2.0, 1.5, 1.0)})
    back, meta = load_image(tmp_path / "a.nii.gz")
    assert np.allclose(back, arr) and np.allclose(meta["affine"], aff) and meta["spacing"] == (2.0, 1.5, 1.0)
    with pytest.raises(DeepGeometryError, match="no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DeepGeometryError, match="cannot read"):
        load_image(tmp_path / "junk.png")


def _write_pair(tmp_path, synth):
    from PIL import Image

    a = (synth.disc((40, 40), 9.0)[0, 0].numpy() * 255).astype(np.uint8)
    b = (synth.disc((40, 40), 12.0)[0, 0].numpy() * 255).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "fixed.png")
    np.save(tmp_path / "moving.npy", b.astype(np.float32))
    Image.fromarray(np.stack([a, a, a], -1)).save(tmp_path / "rgb.png")
    return tmp_path / "fixed.png", tmp_path / "moving.npy"


def test_cli_register(tmp_path, synth, capsys):
    f, m = _write_pair(tmp_path, synth)
    out = tmp_path / "out"
    code = main(
        [
            "register",
            str(f),
            str(m),
            "--method",
            "lddmm",
            "--iterations",
            "40,20",
            "--reg",
            "1e-4",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("ncc_before", "ncc_after", "mse_after", "folds", "min_jacobian", "distance", "seconds"):
        assert key in data
    assert data["ncc_after"] > data["ncc_before"] and data["folds"] == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "warped.nii.gz",
        "displacement.nii.gz",
        "inverse.nii.gz",
        "jacobian.nii.gz",
        "panel.png",
        "registration.json",
        "warped.png",
    } <= names
    disp, _ = load_image(out / "displacement.nii.gz") if False else (None, None)
    import nibabel as nib

    assert nib.load(str(out / "displacement.nii.gz")).shape == (40, 40, 2)


@pytest.mark.parametrize(
    "args,msg",
    [
        (["rgb.png", "moving.npy"], "3-channel"),
        (["fixed.png", "missing.png"], "no such file"),
        (["fixed.png", "moving.npy", "--reg", "-1"], "--reg"),
    ],
)
def test_cli_bad_input_exit_2_and_no_output(tmp_path, synth, capsys, args, msg):
    _write_pair(tmp_path, synth)
    out = tmp_path / "bad-out"
    argv = [
        "register",
        *[
            str(tmp_path / a) if not a.startswith("-") and not a[0].isdigit() and a != "-1" else a
            for a in args
        ],
        "--out",
        str(out),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".bad-out")]


def test_lddmm_stationary_levels(synth):
    """Coarse levels with one velocity shared by all time steps: constant in time when no finer level
    runs, time-varying after a refinement, and the disc still becomes the ellipse without folds."""
    shape = (40, 40)
    moving = synth.disc(shape, 9.0)
    grid = fields.identity_grid(shape, torch.float64)
    fixed = torch.sigmoid(
        (1.0 - torch.sqrt(((grid[0] - 19.5) / 13) ** 2 + ((grid[1] - 19.5) / 7) ** 2)) * 9.0
    )
    frozen = register(
        fixed,
        moving,
        method=LDDMM(reg=1e-4, levels=2, iterations=(60, 0), stationary_levels=1, time_steps=5),
        dtype=torch.float64,
    )
    u = frozen.velocity
    assert u.shape == (5, 1, 2, *shape) and float(u.abs().max()) > 0.1
    assert all(torch.equal(u[k], u[0]) for k in range(5))
    r = register(
        fixed,
        moving,
        method=LDDMM(reg=1e-4, levels=2, iterations=(60, 30), stationary_levels=5, time_steps=5),
        dtype=torch.float64,
    )
    s = r.summary()
    assert s["ncc_after"] > 0.97 and r.folds == 0
    assert float((r.velocity - r.velocity.mean(0, keepdim=True)).abs().max()) > 0  # the finest level is free
    a, b = r.level_starts
    assert all(
        x >= y - 1e-12 for x, y in zip(r.energy_history[a : b - 1], r.energy_history[a + 1 : b], strict=False)
    )
