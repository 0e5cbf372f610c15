"""Blur then downsample: the forward model of a coarser camera grid behind a wider PSF.

``A x = bin_f(k ⊛ x)``: a blur with ``k`` on the fine grid (:class:`~fluorecon.imaging.forward.Blur`,
zero outside the image), then the *mean* over blocks of ``f`` pixels per axis, as a camera pixel
integrates the light falling on it (the mean rather than the sum keeps intensities comparable
across grids). ``A_adjoint`` is exact: each coarse pixel spread evenly (``1/∏f``) over its block,
then correlation with ``k``. Used for upsampling (``f = 2, 4`` in every axis) and for isotropic
restoration (``f = (z_factor, 1, 1)``), and by the data-consistency check of both.

Registered as ``"blur_downsample"``; the operator checks in tests/imaging/test_forward.py run on
it (``measurement_shape`` differs from ``image_shape`` here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from fluorecon.imaging.forward import ArrayPSF, Blur, PSFConfig, checked_operand, default_device, register_operator
from fluorecon.imaging.noise import CameraNoise

__all__ = ["BlurDownsample", "BlurDownsampleConfig", "gaussian_kernel", "gaussian_sigma_nm", "physics_for", "degrade"]


class BlurDownsampleConfig(BaseModel):
    """``y ~ noise(bin_f(psf ⊛ x))``: `image_shape` is the fine grid, `factor` the block per axis."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["blur_downsample"] = "blur_downsample"
    image_shape: tuple[int, ...] = Field(description="Fine-grid (object) shape, (y, x) or (z, y, x); multiples of factor.")
    factor: tuple[int, ...] = Field(description="Downsampling factor per axis, e.g. (2, 2) or (4, 1, 1).")
    psf: PSFConfig | None = Field(None, description="Blur on the fine grid; None = pixel integration only.")
    noise: CameraNoise | None = Field(None, description="Camera noise model of the coarse measurement.")


def gaussian_kernel(sigma: float | Sequence[float], *, ndim: int = 2, truncate: float = 3.0) -> np.ndarray:
    """Normalised, odd-sized Gaussian kernel (sum 1), one σ (pixels) per axis or one for all.

    A σ of 0 on an axis gives a kernel of length 1 there (no blur along that axis).
    """
    sig = (float(sigma),) * ndim if np.isscalar(sigma) else tuple(float(s) for s in sigma)
    if len(sig) != ndim or any(s < 0 for s in sig):
        raise ValueError(f"sigma={sigma!r}: give {ndim} non-negative values (pixels).")
    axes = []
    for s in sig:
        r = int(np.ceil(truncate * s))
        g = np.exp(-0.5 * (np.arange(-r, r + 1) / s) ** 2) if s > 0 else np.ones(1)
        axes.append(g / g.sum())
    kernel = axes[0]
    for g in axes[1:]:
        kernel = np.multiply.outer(kernel, g)
    return kernel.astype(np.float32)


