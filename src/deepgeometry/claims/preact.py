"""Claim 7 (Section III-B): pre-activation -- "putting the ReLU as part of F and setting f as the identity
operation improves the performance. But the impact of f = ReLU is less severe when the ResNet has fewer
layers."

The five BN/ReLU placements of He et al. 2016b, Table 2 (:data:`deepgeometry.nets.zoo.variants.TABLE2_ERROR`)
on a deep residual MLP (zoo ``placement_net``) on mnist1d, >= 3 seeds; ranking vs Table 2 by Kendall tau-b.
Rule: :func:`deepgeometry.claims._ranking.ranking_rule` (differences inside seed noise: inconclusive;
tau >= 0.6: supported; else not supported).
"""

from __future__ import annotations

from typing import Any

from ..atlas.plate import Verdict
from ..nets.zoo.variants import TABLE2_ERROR
from ._ranking import ranking_rule, run_ranking

CLAIM = (
    '"The pre-activation of ReLU by putting the ReLU as part of F and setting f as the identity operation '
    'improves the performance. But the impact of f = ReLU is less severe when the ResNet has fewer layers." '
    "(Section III-B)"
)
EXPECTED = (
    "Table 2 of He et al. 2016b (ECCV), CIFAR-10 ResNet-110 error %: full pre-activation 6.37; original "
    "6.61; ReLU-only pre-activation 6.71; ReLU before addition 7.84; BN after addition 8.17"
)

QUICK = {
    "seeds": [0, 1, 2],
    "depth": 8,
    "width": 48,
    "n_train": 2000,
    "n_test": 1000,
    "epochs": 6,
    "lr": 3e-3,
    "batch_size": 128,
}
FULL = {
    "seeds": [0, 1, 2, 3, 4],
    "depth": 27,
    "width": 64,
    "n_train": 4000,
    "n_test": 1000,
    "epochs": 20,
    "lr": 2e-3,
    "batch_size": 64,
}


def run(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    return run_ranking(
        config,
        ctx,
        "placement_net",
        "placement",
        TABLE2_ERROR,
        "Activation placements (He et al. 2016b, Table 2): test error (%) median [min, max] over seeds",
    )


def rule(result: dict[str, Any]) -> Verdict:
    """Pure decision rule of claim 7 (see :func:`deepgeometry.claims._ranking.ranking_rule`)."""
    return ranking_rule(result, EXPECTED, "Table 2")
