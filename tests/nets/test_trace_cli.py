"""`deepgeometry trace`: every MODEL form works, and every bad input gives one line on stderr, exit code 2 and
no output folder."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from deepgeometry.cli import main
from deepgeometry.nets import zoo

FACTORY = '''
import torch
from torch import nn

def small(in_shape=(1, 8, 8), n_classes=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(in_shape).prod()), 12), nn.Tanh(),
                         nn.Linear(12, n_classes))

def fixed():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

def relu_only():
    return nn.ReLU()

def not_a_module():
    return 3
'''


@pytest.fixture
def factory_file(tmp_path):
    p = tmp_path / "mymodels.py"
    p.write_text(FACTORY)
    return p


def _fail(capsys, argv, match, out):
    rc = main(argv + ["--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("deepgeometry: error:") and match in err, err
    assert not out.exists()


def test_zoo_model_json_and_files(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["trace", "zoo:residual_cnn:width=4,depth=2,block=pre", "--data", "digits", "--samples", "32",
               "--probes", "2", "--no-flow", "--out", str(out), "--json"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in rec["segments"]] == ["stem", "block1", "block2", "head"]
    for s in rec["segments"]:
        for key in ("name", "kind", "macs", "displacement", "jacobian_deviation"):
            assert key in s
    assert rec["input_shape"] == [1, 8, 8] and rec["n_samples"] == 32
    assert json.loads((out / "curve.json").read_text()) == rec
    assert (out / "segments.png").stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_flow_keys_in_curve_json(tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["trace", "zoo:mlp:width=16,depth=2", "--data", "digits", "--samples", "16", "--probes", "2",
               "--flow-samples", "200", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "fc1" in text and "wrote" in text
    rec = json.loads((out / "curve.json").read_text())
    assert rec["flow"]["layers"] == ["input", "fc1", "fc2", "out"]
    for key in ("length", "curvature"):
        assert len(rec["flow"][key]) == 4 and all(v is not None and v >= 0 for v in rec["flow"][key])
    assert (out / "flow.png").exists()


def test_file_factory_with_weights_matches_python_api(tmp_path, capsys, factory_file):
    import importlib.util

    spec = importlib.util.spec_from_file_location("mymodels_ref", factory_file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ref = mod.small((1, 8, 8), 10)
    torch.save(ref.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "o"
    rc = main(["trace", f"{factory_file}:small", "--weights", str(tmp_path / "w.pt"), "--data", "digits",
               "--samples", "20", "--probes", "3", "--no-flow", "--out", str(out), "--json"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    from deepgeometry import data, nets

    ds = data.digits()
    want = nets.trace(ref, torch.cat([ds.x_test, ds.x_train])[:20], probes=3, seed=0)
    got = [s["jacobian_deviation"] for s in rec["segments"]]
    assert got == pytest.approx([float(v) for v in want.segment_lengths("jacobian_deviation")], rel=1e-9)


def test_exported_program(tmp_path, capsys):
    m = zoo.build("residual_cnn", in_shape=(1, 8, 8), width=3, depth=1).eval()
    x = torch.rand(4, 1, 8, 8)
    ep = torch.export.export(m, (x,), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
    torch.export.save(ep, tmp_path / "m.pt2")
    out = tmp_path / "o"
    rc = main(["trace", str(tmp_path / "m.pt2"), "--data", "digits", "--samples", "10", "--probes", "2",
               "--no-flow", "--out", str(out), "--json"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in rec["segments"]] == ["stem", "block1", "head"]
    assert rec["segments"][1]["macs"] == 2 * 3 * 3 * 9 * 4 * 4
    # a program exported with a fixed batch size is refused with advice
    ep = torch.export.export(m, (x,))
    torch.export.save(ep, tmp_path / "static.pt2")
    _fail(capsys, ["trace", str(tmp_path / "static.pt2"), "--data", "digits"], "fixes the batch size",
          tmp_path / "o2")
    _fail(capsys, ["trace", str(tmp_path / "m.pt2"), "--data", "mnist1d"], "expects samples of shape",
          tmp_path / "o3")


def test_bad_models(tmp_path, capsys, factory_file):
    out = tmp_path / "o"
    base = ["--data", "digits", "--no-flow"]
    _fail(capsys, ["trace", "resnet50", *base], "unknown model 'resnet50'", out)
    _fail(capsys, ["trace", "zoo:nosuch", *base], "unknown zoo model 'nosuch'", out)
    _fail(capsys, ["trace", "zoo:mlp:wdth=3", *base], "wdth", out)
    _fail(capsys, ["trace", str(tmp_path / "missing.py") + ":f", *base], "model file not found", out)
    _fail(capsys, ["trace", f"{factory_file}:nothere", *base], "no callable 'nothere'", out)
    _fail(capsys, ["trace", f"{factory_file}:not_a_module", *base], "not a torch.nn.Module", out)
    _fail(capsys, ["trace", f"{factory_file}:relu_only", *base], "no sub-modules to trace", out)
    broken = tmp_path / "broken.py"
    broken.write_text("import nosuchpackage_xyz\n")
    _fail(capsys, ["trace", f"{broken}:f", *base], "cannot import model file", out)
    garbage = tmp_path / "g.pt2"
    garbage.write_bytes(b"not a zip")
    _fail(capsys, ["trace", str(garbage), *base], "cannot read", out)
    _fail(capsys, ["trace", "zoo:mlp", "--layers", "fc1,nope", *base], "unknown layer", out)


def test_pickled_modules_are_refused(tmp_path, capsys, factory_file):
    out = tmp_path / "o"
    torch.save(nn.Sequential(nn.Linear(64, 10)), tmp_path / "module.pt")
    _fail(capsys, ["trace", str(tmp_path / "module.pt"), "--data", "digits"], "pickled modules", out)
    _fail(capsys, ["trace", f"{factory_file}:small", "--weights", str(tmp_path / "module.pt"), "--data",
                   "digits"], "not a plain state_dict", out)


def test_weights_that_do_not_match(tmp_path, capsys, factory_file):
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(64, 7)).state_dict(), tmp_path / "w.pt")
    _fail(capsys, ["trace", f"{factory_file}:small", "--weights", str(tmp_path / "w.pt"), "--data", "digits"],
          "do not match", tmp_path / "o")
    _fail(capsys, ["trace", f"{factory_file}:small", "--weights", str(tmp_path / "none.pt"), "--data",
                   "digits"], "weights file not found", tmp_path / "o")


def test_bad_data(tmp_path, capsys, factory_file):
    out = tmp_path / "o"
    _fail(capsys, ["trace", f"{factory_file}:fixed", "--data", "digits"], "failed on inputs of shape", out)
    _fail(capsys, ["trace", "zoo:mlp", "--data", "nosuchdata"], "unknown data set", out)
    x = np.random.rand(20, 6).astype(np.float32)
    xt = x.copy()
    xt[3, 2] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, x_test=xt)
    _fail(capsys, ["trace", "zoo:mlp", "--data", str(tmp_path / "nan.npz")], "NaN", out)
    np.savez(tmp_path / "vec.npz", x=x)
    _fail(capsys, ["trace", "zoo:cnn", "--data", str(tmp_path / "vec.npz")], "in_shape", out)
    _fail(capsys, ["trace", "zoo:mlp", "--data", "digits", "--probes", "0"], "--probes", out)


def test_failed_run_leaves_existing_output_untouched(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "curve.json").write_text("old")
    rc = main(["trace", "zoo:nosuch", "--data", "digits", "--out", str(out)])
    assert rc == 2
    assert (out / "curve.json").read_text() == "old"
    rc = main(["trace", "zoo:mlp:width=4,depth=1", "--data", "digits", "--samples", "4", "--probes", "1",
               "--no-flow", "--out", str(out)])
    assert rc == 0
    assert json.loads((out / "curve.json").read_text())["model"] == "zoo:mlp:width=4,depth=1"
