"""``deepgeometry ep train`` in-process."""

import json

from deepgeometry.cli import main


def test_train_json_and_out(tmp_path, capsys):
    out = tmp_path / "rec.json"
    rc = main(
        [
            "ep",
            "train",
            "--data",
            "digits",
            "--arch",
            "64-32-10",
            "--epochs",
            "1",
            "--json",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["ep"]["status"] == "ok" and len(rec["ep"]["epochs"]) == 1
    assert rec["backprop"]["epochs"] and "time_ratio" in rec
    assert json.loads(out.read_text())["ep"]["config"]["arch"] == "64-32-10"
    assert rec["ep"]["config"]["preset"] == "code" and rec["ep"]["config"]["lrs"] == [0.2, 0.1]
    assert not list(tmp_path.glob(".*tmp"))


def test_paper_preset_flag(capsys):
    args = ["ep", "train", "--data", "digits", "--arch", "64-32-10", "--epochs", "1", "--json"]
    assert main([*args, "--preset", "paper", "--no-backprop"]) == 0
    cfg = json.loads(capsys.readouterr().out)["ep"]["config"]
    assert (cfg["preset"], cfg["beta"], cfg["lrs"]) == ("paper", 1.0, [0.1, 0.05])


def test_bad_input_one_line(capsys):
    assert main(["ep", "train", "--data", "digits", "--arch", "784-500-10", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("deepgeometry: error:") and "64 inputs" in err[-1]
    assert main(["ep", "train", "--data", "digits", "--arch", "64-10-10", "--beta", "0"]) == 2
    assert "beta" in capsys.readouterr().err
    assert main(["ep", "train", "--data", "digits", "--arch", "64-10-10", "--lrs", "a,b"]) == 2
