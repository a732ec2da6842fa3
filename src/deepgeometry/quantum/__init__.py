"""The quantum world: SU(2^n) with Nielsen's penalty metric (paper Section II-A, eq. 1, Fig. 1).

T = SU(2^n) acting on state vectors; a computation is a curve ``dU/dt = -iH(t) U`` from I; its cost
is the curve's length under eq. (1); the complexity of U is the length of the minimal geodesic.
"""

from .curvature import MEASURES as MEASURES
from .curvature import CurvatureStats as CurvatureStats
from .curvature import curvature_stats as curvature_stats
from .curvature import pauli_planes as pauli_planes
from .curvature import sample_curvatures as sample_curvatures
from .geodesics import Complexity as Complexity
from .geodesics import Connection as Connection
from .geodesics import check_unitary as check_unitary
from .geodesics import cnot as cnot
from .geodesics import complexity as complexity
from .geodesics import connect as connect
from .geodesics import connect_multiple as connect_multiple
from .geodesics import haar as haar
from .geodesics import log_branches as log_branches
from .geodesics import multiple_shooting_guess as multiple_shooting_guess
from .geodesics import parse_target as parse_target
from .geodesics import principal_hamiltonian as principal_hamiltonian
from .geodesics import qft as qft
from .geodesics import shoot as shoot
from .geodesics import toffoli as toffoli
from .metric import PauliGroup as PauliGroup
from .metric import PenaltyMetric as PenaltyMetric
from .metric import one_local as one_local

__all__ = [
    "MEASURES", "Complexity", "Connection", "CurvatureStats", "PauliGroup", "PenaltyMetric",
    "check_unitary", "cnot", "complexity", "connect", "connect_multiple", "curvature_stats", "haar",
    "log_branches", "multiple_shooting_guess",
    "one_local", "parse_target", "pauli_planes", "principal_hamiltonian", "qft", "sample_curvatures",
    "shoot", "toffoli",
]
