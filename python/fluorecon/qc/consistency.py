"""Data consistency: does the reconstruction, blurred again, explain the measurement?

``consistency_map(y, x̂, physics, noise) = (y − A x̂) / sqrt(var)`` with the Poisson–Gaussian
variance of the camera at the predicted mean. Where the model explains the data the map is
standard normal noise (mean 0, std 1); structure in it (edges, blobs, a std ≫ 1) marks
hallucinated or missing features. Works for any forward model with ``A``.
"""

from __future__ import annotations

import numpy as np
import torch

from fluorecon.imaging.noise import CameraNoise

__all__ = ["consistency_map", "variance_adu"]


def variance_adu(expected_adu: np.ndarray, noise: CameraNoise) -> np.ndarray:
    """Variance (ADU²) of a camera reading whose mean is ``expected_adu`` (offset included).

    ``excess · gain · M · max(mean − offset, 0) + (gain · read_noise_e)²`` with EM gain
    ``M`` (1 for sCMOS/CCD) and excess factor 2 for EMCCD; read noise is not multiplied by M.
    """
    m = noise.em_gain or 1.0
    excess = 2.0 if noise.em_gain and noise.em_gain > 1 else 1.0
    shot = excess * noise.gain * m * np.clip(np.asarray(expected_adu, np.float64) - noise.offset, 0, None)
    return (shot + (noise.gain * noise.read_noise_e) ** 2).astype(np.float32)


def consistency_map(measured, estimate, physics, noise: CameraNoise | None = None) -> np.ndarray:
    """Standardised residual of a reconstruction under the forward and noise models.

    Parameters
    ----------
    measured : ndarray
        The measurement ``y`` in camera units (ADU, offset included when ``noise`` has one).
    estimate : ndarray
        The reconstruction ``x̂``, in the units the physics maps to ``y`` (for a blur whose
        PSF sums to 1: the same units as ``y`` minus the offset).
    physics : forward model
        Object with ``A`` (e.g. :class:`~fluorecon.imaging.forward.Blur`).
    noise : CameraNoise, optional
        Camera model; defaults to ``physics.noise`` and then to pure Poisson counts with gain 1
        and no offset.

    Returns
    -------
    ndarray, float32, shape of ``measured``
        ``(y − A x̂ − offset) / sqrt(var)``; ≈ N(0, 1) where the model explains the data.
    """
    noise = noise or getattr(physics, "noise", None) or CameraNoise(offset=0.0, read_noise_e=0.0)
    y = np.asarray(measured, dtype=np.float32)
    predicted = physics.A(torch.as_tensor(np.asarray(estimate, dtype=np.float32))).cpu().numpy()
    expected = predicted + noise.offset
    if expected.shape != y.shape:
        raise ValueError(f"measured has shape {y.shape} but A(estimate) has shape {expected.shape}.")
    variance = variance_adu(expected, noise)
    return ((y - expected) / np.sqrt(np.maximum(variance, 1e-12))).astype(np.float32)
