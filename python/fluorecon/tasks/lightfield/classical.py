"""Light-field microscopy: simulation, lenslet calibration, and iterative 3D reconstruction.

The physics is :class:`fluorecon.tasks.lightfield.physics.LightField` (wave-optics projector, Broxton
et al. 2013). Here: bead volumes and their light fields (training pairs for learned models),
Richardson–Lucy over the projector (Broxton 2013; Prevedel et al. 2014), a single normalised
back-projection, and the server job ``lightfield``. Calibration and rectification of raw images
live in :mod:`fluorecon.tasks.lightfield.calibration` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

import fluorecon
from fluorecon.core.io import TiffMeta
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.solvers.richardson_lucy import richardson_lucy_iterations, sensitivity
from fluorecon.tasks.lightfield.calibration import LensletGrid, calibrate, odd_nnum, rectify, unrectify, white_image
from fluorecon.tasks.lightfield.physics import LightField, LightFieldConfig, LightFieldOptics, extract_views

__all__ = [
    "LightFieldCancelled",
    "bead_volume",
    "simulate",
    "simulate_pairs",
    "backproject",
    "richardson_lucy_lightfield",
    "locate_beads",
    "LightFieldSpec",
    "check_job",
    "run_job",
    "LensletGrid",
    "calibrate",
    "rectify",
    "unrectify",
    "white_image",
    "odd_nnum",
    "extract_views",
]

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]

# Sizes one job may reach (the PSF and the kernel spectra live in memory).
MAX_PSF_VALUES = 400_000_000
MAX_VOLUME_VOXELS = 200_000_000


class LightFieldCancelled(RuntimeError):
    """Raised between iterations when the ``cancel`` callback returns True."""


# --- simulation ------------------------------------------------------------------------------


def bead_volume(
    shape: tuple[int, int, int],
    *,
    n_beads: int = 8,
    seed: int = 0,
    margin_px: int = 0,
    sigma_px: float = 0.7,
    min_distance_px: float = 0.0,
    planes: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A volume of sub-resolution beads: Gaussian spots (peak 1) on whole z planes.

    Parameters
    ----------
    shape : (Z, Y, X)
    n_beads : int
    seed : int
    margin_px : int
        Keep bead centres this far from the lateral border.
    sigma_px : float
        Lateral Gaussian width, voxels.
    min_distance_px : float
        Minimum lateral distance between beads (best effort, 200 tries per bead).
    planes : list of int, optional
        z planes beads may sit on (default all).

    Returns
    -------
    volume : ndarray, float32, (Z, Y, X)
    positions : ndarray, float64, (n_beads, 3) — (z, y, x) in voxels
    """
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    planes = list(range(nz)) if planes is None else list(planes)
    positions: list[tuple[float, float, float]] = []
    for _ in range(n_beads):
        for _ in range(200):
            candidate = (float(rng.choice(planes)), rng.uniform(margin_px, ny - 1 - margin_px),
                         rng.uniform(margin_px, nx - 1 - margin_px))
            if all(np.hypot(candidate[1] - p[1], candidate[2] - p[2]) >= min_distance_px for p in positions):
                break
        positions.append(candidate)
    volume = np.zeros(shape, np.float32)
    yy, xx = np.arange(ny)[:, None], np.arange(nx)[None, :]
    for z, y, x in positions:
        volume[int(z)] += np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma_px**2)).astype(np.float32)
    return volume, np.asarray(positions, np.float64).reshape(-1, 3)


def _camera(physics: LightField, photons: float, background: float, noise: CameraNoise | None) -> CameraNoise:
    if noise is not None:
        return noise
    if physics.noise is not None:
        return physics.noise
    return CameraNoise(photons=photons, background=background, offset=0.0, read_noise_e=0.0)


