"""Structure search (eq. 31): MACs, Pareto front, REINFORCE vs grid on synthetic results."""

import pytest
import torch

from deepgeometry.ep.structure import (
    StructureSpace,
    cheapest_reaching,
    cnn_macs,
    pareto_front,
    reinforce_search,
    small_cnn,
    structure_search,
)
from deepgeometry.errors import DeepGeometryError


def test_macs_closed_form_and_model_shapes():
    assert cnn_macs((1, 4, 3), (1, 8, 8), 10) == 64 * 4 * 9 + 4 * 16 * 10
    assert cnn_macs((2, 8, 5), (1, 8, 8), 10) == 64 * 8 * 25 + 64 * 8 * 8 * 25 + 8 * 16 * 10
    m = small_cnn((3, 4, 5), (1, 8, 8), 10)
    assert m(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def _synthetic(space):
    # accuracy grows with MACs with diminishing returns
    res = []
    for s in space.all():
        macs = cnn_macs(s, (1, 8, 8), 10)
        res.append(
            {"structure": list(s), "macs": macs, "val_acc": 1 - 0.5 / (1 + macs / 5000), "test_acc": 0.0}
        )
    return res


def test_pareto_front_is_non_dominated():
    pts = [
        {"structure": [i], "macs": m, "val_acc": a}
        for i, (m, a) in enumerate([(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.9), (5, 0.9)])
    ]
    front = pareto_front(pts)
    assert [p["macs"] for p in front] == [1, 2, 4]
    assert cheapest_reaching(pts, 0.65)["macs"] == 2
    assert cheapest_reaching(pts, 0.95) is None


def test_reinforce_finds_grid_optimum_on_synthetic_energy():
    space = StructureSpace()
    results = _synthetic(space)
    out = structure_search(space, results, [0.0, 1.0], seed=0)
    for row in out["rows"]:
        assert row["energy_gap"] <= 0.01
    # lambda = 0 picks the most accurate (largest) structure, a large lambda a cheap one
    assert out["rows"][0]["grid_macs"] == max(r["macs"] for r in results)
    assert out["rows"][1]["grid_macs"] < out["rows"][0]["grid_macs"]


def test_reinforce_respects_budget():
    space = StructureSpace()
    by = {tuple(r["structure"]): r for r in _synthetic(space)}
    calls = []
    res = reinforce_search(space, lambda s: calls.append(s) or by[s], 0.1, 1e6, budget=5, max_steps=50)
    assert res.distinct_evaluations <= 5 and len(calls) == len(set(calls)) <= 5


def test_bad_space():
    with pytest.raises(DeepGeometryError, match="odd"):
        StructureSpace(kernels=(2, 3))
    with pytest.raises(DeepGeometryError, match="no trained result"):
        structure_search(StructureSpace(), [], [0.1])
