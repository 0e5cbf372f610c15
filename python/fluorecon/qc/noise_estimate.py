"""Estimate the Poisson–Gaussian noise model of a single raw image: ``var(y) = a·E[y] + b``.

Method (after Foi et al., IEEE TIP 2008, simplified): a high-pass residual that cancels locally
linear structure (the outer product of two second differences, scaled to unit noise gain) is computed; the
image is cut into small blocks; for each block the local mean of ``y`` and the variance of the
residual are taken; blocks with the most structure (largest gradient energy relative to their noise)
are dropped; the remaining (mean, variance) pairs are binned by mean and a line is fitted to the
bin medians. ``a`` is the camera gain in ADU per detected photon-electron (for an EMCCD, gain times
the excess-noise factor); ``b`` collects read noise and offset: ``b = gain²·σ_read² − gain·offset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class NoiseModel:
    """Poisson–Gaussian variance model ``var = a·mean + b`` in image units (ADU)."""

    a: float
    b: float

    def variance(self, mean: np.ndarray) -> np.ndarray:
        """Expected variance at intensity `mean`; floored at one photon's variance (below the camera
        offset the linear model goes negative) so that a standardised residual stays finite."""
        var = self.a * np.asarray(mean, dtype=np.float64) + self.b
        floor = max(self.a, 1e-6)
        return np.maximum(var, floor).astype(np.float32)

    def to_dict(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b}


_KERNEL_1D = np.array([1.0, -2.0, 1.0]) / np.sqrt(6.0)


def _residual(plane: np.ndarray) -> np.ndarray:
    # Separable second difference (outer product): unit noise gain, blind to planes and ramps.
    return ndimage.correlate1d(ndimage.correlate1d(plane, _KERNEL_1D, axis=0, mode="reflect"),
                               _KERNEL_1D, axis=1, mode="reflect")


def estimate_noise(image: np.ndarray, *, block: int = 8, keep_fraction: float = 0.5, bins: int = 16) -> NoiseModel:
    """Estimate ``a`` and ``b`` of the Poisson–Gaussian model from one image.

    Parameters
    ----------
    image : (..., Y, X) array
        Raw camera image (not denoised, not normalized). Stacks are pooled plane by plane.
    block : int
        Side of the square blocks in pixels.
    keep_fraction : float
        Fraction of blocks with the least structure that enter the fit.
    bins : int
        Number of intensity bins whose median variances are fitted.

    Returns
    -------
    NoiseModel

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = 2.0 * rng.poisson(np.full((128, 128), 50.0)) + rng.normal(100, 3, (128, 128))
    >>> round(estimate_noise(y).a, 1)  # doctest: +SKIP
    2.0
    """
    mean, var = _flat_blocks(image, block=block, keep_fraction=keep_fraction)
    bx, by = _binned(mean, var, bins)
    if len(bx) < 2 or np.ptp(bx) <= 0:
        # A flat image gives one intensity: only the total variance is known; call it Gaussian.
        return NoiseModel(a=0.0, b=float(np.median(var)))
    a, b = np.polyfit(bx, by, 1)
    return NoiseModel(a=float(max(a, 0.0)), b=float(b))


def _flat_blocks(image: np.ndarray, *, block: int, keep_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, residual variance) of the blocks with the least structure, pooled over every plane."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim < 2:
        raise ValueError(f"Noise estimation needs an image with Y and X axes, got shape {image.shape}.")
    if not np.all(np.isfinite(image)):
        raise ValueError("Image contains NaN or Inf pixels; noise cannot be estimated.")
    planes = image.reshape((-1,) + image.shape[-2:])
    means, variances, structure = [], [], []
    for plane in planes:
        ny, nx = (plane.shape[0] // block) * block, (plane.shape[1] // block) * block
        if ny == 0 or nx == 0:
            raise ValueError(f"Image plane {plane.shape} is smaller than one {block}×{block} block.")
        res = _residual(plane)[:ny, :nx]
        smooth = ndimage.uniform_filter(plane, 3, mode="reflect")
        grad = (np.gradient(smooth, axis=0) ** 2 + np.gradient(smooth, axis=1) ** 2)[:ny, :nx]
        shape = (ny // block, block, nx // block, block)
        var = res.reshape(shape).var(axis=(1, 3))
        means.append(plane[:ny, :nx].reshape(shape).mean(axis=(1, 3)).ravel())
        variances.append(var.ravel())
        structure.append((grad.reshape(shape).mean(axis=(1, 3)) / np.maximum(var, 1e-12)).ravel())
    mean, var, struct = (np.concatenate(v) for v in (means, variances, structure))
    # Structure is judged by the smoothed gradient against the median noise of blocks at a similar
    # intensity, not against the block's own variance (that would select noisy blocks and bias up).
    order = np.argsort(mean, kind="stable")  # ties (8-bit images) ordered as the Java port orders them
    ref = np.empty_like(var)
    for chunk in np.array_split(order, max(1, len(order) // 32)):
        ref[chunk] = np.median(var[chunk])
    struct = struct * var / np.maximum(ref, 1e-12)
    keep = struct <= np.quantile(struct, keep_fraction)
    return mean[keep], var[keep]


def _binned(mean: np.ndarray, var: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Median mean and mean variance per intensity bin (quantile edges; bins with fewer than 3 blocks dropped)."""
    edges = np.unique(np.quantile(mean, np.linspace(0, 1, bins + 1)))
    idx = np.clip(np.digitize(mean, edges[1:-1]), 0, len(edges) - 2)
    bx, by = [], []
    for k in range(len(edges) - 1):
        sel = idx == k
        if sel.sum() >= 3:
            bx.append(np.median(mean[sel]))
            by.append(np.mean(var[sel]))
    return np.asarray(bx), np.asarray(by)


