"""Pauli machinery: basis, structure constants, fast decomposition."""

import numpy as np
import pytest
import torch

from deepgeometry.errors import DeepGeometryError
from deepgeometry.quantum import pauli


@pytest.mark.parametrize("n", [1, 2, 3])
def test_basis_orthogonal_and_traceless(n):
    b = pauli.basis(n)
    gram = torch.einsum("aij,bji->ab", b, b) / 2**n
    assert torch.allclose(gram, torch.eye(4**n - 1, dtype=gram.dtype), atol=1e-14)
    assert torch.allclose(torch.einsum("aii->a", b), torch.zeros(4**n - 1, dtype=b.dtype))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_fast_decomposition_matches_traces_and_inverts(n):
    g = torch.Generator().manual_seed(n)
    m = torch.randn(2**n, 2**n, dtype=torch.complex128, generator=g)
    c = pauli.decompose(m)
    assert torch.allclose(c, pauli.decompose_naive(m), atol=1e-13)
    assert torch.allclose(pauli.compose_matrix(c), m, atol=1e-13)


def test_structure_constants_are_pm2_and_match_commutators():
    n = 2
    b = pauli.basis(n)
    B, F = pauli.bracket_tables(n)
    assert set(np.unique(F.numpy()).tolist()) <= {-2.0, 0.0, 2.0}
    for a in range(15):
        for c in range(15):
            if F[a, c] != 0:
                bb = int(B[a, c])
                comm = b[a] @ b[bb] - b[bb] @ b[a]
                assert torch.allclose(comm, 1j * F[a, c] * b[c], atol=1e-14)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_bracket_equals_matrix_commutator(n):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 4**n - 1, dtype=torch.float64, generator=g)
    y = torch.randn(3, 4**n - 1, dtype=torch.float64, generator=g)
    hx, hy = pauli.hamiltonian(x), pauli.hamiltonian(y)
    ref = pauli.coords(-1j * (hx @ hy - hy @ hx))
    assert torch.allclose(pauli.bracket(x, y), ref, atol=1e-12)
    assert torch.allclose(pauli.bracket_fast(x, y), ref, atol=1e-12)


def test_weights_and_labels():
    assert pauli.labels(1) == ["X", "Y", "Z"]
    labs = pauli.labels(3)
    w = pauli.weights(3)
    assert w[labs.index("XIZ")] == 2 and w[labs.index("ZZZ")] == 3 and w[labs.index("IIY")] == 1
    assert pauli.index_of("XIZ") == labs.index("XIZ")
    assert (w == 1).sum() == 9 and (w <= 2).sum() == 9 + 27


def test_bad_input():
    with pytest.raises(DeepGeometryError, match="2\\^n"):
        pauli.decompose(torch.zeros(3, 3))
    with pytest.raises(DeepGeometryError, match="identity"):
        pauli.index_of("III")
    with pytest.raises(DeepGeometryError, match="n_qubits"):
        pauli.check_qubits(0)
