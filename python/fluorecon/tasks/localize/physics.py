"""Single-molecule localisation microscopy (SMLM) simulation: blinking emitters on structures,
a 2D Gaussian or 3D astigmatic PSF, camera noise, and the ground-truth localisation table.

Coordinates: nanometres, origin at the top-left CORNER of the image, so pixel (row i, column j)
covers ``[j·p, (j+1)·p) × [i·p, (i+1)·p)`` and its centre is at ``((j+0.5)·p, (i+0.5)·p)``
(ThunderSTORM's and the SMLM Challenge's convention). Frames are 0-based in tables, 1-based in
ThunderSTORM CSV files.

The PSF is a pixel-integrated Gaussian (erf differences), the model most SMLM fitters use
(Smith et al., Nat. Methods 7, 373 (2010)); the astigmatic widths follow Huang et al., Science
319, 810 (2008): ``σx(z) = σ0·sqrt(1 + ((z − c)/d)²)``, ``σy(z) = σ0·sqrt(1 + ((z + c)/d)²)``.
Blinking is a per-emitter two-state Markov chain (off → on with ``p_on``, on → off with
``1/on_time_frames``) started from its stationary distribution; photons of an emitter that is on
in a frame are log-normal. Camera noise is :mod:`fluorecon.imaging.noise`'s model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import ndimage
from scipy.special import erf

from fluorecon.imaging.noise import CameraNoise, apply_noise

LOCALIZATION_FIELDS = ("frame", "x_nm", "y_nm", "z_nm", "photons", "background", "bkgstd",
                       "sigma_nm", "uncertainty_nm", "uncertainty_z_nm")
LOCALIZATION_DTYPE = np.dtype([("frame", np.int32)] + [(f, np.float32) for f in LOCALIZATION_FIELDS[1:]])


def empty_table(n: int = 0) -> np.ndarray:
    """A localisation table (structured array, :data:`LOCALIZATION_DTYPE`) of `n` rows: frame
    (0-based), x_nm, y_nm, z_nm, photons, background [photons/px], bkgstd [photons], sigma_nm,
    uncertainty_nm (lateral), uncertainty_z_nm; unknown values are NaN."""
    table = np.zeros(n, LOCALIZATION_DTYPE)
    for name in LOCALIZATION_FIELDS[1:]:
        table[name] = np.nan
    return table


def make_table(**columns) -> np.ndarray:
    """A localisation table from equal-length columns (missing columns are NaN, z_nm 0)."""
    n = len(next(iter(columns.values())))
    table = empty_table(n)
    table["z_nm"] = 0.0
    for name, values in columns.items():
        if name not in LOCALIZATION_FIELDS:
            raise ValueError(f"Unknown localisation column {name!r}; known: {', '.join(LOCALIZATION_FIELDS)}.")
        table[name] = values
    return table


class AstigmaticPSF(BaseModel):
    """Astigmatic calibration curve (Huang 2008): PSF widths as a function of z."""

    model_config = ConfigDict(extra="forbid")

    sigma0_nm: float = Field(120.0, gt=0, description="Width (σ) in focus of each axis.")
    focal_offset_nm: float = Field(200.0, description="c: x focuses at z = +c, y at z = −c.")
    depth_nm: float = Field(400.0, gt=0, description="d: depth of focus of each axis.")

    def sigmas_nm(self, z_nm) -> tuple[np.ndarray, np.ndarray]:
        """(σx, σy) in nm for axial positions `z_nm` (any shape)."""
        z = np.asarray(z_nm, np.float64)
        sx = self.sigma0_nm * np.sqrt(1 + ((z - self.focal_offset_nm) / self.depth_nm) ** 2)
        sy = self.sigma0_nm * np.sqrt(1 + ((z + self.focal_offset_nm) / self.depth_nm) ** 2)
        return sx, sy

    def z_from_sigmas(self, sigma_x_nm, sigma_y_nm, *, z_range_nm: float = 800.0, step_nm: float = 1.0) -> np.ndarray:
        """Axial position minimising the distance in sqrt-width space (Huang 2008) on a grid
        of `step_nm` over ±`z_range_nm`. Returns float32, shape of the inputs."""
        grid = np.arange(-z_range_nm, z_range_nm + step_nm / 2, step_nm)
        cx, cy = (np.sqrt(s) for s in self.sigmas_nm(grid))
        sx = np.sqrt(np.clip(np.asarray(sigma_x_nm, np.float64).ravel(), 0, None))
        sy = np.sqrt(np.clip(np.asarray(sigma_y_nm, np.float64).ravel(), 0, None))
        out = np.empty(sx.shape, np.float64)
        for start in range(0, sx.size, 4096):  # bounded memory for big tables
            sl = slice(start, start + 4096)
            d = (sx[sl, None] - cx[None]) ** 2 + (sy[sl, None] - cy[None]) ** 2
            out[sl] = grid[np.argmin(d, axis=1)]
        return out.reshape(np.shape(sigma_x_nm)).astype(np.float32)


def camera_preset(kind: Literal["emccd", "scmos", "ideal"], *, background: float = 0.0) -> CameraNoise:
    """Typical cameras: an EMCCD (QE 0.9, EM gain 100, 10 e⁻/ADU, 50 e⁻ read noise after gain),
    an sCMOS (QE 0.8, 2 e⁻/ADU, 1.5 e⁻ read noise), or an ideal photon counter. ``photons`` = 1, so
    the camera's input is the expected photons per pixel."""
    if kind == "emccd":
        return CameraNoise(photons=1.0, background=background, qe=0.9, gain=0.1, offset=100.0,
                           read_noise_e=50.0, em_gain=100.0)
    if kind == "scmos":
        return CameraNoise(photons=1.0, background=background, qe=0.8, gain=0.5, offset=100.0, read_noise_e=1.5)
    if kind == "ideal":
        return CameraNoise(photons=1.0, background=background, qe=1.0, gain=1.0, offset=0.0, read_noise_e=0.0)
    raise ValueError(f"camera must be 'emccd', 'scmos' or 'ideal', got {kind!r}.")


