"""Every claim's decision rule is a pure function that can return each verdict (synthetic inputs)."""

import math

import pytest

from deepgeometry.atlas.plate import Verdict
from deepgeometry.claims import (
    activations,
    depth,
    fc_head,
    flattening,
    highway,
    locality,
    near_identity,
    preact,
    sawtooth,
    shortcuts,
)


def kinds(v: Verdict) -> str:
    return v.verdict.split(":")[0]


def check(rule, cases):
    seen = set()
    for numbers, want in cases:
        v = rule({"numbers": numbers})
        assert isinstance(v, Verdict)
        assert kinds(v) == want, (numbers, v.verdict)
        assert v.measured and v.expected and v.rule
        seen.add(want)
    assert seen == {"supported", "not supported", "inconclusive"}


def test_locality_rule():
    base = {"smallest_block": 2, "noise": 0.01, "mlp_fixed_minus_intact": 0.0, "control_noise": 0.01}
    check(
        locality.rule,
        [
            ({**base, "adv_intact": 0.05, "adv_smallest_block": 0.0}, "supported"),
            ({**base, "adv_intact": 0.05, "adv_smallest_block": -0.03}, "supported"),
            ({**base, "adv_intact": 0.05, "adv_smallest_block": 0.05}, "not supported"),
            ({**base, "adv_intact": 0.05, "adv_smallest_block": 0.025}, "inconclusive"),
            ({**base, "adv_intact": 0.005, "adv_smallest_block": 0.0}, "inconclusive"),
            (
                {**base, "adv_intact": 0.05, "adv_smallest_block": 0.0, "mlp_fixed_minus_intact": 0.1},
                "inconclusive",
            ),
        ],
    )


def test_sawtooth_rule():
    base = {
        "hand_built_max_err": 0.0,
        "hand_built_pieces_ok": True,
        "w_star": "k=3: 8",
        "deep_trained_rel_mse_kmax": 1.0,
        "n_k": 3,
    }
    check(
        sawtooth.rule,
        [
            ({**base, "n_k_reached": 3, "log2_width_slope": 1.0}, "supported"),
            ({**base, "n_k_reached": 3, "log2_width_slope": 0.1}, "not supported"),
            ({**base, "n_k_reached": 3, "log2_width_slope": 1.0, "hand_built_max_err": 0.1}, "not supported"),
            ({**base, "n_k_reached": 1, "log2_width_slope": "n/a"}, "inconclusive"),
            ({**base, "n_k_reached": 3, "log2_width_slope": 0.5}, "inconclusive"),
        ],
    )


def test_depth_rule():
    base = {"noise": 0.01, "max_depth": 32, "meanfield_agreement": 1.0, "meanfield_cells": 4}
    check(
        depth.rule,
        [
            (
                {**base, "plain_drop": 0.3, "residual_drop": 0.02, "residual_minus_plain_at_max": 0.3},
                "supported",
            ),
            (
                {**base, "plain_drop": 0.005, "residual_drop": 0.0, "residual_minus_plain_at_max": 0.0},
                "not supported",
            ),
            (
                {**base, "plain_drop": 0.3, "residual_drop": 0.3, "residual_minus_plain_at_max": 0.0},
                "not supported",
            ),
            (
                {**base, "plain_drop": 0.04, "residual_drop": 0.0, "residual_minus_plain_at_max": 0.04},
                "inconclusive",
            ),
        ],
    )


def test_activations_rule():
    base = {
        "noise": 0.01,
        "max_depth": 16,
        "turning_random_relu": 10.0,
        "turning_random_sigmoid": 20.0,
        "log10_grad_ratio_sigmoid": -5.0,
        "log10_grad_ratio_relu": 0.0,
    }
    check(
        activations.rule,
        [
            ({**base, "relu_minus_sigmoid_acc": 0.2}, "supported"),
            ({**base, "relu_minus_sigmoid_acc": -0.2}, "not supported"),
            ({**base, "relu_minus_sigmoid_acc": 0.0}, "inconclusive"),
            ({**base, "relu_minus_sigmoid_acc": 0.2, "turning_random_relu": 30.0}, "inconclusive"),
        ],
    )


def test_near_identity_rule():
    good = {
        "ratio_F_x": 0.1,
        "cos_F_grad": -0.2,
        "lesion_residual": 0.005,
        "lesion_plain": 0.5,
        "gini_residual": 0.1,
        "gini_plain": 0.3,
    }
    check(
        near_identity.rule,
        [
            (good, "supported"),
            ({**good, "gini_residual": 0.5}, "inconclusive"),
            ({**good, "gini_residual": 0.5, "ratio_F_x": 2.0}, "not supported"),
            ({**good, "gini_residual": 0.5, "ratio_F_x": 2.0, "lesion_residual": 0.3}, "not supported"),
        ],
    )


@pytest.mark.parametrize("mod", [shortcuts, preact])
def test_ranking_rules(mod):
    base = {"noise": 0.01, "best_variant": "original", "tau_jacobian_vs_paper": 0.1}
    check(
        mod.rule,
        [
            ({**base, "kendall_tau": 0.8, "resolved_pairs": 0.9}, "supported"),
            ({**base, "kendall_tau": 0.2, "resolved_pairs": 0.9}, "not supported"),
            ({**base, "kendall_tau": math.nan, "resolved_pairs": 0.9}, "not supported"),
            ({**base, "kendall_tau": 0.8, "resolved_pairs": 0.2}, "inconclusive"),
        ],
    )


def test_highway_rule():
    base = {"noise": 0.01, "max_depth": 16, "acc_residual": 0.5, "acc_highway": 0.4}
    check(
        highway.rule,
        [
            ({**base, "residual_minus_highway": 0.05}, "supported"),
            ({**base, "residual_minus_highway": -0.05}, "not supported"),
            ({**base, "residual_minus_highway": 0.005}, "inconclusive"),
        ],
    )


def test_flattening_rule():
    base = {
        "geo_ratio_input": 1.6,
        "geo_ratio_last_tanh": 1.2,
        "loops_input": 2.0,
        "loops_last_tanh": 0.5,
        "id_profile": "10, 12, 5",
    }
    check(
        flattening.rule,
        [
            ({**base, "geo_ratio_last_relu": 1.1, "loops_last_relu": 0.2}, "supported"),
            ({**base, "geo_ratio_last_relu": 1.7, "loops_last_relu": 1.9}, "not supported"),
            ({**base, "geo_ratio_last_relu": 1.1, "loops_last_relu": 1.9}, "inconclusive"),
            ({**base, "geo_ratio_last_relu": 1.7, "loops_last_relu": 0.2}, "inconclusive"),
        ],
    )


def test_fc_head_rule():
    base = {"noise": 0.01, "noise_smallest": 0.01, "smallest": "4x1", "largest": "16x3"}
    check(
        fc_head.rule,
        [
            ({**base, "gap_smallest": 0.5, "gap_largest": 0.0}, "supported"),
            ({**base, "gap_smallest": 0.5, "gap_largest": -0.05}, "supported"),
            ({**base, "gap_smallest": 0.5, "gap_largest": 0.2}, "inconclusive"),
            ({**base, "gap_smallest": 0.1, "gap_largest": 0.1}, "not supported"),
        ],
    )
