"""Pauli machinery for n qubits: the basis of su(2^n), structure constants, fast decomposition, locality.

Strings are indexed in base 4 with qubit 0 the most significant digit (the leftmost Kronecker factor)
and digits ``0, 1, 2, 3 = I, X, Y, Z``: index ``a = sum_k p_k 4^(n-1-k)``. The algebra su(2^n) uses the
``D = 4^n - 1`` non-identity strings ``s_1 .. s_D``; a Hamiltonian is ``H = sum_a h_a s_a`` and the
coordinate vector ``h`` is what the rest of the quantum world calls an algebra element (``xi = -iH``).

Structure constants (paper eq. 1 context): ``[s_a, s_b] = i f_ab^c s_c`` with ``f in {0, +-2}``, totally
antisymmetric because ``tr(s_a s_b) = 2^n delta_ab``. For each pair ``(a, c)`` there is exactly one
``b`` with ``s_a s_b ~ s_c``, so the bracket is stored as two ``D x D`` tables ``(B, F)`` and

    ad(x, y)_c = sum_a F[a, c] x_a y_B[a, c]          (the coordinates of -i[H_x, H_y]).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch

from ..errors import DeepGeometryError

#: single-qubit Pauli matrices in the digit order I, X, Y, Z
PAULI_1Q = np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]],
                    dtype=np.complex128)
_LETTERS = "IXYZ"

# single-qubit products: sigma_p sigma_r = i^PHASE[p, r] sigma_PROD[p, r]
_PROD = np.zeros((4, 4), dtype=np.int64)
_PHASE = np.zeros((4, 4), dtype=np.int64)
for _p in range(4):
    for _r in range(4):
        _m = PAULI_1Q[_p] @ PAULI_1Q[_r]
        for _s in range(4):
            _t = np.trace(PAULI_1Q[_s].conj().T @ _m) / 2
            if abs(_t) > 0.5:
                _PROD[_p, _r] = _s
                _PHASE[_p, _r] = int(round(np.angle(_t) / (np.pi / 2))) % 4


def check_qubits(n_qubits: int, max_qubits: int = 8) -> int:
    """Validate a qubit count (1..max_qubits) and return it as int."""
    if isinstance(n_qubits, bool) or int(n_qubits) != n_qubits or not 1 <= int(n_qubits) <= max_qubits:
        raise DeepGeometryError(f"n_qubits must be an integer in 1..{max_qubits}, got {n_qubits!r}")
    return int(n_qubits)


@cache
def digits(n_qubits: int) -> np.ndarray:
    """``(4^n, n)`` base-4 digits of every string index (qubit 0 first)."""
    n = check_qubits(n_qubits)
    idx = np.arange(4**n)
    return np.stack([(idx // 4 ** (n - 1 - k)) % 4 for k in range(n)], axis=1)


def labels(n_qubits: int) -> list[str]:
    """Names of the ``4^n - 1`` non-identity strings, e.g. ``['IX', 'IY', ..., 'ZZ']`` for n = 2."""
    return ["".join(_LETTERS[p] for p in row) for row in digits(n_qubits)[1:]]


def index_of(label: str) -> int:
    """Coordinate index (0-based among non-identity strings) of a Pauli string like ``'XZI'``."""
    if not label or any(ch not in _LETTERS for ch in label.upper()):
        raise DeepGeometryError(f"not a Pauli string over IXYZ: {label!r}")
    a = 0
    for ch in label.upper():
        a = 4 * a + _LETTERS.index(ch)
    if a == 0:
        raise DeepGeometryError(f"the identity string {label!r} is not in su(2^n)")
    return a - 1


@cache
def weights(n_qubits: int) -> np.ndarray:
    """Weight (locality: number of non-identity factors) of each of the ``4^n - 1`` strings."""
    return (digits(n_qubits)[1:] != 0).sum(axis=1)


@cache
def _basis_np(n_qubits: int) -> np.ndarray:
    n = check_qubits(n_qubits)
    d = 2**n
    out = np.ones((1, 1, 1), dtype=np.complex128)
    for _ in range(n):
        out = np.einsum("aij,pkl->apikjl", out, PAULI_1Q).reshape(-1, out.shape[1] * 2, out.shape[2] * 2)
    assert out.shape == (4**n, d, d)
    return out[1:]


@cache
def basis(n_qubits: int) -> torch.Tensor:
    """``(4^n - 1, 2^n, 2^n)`` complex128 Pauli-string matrices ``s_a`` (identity excluded)."""
    return torch.from_numpy(_basis_np(n_qubits))


def hamiltonian(h: torch.Tensor, n_qubits: int | None = None) -> torch.Tensor:
    """``H = sum_a h_a s_a`` for real coordinates ``h`` of shape ``(..., 4^n - 1)``."""
    n = _n_from_dim(h.shape[-1]) if n_qubits is None else n_qubits
    b = basis(n)
    return torch.tensordot(h.to(b.dtype), b, dims=([-1], [0]))


def _n_from_dim(dim: int) -> int:
    n = round(math.log(dim + 1, 4))
    if 4**n - 1 != dim:
        raise DeepGeometryError(f"a su(2^n) coordinate vector has length 4^n - 1, got {dim}")
    return n


def _n_from_matrix(m: torch.Tensor | np.ndarray, what: str = "matrix") -> int:
    shape = tuple(m.shape)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise DeepGeometryError(f"{what}: expected square (..., 2^n, 2^n) matrices, got shape {shape}")
    d = shape[-1]
    n = round(math.log2(d)) if d > 0 else -1
    if n < 1 or 2**n != d:
        raise DeepGeometryError(f"{what}: size must be 2^n for n >= 1 qubits, got {d}")
    return n


def decompose(m: torch.Tensor) -> torch.Tensor:
    """All ``4^n`` Pauli coefficients ``c_a = tr(s_a M) / 2^n`` (identity first), in O(n 4^n).

    One 2x2 -> 4 butterfly per qubit on the ``(2,)*2n`` reshaped matrix instead of ``4^n`` traces.
    ``M`` may be any complex or real ``(..., 2^n, 2^n)`` array; the result is complex.
    """
    n = _n_from_matrix(m, "decompose")
    d = 2**n
    m = torch.as_tensor(m)
    if not m.is_complex():
        m = m.to(torch.complex128)
    batch = m.shape[:-2]
    # t[..., r_0..r_{n-1}, c_0..c_{n-1}]; process qubit k: (r_k, c_k) -> p_k
    t = m.reshape(*batch, *([2] * (2 * n)))
    nb = len(batch)
    # move to layout [..., (r_k, c_k) pairs interleaved]
    perm = list(range(nb)) + [nb + j for k in range(n) for j in (k, n + k)]
    t = t.permute(*perm).reshape(*batch, *([4] * n))
    # for one qubit: entries ordered (r, c) = 00, 01, 10, 11 -> tr(sigma_p M) = sum sigma_p[c, r] M[r, c]
    w = torch.from_numpy(np.stack([PAULI_1Q[p].T.reshape(4) for p in range(4)])).to(t.dtype)  # (p, rc)
    for k in range(n):
        t = torch.movedim(torch.tensordot(t, w, dims=([nb + k], [1])), -1, nb + k)
    return t.reshape(*batch, 4**n) / d


def compose_matrix(c: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`decompose`: ``M = sum_a c_a s_a`` from ``(..., 4^n)`` coefficients, in O(n 4^n)."""
    n = _n_from_dim(c.shape[-1] - 1)
    c = torch.as_tensor(c)
    if not c.is_complex():
        c = c.to(torch.complex128)
    batch = c.shape[:-1]
    nb = len(batch)
    t = c.reshape(*batch, *([4] * n))
    w = torch.from_numpy(np.stack([PAULI_1Q[p].reshape(4) for p in range(4)]).T.copy()).to(t.dtype)  # (rc, p)
    for k in range(n):
        t = torch.movedim(torch.tensordot(t, w, dims=([nb + k], [1])), -1, nb + k)
    t = t.reshape(*batch, *([2] * (2 * n)))  # [..., r0, c0, r1, c1, ...]
    perm = list(range(nb)) + [nb + 2 * k for k in range(n)] + [nb + 2 * k + 1 for k in range(n)]
    return t.permute(*perm).reshape(*batch, 2**n, 2**n)


