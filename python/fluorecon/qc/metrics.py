"""Image-quality metrics against a reference (ground truth or high-SNR acquisition).

data_range rule (both metrics): it comes from the REFERENCE, ``reference.max() − reference.min()``,
unless given. Never from the estimate (a noisy estimate would inflate its own PSNR) and never the
dtype range (float images have none). Compare images in the same units: map the reference into
the estimate's units first (e.g. `fluorecon.train.match_to_input`) or normalize both the same way.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def _prepare(image: np.ndarray, reference: np.ndarray, data_range: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    image = np.asarray(image, np.float64)
    reference = np.asarray(reference, np.float64)
    if image.shape != reference.shape:
        raise ValueError(f"image {image.shape} and reference {reference.shape} must have the same shape.")
    if image.size == 0:
        raise ValueError("image is empty.")
    if data_range is None:
        data_range = float(reference.max() - reference.min())
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range} (is the reference constant?).")
    return image, reference, float(data_range)


def psnr(image: np.ndarray, reference: np.ndarray, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB (scikit-image's, with the reference's data_range).

    Parameters
    ----------
    image, reference : ndarray, same shape (2D or 3D)
    data_range : float, optional
        Default: ``reference.max() − reference.min()``.
    """
    image, reference, data_range = _prepare(image, reference, data_range)
    return float(peak_signal_noise_ratio(reference, image, data_range=data_range))


def ssim(image: np.ndarray, reference: np.ndarray, *, data_range: float | None = None) -> float:
    """Structural similarity (scikit-image, 7-pixel window; 2D or 3D), data_range as for :func:`psnr`."""
    image, reference, data_range = _prepare(image, reference, data_range)
    win = min(7, *[s if s % 2 else s - 1 for s in image.shape])
    if win < 3:
        raise ValueError(f"SSIM needs at least 3 pixels per axis, got shape {image.shape}.")
    return float(structural_similarity(reference, image, data_range=data_range, win_size=win))
