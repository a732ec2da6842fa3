import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepgeometry.atlas.plate import PLATES, SimpleContext, Verdict, plate
from deepgeometry.atlas.runner import collect_plates, config_hash, run_atlas
from deepgeometry.cli import main
from deepgeometry.errors import DeepGeometryError

HERE = Path(__file__).parent
TP = str(HERE / "plates_for_tests.py")
TEST_PLATES = "tp-first,tp-slow,tp-claim,tp-broken"


def _cli(*args, env=None):
    e = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "deepgeometry", *args], capture_output=True, text=True,
                          env=e, timeout=240)


def test_plate_registration_rules():
    with pytest.raises(DeepGeometryError, match="verdict rule"):
        plate("x-claim", title="t", section="s", kind="claim", profiles={"quick": {}, "full": {}})
    with pytest.raises(DeepGeometryError, match="quick"):
        plate("x-noprof", title="t", section="s", profiles={"full": {}})
    with pytest.raises(DeepGeometryError):
        Verdict("probably", rule="r")
    assert Verdict("inconclusive: seeds disagree", rule="r").verdict.startswith("inconclusive")


def test_every_registered_plate_is_well_formed():
    plates = collect_plates()
    for p in plates.values():
        assert p.kind in ("figure", "claim")
        assert p.title and p.section
        assert set(p.profiles) >= {"quick", "full"}
        if p.kind == "claim":
            assert p.verdict is not None and p.claim, p.name


def test_run_cache_and_records(tmp_path, monkeypatch):
    monkeypatch.setenv("TP_X", "14")
    s = run_atlas(tmp_path, only="tp-first,tp-claim", extra_plate_files=[TP], progress=False)
    assert [r["status"] for r in s.rows] == ["ran", "ran"]
    rec = json.loads(Path(s.rows[1]["record"]).read_text())
    assert rec["verdict"]["verdict"] == "supported" and rec["status"] == "ok"
    assert rec["versions"]["torch"] and rec["hash"] == config_hash(PLATES["tp-claim"], "quick", {})
    first = json.loads(Path(s.rows[0]["record"]).read_text())
    assert first["result"]["numbers"]["sum_sq"] == 0 + 1 + 4
    assert first["seeds"] == [0, 1, 2]
    assert (tmp_path / first["figures"][0]["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # second run reuses both; a changed config (profile) runs again
    s2 = run_atlas(tmp_path, only="tp-first,tp-claim", extra_plate_files=[TP], progress=False)
    assert [r["status"] for r in s2.rows] == ["cached", "cached"]
    s3 = run_atlas(tmp_path, only="tp-first", profile="full", extra_plate_files=[TP], progress=False)
    assert s3.rows[0]["status"] == "ran"
    # the verdict rule decides: a wrong measurement is "not supported"
    monkeypatch.setenv("TP_X", "13")
    s4 = run_atlas(tmp_path, only="tp-claim", force=True, extra_plate_files=[TP], progress=False)
    assert s4.rows[0]["verdict"] == "not supported"


def test_failing_plate_is_recorded_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TP_BREAK", "1")
    s = run_atlas(tmp_path, only="tp-broken", extra_plate_files=[TP], progress=False)
    assert s.rows[0]["status"] == "failed" and "deliberate failure" in s.rows[0]["error"]
    monkeypatch.delenv("TP_BREAK")
    s = run_atlas(tmp_path, only="tp-broken", extra_plate_files=[TP], progress=False)
    assert s.rows[0]["status"] == "ran"


def test_parallel_sweep_in_worker_processes(tmp_path):
    s = run_atlas(tmp_path, only="tp-first", jobs=2, extra_plate_files=[TP], progress=False)
    rec = json.loads(Path(s.rows[0]["record"]).read_text())
    assert rec["status"] == "ok" and rec["result"]["numbers"]["sum_sq"] == 5


def test_kill_minus_nine_loses_only_the_plate_in_flight(tmp_path):
    out = tmp_path / "atlas"
    env = dict(os.environ, OMP_NUM_THREADS="1", TP_SLEEP="60")
    proc = subprocess.Popen([sys.executable, "-m", "deepgeometry", "atlas", "--plates-from", TP, "--only",
                             "tp-first,tp-slow,tp-claim", "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((out / "records").glob("tp-first-*.json")):
            time.sleep(0.2)
        assert list((out / "records").glob("tp-first-*.json")), "first plate never finished"
        time.sleep(1.0)  # now inside the slow plate
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    recs = sorted(p.name for p in (out / "records").glob("*.json"))
    assert len(recs) == 1 and recs[0].startswith("tp-first")
    assert not (out / "index.html").exists()
    r = _cli("atlas", "--plates-from", TP, "--only", "tp-first,tp-slow,tp-claim", "--out", str(out), "--json",
             env={"TP_SLEEP": "0"})
    assert r.returncode == 0, r.stderr
    rows = {row["plate"]: row["status"] for row in json.loads(r.stdout)["plates"]}
    assert rows == {"tp-first": "cached", "tp-slow": "ran", "tp-claim": "ran"}
    assert (out / "index.html").is_file()


def test_cli_errors_are_one_line(capsys, tmp_path):
    assert main(["atlas", "--only", "no-such-plate", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown plate 'no-such-plate'" in err[0]
    assert main(["atlas", "--plates-from", str(tmp_path / "missing.py")]) == 2
    assert "plate file not found" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert main(["atlas", "--plates-from", TP, "--only", "tp-claim", "--out", str(tmp_path / "afile")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no records" in capsys.readouterr().err


def test_cli_list(capsys):
    assert main(["atlas", "--plates-from", TP, "--list", "--only", "tp-first,tp-claim"]) == 0
    out = capsys.readouterr().out
    assert "tp-first" in out and "tp-claim" in out


def test_simple_context_saves_png(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ctx = SimpleContext(tmp_path)
    fig, _ = plt.subplots()
    p = ctx.save_figure(fig, "f")
    assert Path(p).read_bytes()[:4] == b"\x89PNG" and ctx.map(abs, [-1, 2]) == [1, 2]


@pytest.mark.ray
def test_ray_executor_runs_two_plates(tmp_path):
    pytest.importorskip("ray")
    r = _cli("atlas", "--plates-from", TP, "--only", "tp-first,tp-claim", "--out", str(tmp_path),
             "--executor", "ray", "--jobs", "2", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {row["plate"]: row for row in json.loads(r.stdout)["plates"]}
    assert rows["tp-first"]["status"] == "ran" and rows["tp-claim"]["verdict"] == "supported"
    rec = json.loads(Path(rows["tp-first"]["record"]).read_text())
    assert rec["result"]["numbers"]["sum_sq"] == 5 and rec["figures"]
