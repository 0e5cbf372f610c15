"""Model disagreement by test-time augmentation: where a network reads the data, its answer does
not depend on how the image is presented; where it invents structure, rotating or flipping the
input changes what it invents.

``tta_disagreement`` runs an image-to-image predictor on the 8 flips/90° rotations of the YX plane
(the dihedral group; any model, learned equivariance or not), maps each answer back and returns the
per-pixel mean and spread (standard deviation over the 8). The spread is compared with the noise
level of the input (Poisson–Gaussian model estimated from it, ``sqrt(a·mean + b)``): over a window
of ``WINDOW``² pixels the root-mean-square spread divided by the RMS noise is the **disagreement
map**; connected regions where it exceeds ``THRESHOLD`` (the spread is as large as the noise the
model removed) and that are larger than the PSF area raise a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import ndimage

from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise

WINDOW = 9
THRESHOLD = 1.0


def _transforms():
    for k in range(4):
        for flip in (False, True):
            yield k, flip


def _apply(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    x = np.rot90(x, k, axes=(-2, -1))
    return np.flip(x, axis=-1) if flip else x


def _invert(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    x = np.flip(x, axis=-1) if flip else x
    return np.rot90(x, -k, axes=(-2, -1))


@dataclass
class Disagreement:
    mean: np.ndarray
    spread: np.ndarray
    map: np.ndarray
    summary: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def tta_disagreement(predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *,
                     noise: NoiseModel | None = None, psf_area_px: float = 4.4,
                     window: int = WINDOW, threshold: float = THRESHOLD) -> Disagreement:
    """Test-time-augmentation spread of `predict` (raw image in → result in the image's units, same
    shape; square YX planes or not) on `image` (..., Y, X), and its disagreement map (RMS spread /
    RMS noise over `window`² pixels)."""
    y = np.asarray(image, np.float32)
    noise = noise or estimate_noise(y)
    preds = np.stack([_invert(np.asarray(predict(np.ascontiguousarray(_apply(y, k, f))), np.float32), k, f)
                      for k, f in _transforms()])
    mean, spread = preds.mean(axis=0), preds.std(axis=0)
    size = (1,) * (y.ndim - 2) + (window, window)
    ratio = np.sqrt(ndimage.uniform_filter(spread.astype(np.float64) ** 2, size) /
                    ndimage.uniform_filter(noise.variance(mean).astype(np.float64), size)).astype(np.float32)
    labels, n = ndimage.label(ratio > threshold)
    areas = ndimage.sum_labels(np.ones_like(ratio), labels, np.arange(1, n + 1)) if n else np.array([])
    big = [int(a) for a in areas if a > psf_area_px]
    summary = {"method": f"8 flips/rotations of the YX plane; map = sqrt(box{window}(spread^2) / box{window}(a*mean+b)); "
                         f"flagged where > {threshold:g}", "median_ratio": float(np.median(ratio)),
               "p99_ratio": float(np.percentile(ratio, 99)), "flagged_fraction": float((ratio > threshold).mean()),
               "regions_flagged": len(big), "noise_model": noise.to_dict()}
    warnings = []
    if big:
        warnings.append(f"The model's answer changes with the image's orientation by more than the noise level over "
                        f"{100 * summary['flagged_fraction']:.1f}% of the image ({len(big)} region(s) larger than the "
                        "PSF): it is inventing structure there, not reading it from the data (see disagreement.tif). "
                        "Compare with a classical result or train on this image (Noise2Void).")
    return Disagreement(mean=mean, spread=spread, map=ratio, summary=summary, warnings=warnings)
