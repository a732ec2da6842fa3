"""The networks world (paper Section III): a network is a curve in T_CNN acting on activations V_CNN.

Public API
----------
``trace(model, inputs, layers=None) -> NetworkCurve``
    Cut a model into segments and measure each under three lengths: complexity (MACs), displacement and
    Jacobian deviation (:mod:`deepgeometry.nets.lengths`).
``flow(model, inputs, path=...) -> FlowResult``
    Geometry of the data manifold at every layer (:mod:`deepgeometry.nets.flow`).
``meanfield``
    Mean-field theory of random deep nets (Poole et al. 2016).
``zoo``
    Small reference models by name (``zoo.build("resnet", block="pre")``).

Names are imported on first use, so ``import deepgeometry.nets.zoo`` stays cheap. ``nets.trace`` and
``nets.flow`` are the functions even after their modules have been imported (reach the modules with
``from deepgeometry.nets.trace import ...`` or ``sys.modules``).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_LAZY = {
    "trace": ("deepgeometry.nets.trace", "trace"),
    "NetworkCurve": ("deepgeometry.nets.trace", "NetworkCurve"),
    "complexity_macs": ("deepgeometry.nets.lengths", "complexity_macs"),
    "displacement": ("deepgeometry.nets.lengths", "displacement"),
    "jacobian_deviation": ("deepgeometry.nets.lengths", "jacobian_deviation"),
    "find_segments": ("deepgeometry.nets.segments", "find_segments"),
    "intermediates": ("deepgeometry.nets.segments", "intermediates"),
    "train_classifier": ("deepgeometry.nets.train", "train_classifier"),
    "accuracy": ("deepgeometry.nets.train", "accuracy"),
    "flow": ("deepgeometry.nets.flow", "flow"),
    "FlowResult": ("deepgeometry.nets.flow", "FlowResult"),
    "meanfield": ("deepgeometry.nets.meanfield", None),
    "zoo": ("deepgeometry.nets.zoo", None),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    modname, attr = _LAZY[name]
    mod = importlib.import_module(modname)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


#: package attributes that name a function, not the submodule of the same name
_SHADOWED = frozenset({"trace", "flow"})


class _NetsPackage(types.ModuleType):
    """Keeps ``nets.trace`` / ``nets.flow`` the functions when their submodules are imported (the import
    system would otherwise set the package attribute to the submodule)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _NetsPackage
