"""The registration plates: verdict rules on synthetic results, and a quick run."""

import pytest

from deepgeometry.atlas.plate import PLATES, SimpleContext
from deepgeometry.atlas.plates import diffeo as plates


@pytest.mark.parametrize(
    "folds,ncc,expected", [(0, 0.99, "supported"), (3, 0.99, "not supported"), (0, 0.5, "not supported")]
)
def test_curve_rule(folds, ncc, expected):
    v = plates._match_rule({"numbers": {"folds": folds, "ncc_after": ncc, "ncc_before": 0.6}})
    assert v.verdict == expected


@pytest.mark.parametrize(
    "f1,n2,expected", [(0, 0.99, "supported"), (1, 0.99, "not supported"), (0, 0.9, "not supported")]
)
def test_compare_rule(f1, n2, expected):
    nums = {
        "lddmm_folds": f1,
        "lddmm_ncc": 0.99,
        "svf_folds": 0,
        "svf_ncc": n2,
        "lddmm_distance": 1.0,
        "svf_distance": 2.0,
    }
    assert plates._compare_rule({"numbers": nums}).verdict == expected


def test_quick_plates_run(tmp_path):
    for name in ("diffeo-curve", "diffeo-geodesic-vs-exp"):
        p = PLATES[name]
        ctx = SimpleContext(out_dir=tmp_path)
        result = p.run(p.config("quick"), ctx)
        assert p.verdict(result).verdict == "supported", result["numbers"]
        assert ctx.figures and all((tmp_path / f"{f['name']}.png").exists() for f in ctx.figures)