def hamiltonian_fast(h: torch.Tensor) -> torch.Tensor:
    """``H = sum_a h_a s_a`` from ``(..., 4^n - 1)`` coordinates via :func:`compose_matrix` (O(n 4^n))."""
    zero = torch.zeros(*h.shape[:-1], 1, dtype=h.dtype)
    return compose_matrix(torch.cat([zero, h], dim=-1))


def bracket_fast(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:func:`bracket` through matrices: ``coords(-i[H_x, H_y])`` in O(n 4^n + 8^n) per pair."""
    hx, hy = hamiltonian_fast(x), hamiltonian_fast(y)
    return coords(-1j * (hx @ hy - hy @ hx))


def coords(m: torch.Tensor) -> torch.Tensor:
    """Real coordinates ``h`` (length ``4^n - 1``) of the Hermitian part's traceless component.

    For a Hermitian ``H`` this inverts :func:`hamiltonian`.
    """
    return decompose(m)[..., 1:].real


def decompose_naive(m: torch.Tensor) -> torch.Tensor:
    """Reference ``4^n``-trace decomposition (for tests and the speed cross-check)."""
    n = _n_from_matrix(m, "decompose_naive")
    full = torch.from_numpy(np.concatenate([np.eye(2**n, dtype=np.complex128)[None], _basis_np(n)]))
    m = torch.as_tensor(m).to(torch.complex128)
    return torch.stack([torch.einsum("...ij,ji->...", m, full[a]) for a in range(4**n)], dim=-1) / 2**n


@cache
def _products(n_qubits: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-group tables: ``s_a s_b = i^phase[a, b] s_prod[a, b]`` over all 4^n strings."""
    dg = digits(n_qubits)
    prod = np.zeros((4**n_qubits, 4**n_qubits), dtype=np.int64)
    phase = np.zeros_like(prod)
    for k in range(n_qubits):
        pa, pb = dg[:, k][:, None], dg[:, k][None, :]
        prod = 4 * prod + _PROD[pa, pb]
        phase = phase + _PHASE[pa, pb]
    return prod, phase % 4


@cache
def bracket_tables(n_qubits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(B, F)`` tables of the module docstring (coordinates without the identity).

    ``F[a, c] = f_{a, B[a,c]}^c`` with ``[s_a, s_b] = i f_ab^c s_c``; entries with ``B = identity`` or
    commuting pairs are zero (and ``B`` is then 0, a harmless index).
    """
    prod, phase = _products(n_qubits)
    # b with s_a s_b ~ s_c is prod[a, c] (Pauli strings square to I up to nothing: s_a s_a = I)
    b_full = prod  # b = a*c
    # s_a s_b = i^k s_c; anticommuting iff k odd; then [s_a, s_b] = 2 i^k s_c = i * (2 i^(k-1)) s_c
    k = phase[np.arange(4**n_qubits)[:, None], b_full]
    f = np.where(k % 2 == 1, 2.0 * np.real(1j ** ((k - 1) % 4)), 0.0)
    b = b_full[1:, 1:] - 1
    f = f[1:, 1:]
    f = np.where(b < 0, 0.0, f)
    b = np.where(b < 0, 0, b)
    return torch.from_numpy(b), torch.from_numpy(f)


def structure_constant(n_qubits: int, a: int, b: int, c: int) -> float:
    """``f_ab^c`` for coordinate indices (identity excluded), from the tables."""
    B, F = bracket_tables(n_qubits)
    return float(F[a, c]) if int(B[a, c]) == b else 0.0


def bracket(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Coordinates of ``-i [H_x, H_y]`` (the Lie bracket of ``xi = -iH`` in Pauli coordinates)."""
    n = _n_from_dim(x.shape[-1])
    B, F = bracket_tables(n)
    return (x.unsqueeze(-1) * F * y[..., B]).sum(dim=-2)


def commute(n_qubits: int) -> np.ndarray:
    """``(D, D)`` boolean: whether strings ``a`` and ``b`` commute."""
    prod, phase = _products(n_qubits)
    return (phase[1:, 1:] % 2 == 0)
