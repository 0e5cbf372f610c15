"""Spectral imaging physics: emission spectra, detector channels, the mixing matrix and
simulated multi-label specimens.

A spectral (or ordinary multichannel) acquisition records, in channel ``c``, the sum over labels
``l`` of label abundance ``x_l`` times the fraction ``M[c, l]`` of that label's emission that the
channel collects: ``y = M x`` per pixel, then camera noise. :class:`SpectralMixing` is that forward
model as a physics object (``A`` = mixing, ``A_adjoint`` = transpose) registered beside the blur
operator in :mod:`fluorecon.imaging.forward`.

The built-in spectra (``fluorecon/data/spectra.csv``) are parametric approximations (split
Gaussians at the published emission maxima), stated as such in the file; measured spectra from
single-label regions come from :func:`spectra_from_rois`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorecon.imaging.forward import checked_operand, default_device, register_operator
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom

__all__ = [
    "SpectrumParams",
    "reference_spectra",
    "emission_spectrum",
    "Detector",
    "mixing_matrix",
    "SpectralConfig",
    "SpectralMixing",
    "spectra_from_rois",
    "simulate_labels",
    "simulate_spectral",
]

#: Wavelength grid (nm) on which spectra are integrated over detector bands.
WAVELENGTHS_NM = np.arange(350.0, 850.5, 0.5)
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


class SpectrumParams(BaseModel):
    """One row of the reference table: a split-Gaussian emission spectrum."""

    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str = Field("dye", description="'dye' or 'protein'.")
    excitation_peak_nm: float = Field(gt=0)
    emission_peak_nm: float = Field(gt=0)
    emission_fwhm_nm: float = Field(gt=0)
    red_blue_ratio: float = Field(1.0, gt=0, description="Red-side half width over blue-side half width.")


@lru_cache(maxsize=1)
def _table() -> dict[str, SpectrumParams]:
    text = resources.files("fluorecon").joinpath("data/spectra.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    return {row["name"]: SpectrumParams(**row) for row in rows}


def reference_spectra() -> dict[str, SpectrumParams]:
    """The built-in table (name → parameters): DAPI, Hoechst, EGFP, mNeonGreen, Alexa488/555/568/647,
    mCherry, tdTomato, Cy5. Names are matched case-insensitively by :func:`emission_spectrum`."""
    return dict(_table())


def _lookup(name: str) -> SpectrumParams:
    table = _table()
    key = {k.lower().replace(" ", "").replace("-", ""): k for k in table}
    norm = name.lower().replace(" ", "").replace("-", "")
    if norm not in key:
        raise ValueError(f"Unknown spectrum {name!r}; built-in spectra are {', '.join(table)}. "
                         "Measure others from single-label regions with spectra_from_rois().")
    return table[key[norm]]


def emission_spectrum(label: str | SpectrumParams, wavelengths_nm: np.ndarray | None = None) -> np.ndarray:
    """Emission spectrum on a wavelength grid, normalised to unit area (photons per nm).

    Parameters
    ----------
    label : str or SpectrumParams
        A name from the built-in table (e.g. ``"EGFP"``) or explicit parameters.
    wavelengths_nm : ndarray, (W,), optional
        Evenly spaced grid; default 350–850 nm in 0.5 nm steps.

    Returns
    -------
    ndarray, float64, (W,)
        ``sum(spectrum) * step == 1`` over the grid.

    Examples
    --------
    >>> s = emission_spectrum("mCherry")
    >>> float(WAVELENGTHS_NM[s.argmax()])
    610.0
    """
    params = _lookup(label) if isinstance(label, str) else label
    grid = WAVELENGTHS_NM if wavelengths_nm is None else np.asarray(wavelengths_nm, np.float64)
    r = params.red_blue_ratio
    sigma_blue = params.emission_fwhm_nm / (_FWHM_PER_SIGMA / 2 * (1 + r))
    sigma = np.where(grid < params.emission_peak_nm, sigma_blue, r * sigma_blue)
    spectrum = np.exp(-0.5 * ((grid - params.emission_peak_nm) / sigma) ** 2)
    step = float(grid[1] - grid[0]) if grid.size > 1 else 1.0
    return spectrum / (spectrum.sum() * step)


class Detector(BaseModel):
    """Detector channels as bandpass edges in nm: a filter set or a lambda stack.

    Examples
    --------
    >>> Detector(bands_nm=[(430, 480), (500, 550), (570, 620)])          # three filter cubes
    >>> Detector.lambda_stack(start_nm=420, stop_nm=700, channels=8)      # spectral detector
    """

    model_config = ConfigDict(extra="forbid")
    bands_nm: list[tuple[float, float]] = Field(description="(low, high) edge of each channel's band, nm.")

    @model_validator(mode="after")
    def _check(self) -> "Detector":
        if not self.bands_nm:
            raise ValueError("bands_nm is empty; give at least one (low, high) band in nm.")
        for low, high in self.bands_nm:
            if not 0 < low < high:
                raise ValueError(f"Band ({low}, {high}) nm is not a valid (low, high) pair; low must be below high.")
        return self

    @classmethod
    def lambda_stack(cls, *, start_nm: float, stop_nm: float, channels: int) -> "Detector":
        """Contiguous equal-width bands from `start_nm` to `stop_nm` (a confocal's lambda mode)."""
        if channels < 1 or stop_nm <= start_nm:
            raise ValueError(f"lambda_stack needs channels >= 1 and stop_nm > start_nm, got {channels}, "
                             f"{start_nm}–{stop_nm} nm.")
        edges = np.linspace(start_nm, stop_nm, channels + 1)
        return cls(bands_nm=[(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])])

    @property
    def centres_nm(self) -> np.ndarray:
        return np.array([(a + b) / 2 for a, b in self.bands_nm])


