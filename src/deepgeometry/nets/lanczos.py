"""Batched Lanczos for the top of the spectrum of symmetric positive semi-definite operators.

Used for the pullback metric ``J^T J`` of Section III-A (``<w, v>_in = <U_* w, U_* v>_out``), applied
matrix-free with one JVP and one VJP per product, never as an explicit matrix. Several operators of the
same dimension (one per layer) run in lockstep so that their products can be batched with ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import DeepGeometryError

__all__ = ["lanczos_topk"]


def _orthogonalize(w: torch.Tensor, Q: torch.Tensor, j: int) -> torch.Tensor:
    """Remove from ``w`` (B, D) its components along ``Q[:, :j]`` (B, j, D); classical Gram-Schmidt, twice."""
    if j == 0:
        return w
    basis = Q[:, :j]
    for _ in range(2):
        w = w - torch.einsum("bj,bjd->bd", torch.einsum("bjd,bd->bj", basis, w), basis)
    return w


def lanczos_topk(matvec: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, k: int,
                 n_iter: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Top-``k`` eigenvalues (descending) of ``B`` symmetric operators of dimension ``D``.

    Parameters
    ----------
    matvec
        ``V (B, D) -> (A_b V_b)_b (B, D)``: the b-th row goes through the b-th operator.
    v0
        ``(B, D)`` start vectors (any non-zero rows; random ones are the safe choice).
    k
        Number of eigenvalues per operator; clipped to ``D``.
    n_iter
        Lanczos steps (default ``min(D, 2 k + 24)``). With full re-orthogonalisation the Ritz values are the
        exact eigenvalues once ``n_iter == D``.
    generator
        For the fresh directions drawn after an invariant subspace is exhausted (low-rank operators).

    Returns
    -------
    torch.Tensor
        ``(B, k)`` Ritz values, largest first.
    """
    if v0.ndim != 2:
        raise DeepGeometryError(f"lanczos_topk: v0 must be (B, D), got shape {tuple(v0.shape)}")
    B, D = v0.shape
    if k < 1:
        raise DeepGeometryError(f"lanczos_topk: k must be >= 1, got {k}")
    k = min(k, D)
    m = min(D, n_iter if n_iter is not None else 2 * k + 24)
    if m < k:
        raise DeepGeometryError(f"lanczos_topk: n_iter={n_iter} is smaller than k={k}")
    norm0 = v0.norm(dim=1, keepdim=True)
    if torch.any(norm0 == 0) or not torch.all(torch.isfinite(v0)):
        raise DeepGeometryError("lanczos_topk: start vectors must be finite and non-zero")
    Q = torch.zeros(B, m, D, dtype=v0.dtype, device=v0.device)
    alpha = torch.zeros(B, m, dtype=v0.dtype, device=v0.device)
    beta = torch.zeros(B, m, dtype=v0.dtype, device=v0.device)
    q = v0 / norm0
    scale = torch.zeros(B, dtype=v0.dtype, device=v0.device)
    eps = torch.finfo(v0.dtype).eps
    for j in range(m):
        Q[:, j] = q
        w = matvec(q)
        if not torch.all(torch.isfinite(w)):
            raise DeepGeometryError("lanczos_topk: the operator returned non-finite values")
        alpha[:, j] = (w * q).sum(1)
        w = _orthogonalize(w, Q, j + 1)
        b = w.norm(dim=1)
        scale = torch.maximum(scale, alpha[:, j].abs() + b)
        if j + 1 == m:
            break
        beta[:, j] = b
        # Breakdown (an invariant subspace is exhausted): continue with a fresh direction and beta = 0,
        # which decouples the tridiagonal matrix; the new block's Ritz values are equally exact.
        dead = b <= 1e3 * eps * torch.clamp(scale, min=1e-300)
        if torch.any(dead):
            r = torch.randn(B, D, dtype=v0.dtype, generator=generator).to(v0.device)
            r = _orthogonalize(r, Q, j + 1)
            r = r / r.norm(dim=1, keepdim=True)
            beta[:, j] = torch.where(dead, torch.zeros_like(b), b)
            w = torch.where(dead[:, None], r, w / torch.where(dead, torch.ones_like(b), b)[:, None])
            q = w
        else:
            q = w / b[:, None]
    off = beta[:, : m - 1]
    T = torch.diag_embed(alpha) + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    evals = torch.linalg.eigvalsh(T)
    return torch.flip(evals, dims=(1,))[:, :k]
