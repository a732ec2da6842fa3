"""The shared frame: curves, Lie groups, metrics, geodesics. No domain words here."""

from .curve import DiscreteCurve as DiscreteCurve
from .curve import gini as gini
from .geodesic import Geodesic as Geodesic
from .geodesic import euler_arnold as euler_arnold
from .geodesic import shoot as shoot
from .lie import AbstractLieGroup as AbstractLieGroup
from .lie import MatrixLieGroup as MatrixLieGroup
from .metric import AbstractMetric as AbstractMetric
from .metric import DiagonalInertia as DiagonalInertia
from .metric import PullbackMetric as PullbackMetric
from .metric import RightInvariantMetric as RightInvariantMetric

__all__ = [
    "AbstractLieGroup",
    "AbstractMetric",
    "DiagonalInertia",
    "DiscreteCurve",
    "Geodesic",
    "MatrixLieGroup",
    "PullbackMetric",
    "RightInvariantMetric",
    "euler_arnold",
    "gini",
    "shoot",
]