def _per_axis(factor: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    f = (int(factor),) * ndim if np.isscalar(factor) else tuple(int(v) for v in factor)
    if len(f) != ndim or any(v < 1 for v in f):
        raise ValueError(f"factor={factor!r}: give one integer >= 1 per axis ({ndim} axes).")
    return f


@register_operator("blur_downsample")
class BlurDownsample:
    """Blur on the fine grid, then mean over ``factor`` blocks.

    Parameters
    ----------
    psf : ndarray or None
        Fine-grid PSF (centre ``k // 2``, sum 1 for flux conservation); None = no blur.
    image_shape : tuple of int
        Fine-grid shape; every side must be a multiple of its factor.
    factor : int or tuple of int
        Block size per axis.
    device, noise, config : as for :class:`~fluorecon.imaging.forward.Blur`.

    Attributes
    ----------
    measurement_shape : tuple of int
        ``image_shape // factor``: the shape ``A`` returns and ``A_adjoint`` takes.

    Examples
    --------
    >>> op = BlurDownsample(gaussian_kernel(1.5), image_shape=(128, 128), factor=2)
    >>> op.A(torch.ones(128, 128)).shape
    torch.Size([64, 64])
    """

    operator_name = "blur_downsample"

    def __init__(self, psf: np.ndarray | None, *, image_shape: Sequence[int], factor: int | Sequence[int],
                 device: str | torch.device | None = None, noise: CameraNoise | None = None,
                 config: BlurDownsampleConfig | None = None) -> None:
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) not in (2, 3):
            raise ValueError(f"image_shape {image_shape}: give (y, x) or (z, y, x).")
        self.factor = _per_axis(factor, len(image_shape))
        bad = [(s, f) for s, f in zip(image_shape, self.factor) if s % f]
        if bad:
            raise ValueError(f"image_shape {image_shape} is not a multiple of factor {self.factor}; "
                             "crop the fine-grid image to a multiple of the factor first.")
        self.device = torch.device(device) if device is not None else default_device()
        self.image_shape = image_shape
        self.measurement_shape = tuple(s // f for s, f in zip(image_shape, self.factor))
        self.noise = noise
        self._config = config
        self.psf = None if psf is None else np.asarray(psf, dtype=np.float32)
        self.blur = None if psf is None else Blur(self.psf, image_shape=image_shape, device=self.device)
        self._blocks = tuple(v for m, f in zip(self.measurement_shape, self.factor) for v in (m, f))
        self._block_axes = tuple(range(1, 2 * len(image_shape), 2))
        self._weight = 1.0 / float(np.prod(self.factor))

    @property
    def config(self) -> BlurDownsampleConfig:
        if self._config is not None:
            return self._config
        psf = None if self.psf is None else ArrayPSF.from_array(self.psf)
        return BlurDownsampleConfig(image_shape=self.image_shape, factor=self.factor, psf=psf, noise=self.noise)

    @classmethod
    def from_config(cls, config: BlurDownsampleConfig | dict, *, device=None) -> "BlurDownsample":
        config = BlurDownsampleConfig.model_validate(config)
        psf = None if config.psf is None else config.psf.build()
        return cls(psf, image_shape=config.image_shape, factor=config.factor, device=device, noise=config.noise,
                   config=config)

    @classmethod
    def example(cls, *, ndim: int = 2, device=None) -> "BlurDownsample":
        """A small instance for the registry's shared tests (non-square factors, even-sized PSF)."""
        shape, factor, psf_shape = ((20, 24), (2, 3), (5, 4)) if ndim == 2 else ((8, 12, 18), (2, 3, 2), (3, 4, 5))
        psf = np.random.default_rng(2).random(psf_shape).astype(np.float32)
        return cls(psf / psf.sum(), image_shape=shape, factor=factor, device=device)

    def _check(self, x, shape, name: str) -> torch.Tensor:
        return checked_operand(x, shape, name, self.device)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Blur, then block mean: (fine shape) → (measurement_shape), float32."""
        x = self._check(x, self.image_shape, "x")
        if self.blur is not None:
            x = self.blur.A(x)
        return x.reshape(self._blocks).mean(dim=self._block_axes)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Exact adjoint of :meth:`A`: spread each value over its block (÷∏f), then correlate with the PSF."""
        y = self._check(y, self.measurement_shape, "y")
        for axis, f in enumerate(self.factor):
            y = torch.repeat_interleave(y, f, dim=axis)
        y = y * self._weight
        return self.blur.A_adjoint(y) if self.blur is not None else y


# --- shared by upsampling and isotropic restoration ---------------------------------------------


def gaussian_sigma_nm(*, na: float, wavelength_nm: float, ns: float = 1.33) -> tuple[float, float]:
    """(lateral, axial) σ in nm of the Gaussian approximation of a widefield PSF (Zhang et al. 2007)."""
    if na <= 0 or wavelength_nm <= 0:
        raise ValueError(f"na ({na}) and wavelength_nm ({wavelength_nm}) must be positive.")
    return 0.21 * wavelength_nm / na, 0.66 * wavelength_nm * ns / na**2


def physics_for(shape_high: Sequence[int], *, factor: int | Sequence[int], sigma_px: Sequence[float],
                noise: CameraNoise | None = None, device="cpu") -> BlurDownsample:
    """The forward model high-res → low-res: Gaussian blur of σ `sigma_px` (fine pixels), bin by `factor`."""
    sigma = tuple(float(s) for s in sigma_px)
    psf = gaussian_kernel(sigma, ndim=len(shape_high)) if any(s > 0 for s in sigma) else None
    return BlurDownsample(psf, image_shape=shape_high, factor=factor, noise=noise, device=device)


def degrade(image: np.ndarray, *, factor: int | Sequence[int], sigma_px: Sequence[float]) -> np.ndarray:
    """Noise-free low-resolution version of a high-res image: Gaussian blur (reflecting border,
    truncated at 3σ like :func:`gaussian_kernel`) then block mean. Equals ``physics_for(...).A``
    away from the border."""
    image = np.asarray(image, np.float32)
    f = (factor,) * image.ndim if np.isscalar(factor) else tuple(factor)
    blurred = ndimage.gaussian_filter(image, tuple(sigma_px), mode="reflect", truncate=3.0)
    blocks = tuple(v for s, k in zip(image.shape, f) for v in (s // k, k))
    crop = tuple(slice(0, (s // k) * k) for s, k in zip(image.shape, f))
    return blurred[crop].reshape(blocks).mean(axis=tuple(range(1, 2 * image.ndim, 2))).astype(np.float32)
