"""Camera noise: the Poisson–Gaussian model of a fluorescence camera (sCMOS/CCD, optionally EMCCD).

Photons arrive as a Poisson process, are detected with quantum efficiency `qe`, optionally
multiplied in an electron-multiplying register (EMCCD: gamma-distributed gain, excess noise
factor → 2 at high gain), get Gaussian read noise, and are converted to ADU with `gain` and
`offset`. The same object gives the expected value and the variance of the measurement, which
the data-consistency checks use to standardise residuals.

Reference: Mortensen et al., "Optimized localization analysis for single-molecule tracking and
super-resolution microscopy", Nat. Methods 7, 377 (2010) (EMCCD gamma model, excess factor 2).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.imaging.phantoms import Kind as PhantomKind


class CameraNoise(BaseModel):
    """A camera and an illumination level.

    The image handed to :func:`apply_noise` is a relative intensity (0 = no signal, 1 = the
    brightest part of the object); ``photons`` sets how many photons that brightest part sends
    to a pixel during one exposure.
    """

    model_config = ConfigDict(extra="forbid")

    photons: float = Field(100.0, gt=0, description="Expected photons per pixel where the image is 1 (peak of the object).")
    background: float = Field(0.0, ge=0, description="Expected background photons per pixel (autofluorescence, out-of-focus light).")
    qe: float = Field(1.0, gt=0, le=1, description="Quantum efficiency: fraction of photons that become electrons.")
    gain: float = Field(1.0, gt=0, description="Conversion gain in ADU per electron (after EM gain).")
    offset: float = Field(100.0, description="Camera offset (bias) in ADU.")
    read_noise_e: float = Field(1.5, ge=0, description="Read noise, standard deviation in electrons.")
    em_gain: float | None = Field(None, ge=1, description="EMCCD multiplication gain; None for sCMOS/CCD.")
    quantize: bool = Field(False, description="Round to whole ADU like a real camera's digitiser.")

    def electrons(self, image: np.ndarray) -> np.ndarray:
        """Expected photo-electrons per pixel (before EM gain) for a relative intensity `image`."""
        image = np.asarray(image, dtype=np.float32)
        return (self.qe * (self.photons * np.clip(image, 0, None) + self.background)).astype(np.float32)

    def mean(self, image: np.ndarray) -> np.ndarray:
        """Expected measurement in ADU (float32): the noise-free image in camera units."""
        m = self.em_gain or 1.0
        return (self.gain * m * self.electrons(image) + self.offset).astype(np.float32)

    def variance(self, image: np.ndarray) -> np.ndarray:
        """Variance of the measurement in ADU² (float32); the EM register doubles shot noise."""
        excess = 2.0 if self.em_gain and self.em_gain > 1 else 1.0
        m = self.em_gain or 1.0
        shot = excess * m * m * self.electrons(image)
        return (self.gain**2 * (shot + self.read_noise_e**2)).astype(np.float32)


def apply_noise(image: np.ndarray, camera: CameraNoise, *, seed: int | None = None) -> np.ndarray:
    """Simulate one camera exposure of a relative-intensity image.

    Parameters
    ----------
    image : ndarray, shape (..., Y, X), any real dtype
        Relative intensity, 1 = the object's peak (negative values are clipped to 0).
    camera : CameraNoise
        Camera and illumination (photons, background, qe, gain, offset, read noise, EM gain).
    seed : int, optional
        Seed for NumPy's default generator; the same seed gives the same noise.

    Returns
    -------
    ndarray, float32, same shape
        The measurement in ADU.

    Examples
    --------
    >>> img = apply_noise(np.full((64, 64), 0.5), CameraNoise(photons=20), seed=0)
    """
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.number) or np.iscomplexobj(image):
        raise ValueError(f"image must be real-valued, got dtype {image.dtype}.")
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinite values; replace them before simulating noise.")
    rng = np.random.default_rng(seed)
    electrons = rng.poisson(camera.electrons(image).astype(np.float64)).astype(np.float64)
    if camera.em_gain is not None and camera.em_gain > 1:
        # Sum of n exponential multiplications ≈ Gamma(n, g): excess noise factor 2 (Mortensen 2010).
        hit = electrons > 0
        electrons[hit] = rng.gamma(electrons[hit], camera.em_gain)
    if camera.read_noise_e > 0:
        electrons += rng.normal(0.0, camera.read_noise_e, size=electrons.shape)
    adu = camera.gain * electrons + camera.offset
    if camera.quantize:
        adu = np.round(adu)
    return adu.astype(np.float32)


def lab_camera() -> CameraNoise:
    """The camera simulations use unless told otherwise: gain 2 ADU/e⁻, offset 100 ADU, read noise 1.5 e⁻."""
    return CameraNoise(gain=2.0, offset=100.0, read_noise_e=1.5)


class SimulatedAcquisition(BaseModel):
    """What every phantom simulation config shares, written once: the phantom family, the camera and the seed.
    The tasks' simulation configs (denoise, upsample, isotropic, crossmodal, learned SIM) subclass it, so their JSON
    keeps the same flat keys (``kind``, ``camera``, ``seed``) and cards written before still read."""

    model_config = ConfigDict(extra="forbid")

    kind: PhantomKind = Field("mixed", description="Phantom family.")
    camera: CameraNoise = Field(default_factory=lab_camera,
                                description="Camera (photons and background are set per image or stack).")
    seed: int = Field(0, description="Seed of phantoms and noise.")


def simulation_shape(shape, ndim: int) -> tuple[int, ...]:
    """The image shape a simulation makes: `shape` (checked against `ndim`), else (256, 256) in 2D, (32, 128, 128)
    in 3D."""
    if shape is not None:
        if len(shape) != ndim:
            raise ValueError(f"shape {shape} has {len(shape)} axes but ndim is {ndim}.")
        return tuple(shape)
    return (256, 256) if ndim == 2 else (32, 128, 128)
