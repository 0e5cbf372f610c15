"""The strongest classical denoisers for fluorescence, with the noise model estimated from the image.

Fluorescence noise is Poisson–Gaussian, ``var(y) = a·E[y] + b`` in camera units
(fluorecon.qc.noise_estimate estimates ``a`` = gain and ``b`` = gain²·σ_read² − gain·offset from the
image alone). BM3D and non-local means assume white Gaussian noise of one σ; applied to raw
fluorescence they under-smooth the bright parts and over-smooth the dim ones. The standard remedy:

1. the generalised Anscombe transform (Starck, Murtagh & Bijaoui 1998; Mäkitalo & Foi 2013):
   ``D = 2·sqrt(y/a + 3/8 + b/a²)``, whose noise is close to N(0, 1) at every intensity;
2. BM3D (Dabov et al. 2007) or NLM with σ = 1 on ``D``;
3. the exact unbiased inverse (Mäkitalo & Foi 2011/2013, closed-form approximation):
   ``E[y] = a·I(D) − b/a`` with ``I(D) = D²/4 + √(3/2)/(4D) − 11/(8D²) + 5√(3/2)/(8D³) − 1/8``.
   With ``w = y/a + b/a²`` the signal is Poisson plus a Gaussian whose mean equals its variance,
   and the Gaussian's σ² cancels from the closed form, so only ``a`` and ``b`` are needed.

Floors: a Gaussian blur whose σ is the largest one that still explains the input to the noise
level (discrepancy principle on the standardised residual), and a 3×3 median.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise

METHODS = ("vst-bm3d", "vst-nlm", "gaussian", "median")


def anscombe(image: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Generalised Anscombe transform of a raw image (camera units) under `noise`: unit-variance noise."""
    a = max(noise.a, 1e-12)
    return (2.0 * np.sqrt(np.maximum(np.asarray(image, np.float64) / a + 0.375 + noise.b / a ** 2, 0.0))).astype(np.float32)


def inverse_anscombe(d: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Exact unbiased inverse (closed-form approximation, Mäkitalo & Foi) back to camera units."""
    a = max(noise.a, 1e-12)
    d = np.maximum(np.asarray(d, np.float64), 1e-6)
    r = np.sqrt(1.5)
    exact = d ** 2 / 4 + r / (4 * d) - 11 / (8 * d ** 2) + 5 * r / (8 * d ** 3) - 0.125
    exact = np.where(d < 2 * np.sqrt(0.375), 0.0, np.maximum(exact, 0.0))  # below the transform of 0
    return (a * exact - noise.b / a).astype(np.float32)


def _bm3d_planes(image: np.ndarray, sigma: float) -> np.ndarray:
    try:
        import bm3d as bm3d_package
    except ImportError as err:
        raise ValueError("BM3D needs the 'bm3d' package: pip install bm3d (or use method 'vst-nlm').") from err
    planes = image.reshape((-1,) + image.shape[-2:])
    return np.stack([np.asarray(bm3d_package.bm3d(p, sigma_psd=sigma), np.float32) for p in planes]).reshape(image.shape)


def _nlm(image: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(image, h=0.8 * sigma, sigma=sigma, patch_size=5,
                            patch_distance=6 if image.ndim == 2 else 3, fast_mode=True).astype(np.float32)


def gaussian_discrepancy(image: np.ndarray, noise: NoiseModel, *, sigmas=None) -> tuple[np.ndarray, float]:
    """Gaussian blur with the largest σ (pixels, YX only) whose standardised residual still has a
    mean square ≤ 1: smooth as far as the data allow (Morozov's discrepancy principle)."""
    y = np.asarray(image, np.float32)
    sig = (0.0,) * (y.ndim - 2)
    best, best_s = y, 0.0
    for s in sigmas if sigmas is not None else np.arange(0.25, 4.01, 0.25):
        est = ndimage.gaussian_filter(y, sig + (float(s), float(s)), mode="reflect").astype(np.float32)
        msr = float(np.mean((y - est) ** 2 / noise.variance(est)))
        if msr > 1.0:
            break
        best, best_s = est, float(s)
    return best, best_s


def denoise_vst(image: np.ndarray, *, method: str = "vst-bm3d", noise: NoiseModel | None = None) -> np.ndarray:
    """Denoise a raw image (camera units, (Y, X) or (Z, Y, X), planes filtered in 2D for BM3D) with
    the noise model estimated from it unless given; the result is in the image's units."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    y = np.asarray(image, np.float32)
    noise = noise or estimate_noise(y)
    if method == "median":
        return ndimage.median_filter(y, size=(1,) * (y.ndim - 2) + (3, 3)).astype(np.float32)
    if method == "gaussian":
        return gaussian_discrepancy(y, noise)[0]
    if noise.a <= 1e-9:  # no Poisson part: the noise is already Gaussian with σ² = b
        sigma = float(np.sqrt(max(noise.b, 1e-12)))
        return (_bm3d_planes(y, sigma) if method == "vst-bm3d" else _nlm(y, sigma)).astype(np.float32)
    d = anscombe(y, noise)
    filtered = _bm3d_planes(d, 1.0) if method == "vst-bm3d" else _nlm(d, 1.0)
    return inverse_anscombe(filtered, noise)
