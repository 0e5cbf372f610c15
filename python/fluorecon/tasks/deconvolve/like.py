"""Train for my microscope, deconvolution: fit the training simulation to one of the user's raw images (the one fit
of fluorecon.train_like: pixel size, camera, light level, structure; NA and wavelength given) and fine-tune
the shipped learned deconvolution model (care_deconvolve_2d) on it (`fluorecon train deconvolve --like IMAGE`,
the ``train-like`` job with ``model_task = deconvolve``).

The PSF is the widefield PSF of the given NA and wavelength at the image's pixel size (make_psf); inputs are
the fitted phantoms blurred by it with the fitted camera noise, targets the sharp phantoms
(simulate_deconvolution_pairs). Those pairs do not rescale the blurred object to peak 1, so the simulation's
photons (per unit of the sharp phantom) are set so that the blurred images' bright level equals the peak
photons fitted to the image. Validation: the new model, the base model and Richardson–Lucy with the same PSF
on held-out pairs of the fitted simulation (card ``metrics.*``)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from fluorecon.core.modelcard import ModelCard
from fluorecon.tasks.deconvolve.learned import (CITE, LearnedDeconvolveConfig, evaluate,
                                                simulate_deconvolution_pairs)
from fluorecon.tasks.denoise.learned import make_psf
from fluorecon.tasks.denoise.simulate import draw_object
from fluorecon.tasks.denoise.spec import DenoiseSimulation, PSFSettings
from fluorecon.train_like import (BASE_MODELS, PHOTONS_SPREAD, CameraFit, LikeFit, LikeSettings, TrainingCancelled, base_network,
                                  fine_tune_same_grid, fit_to_image, progress_callback, resolve_pixel_size, started_from)

DEFAULT_BASE = BASE_MODELS["deconvolve"]
RL_ITERATIONS = 30


def _with_peak_photons(sim: DenoiseSimulation, peak_photons: float) -> DenoiseSimulation:
    """`sim` with photons per unit phantom chosen so that its blurred images' bright level (99.8th percentile,
    mean of two draws) is `peak_photons`, as the fitted image's is."""
    psf = make_psf(sim)
    rng = np.random.default_rng(sim.seed)
    levels = [np.percentile(ndimage.uniform_filter(fftconvolve(draw_object(sim, seed=int(rng.integers(2**31))), psf,
                                                               mode="same"), 3), 99.8) for _ in range(2)]
    return sim.model_copy(update={"photons_low": peak_photons / max(float(np.mean(levels)), 1e-6)})


def _inputs(sim: DenoiseSimulation, n: int, seed: int) -> list[np.ndarray]:
    sim = _with_peak_photons(sim, sim.photons_low)  # photons_low holds the fitted peak photons until the end
    return [x for x, _ in simulate_deconvolution_pairs(sim, n=n, seed=seed)[0]]


def fit_simulation_to_image(image: np.ndarray, settings: LikeSettings, *, pixel_size_nm: float,
                            pixel_size_source: str = "given", image_name: str = "image", norm: str = "percentile:1:99.8",
                            qc: dict[str, str] | None = None, cancel: Callable[[], bool] | None = None) -> LikeFit:
    """The deconvolution simulation that looks like `image` (a raw (Y, X) plane in camera units)."""
    psf = PSFSettings(na=settings.na, wavelength_nm=settings.wavelength_nm, pixel_size_nm=pixel_size_nm, ni=settings.ni)

    def build(cam: CameraFit, side) -> DenoiseSimulation:
        return DenoiseSimulation(ndim=2, shape=side, n_images=settings.n_images, photons_low=cam.photons,
                                 photons_spread=PHOTONS_SPREAD, background=0.0, psf=psf, camera=cam.camera(),
                                 seed=settings.seed)

    fit = fit_to_image(image, settings, build, _inputs, pixel_size_nm=pixel_size_nm,
                       pixel_size_source=pixel_size_source, image_name=image_name, norm=norm, qc=qc, cancel=cancel)
    return dataclasses.replace(fit, simulation=_with_peak_photons(fit.simulation, fit.camera.photons))


