"""Simulated training pairs for denoising: a phantom blurred by the widefield PSF imaged twice by the
same camera, once with few photons (the input) and once with many (the target); or the user's own
aligned low/high pairs."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from fluorecon.core import pairs as core_pairs
from fluorecon.core.io import TiffMeta, write_tiff
from fluorecon.imaging.noise import apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.tasks.denoise.spec import DenoiseSimulation


@dataclass
class Pair:
    """One simulated acquisition pair (all arrays float32, same shape)."""

    low: np.ndarray
    high: np.ndarray
    clean: np.ndarray
    photons: float


def make_psf(sim: DenoiseSimulation) -> np.ndarray:
    """The PSF that blurs the phantoms (psfmodels via imaging.psf; Gaussian if that is unavailable)."""
    p = sim.psf
    size = p.size | 1
    shape = (size, size) if sim.ndim == 2 else (size, size, size)
    try:
        from fluorecon.imaging.psf import psf_widefield

        return psf_widefield(shape, na=p.na, wavelength_nm=p.wavelength_nm, pixel_size_nm=p.pixel_size_nm,
                             z_step_nm=p.z_step_nm if sim.ndim == 3 else None, ni=p.ni, ns=p.ns)
    except ImportError:  # Gaussian approximation of the widefield PSF (Zhang et al., Appl. Opt. 2007)
        sigma_xy = 0.21 * p.wavelength_nm / p.na / p.pixel_size_nm
        sigma_z = 0.66 * p.wavelength_nm * p.ns / p.na**2 / p.z_step_nm
        grids = np.meshgrid(*[np.arange(size) - size // 2] * sim.ndim, indexing="ij")
        sig = [sigma_xy] * 2 if sim.ndim == 2 else [sigma_z, sigma_xy, sigma_xy]
        psf = np.exp(-sum(g**2 / (2 * s**2) for g, s in zip(grids, sig)))
        return (psf / psf.sum()).astype(np.float32)


def draw_object(sim: DenoiseSimulation, *, seed: int) -> np.ndarray:
    """One phantom of ``sim.kind`` at ``sim.image_shape``, its structures ``sim.structure_scale`` times larger in Y
    and X (drawn on a smaller grid, linearly interpolated up)."""
    shape = sim.image_shape
    if sim.structure_scale == 1:
        return phantom(shape, kind=sim.kind, seed=seed)
    small = tuple(s if i < len(shape) - 2 else max(4, round(s / sim.structure_scale)) for i, s in enumerate(shape))
    obj = ndimage.zoom(phantom(small, kind=sim.kind, seed=seed), [t / s for t, s in zip(shape, small)], order=1)
    return np.clip(obj[tuple(slice(0, t) for t in shape)], 0, None).astype(np.float32)


def simulate_pairs(sim: DenoiseSimulation, *, n: int | None = None, seed: int | None = None) -> list[Pair]:
    """Simulate `n` (default ``sim.n_images``) low/high pairs of blurred phantoms.

    Each pair: phantom → PSF blur (peak scaled to 1) → camera noise with few photons (`low`) and,
    independently, with many photons (`high`); `clean` is the low acquisition's expectation in ADU.
    """
    seed = sim.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    psf = make_psf(sim)
    pairs = []
    for i in range(n if n is not None else sim.n_images):
        obj = draw_object(sim, seed=int(rng.integers(2**31)))
        blurred = np.clip(fftconvolve(obj, psf, mode="same"), 0, None)
        blurred = (blurred / max(float(blurred.max()), 1e-12)).astype(np.float32)
        photons = float(sim.photons_low * sim.photons_spread ** rng.uniform(-1, 1))
        low_cam = sim.camera.model_copy(update={"photons": photons, "background": sim.background * photons})
        high_photons = sim.photons_high * photons / sim.photons_low
        high_cam = sim.camera.model_copy(update={"photons": high_photons, "background": sim.background * high_photons})
        low = apply_noise(blurred, low_cam, seed=int(rng.integers(2**31)))
        clean = low_cam.mean(blurred)
        high = clean if sim.target == "clean" else apply_noise(blurred, high_cam, seed=int(rng.integers(2**31)))
        pairs.append(Pair(low=low, high=high.astype(np.float32), clean=clean, photons=photons))
    return pairs


def _meta(sim: DenoiseSimulation) -> TiffMeta:
    return TiffMeta(axes="YX" if sim.ndim == 2 else "ZYX", pixel_size_um=sim.psf.pixel_size_nm / 1000,
                    z_step_um=sim.psf.z_step_nm / 1000 if sim.ndim == 3 else None)


def write_pairs(out_dir: str | os.PathLike, pairs: list[Pair], sim: DenoiseSimulation) -> Path:
    """Write DIR/low/NNN.tif, DIR/high/NNN.tif, DIR/clean/NNN.tif (noise-free truth, for checks)
    and DIR/simulation.json; calibration from the PSF settings."""
    out = Path(out_dir)
    meta = _meta(sim)
    for i, pair in enumerate(pairs):
        for sub, arr in (("low", pair.low), ("high", pair.high), ("clean", pair.clean)):
            write_tiff(out / sub / f"{i:03d}.tif", arr, meta,
                       info=f"fluorecon simulate denoise: {sub}, peak photons (low) {pair.photons:.1f}")
    (out / "simulation.json").write_text(json.dumps(sim.model_dump(mode="json"), indent=2))
    return out


def load_pairs(data_dir: str | os.PathLike, *, ndim: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read aligned pairs DIR/low/*.tif and DIR/high/*.tif (matched by file name)."""
    return core_pairs.load_pairs(data_dir, ndim=ndim, no_folders="{root} must contain the folders low/ (noisy inputs) "
                                 "and high/ (targets); make one with `fluorecon simulate denoise --out DIR`.")
