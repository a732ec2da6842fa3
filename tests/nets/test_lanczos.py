"""Batched Lanczos: top eigenvalues of symmetric PSD operators, including low-rank ones (breakdown)."""

import pytest
import torch

from deepgeometry.errors import DeepGeometryError
from deepgeometry.nets.lanczos import lanczos_topk


def _psd(n: int, rank: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, rank, generator=g, dtype=torch.float64)
    return A @ A.T


@pytest.mark.parametrize("rank", [60, 7])
def test_top_k_matches_eigvalsh_full_and_low_rank(rank):
    mats = torch.stack([_psd(60, rank, s) for s in range(3)])
    v0 = torch.randn(3, 60, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    top = lanczos_topk(lambda V: torch.einsum("bij,bj->bi", mats, V), v0, k=10, n_iter=60)
    for b in range(3):
        ref = torch.linalg.eigvalsh(mats[b]).flip(0)[:10]
        assert torch.allclose(top[b], ref, rtol=1e-9, atol=1e-9 * float(ref[0]))


def test_few_iterations_already_give_the_largest_eigenvalue():
    M = _psd(200, 200, 1)
    top = lanczos_topk(lambda V: V @ M, torch.ones(1, 200, dtype=torch.float64), k=1, n_iter=40)
    assert float(top[0, 0]) == pytest.approx(float(torch.linalg.eigvalsh(M)[-1]), rel=1e-6)


def test_k_is_clipped_to_the_dimension_and_bad_input_raises():
    M = torch.diag(torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64))
    top = lanczos_topk(lambda V: V @ M, torch.ones(1, 3, dtype=torch.float64), k=5)
    assert top.shape == (1, 3) and torch.allclose(top[0], torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64))
    with pytest.raises(DeepGeometryError, match="non-zero"):
        lanczos_topk(lambda V: V, torch.zeros(1, 3), k=1)
    with pytest.raises(DeepGeometryError, match="shape"):
        lanczos_topk(lambda V: V, torch.ones(3), k=1)
    with pytest.raises(DeepGeometryError, match="non-finite"):
        lanczos_topk(lambda V: V * float("nan"), torch.ones(1, 3), k=1)
