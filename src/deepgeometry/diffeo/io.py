"""Image I/O for registration: PNG/JPEG/NumPy/NIfTI in; NIfTI (spacing and affine kept), NumPy and PNG out.

``load_image(path) -> (array, meta)`` returns a float32 array with the spatial axes in file order and
``meta = {"format", "affine" (4x4), "spacing", "path"}``. nibabel and Pillow are imported lazily.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DeepGeometryError

_NIFTI = (".nii", ".nii.gz")
_RASTER = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def load_image(path: str | Path) -> tuple[np.ndarray, dict]:
    """Read a 2D or 3D one-channel image; raise :class:`DeepGeometryError` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise DeepGeometryError(f"cannot read {str(path)!r}: no such file")
    suf = _suffix(path)
    try:
        if suf in _NIFTI:
            import nibabel as nib

            img = nib.load(str(path))
            arr = np.asarray(img.dataobj, dtype=np.float32)
            while arr.ndim > 3 and arr.shape[-1] == 1:
                arr = arr[..., 0]
            spacing = tuple(float(z) for z in img.header.get_zooms()[: arr.ndim])
            meta = {"format": "nifti", "affine": np.asarray(img.affine, dtype=np.float64), "spacing": spacing}
        elif suf in _RASTER:
            from PIL import Image

            with Image.open(path) as im:
                if im.mode not in ("L", "I", "F", "I;16", "I;16B", "1"):
                    bands = len(im.getbands())
                    raise DeepGeometryError(
                        f"{str(path)!r} is a {bands}-channel {im.mode} image; registration "
                        "needs one channel (convert it to grayscale)"
                    )
                arr = np.asarray(im, dtype=np.float32)
            meta = {"format": "raster", "affine": np.eye(4), "spacing": (1.0, 1.0)}
        elif suf == ".npy":
            arr = np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)
            meta = {"format": "numpy", "affine": np.eye(4), "spacing": (1.0,) * arr.ndim}
        else:
            raise DeepGeometryError(
                f"cannot read {str(path)!r}: unknown format {suf!r} "
                f"(use {', '.join(_RASTER + _NIFTI + ('.npy',))})"
            )
    except DeepGeometryError:
        raise
    except Exception as e:  # corrupt or truncated files
        raise DeepGeometryError(
            f"cannot read {str(path)!r}: {type(e).__name__}: {e}".splitlines()[0]
        ) from None
    if arr.ndim not in (2, 3):
        raise DeepGeometryError(
            f"{str(path)!r}: expected a 2D or 3D one-channel image, got shape {arr.shape}"
        )
    meta["path"] = str(path)
    return arr, meta


def save_image(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    """Write ``array`` as NIfTI (``.nii``/``.nii.gz``, the affine of ``meta`` kept), ``.npy`` or 8-bit PNG."""
    path = Path(path)
    suf = _suffix(path)
    array = np.asarray(array)
    if suf in _NIFTI:
        import nibabel as nib

        affine = np.asarray((meta or {}).get("affine", np.eye(4)), dtype=np.float64)
        img = nib.Nifti1Image(array.astype(np.float32), affine)
        spacing = (meta or {}).get("spacing")
        if spacing is not None:
            zooms = list(spacing)[: min(array.ndim, 3)]
            zooms += [1.0] * (array.ndim - len(zooms))
            img.header.set_zooms(tuple(zooms[: array.ndim]))
        nib.save(img, str(path))
    elif suf == ".npy":
        np.save(path, array)
    elif suf == ".png":
        from PIL import Image

        a = array.astype(np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        Image.fromarray((a * 255).round().astype(np.uint8)).save(path)
    else:
        raise DeepGeometryError(f"cannot write {str(path)!r}: unknown format {suf!r}")


def _grid_lines(ax, disp2d: np.ndarray, every: int = 8) -> None:
    """Draw the deformed grid ``x + d(x)`` (rows and columns every ``every`` voxels) on ``ax``."""
    H, W = disp2d.shape[1:]
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    py, px = yy + disp2d[0], xx + disp2d[1]
    for i in range(0, H, every):
        ax.plot(px[i, :], py[i, :], lw=0.5, color="tab:orange")
    for j in range(0, W, every):
        ax.plot(px[:, j], py[:, j], lw=0.5, color="tab:orange")


def panel_figure(
    fixed: np.ndarray,
    moving: np.ndarray,
    warped: np.ndarray,
    det: np.ndarray,
    disp: np.ndarray | None = None,
    title: str = "",
):
    """A side-by-side matplotlib figure: moving, warped (+ grid), fixed, |difference|, det J (2D slices)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(15, 3.4))
    axes[0].imshow(moving, cmap="gray")
    axes[0].set_title("moving")
    axes[1].imshow(warped, cmap="gray")
    if disp is not None:
        _grid_lines(axes[1], disp, every=max(4, moving.shape[0] // 24))
    axes[1].set_title("warped")
    axes[2].imshow(fixed, cmap="gray")
    axes[2].set_title("fixed")
    axes[3].imshow(np.abs(warped - fixed), cmap="magma")
    axes[3].set_title("|warped - fixed|")
    im = axes[4].imshow(det, cmap="RdBu_r", vmin=0, vmax=2)
    axes[4].set_title(f"det J (min {det.min():.2f})")
    fig.colorbar(im, ax=axes[4], fraction=0.046)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(-0.5, moving.shape[1] - 0.5)
        ax.set_ylim(moving.shape[0] - 0.5, -0.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
