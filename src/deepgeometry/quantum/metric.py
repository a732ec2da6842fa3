"""SU(2^n) in Pauli coordinates and Nielsen's penalty metric (paper eq. 1).

The group element is a ``(2^n, 2^n)`` complex128 unitary ``U``; an algebra element is the real
coordinate vector ``h`` of a traceless Hamiltonian ``H = sum_a h_a s_a`` standing for ``xi = -iH``,
so ``dU/dt = -iH U`` is the right-trivialised ``dg/dt = xi g`` of :mod:`deepgeometry.core.lie`.
The dual is paired with the coordinate dot product, in which eq. (1) is diagonal:

    <H, J> = [tr(H P(J)) + q tr(H Q(J))] / 2^n = sum_a w_a h_a j_a,   w_a = 1 (easy) or q (hard).

Because ``f_abc`` is totally antisymmetric, ``ad_star(x, m) = -ad(x, m)`` and the shared Euler-Arnold
equation ``dm/dt = -ad_star(sharp m, m)`` becomes ``dL/dt = -i[H, L] = i[L, H]`` with ``L = G(H)``:
Nielsen's equation (its solution is ``L(t) = U L(0) U^dagger``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from ..core.metric import DiagonalInertia
from ..errors import DeepGeometryError
from . import pauli


class PauliGroup:
    """SU(2^n) with its algebra in Pauli coordinates (an :class:`~deepgeometry.core.lie.AbstractLieGroup`).

    Parameters
    ----------
    n_qubits
        Number of qubits n (the algebra has dimension ``4^n - 1``).
    """

    def __init__(self, n_qubits: int):
        self.n_qubits = pauli.check_qubits(n_qubits)
        self.dim = 4**self.n_qubits - 1
        self.size = 2**self.n_qubits
        self._tables = None

    @property
    def _B(self) -> torch.Tensor:
        return self._bracket_tables()[0]

    @property
    def _F(self) -> torch.Tensor:
        return self._bracket_tables()[1]

    def _bracket_tables(self):
        if self._tables is None:
            self._tables = pauli.bracket_tables(self.n_qubits)
        return self._tables

    # -- group -------------------------------------------------------------------------------------
    def identity_like(self, xi: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(self.size, dtype=torch.complex128)
        return eye.expand(*xi.shape[:-1], self.size, self.size).clone()

    def compose(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return g @ h

    def inverse(self, g: torch.Tensor) -> torch.Tensor:
        return g.conj().transpose(-1, -2)

    def hamiltonian(self, xi: torch.Tensor) -> torch.Tensor:
        """``H = sum_a xi_a s_a``."""
        return pauli.hamiltonian_fast(xi)

    def exp(self, xi: torch.Tensor) -> torch.Tensor:
        """``exp(-iH)`` for ``H = sum_a xi_a s_a``, through ``eigh`` (``H = V diag(lam) V^dagger``).

        ``torch.linalg.matrix_exp`` loses ~1e-13 for small arguments in complex128; the spectral form
        is accurate to ~1e-15 at every scale (H is Hermitian, V unitary).
        """
        lam, v = torch.linalg.eigh(self.hamiltonian(xi))
        return (v * torch.exp(-1j * lam).unsqueeze(-2)) @ v.conj().transpose(-1, -2)

    def log(self, g: torch.Tensor) -> torch.Tensor:
        """Coordinates ``h`` of the principal logarithm ``g = exp(-iH)`` (SU branch closest to 0).

        See :func:`deepgeometry.quantum.geodesics.principal_hamiltonian` for the branch choice.
        """
        from .geodesics import principal_hamiltonian

        return principal_hamiltonian(g, phase="su")

    # -- algebra -----------------------------------------------------------------------------------
    def ad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``[xi_x, xi_y]`` in coordinates: ``-i[H_x, H_y]`` (structure-constant tables for n <= 3,
        fast Pauli transforms and matrix commutators above)."""
        if self.n_qubits >= 4:
            x, y = torch.broadcast_tensors(x, y)
            return pauli.bracket_fast(x, y)
        return (x.unsqueeze(-1) * self._F * y[..., self._B]).sum(dim=-2)

    def ad_star(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """``ad*_x m``; equals ``-ad(x, m)`` since the structure constants are totally antisymmetric."""
        return -self.ad(x, m)

    def pair(self, m: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return (m * xi).sum(dim=-1)

    def coords(self, m: torch.Tensor) -> torch.Tensor:
        """Coordinates of the traceless Hermitian part of a matrix (inverse of :meth:`hamiltonian`)."""
        return pauli.coords(m)


def easy_mask(n_qubits: int, locality: int | None = 2, easy: Iterable[str] | None = None) -> np.ndarray:
    """Boolean mask over the ``4^n - 1`` strings: weight <= locality, or the explicit ``easy`` labels."""
    n = pauli.check_qubits(n_qubits)
    if easy is not None:
        mask = np.zeros(4**n - 1, dtype=bool)
        for lab in easy:
            if len(lab) != n:
                raise DeepGeometryError(f"easy string {lab!r} must have {n} letters for {n} qubits")
            mask[pauli.index_of(lab)] = True
        if not mask.any():
            raise DeepGeometryError("the easy set is empty")
        return mask
    if isinstance(locality, bool) or locality is None or int(locality) != locality or not 1 <= locality <= n:
        raise DeepGeometryError(f"locality must be an integer in 1..{n} for {n} qubits, got {locality!r}")
    return pauli.weights(n) <= int(locality)


def one_local(n_qubits: int) -> list[str]:
    """Labels of all 1-local strings (a custom easy set)."""
    return [lab for lab, w in zip(pauli.labels(n_qubits), pauli.weights(n_qubits), strict=True) if w == 1]


def check_q(q: float) -> float:
    try:
        qf = float(q)
    except (TypeError, ValueError):
        raise DeepGeometryError(f"q must be a positive number, got {q!r}") from None
    if not np.isfinite(qf) or qf <= 0:
        raise DeepGeometryError(f"q must be a finite number > 0, got {q!r}")
    return qf


class PenaltyMetric(DiagonalInertia):
    """Nielsen's right-invariant penalty metric on SU(2^n), eq. (1).

    Parameters
    ----------
    n_qubits
        n.
    q
        Penalty (> 0) on hard directions; q = 1 is the bi-invariant metric ``tr(HJ) / 2^n``.
    locality
        Strings of weight <= locality are easy (1..n). Ignored when ``easy`` is given.
    easy
        Explicit easy set as Pauli labels (e.g. :func:`one_local`).
    """

    def __init__(self, n_qubits: int, q: float, locality: int | None = 2, easy: Iterable[str] | None = None):
        self.n_qubits = pauli.check_qubits(n_qubits)
        self.q = check_q(q)
        self.locality = None if easy is not None else locality
        self.easy = easy_mask(self.n_qubits, locality, list(easy) if easy is not None else None)
        self.easy_labels = list(easy) if easy is not None else None
        group = PauliGroup(self.n_qubits)
        w = np.where(self.easy, 1.0, self.q)
        super().__init__(group, torch.from_numpy(w))

    def with_q(self, q: float) -> PenaltyMetric:
        """The same easy set with another penalty."""
        return PenaltyMetric(self.n_qubits, q, self.locality, self.easy_labels)

    def project_easy(self, h: torch.Tensor) -> torch.Tensor:
        """``P(h)``: the easy components (others zeroed)."""
        return h * torch.from_numpy(self.easy.astype(np.float64))

    def project_hard(self, h: torch.Tensor) -> torch.Tensor:
        """``Q(h) = h - P(h)``."""
        return h * torch.from_numpy((~self.easy).astype(np.float64))

    def __repr__(self) -> str:
        what = (f"locality={self.locality}" if self.easy_labels is None
                else f"easy={len(self.easy_labels)} strings")
        return f"PenaltyMetric(n_qubits={self.n_qubits}, q={self.q:g}, {what})"