class SMLMConfig(BaseModel):
    """One simulated SMLM acquisition."""

    model_config = ConfigDict(extra="forbid")

    shape: tuple[int, int] = Field((64, 64), description="Frame size (Y, X) in pixels.")
    num_frames: int = Field(100, ge=1, description="Number of frames.")
    pixel_size_nm: float = Field(100.0, gt=0, description="Camera pixel size in the sample plane.")
    structure: Literal["uniform", "filaments", "rings"] = Field("filaments", description="Where emitters sit.")
    density: float = Field(0.5, ge=0, description="Mean emitters ON per µm² per frame.")
    on_time_frames: float = Field(2.0, ge=1, description="Mean number of consecutive frames an emitter stays on.")
    duty_cycle: float = Field(0.02, gt=0, lt=1, description="Stationary fraction of time an emitter is on.")
    photons: float = Field(2000.0, gt=0, description="Mean photons per emitter per frame (log-normal).")
    photons_log_sigma: float = Field(0.3, ge=0, description="σ of log(photons).")
    background: float = Field(20.0, ge=0, description="Background photons per pixel per frame.")
    psf: Literal["gaussian", "astigmatic"] = Field("gaussian", description="2D Gaussian or 3D astigmatic PSF.")
    sigma_nm: float = Field(130.0, gt=0, description="Gaussian PSF width σ (2D).")
    astigmatism: AstigmaticPSF = Field(default_factory=AstigmaticPSF, description="Calibration curve (3D).")
    z_range_nm: float = Field(400.0, ge=0, description="Emitters' z is uniform in ±z_range_nm (3D).")
    label_jitter_nm: float = Field(5.0, ge=0, description="Label displacement from the structure (σ).")
    camera: Literal["emccd", "scmos", "ideal"] = Field("emccd", description="Camera noise model (camera_preset).")
    seed: int = Field(0, description="Seeds structures, blinking, photons and noise.")

    @model_validator(mode="after")
    def _check(self) -> "SMLMConfig":
        if min(self.shape) < 4:
            raise ValueError(f"shape must be at least 4×4 pixels, got {self.shape}.")
        return self

    def camera_model(self) -> CameraNoise:
        return camera_preset(self.camera, background=self.background)

    @property
    def field_nm(self) -> tuple[float, float]:
        """(height, width) of the field of view in nm."""
        return self.shape[0] * self.pixel_size_nm, self.shape[1] * self.pixel_size_nm


