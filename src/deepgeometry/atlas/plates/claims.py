"""The paper's ten claims about CNNs and ResNets (Sections III-A/B, IV) as claim plates.

Each plate wraps one module of :mod:`deepgeometry.claims`: the quoted claim (with its section) is the plate's
``claim``, the module's pre-declared decision rule is the plate's ``verdict`` (a pure function of the result,
unit-tested in ``tests/claims``), and the rule's ``Verdict`` carries what was measured and what the
literature expects (with its source). Every result has ``numbers`` (with ``n_seeds`` and ``seconds``),
``tables`` (medians with [min, max] over seeds), ``seeds`` and the per-run records.
"""

from __future__ import annotations

from typing import Any

from ...claims import (
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
from ..plate import PlateContext, plate

_WORLD = "claims"


def _register(name: str, title: str, section: str, mod: Any, order: int) -> None:
    def run(config: dict, ctx: PlateContext) -> dict:
        return mod.run(config, ctx)

    run.__name__ = f"run_{name.replace('-', '_')}"
    run.__qualname__ = run.__name__
    run.__module__ = __name__
    globals()[run.__name__] = run
    plate(
        name,
        title=title,
        section=section,
        kind="claim",
        verdict=mod.rule,
        claim=mod.CLAIM,
        profiles={"quick": dict(mod.QUICK), "full": dict(mod.FULL)},
        order=order,
        world=_WORLD,
    )(run)


_register(
    "claim-01-block-permutation", "Block-permuted images defeat the CNN's locality", "III-A", locality, 60
)
_register(
    "claim-02-sawtooth-depth",
    "Too shallow never reaches the target (Telgarsky's sawtooth)",
    "III-A, IV",
    sawtooth,
    61,
)
_register(
    "claim-03-too-deep-plain", "Too deep plain nets fail; residual nets do not", "III-A/B, IV", depth, 62
)
_register(
    "claim-04-relu-vs-sigmoid",
    "ReLU is a weaker, better-suited nonlinearity than the sigmoid",
    "III-A",
    activations,
    63,
)
_register(
    "claim-05-near-identity", "ResNet blocks are near-identity segments I + H", "III-B", near_identity, 64
)
_register(
    "claim-06-identity-shortcuts",
    "Identity shortcuts are best (He et al. 2016, Table 1)",
    "III-B",
    shortcuts,
    65,
)
_register("claim-07-pre-activation", "Pre-activation helps (He et al. 2016, Table 2)", "III-B", preact, 66)
_register("claim-08-highway", "Highway nets do worse than ResNets", "III-B", highway, 67)
_register("claim-09-flattening", "Networks flatten a curved input manifold", "III-A, IV", flattening, 68)
_register("claim-10-fc-head", "The fully connected head only clusters", "III-A", fc_head, 69)
