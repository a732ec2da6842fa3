"""Claim 6 (Section III-B): identity shortcuts are best -- "when h(x_l) is selected far from the identity
mapping ... the information propagation is hampered and this leads to optimization problems".

The eight shortcut variants of He et al. 2016b, Table 1 (:data:`deepgeometry.nets.zoo.variants.TABLE1_ERROR`)
on a deep residual MLP with BN (zoo ``shortcut_net``) on mnist1d, >= 3 seeds; the measured ranking is compared
with Table 1's (Kendall tau-b, "fail" tied last), and with the ranking predicted by the spread of log singular
values of the end-to-end Jacobian at initialisation. Rule: :func:`deepgeometry.claims._ranking.ranking_rule`
(spread <= noise: inconclusive; tau >= 0.6: supported; else not supported).
"""

from __future__ import annotations

from typing import Any

from ..atlas.plate import Verdict
from ..nets.zoo.variants import TABLE1_ERROR
from ._ranking import ranking_rule, run_ranking

CLAIM = (
    '"When h(x_l) is selected far from the identity mapping, for example as multiplicative '
    "manipulations (scaling, gating, 1x1 convolutions and dropout), the information propagations is "
    'hampered and this leads to optimization problems." (Section III-B); "The geometric picture easily '
    'confirms that the best ResNet structure is to replicate U_ResNet(l delta) = I + H_ResNet(l delta)."'
)
EXPECTED = (
    "Table 1 of He et al. 2016b (ECCV, 'Identity mappings in deep residual networks'), CIFAR-10 "
    "ResNet-110 error %: original 6.61; shortcut-only gating b_g=-6 6.91; exclusive gating b_g=-6 8.70; "
    "1x1 conv 12.22; constant scaling 0.5/0.5 12.35; shortcut-only gating b_g=0 12.86; exclusive gating "
    "b_g=0 fail; dropout shortcut fail"
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
        "shortcut_net",
        "shortcut",
        TABLE1_ERROR,
        "Shortcut variants (He et al. 2016b, Table 1): test error (%) median [min, max] over seeds",
    )


def rule(result: dict[str, Any]) -> Verdict:
    """Pure decision rule of claim 6 (see :func:`deepgeometry.claims._ranking.ranking_rule`)."""
    return ranking_rule(result, EXPECTED, "Table 1")
