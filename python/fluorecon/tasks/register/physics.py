"""Sample motion: stage drift of time series, smooth deformations, drifting SMLM localisation tables.

Conventions: a drift or shift vector is in pixels per spatial axis, (dy, dx) or (dz, dy, dx), and
moves image content by +shift (content at p ends up at p + shift). A displacement field ``u``
(ndim, *spatial) warps backwards: ``warped(p) = image(p + u(p))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft
from scipy import ndimage

__all__ = [
    "fourier_shift",
    "simulate_drift",
    "apply_drift",
    "smooth_displacement",
    "warp",
    "simulate_drifting_localizations",
]


def fourier_shift(image: np.ndarray, shift: Sequence[float]) -> np.ndarray:
    """Shift an image by a sub-pixel vector with the Fourier shift theorem (periodic boundary).

    Parameters
    ----------
    image : ndarray, (y, x) or (z, y, x)
    shift : sequence of float, one per axis (pixels)

    Returns
    -------
    ndarray, float32, same shape. (On even-sized axes a sub-pixel shift loses the imaginary part
    of the Nyquist term, so shifting back is exact only on odd sizes or for whole pixels.)
    """
    image = np.asarray(image, np.float32)
    shift = np.asarray(shift, np.float64)
    if shift.shape != (image.ndim,):
        raise ValueError(f"shift has {shift.size} values for an image with {image.ndim} axes.")
    axes = tuple(range(image.ndim))
    spectrum = scipy.fft.rfftn(image, axes=axes)
    # The phase ramp is separable: one small complex vector per axis, broadcast-multiplied.
    for axis, (n, d) in enumerate(zip(image.shape, shift)):
        freq = np.fft.rfftfreq(n) if axis == image.ndim - 1 else np.fft.fftfreq(n)
        shape = [1] * image.ndim
        shape[axis] = freq.size
        spectrum *= np.exp(-2j * np.pi * d * freq).astype(np.complex64).reshape(shape)
    return scipy.fft.irfftn(spectrum, s=image.shape, axes=axes).astype(np.float32, copy=False)


def simulate_drift(n_frames: int, ndim: int = 2, *, step_px: float = 0.3, linear_px: float = 0.2,
                   seed: int | None = None) -> np.ndarray:
    """Drift trajectory: a steady stage creep (`linear_px` per frame, random direction) plus a
    random walk (`step_px` RMS per frame per axis); frame 0 sits at zero.

    Returns
    -------
    ndarray, float64, (n_frames, ndim) in pixels.
    """
    if n_frames < 1 or ndim not in (2, 3):
        raise ValueError(f"n_frames must be >= 1 and ndim 2 or 3, got {n_frames}, {ndim}.")
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=ndim)
    direction /= np.linalg.norm(direction)
    steps = rng.normal(scale=step_px, size=(n_frames, ndim)) + linear_px * direction
    steps[0] = 0.0
    return np.cumsum(steps, axis=0)


def apply_drift(frames: np.ndarray, drift: np.ndarray, *, mode: str = "fourier") -> np.ndarray:
    """Move every frame of a time series by its drift vector.

    Parameters
    ----------
    frames : ndarray, (T, *spatial)
    drift : ndarray, (T, ndim)
    mode : {"fourier", "spline"}
        Fourier shift (exact band-limited, wraps around) or cubic spline (edges filled with the
        nearest value).
    """
    frames = np.asarray(frames, np.float32)
    drift = np.asarray(drift, np.float64)
    if drift.shape != (frames.shape[0], frames.ndim - 1):
        raise ValueError(f"drift has shape {drift.shape}; expected ({frames.shape[0]}, {frames.ndim - 1}).")
    if mode == "fourier":
        return np.stack([fourier_shift(f, d) for f, d in zip(frames, drift)])
    if mode == "spline":
        return np.stack([ndimage.shift(f, d, order=3, mode="nearest") for f, d in zip(frames, drift)]).astype(np.float32)
    raise ValueError(f"mode must be 'fourier' or 'spline', got {mode!r}.")


def smooth_displacement(shape: Sequence[int], *, amplitude_px: float = 2.0, smoothness_px: float = 12.0,
                        seed: int | None = None) -> np.ndarray:
    """A smooth random displacement field (tissue deformation): Gaussian-filtered white noise per
    axis, scaled so its RMS magnitude per axis is `amplitude_px`.

    Returns
    -------
    ndarray, float32, (ndim, *shape)
    """
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)
    field = []
    for _ in shape:
        f = ndimage.gaussian_filter(rng.normal(size=shape), smoothness_px, mode="wrap")
        field.append(f / max(float(f.std()), 1e-12) * amplitude_px)
    return np.stack(field).astype(np.float32)


def warp(image: np.ndarray, displacement: np.ndarray, *, order: int = 1) -> np.ndarray:
    """Backward warp ``out(p) = image(p + u(p))`` (spline of `order`, edges = nearest value)."""
    image = np.asarray(image, np.float32)
    displacement = np.asarray(displacement, np.float32)
    if displacement.shape != (image.ndim, *image.shape):
        raise ValueError(f"displacement has shape {displacement.shape}; expected {(image.ndim, *image.shape)}.")
    grid = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in image.shape], indexing="ij")
    coords = [g + u for g, u in zip(grid, displacement)]
    return ndimage.map_coordinates(image, coords, order=order, mode="nearest").astype(np.float32)


def simulate_drifting_localizations(*, n_frames: int = 5000, field_nm: float = 8000.0, n_sites: int = 1500,
                                    locs_per_frame: float = 15.0, precision_nm: float = 10.0,
                                    drift_nm: float = 150.0, seed: int | None = None):
    """A 2D SMLM localisation table of a structured sample (filaments of binding sites) under a
    smooth stage drift.

    Returns
    -------
    table : dict of ndarrays — ``frame`` (int), ``x_nm``, ``y_nm`` (measured, drifted)
    drift : ndarray, (n_frames, 2) — true (x, y) drift in nm per frame (frame 0 at 0)
    """
    rng = np.random.default_rng(seed)
    # Binding sites along random smooth curves: structure that cross-correlation can lock onto.
    sites = []
    per_curve = 50
    for _ in range(max(1, n_sites // per_curve)):
        pos = rng.uniform(0.1, 0.9, 2) * field_nm
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(per_curve):
            angle += rng.normal(scale=0.15)
            pos = pos + 40.0 * np.array([np.cos(angle), np.sin(angle)])
            sites.append(pos.copy())
    sites = np.array(sites)
    t = np.linspace(0, 1, n_frames)
    coeffs = rng.normal(size=(2, 3))
    drift = np.stack([
        coeffs[i, 0] * t + coeffs[i, 1] * np.sin(2 * np.pi * t * rng.uniform(0.5, 1.5)) + coeffs[i, 2] * t**2
        for i in range(2)
    ], axis=1)
    drift -= drift[0]
    drift *= drift_nm / max(float(np.abs(drift).max()), 1e-12)
    counts = rng.poisson(locs_per_frame, n_frames)
    frame = np.repeat(np.arange(n_frames), counts)
    which = rng.integers(0, len(sites), frame.size)
    xy = sites[which] + rng.normal(scale=precision_nm, size=(frame.size, 2)) + drift[frame]
    return {"frame": frame, "x_nm": xy[:, 0], "y_nm": xy[:, 1]}, drift