def mixing_matrix(labels: Sequence[str | SpectrumParams | np.ndarray], detector: Detector, *,
                  brightness: Sequence[float] | None = None) -> np.ndarray:
    """Fraction of each label's emitted photons that each channel collects.

    Parameters
    ----------
    labels : sequence of names, SpectrumParams or spectra sampled on ``WAVELENGTHS_NM``
    detector : Detector
    brightness : sequence of float, optional
        Relative brightness per label (extinction × quantum yield × excitation); default 1.

    Returns
    -------
    ndarray, float32, (channels, labels)
    """
    step = float(WAVELENGTHS_NM[1] - WAVELENGTHS_NM[0])
    columns = []
    for label in labels:
        if isinstance(label, np.ndarray):
            if label.shape != WAVELENGTHS_NM.shape:
                raise ValueError(f"A spectrum given as numbers must be sampled on WAVELENGTHS_NM "
                                 f"({WAVELENGTHS_NM.size} values), got shape {label.shape}.")
            spectrum = np.clip(label.astype(np.float64), 0, None)
            spectrum = spectrum / max(spectrum.sum() * step, 1e-12)
        else:
            spectrum = emission_spectrum(label)
        columns.append([spectrum[(WAVELENGTHS_NM >= lo) & (WAVELENGTHS_NM < hi)].sum() * step
                        for lo, hi in detector.bands_nm])
    matrix = np.array(columns, np.float64).T
    if brightness is not None:
        if len(brightness) != len(labels):
            raise ValueError(f"brightness has {len(brightness)} values for {len(labels)} labels.")
        matrix = matrix * np.asarray(brightness, np.float64)[None]
    dark = np.flatnonzero(matrix.sum(0) <= 1e-9)
    if dark.size:
        raise ValueError(f"Label(s) {[str(labels[i]) for i in dark]} emit nothing into any detector band; "
                         "widen the bands or drop the label.")
    return matrix.astype(np.float32)


# --- physics object ------------------------------------------------------------------------


