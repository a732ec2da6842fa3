"""From a geodesic to a circuit of 1- and 2-qubit gates (paper Section II-A, Fig. 1's red segmented line).

A curve ``U(t)`` with Hamiltonian ``H(t)`` is cut into ``N`` segments; on segment j the Hamiltonian is
frozen at its midpoint value and projected on the easy terms, ``H_j = P(H(t_j + dt/2))``; its terms are
grouped by support (the qubits they act on) and applied one support at a time (first-order Trotter), so
each factor ``exp(-i dt sum_{a in S} h_a s_a)`` is one gate on ``|S| <= locality`` qubits. The circuit
is itself a curve of easy segments, so its length ``sum_gates dt |G|`` bounds the complexity from above:
``d(I, U_circuit) <= sum_j ||H_j|| dt`` (the sandwich check).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.geodesic import Geodesic
from ..errors import DeepGeometryError
from . import pauli
from .metric import PauliGroup, PenaltyMetric


@dataclass(frozen=True)
class Circuit:
    """A synthesized circuit: gates as ``(support, coefficients over the support's strings, dt)``."""

    n_qubits: int
    gates: list
    unitary: torch.Tensor
    length: float

    @property
    def gate_count(self) -> int:
        return len(self.gates)

    @property
    def two_qubit_count(self) -> int:
        return sum(1 for s, _, _ in self.gates if len(s) == 2)


def phase_distance(u: torch.Tensor, v: torch.Tensor) -> float:
    """``min_phi ||u - e^{i phi} v||_2`` approximated at the phase of ``tr(v^dagger u)``."""
    t = complex(torch.trace(v.conj().T @ u))
    ph = t / abs(t) if abs(t) > 1e-300 else 1.0
    return float(torch.linalg.matrix_norm(u - ph * v, ord=2))


def supports(n_qubits: int) -> list[tuple[int, ...]]:
    """Support (tuple of qubits) of each of the ``4^n - 1`` strings."""
    dg = pauli.digits(n_qubits)[1:]
    return [tuple(int(k) for k in np.nonzero(row)[0]) for row in dg]


def trotterize(geodesic: Geodesic, metric: PenaltyMetric, segments: int) -> Circuit:
    """Circuit of easy gates approximating the geodesic's endpoint with ``segments`` time slices.

    The geodesic's velocities are interpolated linearly to the segment midpoints; hard components
    are dropped (they vanish as q grows); each slice becomes one gate per occupied support.
    """
    if isinstance(segments, bool) or int(segments) != segments or segments < 1:
        raise DeepGeometryError(f"segments must be a positive integer, got {segments!r}")
    n = metric.n_qubits
    group = PauliGroup(n)
    vel, times = geodesic.velocities, geodesic.times
    t1 = float(times[-1])
    sup = supports(n)
    groups: dict[tuple[int, ...], list[int]] = {}
    for a, s in enumerate(sup):
        if metric.easy[a]:
            groups.setdefault(s, []).append(a)
    dt = t1 / segments
    u = torch.eye(2**n, dtype=torch.complex128)
    gates, length = [], 0.0
    tk = times.numpy()
    for j in range(segments):
        tm = (j + 0.5) * dt
        i = min(int(np.searchsorted(tk, tm)) - 1, len(tk) - 2)
        i = max(i, 0)
        lam = (tm - tk[i]) / (tk[i + 1] - tk[i])
        h = (1 - lam) * vel[i] + lam * vel[i + 1]
        for s, idx in groups.items():
            c = h[idx]
            if float(c.abs().max()) < 1e-14:
                continue
            g = torch.zeros_like(h)
            g[idx] = c
            u = group.exp(dt * g) @ u
            gates.append((s, c.clone(), dt))
            length += dt * float(torch.linalg.vector_norm(c))
    return Circuit(n_qubits=n, gates=gates, unitary=u, length=length)


def easy_circuit(metric: PenaltyMetric, hamiltonians: torch.Tensor | list[torch.Tensor]) -> Circuit:
    """The circuit ``U = exp(-i H_m) ... exp(-i H_1)`` of the given easy Hamiltonians (Pauli coordinates).

    Each factor is a unit-time segment of velocity ``H_j``, so the circuit is a curve from I to U of
    length ``sum_j ||H_j||`` under eq. (1) for every q (easy components carry weight 1): the upper side of
    the sandwich ``||log U|| <= d_q(I, U) <= sum_j ||H_j||`` (the lower side is the q = 1 distance, since
    d only grows with q). A Hamiltonian with a hard component is refused.
    """
    hs = torch.stack([torch.as_tensor(h, dtype=torch.float64) for h in hamiltonians])
    if hs.ndim != 2 or hs.shape[1] != metric.group.dim or not torch.all(torch.isfinite(hs)):
        raise DeepGeometryError(f"easy_circuit: expected finite Hamiltonians of {metric.group.dim} "
                                f"coordinates, got shape {tuple(hs.shape)}")
    hard = float(metric.project_hard(hs).abs().max())
    if hard > 0:
        raise DeepGeometryError(f"easy_circuit: a Hamiltonian has a hard component (max |coefficient| "
                                f"{hard:.3g}); only easy strings are allowed")
    group = PauliGroup(metric.n_qubits)
    sup = supports(metric.n_qubits)
    u = torch.eye(group.size, dtype=torch.complex128)
    gates, length = [], 0.0
    for h in hs:
        idx = torch.nonzero(h).flatten().tolist()
        support = tuple(sorted({k for a in idx for k in sup[a]}))
        u = group.exp(h) @ u
        gates.append((support, h[idx].clone(), 1.0))
        length += float(torch.linalg.vector_norm(h))
    return Circuit(n_qubits=metric.n_qubits, gates=gates, unitary=u, length=length)


def staircase(geodesic: Geodesic, metric: PenaltyMetric, target: torch.Tensor,
              segments: list[int] | tuple[int, ...] = (1, 2, 4, 8, 16, 32)) -> list[dict]:
    """Gate count versus operator-norm error (modulo phase) for several slice counts.

    One row per slice count: ``segments``, ``gates`` (1- and 2-qubit gates), ``two_qubit_gates``,
    ``error`` = ``min_phi ||U_circuit - e^{i phi} U||_2`` and ``circuit_length`` (the circuit's length
    under eq. (1), an upper bound on the complexity of the circuit's own unitary).
    """
    rows = []
    for s in segments:
        c = trotterize(geodesic, metric, s)
        rows.append({"segments": int(s), "gates": c.gate_count, "two_qubit_gates": c.two_qubit_count,
                     "error": phase_distance(c.unitary, target), "circuit_length": c.length})
    return rows


def qiskit_cnot_count(u: torch.Tensor) -> int | None:
    """CNOT count of ``qiskit.synthesis.qs_decomposition(u)``; ``None`` when Qiskit is not installed."""
    try:
        from qiskit import transpile
        from qiskit.synthesis import qs_decomposition
    except ImportError:
        return None
    circ = qs_decomposition(u.resolve_conj().numpy())
    circ = transpile(circ, basis_gates=["cx", "u"], optimization_level=0)
    return int(circ.count_ops().get("cx", 0))
