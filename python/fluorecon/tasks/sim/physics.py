"""Structured illumination (SIM) forward model: 2D two-beam and 3D three-beam, raw frames binned 2×.

The object lives on a fine grid (pixel ``p/2``); each raw frame is the object times one
illumination pattern, blurred by the PSF on the fine grid, then averaged over 2×2 blocks (the
camera pixel ``p``). Coordinates are in *raw* pixels: raw pixel ``i`` is centred at ``r = i`` and
fine pixel ``j`` at ``r = (j − 0.5)/2``, so phases refer to the raw grid and a reconstruction on
the fine grid lines up with the object pixel for pixel.

2D (two beams): ``I = 1 + m cos(2π k·r + φ)`` with ``|k| = p / line_spacing`` at angle θ from the
x axis (toward +y), ``φ = φ0 + 2π·phase/P``.

3D (three beams, Gustafsson et al. 2008): side beams at ±β around a centre beam give
``I = 1 + m[(4/3) cos(ψ) cos(2π kz (z − z_focus)) + (2/3) cos(2ψ)]``, ``ψ = 2π k1·r + φ``, with
``2|k1| = p / line_spacing`` (the finest lateral period), ``sin β = λ_ex / (2 n line_spacing)`` and
``kz = n (1 − cos β) / λ_ex``. The axial term travels with the focal plane (the pattern is fixed to
the objective, as on an OMX), so it multiplies the PSF: order 1 is blurred by
``h(r, z)·cos(2π kz z)``, orders 0 and 2 by ``h``.

Raw layout (``measurement_shape``): 2D ``(A, P, H, W)``, 3D ``(A, P, Z, H, W)``; object
(``image_shape``): ``(2H, 2W)`` or ``(Z, 2H, 2W)``. Registered as forward model ``"sim"``.

References: Gustafsson M.G.L., J. Microsc. 198, 82 (2000); Gustafsson M.G.L. et al., Biophys. J.
94, 4957 (2008); Müller M. et al. (fairSIM), Nat. Commun. 7, 10980 (2016).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorecon.imaging.forward import ArrayPSF, PSFConfig, WidefieldPSF, _odd_psf, default_device, register_operator
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom

__all__ = ["SIMConfig", "SIMPhysics", "SIMData", "simulate_sim", "simulate_sim_phantom", "line_pairs_phantom"]


class SIMConfig(BaseModel):
    """A SIM acquisition: pattern, optics, grid and camera. ``image_shape`` is the *object* grid
    (pixel ``pixel_size_nm / 2``); raw frames are half that size laterally."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["sim"] = "sim"
    mode: Literal["2d", "3d"] = Field("2d", description="2d: two-beam SIM; 3d: three-beam SIM of a z-stack.")
    image_shape: tuple[int, ...] = Field(description="Object (fine-grid) shape, (2H, 2W) or (Z, 2H, 2W); y/x even.")
    n_angles: int = Field(3, ge=1, le=12, description="Pattern orientations.")
    n_phases: int | None = Field(None, ge=3, le=15, description="Phases per angle; None: 3 (2d) or 5 (3d).")
    pixel_size_nm: float = Field(80.0, gt=0, description="Raw camera pixel in sample space, nm (object pixel is half).")
    z_step_nm: float | None = Field(None, gt=0, description="Axial step, nm (3d; default 125).")
    na: float = Field(1.4, gt=0, description="Numerical aperture.")
    wavelength_nm: float = Field(520.0, gt=0, description="Emission wavelength, nm.")
    excitation_nm: float = Field(488.0, gt=0, description="Excitation wavelength, nm (3d axial pattern).")
    ni: float = Field(1.515, gt=0, description="Immersion refractive index.")
    line_spacing_nm: float = Field(210.0, gt=0, description="Pattern period (2d) / finest lateral period (3d), nm.")
    line_spacings_nm: list[float] | None = Field(None, description="Period per angle, nm (overrides line_spacing_nm).")
    angle_offset_deg: float = Field(8.0, description="Angle of the first pattern; the others follow every 180/A deg.")
    angles_deg: list[float] | None = Field(None, description="Explicit angle per orientation (overrides the offset).")
    phase_offsets_deg: list[float] | None = Field(None, description="Pattern phase φ0 per angle, degrees (default 0).")
    modulation: float | list[float] = Field(0.8, description="Modulation depth m (0–1], one or one per angle.")
    psf: PSFConfig | None = Field(None, description="Fine-grid PSF; None: theoretical widefield PSF from na/λ.")
    noise: CameraNoise | None = Field(None, description="Camera noise of the raw frames.")

    @model_validator(mode="after")
    def _check(self) -> "SIMConfig":
        nd = 3 if self.mode == "3d" else 2
        if len(self.image_shape) not in (nd, 3) or (self.mode == "3d" and len(self.image_shape) != 3):
            raise ValueError(f"image_shape {self.image_shape}: give (2H, 2W) for 2d or (Z, 2H, 2W) for 3d.")
        if any(s % 2 or s < 8 for s in self.image_shape[-2:]):
            raise ValueError(f"image_shape {self.image_shape}: y and x must be even and at least 8 (2× the raw frame).")
        for name in ("angles_deg", "phase_offsets_deg", "line_spacings_nm"):
            v = getattr(self, name)
            if v is not None and len(v) != self.n_angles:
                raise ValueError(f"{name} has {len(v)} values; give one per angle (n_angles={self.n_angles}).")
        m = self.modulations()
        if len(m) != self.n_angles or not all(0 < v <= 1 for v in m):
            raise ValueError(f"modulation={self.modulation}: give one value in (0, 1], or one per angle.")
        if self.phases < 2 * self.orders + 1:
            raise ValueError(f"n_phases={self.phases} is too few for {self.mode} SIM: need ≥ {2 * self.orders + 1}.")
        limit = (self.excitation_nm if self.mode == "3d" else self.wavelength_nm) / (2 * self.na)
        for spacing in self.spacings():
            if spacing <= limit:
                raise ValueError(f"line spacing {spacing} nm is finer than the optics transmit "
                                 f"(λ/2NA = {limit:.0f} nm); give the pattern period in nm in the sample.")
        return self

    # -- derived quantities -------------------------------------------------------------------
    @property
    def orders(self) -> int:
        """Highest pattern order: 1 (2d) or 2 (3d)."""
        return 2 if self.mode == "3d" else 1

    @property
    def phases(self) -> int:
        return self.n_phases or (5 if self.mode == "3d" else 3)

    @property
    def object_pixel_nm(self) -> float:
        return self.pixel_size_nm / 2

    @property
    def z_step(self) -> float:
        return self.z_step_nm or 125.0

    @property
    def measurement_shape(self) -> tuple[int, ...]:
        lateral = tuple(s // 2 for s in self.image_shape[-2:])
        return (self.n_angles, self.phases) + tuple(self.image_shape[:-2]) + lateral

    def modulations(self) -> list[float]:
        m = self.modulation
        return [float(m)] * self.n_angles if np.isscalar(m) else [float(v) for v in m]

    def spacings(self) -> list[float]:
        """Pattern period per angle, nm."""
        return list(self.line_spacings_nm or [self.line_spacing_nm] * self.n_angles)

    def angles(self) -> np.ndarray:
        """Pattern angles in radians, (A,)."""
        if self.angles_deg is not None:
            return np.deg2rad(np.asarray(self.angles_deg, float))
        return np.deg2rad(self.angle_offset_deg + 180.0 / self.n_angles * np.arange(self.n_angles))

    def phase_offsets(self) -> np.ndarray:
        """φ0 per angle in radians, (A,)."""
        return np.deg2rad(np.asarray(self.phase_offsets_deg or [0.0] * self.n_angles, float))

    def k_vectors(self) -> np.ndarray:
        """Order-1 pattern wave vectors, (A, 2) as (ky, kx) in cycles per raw pixel."""
        k = self.pixel_size_nm / np.asarray(self.spacings(), float) / self.orders
        t = self.angles()
        return np.stack([k * np.sin(t), k * np.cos(t)], axis=1)

    def kz(self) -> float:
        """3D axial pattern frequency, cycles per nm (from the mean period)."""
        sin_b = self.excitation_nm / (2 * self.ni * float(np.mean(self.spacings())))
        return self.ni * (1 - np.sqrt(max(1 - sin_b**2, 0.0))) / self.excitation_nm

    def band_weights(self) -> list[float]:
        """Ideal amplitude of each order's ``e^{i m ψ}`` term at m = 1: 2d (1/2,), 3d (2/3, 1/3)."""
        return [0.5] if self.mode == "2d" else [2.0 / 3.0, 1.0 / 3.0]

    def build_psf(self) -> np.ndarray:
        """The fine-grid PSF (sum 1): the config's, or a theoretical one sized to the grid."""
        if self.psf is not None:
            return self.psf.build()
        return default_psf_config(self).build()


def default_psf_config(config: SIMConfig) -> WidefieldPSF:
    """Theoretical widefield PSF on the fine grid, ~2.5 λ/NA in radius, never larger than the grid.
    The sample is index-matched to the immersion (``ns = ni``: SIM samples sit in hardening mountants;
    with water, NA > 1.33 would be lost to the critical angle)."""
    px = config.object_pixel_nm
    r = int(np.ceil(2.5 * config.wavelength_nm / config.na / px))
    lat = [min(2 * r + 1, s - 1 + s % 2) for s in config.image_shape[-2:]]
    if len(config.image_shape) == 3 and config.mode == "3d":
        nz = config.image_shape[0]
        nz = min(nz - 1 + nz % 2, 2 * int(np.ceil(2000 / config.z_step)) + 1)
        return WidefieldPSF(shape=(nz, *lat), na=config.na, wavelength_nm=config.wavelength_nm, pixel_size_nm=px,
                            z_step_nm=config.z_step, ni=config.ni, ns=config.ni)
    return WidefieldPSF(shape=tuple(lat), na=config.na, wavelength_nm=config.wavelength_nm, pixel_size_nm=px,
                        ni=config.ni, ns=config.ni)


def fine_coordinates(n: int) -> np.ndarray:
    """Raw-pixel coordinate of each fine-grid pixel: ``(j − 0.5) / 2``."""
    return (np.arange(n) - 0.5) / 2.0


class _FFTConv:
    """Zero-padded linear convolution over the last ``ndim`` axes with a fixed kernel, batched over
    leading axes; exactly :class:`~fluorecon.imaging.forward.Blur`'s ``A``/``A_adjoint`` but for
    any real kernel (the 3D order-1 kernel ``h·cos`` has negative lobes)."""

    def __init__(self, kernel: np.ndarray, image_shape: Sequence[int], device: torch.device) -> None:
        kernel = _odd_psf(np.asarray(kernel, np.float32))
        self.n = tuple(image_shape)
        self.c = tuple(k // 2 for k in kernel.shape)
        self.fft_shape = tuple(scipy.fft.next_fast_len(n + k - 1 - c, real=True)
                               for n, k, c in zip(self.n, kernel.shape, self.c))
        padded = torch.zeros(self.fft_shape, dtype=torch.float32, device=device)
        padded[tuple(slice(0, k) for k in kernel.shape)] = torch.from_numpy(np.ascontiguousarray(kernel)).to(device)
        self.dims = tuple(range(-len(self.n), 0))
        self.otf = torch.fft.rfftn(padded, dim=self.dims)
        self.head = (Ellipsis,) + tuple(slice(0, n) for n in self.n)
        self.crop = (Ellipsis,) + tuple(slice(c, c + n) for c, n in zip(self.c, self.n))

    def _run(self, x: torch.Tensor, put, take, otf) -> torch.Tensor:
        buf = torch.zeros(x.shape[: x.ndim - len(self.n)] + self.fft_shape, dtype=torch.float32, device=x.device)
        buf[put] = x
        out = torch.fft.irfftn(torch.fft.rfftn(buf, dim=self.dims) * otf, s=self.fft_shape, dim=self.dims)
        return out[take]

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, self.head, self.crop, self.otf)

    def At(self, y: torch.Tensor) -> torch.Tensor:
        return self._run(y, self.crop, self.head, self.otf.conj())


def _bin2(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    return x.reshape(*x.shape[:-2], h, 2, w, 2).mean(dim=(-3, -1))


def _unbin2(y: torch.Tensor) -> torch.Tensor:
    return torch.repeat_interleave(torch.repeat_interleave(y, 2, dim=-2), 2, dim=-1) * 0.25


@register_operator("sim")
class SIMPhysics:
    """SIM forward model ``A``: object (fine grid) → raw frames (canonical layout), with exact adjoint.

    Parameters
    ----------
    config : SIMConfig
    device : str or torch.device, optional
        CUDA when present by default.

    Examples
    --------
    >>> cfg = SIMConfig(image_shape=(256, 256))
    >>> raw = SIMPhysics(cfg).A(torch.rand(256, 256))   # (3, 3, 128, 128)
    """

    operator_name = "sim"

    def __init__(self, config: SIMConfig, *, device: str | torch.device | None = None) -> None:
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.image_shape = tuple(config.image_shape)
        self.measurement_shape = config.measurement_shape
        self.noise = config.noise
        psf = config.build_psf()
        self.three_d = config.mode == "3d"
        conv_shape = self.image_shape if self.three_d else self.image_shape[-2:]
        if psf.ndim != len(conv_shape):
            raise ValueError(f"The PSF has {psf.ndim} axes but {config.mode} SIM of shape {self.image_shape} needs "
                             f"{len(conv_shape)}: a 2D PSF for 2d SIM (also per plane), a 3D PSF for 3d SIM.")
        self.conv0 = _FFTConv(psf, conv_shape, self.device)
        if self.three_d:
            dz = (np.arange(psf.shape[0]) - psf.shape[0] // 2) * config.z_step
            h1 = psf * np.cos(2 * np.pi * config.kz() * dz)[:, None, None]
            self.conv1 = _FFTConv(h1.astype(np.float32), self.image_shape, self.device)
        self._patterns = self._build_patterns()

    @classmethod
    def from_config(cls, config: SIMConfig | dict, *, device=None) -> "SIMPhysics":
        return cls(SIMConfig.model_validate(config), device=device)

    @classmethod
    def example(cls, *, ndim: int = 2, device=None) -> "SIMPhysics":
        """A small instance for the registry's shared tests."""
        rng = np.random.default_rng(3)
        if ndim == 2:
            psf = rng.random((5, 7)).astype(np.float32)
            cfg = SIMConfig(image_shape=(16, 20), psf=ArrayPSF.from_array(psf / psf.sum()), phase_offsets_deg=[10, 50, 90])
        else:
            psf = rng.random((3, 5, 5)).astype(np.float32)
            cfg = SIMConfig(mode="3d", image_shape=(6, 12, 16), psf=ArrayPSF.from_array(psf / psf.sum()),
                            z_step_nm=150, modulation=[0.9, 0.7, 0.8])
        return cls(cfg, device=device)

    def _build_patterns(self) -> torch.Tensor:
        """Lateral phase ψ terms: 2d (A, P, 2H, 2W) = cos ψ; 3d (2, A, P, 1, 2H, 2W) = cos ψ, cos 2ψ."""
        cfg = self.config
        ry = fine_coordinates(self.image_shape[-2])[:, None]
        rx = fine_coordinates(self.image_shape[-1])[None, :]
        k = cfg.k_vectors()
        steps = 2 * np.pi * np.arange(cfg.phases) / cfg.phases
        psi = (2 * np.pi * (k[:, 0, None, None] * ry + k[:, 1, None, None] * rx))[:, None]
        psi = psi + (cfg.phase_offsets()[:, None] + steps[None, :])[:, :, None, None]
        m = np.asarray(cfg.modulations())[:, None, None, None]
        if not self.three_d:
            pats = 1 + m * np.cos(psi)
            if len(self.image_shape) == 3:
                pats = pats[:, :, None]
            return torch.from_numpy(pats.astype(np.float32)).to(self.device)
        pats = np.stack([m * (4.0 / 3.0) * np.cos(psi), 1 + m * (2.0 / 3.0) * np.cos(2 * psi)])[:, :, :, None]
        return torch.from_numpy(pats.astype(np.float32)).to(self.device)

    def patterns(self) -> torch.Tensor:
        """Illumination on the fine grid: 2d (A, P, 2H, 2W); 3d the lateral factors (2, A, P, 1, 2H, 2W)
        = (order-1 term to be blurred by h·cos(2πkz z), 1 + order-2 term blurred by h)."""
        return self._patterns

    def _check(self, x, shape, name: str) -> torch.Tensor:
        x = torch.as_tensor(x)
        if tuple(x.shape) != tuple(shape):
            raise ValueError(f"{name} has shape {tuple(x.shape)}, expected {tuple(shape)}.")
        return x.to(device=self.device, dtype=torch.float32)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Object ``image_shape`` → noise-free raw frames ``measurement_shape``, float32."""
        x = self._check(x, self.image_shape, "x")
        if not self.three_d:
            return _bin2(self.conv0.A(x * self._patterns))
        p1, p02 = self._patterns
        return _bin2(self.conv1.A(x * p1) + self.conv0.A(x * p02))

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Exact adjoint of :meth:`A`: raw frames → object grid."""
        y = _unbin2(self._check(y, self.measurement_shape, "y"))
        if not self.three_d:
            return (self.conv0.At(y) * self._patterns).sum(dim=(0, 1))
        p1, p02 = self._patterns
        return (self.conv1.At(y) * p1 + self.conv0.At(y) * p02).sum(dim=(0, 1))


# --- simulation -------------------------------------------------------------------------------


@dataclass
class SIMData:
    """A simulated acquisition: ``raw`` (canonical layout, ADU), ``truth`` (fine grid, peak 1),
    ``widefield`` (mean of the raw frames over angles and phases, raw grid) and the ``config``."""

    raw: np.ndarray
    truth: np.ndarray
    widefield: np.ndarray
    config: SIMConfig


def simulate_sim(obj: np.ndarray, config: SIMConfig, *, seed: int | None = None,
                 device: str | torch.device | None = None) -> SIMData:
    """Raw SIM frames of a fine-grid object, with the config's camera noise (Poisson–Gaussian).

    Parameters
    ----------
    obj : ndarray, ``config.image_shape``
        Relative intensity on the fine grid (pixel ``pixel_size_nm / 2``), peak ~1.
    config : SIMConfig
    seed : int, optional
        Noise seed.

    Returns
    -------
    SIMData
        ``raw`` (A, P, H, W) or (A, P, Z, H, W) float32 in ADU (noise-free mean when
        ``config.noise`` is None), ``truth``, ``widefield`` (H, W)/(Z, H, W).
    """
    obj = np.asarray(obj, np.float32)
    physics = SIMPhysics(config, device=device)
    clean = physics.A(torch.from_numpy(obj)).cpu().numpy()
    raw = apply_noise(clean, config.noise, seed=seed) if config.noise is not None else clean
    wf = raw.mean(axis=(0, 1))
    return SIMData(raw=raw.astype(np.float32), truth=obj, widefield=wf.astype(np.float32), config=config)


def _segment(img: np.ndarray, p0, p1, sigma: float, amp: float = 1.0) -> None:
    """Add a thin line from p0 to p1 (fine px, (y, x)) with a Gaussian cross-section."""
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]].astype(np.float32)
    d = np.subtract(p1, p0)
    t = np.clip(((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / float(d @ d), 0, 1)
    dist2 = (yy - p0[0] - t * d[0]) ** 2 + (xx - p0[1] - t * d[1]) ** 2
    img += amp * np.exp(-dist2 / (2 * sigma**2))


def line_pairs_phantom(shape: Sequence[int], *, pixel_size_nm: float,
                       gaps_nm: Sequence[float] = (90, 110, 130, 150, 180, 220, 260), seed: int = 0,
                       filaments: bool = True) -> np.ndarray:
    """Pairs of thin lines at known centre-to-centre gaps (nm), in several orientations, plus random
    filaments: a resolution target for SIM. ``pixel_size_nm`` is the pixel of this (fine) grid.

    Returns float32 ``shape`` (2D, or 3D with the pairs in the middle plane and filaments around),
    peak 1. Pair ``i`` sits in column ``i`` of a grid of cells; its orientation cycles through
    0°, 60°, 120° (x axis toward +y), and the lines run ``~1.2 µm``.
    """
    shape = tuple(int(s) for s in shape)
    plane = np.zeros(shape[-2:], np.float32)
    n = len(gaps_nm)
    cell = shape[-1] / n
    half = min(0.6 * 1000 / pixel_size_nm, 0.4 * min(cell * 1.2, shape[-2] / 2))
    for i, gap in enumerate(gaps_nm):
        theta = np.deg2rad(60.0 * (i % 3))
        centre = np.array([shape[-2] * (0.3 if i % 2 else 0.7), (i + 0.5) * cell])
        along = np.array([np.sin(theta), np.cos(theta)])
        across = np.array([along[1], -along[0]]) * gap / pixel_size_nm / 2
        for s in (-1, 1):
            _segment(plane, centre + s * across - half * along, centre + s * across + half * along, sigma=0.5)
    if len(shape) == 3:
        out = np.zeros(shape, np.float32)
        out[shape[0] // 2] = plane
    else:
        out = plane
    if filaments:
        out = np.maximum(out, 0.6 * phantom(shape, kind="filaments", seed=seed))
    return (out / out.max()).astype(np.float32)


def simulate_sim_phantom(config: SIMConfig, *, kind: str = "line_pairs", seed: int = 0,
                         device: str | torch.device | None = None) -> SIMData:
    """A seeded (raw, truth, widefield) triple for tests and training: ``kind`` is ``"line_pairs"``
    (:func:`line_pairs_phantom`) or a :func:`fluorecon.imaging.phantoms.phantom` kind."""
    if kind == "line_pairs":
        obj = line_pairs_phantom(config.image_shape, pixel_size_nm=config.object_pixel_nm, seed=seed)
    else:
        obj = phantom(config.image_shape, kind=kind, seed=seed)
    return simulate_sim(obj, config, seed=None if seed is None else seed + 1, device=device)
