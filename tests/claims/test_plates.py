"""The ten claim plates are registered with quoted claims, >= 3 seeds and working run -> rule pipelines."""

import importlib

import pytest

from deepgeometry.atlas.plate import PLATES, SimpleContext, Verdict
from deepgeometry.claims import MODULES
from deepgeometry.utils import dump_json

importlib.import_module("deepgeometry.atlas.plates.claims")
CLAIMS = {n: p for n, p in PLATES.items() if n.startswith("claim-")}

# micro configs: the pipeline, not the science (seconds each)
MICRO = {
    "sawtooth": {
        "seeds": [0, 1, 2],
        "ks": [2, 3],
        "width_factors": [1.0, 4.0],
        "steps": 5,
        "lr": 3e-3,
        "n_fit": 64,
        "n_eval": 257,
        "threshold": 0.05,
        "deep_steps": 5,
    },
    "highway": {
        "seeds": [0, 1, 2],
        "depths": [1, 2],
        "width": 8,
        "n_train": 120,
        "n_test": 60,
        "epochs": 1,
        "lr": 2e-3,
        "gate_bias": -2.0,
        "batch_size": 64,
    },
    "locality": {
        "seeds": [0, 1, 2],
        "blocks": [28, 14],
        "fixed_block": 14,
        "n_train": 60,
        "n_test": 40,
        "epochs": 1,
        "channels": [2, 2],
        "hidden": 8,
        "mlp_width": 8,
        "lr_cnn": 3e-3,
        "lr_mlp": 1e-3,
    },
    "depth": {
        "seeds": [0, 1, 2],
        "depths": [1, 2],
        "width": 8,
        "n_train": 100,
        "n_test": 50,
        "epochs": 1,
        "lr": 2e-3,
        "cnn": False,
        "mf_sigma_w2": [1.0, 3.0],
        "mf_depths": [2, 4],
        "mf_width": 8,
        "mf_epochs": 1,
        "mf_lr": 1e-2,
        "mf_n_train": 100,
    },
    "activations": {
        "seeds": [0, 1, 2],
        "random_width": 16,
        "random_depth": 3,
        "n_curve": 50,
        "depths": [2, 3],
        "width": 8,
        "n_train": 100,
        "n_test": 50,
        "epochs": 1,
        "lr": 1e-3,
    },
    "near_identity": {
        "seeds": [0, 1, 2],
        "depth": 2,
        "width": 8,
        "n_train": 100,
        "n_test": 50,
        "epochs": 1,
        "lr": 2e-3,
    },
    "shortcuts": {
        "seeds": [0, 1, 2],
        "depth": 1,
        "width": 8,
        "n_train": 100,
        "n_test": 50,
        "epochs": 1,
        "lr": 2e-3,
        "batch_size": 50,
    },
    "preact": {
        "seeds": [0, 1, 2],
        "depth": 1,
        "width": 8,
        "n_train": 100,
        "n_test": 50,
        "epochs": 1,
        "lr": 2e-3,
        "batch_size": 50,
    },
    "flattening": {
        "seeds": [0, 1, 2],
        "roll_n": 120,
        "roll_eval": 60,
        "roll_width": 8,
        "roll_depth": 2,
        "roll_steps": 5,
        "knn": 6,
        "annuli_n": 150,
        "annuli_width": 6,
        "annuli_depth": 2,
        "annuli_steps": 5,
        "tda_points": 12,
        "cnn_train": 60,
        "cnn_epochs": 1,
        "cnn_channels": [2, 2],
        "id_points": 40,
    },
    "fc_head": {
        "seeds": [0, 1, 2],
        "grid": [[2, 1], [4, 2]],
        "pool": 2,
        "n_train": 60,
        "n_test": 40,
        "epochs": 1,
        "lr": 3e-3,
        "hidden": 8,
    },
}


def test_ten_claim_plates_registered():
    assert len(CLAIMS) == 10
    for name, p in CLAIMS.items():
        assert p.kind == "claim" and p.verdict is not None
        assert '"' in p.claim and "Section" in p.claim, name  # quoted, with its section
        for prof in ("quick", "full"):
            assert len(p.config(prof)["seeds"]) >= 3, (name, prof)
        assert len(p.config("full")["seeds"]) > len(p.config("quick")["seeds"])


def _smoke(mod_name, tmp_path):
    mod = importlib.import_module(f"deepgeometry.claims.{mod_name}")
    ctx = SimpleContext(tmp_path)
    res = mod.run(dict(MICRO[mod_name]), ctx)
    dump_json(res)  # JSON-serialisable
    assert res["numbers"]["n_seeds"] == 3 and res["seeds"] == [0, 1, 2]
    assert res["tables"] and all(len(r) == len(t["columns"]) for t in res["tables"] for r in t["rows"])
    assert ctx.figures and all(f["caption"] for f in ctx.figures)
    v = mod.rule(res)
    assert isinstance(v, Verdict) and v.expected == mod.EXPECTED


@pytest.mark.parametrize("mod_name", MODULES)
def test_pipeline(mod_name, tmp_path):
    _smoke(mod_name, tmp_path)
