"""Wiener / Tikhonov deconvolution in one FFT (reflect-padded or periodic boundary)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.fft
import torch

from fluorecon.imaging.forward import default_device
from fluorecon.solvers.richardson_lucy import _as_image

__all__ = ["wiener"]


def _psf_to_origin(psf: np.ndarray, fft_shape: Sequence[int]) -> np.ndarray:
    """PSF placed on an FFT grid with its centre (index ``k // 2``) at the origin, wrapped."""
    grid = np.zeros(fft_shape, dtype=np.float32)
    grid[tuple(slice(0, k) for k in psf.shape)] = psf
    return np.roll(grid, [-(k // 2) for k in psf.shape], axis=tuple(range(psf.ndim)))


def wiener(
    image,
    psf,
    *,
    balance: float = 1e-3,
    boundary: Literal["reflect", "periodic"] = "reflect",
    device=None,
) -> np.ndarray:
    """Wiener/Tikhonov deconvolution ``x = F⁻¹[ conj(H) Y / (|H|² + balance) ]``.

    Parameters
    ----------
    image : ndarray, (y, x) or (z, y, x)
    psf : ndarray, same axes, centre ``k // 2``; normalise to sum 1 so ``balance`` is relative to
        the DC gain.
    balance : float
        Tikhonov weight (noise-to-signal power ratio), > 0.
    boundary : {"reflect", "periodic"}
        "reflect": the image is mirror-extended (NumPy "reflect") by the PSF size and then to a
        fast FFT length, so edges do not ring; "periodic": the image is taken as one period (the
        exact circulant solution, used by the analytic test).

    Returns
    -------
    ndarray, float32, same shape as ``image``
    """
    if not balance > 0:
        raise ValueError(f"balance={balance}: use a positive regularisation weight, e.g. 1e-3.")
    array = _as_image(image)
    kernel = _as_image(psf, "psf")
    if kernel.ndim != array.ndim:
        raise ValueError(f"psf has {kernel.ndim} axes but the image has {array.ndim}.")
    device = torch.device(device) if device is not None else default_device()
    if boundary == "reflect":
        pads = [min(k, n - 1) for k, n in zip(kernel.shape, array.shape)]
        fft_shape = [scipy.fft.next_fast_len(n + 2 * p, real=True) for n, p in zip(array.shape, pads)]
        extra = [f - n - 2 * p for f, n, p in zip(fft_shape, array.shape, pads)]
        padded = np.pad(array, [(p, p + e) for p, e in zip(pads, extra)], mode="reflect") if max(pads) else array
        crop = tuple(slice(p, p + n) for p, n in zip(pads, array.shape))
    elif boundary == "periodic":
        fft_shape, padded, crop = list(array.shape), array, tuple(slice(0, n) for n in array.shape)
    else:
        raise ValueError(f"boundary={boundary!r}: use 'reflect' or 'periodic'.")
    if any(k > f for k, f in zip(kernel.shape, fft_shape)):
        raise ValueError(f"psf of shape {kernel.shape} is larger than the image {array.shape}; crop the PSF.")
    dims = tuple(range(-array.ndim, 0))
    otf = torch.fft.rfftn(torch.from_numpy(_psf_to_origin(kernel, fft_shape)).to(device), dim=dims)
    spectrum = torch.fft.rfftn(torch.from_numpy(np.ascontiguousarray(padded)).to(device), dim=dims)
    spectrum.mul_(otf.conj()).div_(otf.abs().square_().add_(balance))
    result = torch.fft.irfftn(spectrum, s=fft_shape, dim=dims)[crop]
    return result.cpu().numpy().astype(np.float32)
