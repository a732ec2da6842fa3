"""CLI (in-process) and synthesis: sandwich check, staircase, bad input -> exit 2."""

import json
import math

import numpy as np
import pytest

from deepgeometry.cli import main
from deepgeometry.quantum import geodesics as C
from deepgeometry.quantum.metric import PenaltyMetric
from deepgeometry.quantum.synthesis import phase_distance, staircase, trotterize


def test_cli_complexity_cnot_json(capsys):
    rc = main(["quantum", "complexity", "--target", "cnot", "--qubits", "3", "--q", "1,5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and all(out["converged"])
    assert out["length"][-1] == pytest.approx(math.sqrt(3) * math.pi / 4, abs=1e-9)
    assert max(out["residual"]) < 1e-10


def test_cli_curvature_pauli_planes(capsys):
    rc = main(["quantum", "curvature", "--qubits", "3", "--q", "10", "--planes", "pauli-planes", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and round(100 * out["negative"], 2) == 8.29 and out["minimum"] == pytest.approx(-26)


def test_cli_synthesize_text(capsys):
    rc = main(["quantum", "synthesize", "--target", "toffoli", "--qubits", "3", "--q", "4",
               "--segments", "1,8"])
    text = capsys.readouterr().out
    assert rc == 0 and "complexity" in text and "segments" in text


@pytest.mark.parametrize("argv, msg", [
    (["quantum", "complexity", "--target", "cnot", "--qubits", "3", "--q", "0"], "> 0"),
    (["quantum", "complexity", "--target", "cnot", "--qubits", "3", "--q", "nan"], "finite"),
    (["quantum", "complexity", "--target", "cnot", "--qubits", "3", "--locality", "5"], "locality"),
    (["quantum", "complexity", "--target", "toffoli", "--qubits", "2"], "3 qubits"),
    (["quantum", "complexity", "--target", "bogus", "--qubits", "2"], "unknown target"),
    (["quantum", "curvature", "--qubits", "2", "--planes", "nope"], "measure"),
])
def test_cli_bad_input_exits_2(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1


def test_cli_rejects_non_unitary_and_wrong_size_files(tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((8, 8)))
    assert main(["quantum", "complexity", "--target", str(bad), "--qubits", "3"]) == 2
    assert "not unitary" in capsys.readouterr().err
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.eye(4))
    assert main(["quantum", "complexity", "--target", str(wrong), "--qubits", "3"]) == 2
    assert "qubits" in capsys.readouterr().err


def _easy_geodesic(q=1000.0, seed=0):
    """A geodesic shot from an easy momentum at large q: its hard velocity stays O(1/q)."""
    import torch

    metric = PenaltyMetric(3, q)
    g = torch.Generator().manual_seed(seed)
    m0 = metric.project_easy(0.3 * torch.randn(63, dtype=torch.float64, generator=g))
    return metric, C.shoot(metric, metric.sharp(m0))


def test_synthesis_staircase_converges_with_two_qubit_gates():
    metric, geo = _easy_geodesic()
    rows = staircase(geo, metric, geo.endpoint, [1, 4, 16, 64])
    errs = [r["error"] for r in rows]
    gates = [r["gates"] for r in rows]
    assert errs[-1] < errs[0] / 10 and errs[-1] < 0.05 and errs[-1] < 0.6 * errs[-2]  # first-order Trotter
    assert all(b > a for a, b in zip(gates, gates[1:], strict=False))
    assert all(len(s) <= 2 for s, _, _ in trotterize(geo, metric, 4).gates)
    # one gate per support and slice: the circuit's length (sum of gate lengths) converges, and splitting
    # a slice by support can only lengthen it (triangle inequality)
    lens = [r["circuit_length"] for r in rows]
    assert abs(lens[-1] - lens[-2]) < 0.02 * lens[-1]
    assert lens[-1] >= float(geo.length) * (1 - 1e-3)


@pytest.mark.slow
def test_sandwich_on_a_minimal_geodesic():
    q = 1000.0
    metric = PenaltyMetric(3, q)
    u = C.haar(3, 0)
    conn = C.complexity(u, 3, [q], branches=1).connections[0]
    for r in staircase(conn.geodesic, metric, u, [8, 32, 128]):
        assert conn.length <= r["circuit_length"] + 4 * r["error"] + 1e-9


def test_phase_distance_ignores_global_phase():
    u = C.haar(2, 1)
    assert phase_distance(u, np.exp(0.7j) * u) < 1e-12


def test_sandwich_for_a_circuit_of_easy_gates():
    # U = product of four 2-qubit gates exp(-i H_j): ||log U|| = d_1 <= d_q(I, U) <= sum_j ||H_j|| for all q
    import torch

    from deepgeometry.quantum.synthesis import easy_circuit, supports

    sup = supports(3)
    g = torch.Generator().manual_seed(0)
    hs = []
    for pair in [(0, 1), (1, 2), (0, 2), (0, 1)]:
        mask = torch.tensor([set(s) <= set(pair) for s in sup], dtype=torch.float64)
        h = torch.randn(63, dtype=torch.float64, generator=g) * mask
        hs.append(0.35 * h / h.norm())
    circ = easy_circuit(PenaltyMetric(3, 1.0), hs)
    assert circ.length == pytest.approx(1.4, abs=1e-12) and circ.two_qubit_count == 4
    res = C.complexity(circ.unitary, 3, [1.0, 100.0], branches=1)
    assert all(res.converged) and max(res.residuals) < 1e-10
    d1, d100 = res.lengths
    assert abs(d1 - float(C.principal_hamiltonian(circ.unitary).norm())) < 1e-12
    assert d1 + 0.05 < d100 <= circ.length  # 0.695 < 0.888 <= 1.4


def test_easy_circuit_refuses_hard_terms():
    import torch

    from deepgeometry.errors import DeepGeometryError
    from deepgeometry.quantum.synthesis import easy_circuit

    h = torch.zeros(63, dtype=torch.float64)
    h[-1] = 0.1  # ZZZ: weight 3, hard for locality 2
    with pytest.raises(DeepGeometryError, match="hard component"):
        easy_circuit(PenaltyMetric(3, 10.0), [h])


def test_qiskit_cnot_count_for_a_two_qubit_haar_unitary():
    pytest.importorskip("qiskit")  # optional benchmark dependency
    from deepgeometry.quantum.synthesis import qiskit_cnot_count

    assert qiskit_cnot_count(C.haar(2, 0)) == 3  # a generic SU(4) needs exactly 3 CNOTs
