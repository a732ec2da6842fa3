"""deepgeometry: the geometry of deep learning, measured.

A system is a transformation space T with a metric acting on a state space V (T x V -> V).
A computation is a curve in T from the identity; its cost is the curve's length.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import DeepGeometryError as DeepGeometryError

try:
    __version__ = version("deepgeometry")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["DeepGeometryError", "__version__"]
