"""Classical denoising baselines: non-local means (Buades et al., CVPR 2005; scikit-image's
`denoise_nl_means`) and BM3D."""

from __future__ import annotations

import numpy as np

from fluorecon.core.normalize import denormalize, normalize, parse_norm, percentile_range
from fluorecon.qc.classical import METHODS as VST_METHODS, denoise_vst


def nlm(image: np.ndarray) -> np.ndarray:
    """Non-local means baseline on a normalized 2D/3D image (σ from `estimate_sigma`, h = 0.8σ)."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    image = np.asarray(image, np.float32)
    sigma = float(estimate_sigma(image))
    return denoise_nl_means(image, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6 if image.ndim == 2 else 3,
                            fast_mode=True).astype(np.float32)


def bm3d(image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
    """BM3D baseline (Dabov et al., IEEE TIP 2007; the `bm3d` package, 2D per plane) on a normalized
    image; σ from `estimate_sigma` unless given."""
    try:
        import bm3d as bm3d_package
    except ImportError as err:
        raise ValueError("BM3D needs the 'bm3d' package: pip install bm3d (or use method 'nlm').") from err
    from skimage.restoration import estimate_sigma

    image = np.asarray(image, np.float32)
    sigma = float(estimate_sigma(image)) if sigma is None else float(sigma)
    planes = image.reshape((-1,) + image.shape[-2:])
    out = np.stack([np.asarray(bm3d_package.bm3d(p, sigma_psd=max(sigma, 1e-6)), np.float32) for p in planes])
    return out.reshape(image.shape)


CLASSICAL = {"nlm": nlm, "bm3d": bm3d}

#: Every method `denoise_classical` takes (the CLI's, the server job's and Fiji's Process file… list).
METHODS = (*CLASSICAL, *VST_METHODS)

#: The methods that filter a z-stack as one 3D block (non-local means compares 3D patches); the others go plane by
#: plane. One rule for the CLI, the server job and the block-wise runs.
METHODS_3D = ("nlm", "vst-nlm")


def spatial_axes(axes: str, method: str) -> str:
    """The axes one call of `denoise_classical` filters for an image with `axes`: ZYX for a 3D method on a
    z-stack, else YX (every other axis is looped over)."""
    return "ZYX" if "Z" in axes and method in METHODS_3D else "YX"


def denoise_classical(image: np.ndarray, *, method: str = "nlm", norm: str = "percentile:1:99.8") -> np.ndarray:
    """Classical denoising of a raw image in its own units. ``nlm`` / ``bm3d``: normalize with the
    image's percentiles, filter with one σ, map back. ``vst-bm3d`` / ``vst-nlm`` (the strongest:
    generalised Anscombe transform with the Poisson–Gaussian noise estimated from the image, the
    filter, exact unbiased inverse), ``gaussian`` (σ by the discrepancy principle) and ``median``:
    fluorecon.qc.classical. (Y, X) or (Z, Y, X); float32 out."""
    if method in VST_METHODS:
        return denoise_vst(image, method=method)
    if method not in CLASSICAL:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    image = np.asarray(image, np.float32)
    lo, hi = percentile_range(image, *parse_norm(norm))
    return denormalize(CLASSICAL[method](normalize(image, lo, hi)), lo, hi)
