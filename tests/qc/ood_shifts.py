"""Shifted versions of the 2D denoising model's training distribution, for the OOD calibration test.

Each maker returns camera images (ADU) simulated like the card's training inputs except for one
thing: the intensity scale, the noise level, the pixel size or the structure scale."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from fluorecon.imaging.noise import apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.qc.training_inputs import _denoise_sim, training_inputs


def _camera(sim, rng):
    photons = float(sim.photons_low * sim.photons_spread ** rng.uniform(-1, 1))
    return sim.camera.model_copy(update={"photons": photons, "background": sim.background * photons})


def _acquire(blurred, sim, rng):
    blurred = np.clip(blurred, 0, None)
    blurred = blurred / max(float(blurred.max()), 1e-12)
    return apply_noise(blurred.astype(np.float32), _camera(sim, rng), seed=int(rng.integers(2**31)))


def pixel_size(card, n, seed, factor):
    """The same specimens and optics imaged with pixels `factor`× larger: the blurred object is
    simulated on the training grid at the training pixel size and resampled by 1/factor."""
    from fluorecon.tasks.denoise.simulate import make_psf

    sim = _denoise_sim(card)
    psf = make_psf(sim)
    rng = np.random.default_rng(seed)
    side = int(round(256 * factor))
    out = []
    for _ in range(n):
        obj = phantom((side, side), kind=sim.kind, seed=int(rng.integers(2**31)))
        blurred = fftconvolve(obj, psf, mode="same")
        out.append(_acquire(ndimage.zoom(blurred, 256 / side, order=1), sim, rng))
    return out


def structure_scale(card, n, seed, factor):
    """Specimens `factor`× larger (the phantom magnified) under the training PSF and pixel size."""
    from fluorecon.tasks.denoise.simulate import make_psf

    sim = _denoise_sim(card)
    psf = make_psf(sim)
    rng = np.random.default_rng(seed)
    side = int(round(256 / factor))
    out = []
    for _ in range(n):
        obj = ndimage.zoom(phantom((side, side), kind=sim.kind, seed=int(rng.integers(2**31))), 256 / side, order=1)
        out.append(_acquire(fftconvolve(obj, psf, mode="same"), sim, rng))
    return out


def diffuse(card, n, seed):
    """Diffuse cytoplasm-like signal: smooth random intensity (correlation length ~15 px) inside
    large cells, no filaments, vesicles or nuclei."""
    from fluorecon.tasks.denoise.simulate import make_psf

    sim = _denoise_sim(card)
    psf = make_psf(sim)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cells = ndimage.gaussian_filter(rng.random((256, 256)), 25) > 0.5
        texture = ndimage.gaussian_filter(rng.random((256, 256)), 15)
        obj = cells * (0.6 + (texture - texture.mean()) / (4 * texture.std()))
        out.append(_acquire(fftconvolve(obj, psf, mode="same"), sim, rng))
    return out


def shifts(card, n, seed):
    """name → list of shifted inputs."""
    photons = _denoise_sim(card).photons_low
    return {
        "intensity x1000 (photons x1000)": training_inputs(card, n=n, seed=seed, photons_low=photons * 1000),
        "intensity x1000 (camera gain x1000)": [(im - 100.0) * 1000 + 100.0 for im in
                                                 training_inputs(card, n=n, seed=seed + 1)],
        "noise x3 (photons /10)": training_inputs(card, n=n, seed=seed + 2, photons_low=photons / 10),
        "noise /3 (photons x10)": training_inputs(card, n=n, seed=seed + 3, photons_low=photons * 10),
        "pixel size x2": pixel_size(card, n, seed + 4, 2.0),
        "pixel size x0.5": pixel_size(card, n, seed + 5, 0.5),
        "structure scale x3": structure_scale(card, n, seed + 6, 3.0),
        "diffuse cytoplasm": diffuse(card, n, seed + 7),
    }