def simulate(
    physics: LightField,
    *,
    volume: np.ndarray | None = None,
    n_beads: int = 8,
    photons: float = 200.0,
    background: float = 0.0,
    noise: CameraNoise | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A light field of a volume (beads by default) under camera noise.

    The camera is ``noise``, else ``physics.noise``, else pure Poisson counts with ``photons`` at
    the brightest light-field pixel and ``background`` photons per pixel.

    Returns
    -------
    volume : ndarray, float32, (Z, Y, X)
        The truth, scaled so that ``camera.mean(A(volume) / peak)`` is the expected light field:
        with the default camera, ``A(volume) + background`` is the expected image in photons.
    lf : ndarray, float32, (Y, X)
        The noisy light field, camera units (ADU).
    positions : ndarray, (n, 3)
        Bead centres (z, y, x) in voxels (empty when ``volume`` is given).
    """
    positions = np.zeros((0, 3))
    if volume is None:
        volume, positions = bead_volume(physics.image_shape, n_beads=n_beads, seed=seed, margin_px=physics.nnum // 2)
    volume = np.asarray(volume, np.float32)
    clean = physics.A(torch.from_numpy(volume)).cpu().numpy()
    peak = max(float(clean.max()), 1e-12)
    camera = _camera(physics, photons, background, noise)
    lf = apply_noise(clean / peak, camera, seed=seed)
    scale = camera.photons * camera.qe * camera.gain * (camera.em_gain or 1.0) / peak
    return volume * scale, lf.astype(np.float32), positions


def simulate_pairs(
    physics: LightField,
    n: int,
    *,
    seed: int = 0,
    n_beads: tuple[int, int] = (4, 16),
    photons: tuple[float, float] = (50.0, 500.0),
    batch: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (volume, light field) training pairs of random bead volumes and brightness.

    Returns
    -------
    volumes : ndarray, float32, (n, Z, Y, X) — in photons (``A(volume)`` = expected light field)
    lfs : ndarray, float32, (n, Y, X) — Poisson counts
    """
    rng = np.random.default_rng(seed)
    volumes, lfs = [], []
    for lo in range(0, n, batch):
        count = min(batch, n - lo)
        vols = np.stack([bead_volume(physics.image_shape, n_beads=int(rng.integers(n_beads[0], n_beads[1] + 1)),
                                     seed=int(rng.integers(2**31)))[0] for _ in range(count)])
        clean = physics.A(torch.from_numpy(vols)).cpu().numpy()  # one batched projection
        peaks = clean.reshape(count, -1).max(axis=1).clip(1e-12)
        level = rng.uniform(*photons, size=count) / peaks
        vols *= level[:, None, None, None].astype(np.float32)
        clean *= level[:, None, None].astype(np.float32)
        lfs.append(rng.poisson(clean.clip(0)).astype(np.float32))
        volumes.append(vols)
    return np.concatenate(volumes), np.concatenate(lfs)


# --- reconstruction --------------------------------------------------------------------------


def _measurement(lf, physics: LightField, background: float) -> torch.Tensor:
    array = np.asarray(lf)
    if array.shape != tuple(physics.measurement_shape):
        raise ValueError(f"The light field has shape {array.shape} but the forward model expects "
                         f"{tuple(physics.measurement_shape)} ({physics.n_lenslets[0]} × {physics.n_lenslets[1]} "
                         f"lenslets of {physics.nnum} px); rectify it with the calibration first.")
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise ValueError("The light field contains NaN or infinite values (or is not grey-level).")
    y = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(physics.device)
    # Counts are never negative; read noise below the offset would make RL diverge.
    return (y - background).clamp_(min=0) if background else y.clamp(min=0)


def backproject(lf, physics: LightField, *, background: float = 0.0) -> np.ndarray:
    """One normalised back-projection ``Aᵀ(lf) / Aᵀ(1)``: the refocused focal stack.

    Parameters
    ----------
    lf : ndarray, (Y, X)
        Rectified light field (see :func:`rectify`).
    physics : LightField
    background : float
        Subtracted first (camera offset + background), negatives set to 0.

    Returns
    -------
    ndarray, float32, (Z, Y, X)
    """
    y = _measurement(lf, physics, background)
    with torch.no_grad():
        return (physics.A_adjoint(y) / sensitivity(physics)).cpu().numpy()


def richardson_lucy_lightfield(
    lf,
    physics: LightField,
    *,
    num_iter: int = 8,
    background: float = 0.0,
    init: np.ndarray | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> np.ndarray:
    """Light-field deconvolution: Richardson–Lucy over the wave-optics projector.

    ``x ← x / Aᵀ1 · Aᵀ(y / (A x + b))``, started from the normalised back-projection (or
    ``init``), as in Broxton et al. 2013 and Prevedel et al. 2014.

    Parameters
    ----------
    lf : ndarray, (Y, X)
        Rectified light field in counts (subtract the camera offset, or pass it as ``background``).
    physics : LightField
    num_iter : int
        Iterations; 4–16 is usual (more sharpens and amplifies noise and grid artefacts).
    background : float
        Known additive background ``b`` in ``y ~ Poisson(A x + b)``.
    init : ndarray, (Z, Y, X), optional
        Start estimate (positive).
    progress : callable(done, total), optional
    cancel : callable() -> bool, optional
        Checked between iterations; True raises :class:`LightFieldCancelled`.

    Returns
    -------
    ndarray, float32, (Z, Y, X)

    References
    ----------
    Broxton M. et al. (2013) Opt. Express 21, 25418; Prevedel R. et al. (2014) Nat. Methods 11, 727.
    """
    if num_iter < 0:
        raise ValueError(f"num_iter={num_iter}: use a non-negative number of iterations.")
    y = _measurement(lf, physics, 0.0)
    with torch.no_grad():
        norm = sensitivity(physics)
        if init is None:
            x = physics.A_adjoint((y - background).clamp(min=0)) / norm
            x.clamp_(min=1e-6 * max(float(x.max()), 1e-12))
        else:
            x = _start(init, physics)
    x, _ = richardson_lucy_iterations([y], [physics], x, num_iter=num_iter, background=background,
                                      sensitivities=[norm], progress=progress, cancel=cancel,
                                      cancelled=LightFieldCancelled)
    return x.cpu().numpy()


def richardson_lucy_background(lf: np.ndarray, physics: LightField, *, init: np.ndarray, background: float,
                               num_iter: int, progress: Progress | None = None,
                               cancel: Cancel | None = None) -> tuple[np.ndarray, float]:
    """Richardson–Lucy over the wave-optics projector with the background estimated along: the
    background is one more non-negative component whose projection is flat, so its EM update is
    ``b ← b · mean(y / (A x + b))``. With a fixed, slightly wrong background RL pays the difference
    with haze voxels and the residual stays above the noise (bench/lightfield.py, learned + refine).

    Returns the volume (Z, Y, X) float32 and the background (counts per pixel).
    """
    y = _measurement(lf, physics, 0.0)
    with torch.no_grad():
        norm = sensitivity(physics)
    x, background = richardson_lucy_iterations([y], [physics], _start(init, physics), num_iter=num_iter,
                                                background=background, sensitivities=[norm], update_background=True,
                                                progress=progress, cancel=cancel, cancelled=LightFieldCancelled)
    return x.cpu().numpy(), float(background)


def _start(init, physics: LightField) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(init, np.float32), device=physics.device).clone()
    if tuple(x.shape) != tuple(physics.image_shape):
        raise ValueError(f"init has shape {tuple(x.shape)}, expected {tuple(physics.image_shape)}.")
    return x


def locate_beads(volume: np.ndarray, positions: np.ndarray, *, radius_px: float) -> np.ndarray:
    """For each expected bead, the (z, y, x) of the brightest voxel within ``radius_px`` laterally
    (all z): a simple localisation for checking reconstructions against the truth."""
    found = []
    nz, ny, nx = volume.shape
    for _, y, x in positions:
        y0, y1 = int(max(0, np.floor(y - radius_px))), int(min(ny, np.ceil(y + radius_px) + 1))
        x0, x1 = int(max(0, np.floor(x - radius_px))), int(min(nx, np.ceil(x + radius_px) + 1))
        block = volume[:, y0:y1, x0:x1]
        z, dy, dx = np.unravel_index(int(np.argmax(block)), block.shape)
        found.append((z, y0 + dy, x0 + dx))
    return np.asarray(found, np.float64).reshape(-1, 3)


# --- server job ------------------------------------------------------------------------------


class LightFieldSpec(BaseModel):
    """A light-field reconstruction job: the same choices as ``fluorecon lightfield reconstruct``."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["lightfield"] = Field("lightfield", description="Task name.")
    method: Literal["rl"] = Field("rl", description="Richardson–Lucy over the wave-optics projector.")
    num_iter: int = Field(8, ge=1, le=500, description="Iterations.")
    optics: LightFieldOptics = Field(default_factory=LightFieldOptics, description="Objective, microlenses, z planes.")
    calibration: LensletGrid | None = Field(None, description="Lenslet grid of the raw image (fluorecon lightfield "
                                            "calibrate); None: the image is already rectified (nnum px per lenslet).")
    background: float = Field(0.0, ge=0, description="Camera offset + background in the image's units, subtracted.")


def _geometry(shape: tuple[int, ...], spec: LightFieldSpec) -> tuple[int, int]:
    nnum = spec.optics.nnum
    if spec.calibration is not None:
        if tuple(spec.calibration.image_shape) != tuple(shape):
            raise ValueError(f"The image is {tuple(shape)} pixels but the calibration is for "
                             f"{tuple(spec.calibration.image_shape)} images; calibrate with a white image from the "
                             "same camera settings.")
        if spec.calibration.nnum != nnum:
            raise ValueError(f"The calibration rectifies to nnum={spec.calibration.nnum} px per lenslet but "
                             f"optics.nnum={nnum}; use the same value for both.")
        return spec.calibration.n_lenslets
    if shape[0] % nnum or shape[1] % nnum:
        raise ValueError(f"The image is {tuple(shape)} pixels, not a whole number of {nnum}-pixel lenslets; "
                         "give the calibration (fluorecon lightfield calibrate) or a rectified light field.")
    return shape[0] // nnum, shape[1] // nnum


def check_job(image: np.ndarray, axes: str, spec: LightFieldSpec) -> tuple[int, int]:
    """Cheap checks before a job is queued; ValueError says what to change. Returns the lenslets."""
    if axes != "YX":
        raise ValueError(f"A light-field image is one 2D plane (axes YX); got axes {axes!r}. Reconstruct one "
                         "frame at a time (Image › Duplicate… one slice).")
    if not np.issubdtype(image.dtype, np.number) or not np.isfinite(image).all():
        raise ValueError("The image contains NaN or infinite values (or is not grey-level); replace them "
                         "(Process › Math › Remove NaNs…) first.")
    n_lenslets = _geometry(image.shape, spec)
    optics = spec.optics
    side = (2 * optics.radius_lenslets + 1) * optics.nnum
    psf_values = optics.n_planes * optics.nnum**2 * side**2
    if psf_values > MAX_PSF_VALUES:
        raise ValueError(f"These optics make a light-field PSF of {psf_values:,} values (nnum={optics.nnum}, "
                         f"{optics.n_planes} planes, {optics.radius_lenslets} lenslets radius), more than this server "
                         f"computes ({MAX_PSF_VALUES:,}); use fewer z planes or a smaller z range.")
    voxels = optics.n_planes * n_lenslets[0] * n_lenslets[1] * optics.nnum**2
    if voxels > MAX_VOLUME_VOXELS:
        raise ValueError(f"The volume would have {voxels:,} voxels (more than {MAX_VOLUME_VOXELS:,}); crop the "
                         "light field or use fewer z planes.")
    return n_lenslets


def run_job(image: np.ndarray, meta, spec: LightFieldSpec, *, device=None, progress: Progress | None = None,
            cancelled: Cancel | None = None, cache_dir=None):
    """Reconstruct a light field (the server's job function); equal to ``fluorecon lightfield reconstruct``.

    Returns ``(volume (Z, Y, X) float32, meta (ZYX, voxel size, z step), info)``.
    """
    import json

    n_lenslets = check_job(np.asarray(image), meta.axes, spec)
    lf = np.asarray(image, np.float32)
    if spec.calibration is not None:
        lf = rectify(lf, spec.calibration)
    config = LightFieldConfig(n_lenslets=n_lenslets, optics=spec.optics)
    physics = LightField.from_config(config, device=device, cache_dir=cache_dir)
    volume = richardson_lucy_lightfield(lf, physics, num_iter=spec.num_iter, background=spec.background,
                                        progress=progress, cancel=cancelled)
    out_meta = TiffMeta(axes="ZYX", pixel_size_um=spec.optics.voxel_size_um, z_step_um=spec.optics.z_step_um)
    info = (f"fluorecon {fluorecon.__version__} lightfield method=rl num_iter={spec.num_iter}\n"
            f"settings = {json.dumps(spec.model_dump(mode='json'))}\n"
            f"z_um = {json.dumps(np.round(spec.optics.z_um, 6).tolist())}\n"
            f"device = {physics.device}")
    return volume, out_meta, info
