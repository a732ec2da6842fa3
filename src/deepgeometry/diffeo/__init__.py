"""The registration world: T = Diff(M) acting on images (paper Section II-B, eqs. 2-3 and 17-30, Figs. 2-3).

Public surface::

    register(fixed, moving, method="svf" | "lddmm" | "shooting" | SVF(...) | LDDMM(...) | Shooting(...))
        -> Registration (.warped, .displacement, .inverse, .jacobian_det, .folds, .distance, .energy_history)
    FluidMetric            L = (alpha (-Laplacian) + gamma)^s (flat) and K = L^-1 (sharp), FFT-diagonal
    DiffeoGroup            Diff(M) for deepgeometry.core.euler_arnold (exp by scaling and squaring,
    EPDiff ad*)
    shoot_images, adjoint_gradient, shooting_loss, geodesic   geodesic shooting and its explicit adjoint
    vector_geodesic, vector_shooting_loss   vector-momentum shooting (Shooting(momentum="vector"))
    fields                 grids, warps, composition, inverse, Jacobian determinant, folds
    load_image, save_nifti, save_png   I/O (PNG/JPEG/NumPy/NIfTI)
"""

from . import fields as fields
from .group import DiffeoGroup as DiffeoGroup
from .io import load_image as load_image
from .io import save_image as save_image
from .lddmm import LDDMM as LDDMM
from .metric import FluidMetric as FluidMetric
from .registration import Registration as Registration
from .registration import register as register
from .shooting import Shooting as Shooting
from .shooting import ShotImages as ShotImages
from .shooting import adjoint_gradient as adjoint_gradient
from .shooting import geodesic as geodesic
from .shooting import shoot_images as shoot_images
from .shooting import shooting_loss as shooting_loss
from .similarity import lncc as lncc
from .similarity import ncc as ncc
from .similarity import ssd as ssd
from .svf import SVF as SVF
from .vector_shooting import vector_geodesic as vector_geodesic
from .vector_shooting import vector_shooting_loss as vector_shooting_loss

__all__ = [
    "LDDMM",
    "SVF",
    "DiffeoGroup",
    "FluidMetric",
    "Registration",
    "Shooting",
    "ShotImages",
    "adjoint_gradient",
    "fields",
    "geodesic",
    "lncc",
    "load_image",
    "ncc",
    "register",
    "save_image",
    "shoot_images",
    "shooting_loss",
    "ssd",
    "vector_geodesic",
    "vector_shooting_loss",
]