def train_like(image: np.ndarray, out_path: str | os.PathLike, settings: LikeSettings, *, meta=None,
               image_name: str = "image", base_model: str | os.PathLike | None = None, commit: str = "",
               progress: bool | Callable[[int, int, str], None] = True,
               cancel: Callable[[], bool] | None = None) -> tuple[ModelCard, Path, LikeFit]:
    """Fit the simulation to `image` and fine-tune the base model (default: the shipped 2D CARE deconvolution
    model) on it, or train from scratch; export the carded ONNX to `out_path` (a ``.pt`` checkpoint beside it).
    `progress` and `cancel` as fluorecon.tasks.denoise.like.train_like."""
    from fluorecon.export import save_model, unet_card
    from fluorecon.qc.ood import training_statistics
    from fluorecon.train import card_train_info, normalize_pair, predict_torch

    cancelled = cancel or (lambda: False)
    report = progress_callback(progress)
    base, base_card, base_path = base_network(base_model, DEFAULT_BASE, task="deconvolve")
    pixel_size_nm, source = resolve_pixel_size(meta, settings.pixel_size_nm, image_name)
    report(0, settings.steps, "fitting the simulation to the image")
    norm = base_card.norm
    fit = fit_simulation_to_image(image, settings, pixel_size_nm=pixel_size_nm, pixel_size_source=source,
                                  image_name=image_name, norm=norm, qc=base_card.qc, cancel=cancelled)
    sim = fit.simulation
    report(0, settings.steps, f"simulating {sim.n_images} '{sim.kind}' pairs")
    raw, psf = simulate_deconvolution_pairs(sim, n=sim.n_images, seed=sim.seed)
    n_val = max(1, round(len(raw) * 0.2))
    train_raw, val_raw = raw[:-n_val], raw[-n_val:]
    train_pairs = [normalize_pair(x, y, norm=norm) for x, y in train_raw]
    network, train, history = fine_tune_same_grid(base, train_pairs, settings, sim.image_shape, cancel=cancelled,
                                                  progress=progress, report=report)
    metrics = evaluate(val_raw, {"care": lambda x: predict_torch(network, x), "base": lambda x: predict_torch(base, x)},
                       psf=psf, offset=sim.camera.offset, rl_iterations=RL_ITERATIONS, norm=norm)
    metrics["val_reference"] = "sharp simulated phantom (the fitted simulation), normalized with the input's percentiles"
    report(settings.steps, settings.steps, "training statistics for the OOD check")
    calibration = _inputs_of(sim, 16, sim.seed + 1)
    reference = [x for x, _ in train_raw] + _inputs_of(sim, 24, sim.seed + 2)
    qc = training_statistics(reference, norm=norm, pixel_size_nm=pixel_size_nm, calibration=calibration)
    qc["source"] = (f"{len(reference)} + {len(calibration)} inputs of the fitted simulation (this model's training "
                    "distribution; fluorecon.tasks.deconvolve.like)")
    train_info = {
        "data": f"simulation fitted to {image_name} (fluorecon.tasks.deconvolve.like); target: sharp phantom",
        "pairs": str(len(train_raw)), **card_train_info(train, history), "unet": base.config.model_dump_json(),
        "commit": commit, "fine_tuned_from": started_from(settings, base_card, base_path),
        "psf": sim.psf.model_dump_json(), "noise_model": sim.camera.model_dump_json(),
        "pixel_size_nm": f"{pixel_size_nm:g}", "photons": f"{sim.photons_low:.6g}",
        "photons_spread": f"{sim.photons_spread:g}", "background": f"{sim.background:g}",
        "structure_scale": f"{sim.structure_scale:g}", "phantom": sim.kind, "seed_data": str(sim.seed),
        **fit.train_info()}
    name = settings.name.strip() or f"CARE deconvolution fitted to {Path(image_name).stem}"[:80]
    config = LearnedDeconvolveConfig(name=name, simulation=sim, steps=settings.steps, filters=base.config.filters,
                                     rl_iterations=RL_ITERATIONS, seed=settings.seed)
    card = unet_card(base.config, task="deconvolve", method="care", name=name, norm=norm, cite=CITE, train=train_info,
                     metrics=metrics, qc=qc, description=f"Learned deconvolution (CARE U-Net, 2D), "
                     f"{'trained' if settings.from_scratch else 'fine-tuned'} on a simulation {fit.provenance()}; "
                     "widefield PSF in train.psf; output in the input's intensity units.")
    if cancelled():
        raise TrainingCancelled("Training was cancelled; nothing was written.")
    return card, save_model(network, out_path, card, config), fit


def _inputs_of(sim: DenoiseSimulation, n: int, seed: int) -> list[np.ndarray]:
    """Inputs of the final fitted simulation (its photons already per unit phantom)."""
    return [x for x, _ in simulate_deconvolution_pairs(sim, n=n, seed=seed)[0]]