class SpectralConfig(BaseModel):
    """Physics of a spectral / multichannel acquisition: ``y ~ noise(M x)`` per pixel."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["spectral"] = "spectral"
    image_shape: tuple[int, ...] = Field(description="Spatial shape, (y, x) or (z, y, x).")
    mixing: list[list[float]] = Field(description="Mixing matrix, channels × labels.")
    labels: list[str] = Field(default_factory=list, description="Label names, one per mixing column.")
    noise: CameraNoise | None = Field(None, description="Camera noise model (Poisson–Gaussian).")


@register_operator("spectral")
class SpectralMixing:
    """Linear spectral mixing: object (labels, *spatial) → measurement (channels, *spatial).

    Parameters
    ----------
    mixing : ndarray, (channels, labels)
        From :func:`mixing_matrix` or measured.
    image_shape : tuple of int
        Spatial shape (y, x) or (z, y, x).
    labels : sequence of str, optional
    device : str or torch.device, optional
    noise : CameraNoise, optional

    Attributes
    ----------
    image_shape : (labels, *spatial) — shape of the object ``x``.
    measurement_shape : (channels, *spatial) — shape of ``y``.

    Examples
    --------
    >>> m = mixing_matrix(["EGFP", "mCherry"], Detector.lambda_stack(start_nm=480, stop_nm=680, channels=8))
    >>> physics = SpectralMixing(m, image_shape=(64, 64))
    >>> y = physics.A(torch.rand(2, 64, 64))        # (8, 64, 64)
    """

    operator_name = "spectral"

    def __init__(self, mixing: np.ndarray, *, image_shape: Sequence[int], labels: Sequence[str] | None = None,
                 device: str | torch.device | None = None, noise: CameraNoise | None = None,
                 config: SpectralConfig | None = None) -> None:
        mixing = np.asarray(mixing, np.float32)
        if mixing.ndim != 2 or not np.isfinite(mixing).all() or mixing.min() < 0:
            raise ValueError(f"mixing must be a finite, non-negative (channels, labels) matrix, got shape {mixing.shape}.")
        spatial = tuple(int(s) for s in image_shape)
        if len(spatial) not in (2, 3):
            raise ValueError(f"image_shape must be spatial (y, x) or (z, y, x), got {spatial}.")
        self.mixing = mixing
        self.labels = list(labels) if labels is not None else [f"label{i + 1}" for i in range(mixing.shape[1])]
        if len(self.labels) != mixing.shape[1]:
            raise ValueError(f"{len(self.labels)} labels given for a mixing matrix with {mixing.shape[1]} columns.")
        self.device = torch.device(device) if device is not None else default_device()
        self.spatial_shape = spatial
        self.image_shape = (mixing.shape[1], *spatial)
        self.measurement_shape = (mixing.shape[0], *spatial)
        self.noise = noise
        self._config = config
        self._m = torch.from_numpy(mixing).to(self.device)

    @property
    def config(self) -> SpectralConfig:
        if self._config is not None:
            return self._config
        return SpectralConfig(image_shape=self.spatial_shape, mixing=self.mixing.tolist(), labels=self.labels,
                              noise=self.noise)

    @classmethod
    def from_config(cls, config: SpectralConfig | dict, *, device=None) -> "SpectralMixing":
        config = SpectralConfig.model_validate(config)
        return cls(np.array(config.mixing, np.float32), image_shape=config.image_shape,
                   labels=config.labels or None, device=device, noise=config.noise, config=config)

    @classmethod
    def example(cls, *, ndim: int = 2, device=None) -> "SpectralMixing":
        """A small square instance (channels == labels) so the registry's shared checks, which
        feed one random array to both A and A_adjoint, apply unchanged."""
        detector = Detector.lambda_stack(start_nm=440, stop_nm=680, channels=4)
        m = mixing_matrix(["DAPI", "EGFP", "tdTomato", "Alexa647"], detector)
        return cls(m, image_shape=(11, 13) if ndim == 2 else (5, 7, 6), device=device)

    def _check(self, x, shape: tuple[int, ...], name: str) -> torch.Tensor:
        return checked_operand(x, shape, name, self.device)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Mix: (labels, *spatial) → (channels, *spatial), float32."""
        x = self._check(x, self.image_shape, "x")
        return torch.tensordot(self._m, x, dims=([1], [0]))

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Transpose: (channels, *spatial) → (labels, *spatial), float32."""
        y = self._check(y, self.measurement_shape, "y")
        return torch.tensordot(self._m.T, y, dims=([1], [0]))


# --- measured spectra and simulation ---------------------------------------------------------


def spectra_from_rois(image: np.ndarray, masks: Sequence[np.ndarray], *, offset: float = 0.0,
                      channel_axis: int = 0) -> np.ndarray:
    """Reference spectra measured from single-label regions of a spectral image.

    Parameters
    ----------
    image : ndarray, (channels, *spatial) (channel axis set by `channel_axis`)
    masks : sequence of bool ndarrays, each of the spatial shape
        One region per label, drawn where only that label is present.
    offset : float
        Camera offset (and background) subtracted before averaging.

    Returns
    -------
    ndarray, float32, (channels, labels); each column sums to 1.
    """
    image = np.moveaxis(np.asarray(image, np.float32), channel_axis, 0)
    columns = []
    for i, mask in enumerate(masks):
        mask = np.asarray(mask, bool)
        if mask.shape != image.shape[1:]:
            raise ValueError(f"ROI {i + 1} has shape {mask.shape}; it must match the image's spatial shape {image.shape[1:]}.")
        if not mask.any():
            raise ValueError(f"ROI {i + 1} is empty; draw it over a region that holds only that label.")
        mean = np.clip(image[:, mask].mean(axis=1) - offset, 0, None)
        if mean.sum() <= 0:
            raise ValueError(f"ROI {i + 1} has no signal above offset {offset}; check the offset or the region.")
        columns.append(mean / mean.sum())
    return np.stack(columns, axis=1).astype(np.float32)


_KIND_CYCLE = ("nuclei", "filaments", "vesicles", "membranes", "filaments")


def simulate_labels(shape: Sequence[int], n_labels: int, *, seed: int | None = None) -> np.ndarray:
    """Abundance maps of a multi-label specimen: one structure family per label (nuclei, filaments,
    vesicles, membranes, ...), overlapping in space as in a real multi-stained cell.

    Returns
    -------
    ndarray, float32, (n_labels, *shape), values in [0, 1].
    """
    if not 1 <= n_labels <= 8:
        raise ValueError(f"n_labels must be between 1 and 8, got {n_labels}.")
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31, n_labels)
    return np.stack([phantom(shape, kind=_KIND_CYCLE[i % len(_KIND_CYCLE)], seed=int(s))  # type: ignore[arg-type]
                     for i, s in enumerate(seeds)]).astype(np.float32)


def simulate_spectral(abundances: np.ndarray, physics: SpectralMixing, *, camera: CameraNoise | None = None,
                      seed: int | None = None) -> np.ndarray:
    """One noisy spectral exposure ``y = noise(M x)`` in ADU.

    `abundances` are relative (1 = brightest), `camera.photons` the photons a label at abundance 1
    emits per pixel (the channels share them according to the mixing matrix).

    Returns
    -------
    ndarray, float32, (channels, *spatial).
    """
    camera = camera or physics.noise or CameraNoise()
    with torch.no_grad():
        clean = physics.A(torch.as_tensor(np.asarray(abundances, np.float32))).cpu().numpy()
    return apply_noise(clean, camera, seed=seed)