@dataclass
class SMLMData:
    """A simulated acquisition: ADU frames (T, Y, X) float32, ground truth (localisation table of
    every emitter that is on, per frame, with its photons), the emitters' positions (E, 3) in nm,
    the expected photon image (T, Y, X) and the config."""

    frames: np.ndarray
    truth: np.ndarray
    emitters_nm: np.ndarray
    expected: np.ndarray
    config: SMLMConfig


def structure_positions(config: SMLMConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` emitter positions (x, y, z) in nm on the configured structure, float64 (n, 3)."""
    h, w = config.field_nm
    if config.structure == "uniform":
        xy = rng.uniform(0, 1, (n, 2)) * [w, h]
    elif config.structure == "rings":
        # Ring-like assemblies (nuclear pores, clathrin coats): radius 50–150 nm, labels on the rim.
        n_rings = max(1, int(round(h * w / 1e6 * 0.8)))
        centres = rng.uniform(0.05, 0.95, (n_rings, 2)) * [w, h]
        radius = rng.uniform(50, 150, n_rings)
        which = rng.integers(n_rings, size=n)
        angle = rng.uniform(0, 2 * np.pi, n)
        xy = centres[which] + radius[which, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    else:
        # Persistent random walks (microtubule-like, persistence ≫ field); labels uniform along length.
        n_fil = max(2, int(round(np.sqrt(h * w) / 1500)))
        step = 10.0
        paths = []
        for _ in range(n_fil):
            pos = rng.uniform(0, 1, 2) * [w, h]
            theta = rng.uniform(0, 2 * np.pi)
            steps = int(2 * max(h, w) / step)
            dtheta = rng.normal(0, step / 3000, steps).cumsum()
            d = np.stack([np.cos(theta + dtheta), np.sin(theta + dtheta)], 1) * step
            path = pos + np.cumsum(d, 0) - d.sum(0) / 2
            paths.append(path)
        path = np.concatenate(paths)
        xy = path[rng.integers(len(path), size=n)]
    xy = xy + rng.normal(0, config.label_jitter_nm, xy.shape) if config.label_jitter_nm else xy
    z = rng.uniform(-config.z_range_nm, config.z_range_nm, n) if config.psf == "astigmatic" else np.zeros(n)
    return np.column_stack([xy, z])


def blink(num_emitters: int, num_frames: int, *, on_time_frames: float, duty_cycle: float,
          rng: np.random.Generator) -> np.ndarray:
    """On/off states (T, E) bool of independent two-state Markov chains in their stationary state."""
    p_off = 1.0 / on_time_frames
    p_on = duty_cycle * p_off / (1 - duty_cycle)
    if p_on > 1:
        raise ValueError(f"duty_cycle {duty_cycle} is too high for on_time_frames {on_time_frames} "
                         "(the off→on probability would exceed 1); lower duty_cycle.")
    states = np.empty((num_frames, num_emitters), bool)
    state = rng.random(num_emitters) < duty_cycle
    for t in range(num_frames):
        states[t] = state
        u = rng.random(num_emitters)
        state = np.where(state, u >= p_off, u < p_on)
    return states


def _pixel_integrals(centre_px: np.ndarray, sigma_px: np.ndarray, n: int) -> np.ndarray:
    """(K, n): fraction of a 1D Gaussian (centre in pixel units, edges at integers) in each pixel."""
    edges = np.arange(n + 1, dtype=np.float64)
    e = erf((edges[None, :] - centre_px[:, None]) / (np.sqrt(2) * sigma_px[:, None]))
    return 0.5 * np.diff(e, axis=1)


def render_emitters(x_nm, y_nm, photons, *, shape: tuple[int, int], pixel_size_nm: float,
                    sigma_x_nm, sigma_y_nm) -> np.ndarray:
    """Expected photons per pixel (Y, X) float32 of emitters with pixel-integrated Gaussian PSFs.

    Separable, so the image is ``Eyᵀ · diag(photons) · Ex`` — one matrix product per frame.
    """
    x = np.asarray(x_nm, np.float64) / pixel_size_nm
    y = np.asarray(y_nm, np.float64) / pixel_size_nm
    k = x.size
    sx = np.broadcast_to(np.asarray(sigma_x_nm, np.float64) / pixel_size_nm, (k,))
    sy = np.broadcast_to(np.asarray(sigma_y_nm, np.float64) / pixel_size_nm, (k,))
    if k == 0:
        return np.zeros(shape, np.float32)
    ex = _pixel_integrals(x, sx, shape[1])
    ey = _pixel_integrals(y, sy, shape[0])
    return ((ey * np.asarray(photons, np.float64)[:, None]).T @ ex).astype(np.float32)


def psf_sigmas_nm(config: SMLMConfig, z_nm) -> tuple[np.ndarray, np.ndarray]:
    """(σx, σy) in nm of the configured PSF at `z_nm`."""
    if config.psf == "astigmatic":
        return config.astigmatism.sigmas_nm(z_nm)
    z = np.asarray(z_nm, np.float64)
    return np.full(z.shape, config.sigma_nm), np.full(z.shape, config.sigma_nm)


def simulate_smlm(config: SMLMConfig | None = None, **overrides) -> SMLMData:
    """Simulate an SMLM acquisition.

    Parameters
    ----------
    config : SMLMConfig, optional
        Defaults to ``SMLMConfig()``; keyword `overrides` replace its fields.

    Returns
    -------
    SMLMData
        ``frames`` (T, Y, X) float32 in ADU, ``truth`` a localisation table (frame, x_nm, y_nm,
        z_nm, photons; background = config.background) with one row per emitter that is on.

    Examples
    --------
    >>> data = simulate_smlm(shape=(32, 32), num_frames=10, density=1.0, seed=1)
    >>> data.frames.shape
    (10, 32, 32)
    """
    config = (config or SMLMConfig()).model_copy(update=overrides)
    config = SMLMConfig.model_validate(config.model_dump())
    rng = np.random.default_rng(config.seed)
    area_um2 = config.field_nm[0] * config.field_nm[1] / 1e6
    num_emitters = int(rng.poisson(config.density * area_um2 / config.duty_cycle)) if config.density > 0 else 0
    emitters = structure_positions(config, num_emitters, rng)
    states = blink(num_emitters, config.num_frames, on_time_frames=config.on_time_frames,
                   duty_cycle=config.duty_cycle, rng=rng)
    frame_idx, emitter_idx = np.nonzero(states)
    mu = np.log(config.photons) - config.photons_log_sigma**2 / 2
    photons = rng.lognormal(mu, config.photons_log_sigma, frame_idx.size) if config.photons_log_sigma else \
        np.full(frame_idx.size, config.photons)
    pos = emitters[emitter_idx]
    sx, sy = psf_sigmas_nm(config, pos[:, 2])
    expected = np.empty((config.num_frames, *config.shape), np.float32)
    bounds = np.searchsorted(frame_idx, np.arange(config.num_frames + 1))
    for t in range(config.num_frames):
        sl = slice(bounds[t], bounds[t + 1])
        expected[t] = render_emitters(pos[sl, 0], pos[sl, 1], photons[sl], shape=config.shape,
                                      pixel_size_nm=config.pixel_size_nm, sigma_x_nm=sx[sl], sigma_y_nm=sy[sl])
    camera = config.camera_model()
    frames = apply_noise(expected, camera, seed=int(rng.integers(2**31)))
    truth = make_table(frame=frame_idx, x_nm=pos[:, 0], y_nm=pos[:, 1], z_nm=pos[:, 2], photons=photons,
                       background=np.full(frame_idx.size, config.background),
                       sigma_nm=np.sqrt(sx * sy))
    # Emitters that wandered off the field (label jitter, filament ends) are not ground truth.
    h, w = config.field_nm
    inside = (truth["x_nm"] >= 0) & (truth["x_nm"] < w) & (truth["y_nm"] >= 0) & (truth["y_nm"] < h)
    return SMLMData(frames=frames, truth=truth[inside], emitters_nm=emitters.astype(np.float32),
                    expected=expected + np.float32(config.background), config=config)


def photons_from_adu(frames: np.ndarray, camera: CameraNoise) -> np.ndarray:
    """Convert ADU to photons at the sample (offset removed, divided by gain, EM gain and QE), float32."""
    frames = np.asarray(frames, np.float32)
    scale = camera.gain * (camera.em_gain or 1.0) * camera.qe
    return ((frames - np.float32(camera.offset)) / np.float32(scale)).astype(np.float32)


def render_localizations(table: np.ndarray, *, shape_nm: tuple[float, float], pixel_size_nm: float = 10.0,
                         sigma_nm: float | None = None, min_sigma_nm: float = 5.0) -> np.ndarray:
    """Gaussian rendering of a localisation table: each localisation adds a normalised Gaussian
    (integral 1) at its position.

    Parameters
    ----------
    table : localisation table (x_nm, y_nm, uncertainty_nm used)
    shape_nm : (height, width) of the field in nm.
    pixel_size_nm : float
        Pixel size of the rendered image.
    sigma_nm : float, optional
        Fixed Gaussian width; default: each localisation's own ``uncertainty_nm`` (quantised to
        8 groups so that rendering stays a few histogram + filter passes), ``min_sigma_nm`` when NaN.

    Returns
    -------
    ndarray (ceil(h/p), ceil(w/p)) float32, localisations per pixel.
    """
    if pixel_size_nm <= 0:
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm}.")
    ny, nx = (int(np.ceil(s / pixel_size_nm)) for s in shape_nm)
    if ny * nx > 20000 * 20000:
        raise ValueError(f"Rendered image would be {ny}×{nx} pixels; use a larger render pixel size.")
    out = np.zeros((ny, nx), np.float32)
    if len(table) == 0:
        return out
    x = np.asarray(table["x_nm"], np.float64) / pixel_size_nm
    y = np.asarray(table["y_nm"], np.float64) / pixel_size_nm
    if sigma_nm is not None:
        sig = np.full(x.size, float(sigma_nm))
    else:
        sig = np.asarray(table["uncertainty_nm"], np.float64)
        sig = np.where(np.isfinite(sig), sig, min_sigma_nm)
    sig = np.maximum(sig, min_sigma_nm)
    groups = np.unique(np.quantile(sig, np.linspace(0, 1, 9)[1:-1], method="nearest")) if sigma_nm is None else []
    label = np.searchsorted(np.asarray(groups), sig) if len(groups) else np.zeros(x.size, int)
    for g in np.unique(label):
        m = label == g
        hist, _, _ = np.histogram2d(y[m], x[m], bins=(ny, nx), range=((0, ny), (0, nx)))
        out += ndimage.gaussian_filter(hist, float(np.median(sig[m])) / pixel_size_nm, mode="constant").astype(np.float32)
    return out