@dataclass(frozen=True)
class NoiseFit:
    """`estimate_noise_spread`: the fitted model, the standard deviations of ``a`` and ``b`` over bootstrap
    resamplings of the blocks, and how many blocks entered the fit."""

    model: NoiseModel
    a_sd: float
    b_sd: float
    blocks: int

    @property
    def shot_noise_found(self) -> bool:
        """The variance grows with intensity by more than twice the slope's bootstrap spread."""
        return self.model.a > 0 and self.model.a > 2 * self.a_sd


def estimate_noise_spread(image: np.ndarray, *, block: int = 8, keep_fraction: float = 0.5, bins: int = 16,
                          resamples: int = 200, seed: int = 0, a: float | None = None) -> NoiseFit:
    """:func:`estimate_noise` with the uncertainty of its line: the kept blocks are resampled with replacement
    (`resamples` times, seeded) and the line refitted; ``a_sd``/``b_sd`` are the spread of the refits. Small or
    sparse images (a bead in a 64² crop) have few blocks off the background, and the slope may then be noise:
    callers check ``shot_noise_found``. Give a whole stack to pool every plane's blocks. With `a` given (a
    calibrated gain) only ``b`` is fitted: the mean over the bins of ``var − a·mean``."""
    mean, var = _flat_blocks(image, block=block, keep_fraction=keep_fraction)

    def fit(m, v):
        bx, by = _binned(m, v, bins)
        if a is not None:
            return (a, float(np.mean(by - a * bx))) if len(bx) else (a, float(np.median(v) - a * np.median(m)))
        if len(bx) < 2 or np.ptp(bx) <= 0:
            return 0.0, float(np.median(v))
        slope, intercept = np.polyfit(bx, by, 1)
        return float(slope), float(intercept)

    a_fit, b_fit = fit(mean, var)
    rng = np.random.default_rng(seed)
    refits = np.array([fit(mean[i], var[i]) for i in (rng.integers(0, len(mean), len(mean)) for _ in range(resamples))])
    return NoiseFit(model=NoiseModel(a=float(max(a_fit, 0.0)), b=float(b_fit)), a_sd=float(refits[:, 0].std()),
                    b_sd=float(refits[:, 1].std()), blocks=int(len(mean)))
