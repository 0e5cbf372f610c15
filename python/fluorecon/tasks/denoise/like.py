"""Train for my microscope, denoising: fit the training simulation to one of the user's own images, then fine-tune
the shipped CARE model on it (`fluorecon train denoise --like IMAGE`, the ``train-like`` server job,
Fiji's Denoise › Train for my microscope…). The fit (optics, camera, light level, structure) is the one
fluorecon.train_like does for every task; this module gives it the denoising simulation.

The base model's weights are the starting point (:func:`fluorecon.export.unet_from_onnx`); ``from_scratch``
starts from random ones. Targets are the noise-free simulated images. The card records the fitted
simulation in the same ``train.*`` keys a simulated model records (so fluorecon.qc.training_inputs can redraw
its inputs), the estimates and their provenance (``train.fitted_*``), validation figures of the new and
the base model on the fitted simulation, and ``qc.*`` statistics computed afresh from that simulation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from fluorecon.core.modelcard import ModelCard
from fluorecon.tasks.denoise.spec import CITE, DenoiseConfig, DenoiseSimulation, PSFSettings
from fluorecon.train_like import default_base_model as shared_default_base_model
from fluorecon.train_like import (PHOTONS_SPREAD, STRUCTURE_SCALES, STRUCTURES, CameraFit, LikeFit,  # noqa: F401 (re-exported)
                                  LikeSettings, TrainingCancelled, fine_tune_same_grid, fit_camera, fit_to_image,
                                  progress_callback, resolve_pixel_size, safe_stem, started_from)

def _inputs(sim: DenoiseSimulation, n: int, seed: int) -> list[np.ndarray]:
    from fluorecon.tasks.denoise.simulate import simulate_pairs

    return [p.low for p in simulate_pairs(sim, n=n, seed=seed)]


def fit_simulation_to_image(image: np.ndarray, settings: LikeSettings, *, pixel_size_nm: float,
                            pixel_size_source: str = "given", image_name: str = "image", norm: str = "percentile:1:99.8",
                            qc: dict[str, str] | None = None, cancel: Callable[[], bool] | None = None) -> LikeFit:
    """The denoising simulation that looks like `image` (a raw (Y, X) plane in camera units): the user's optics,
    the camera and light level estimated from the image, and the nearest phantom family
    (fluorecon.train_like.fit_to_image). `qc`: the base card's ``qc`` (scales for the structure distance)."""
    psf = PSFSettings(na=settings.na, wavelength_nm=settings.wavelength_nm, pixel_size_nm=pixel_size_nm, ni=settings.ni)

    def build(cam: CameraFit, side) -> DenoiseSimulation:
        return DenoiseSimulation(ndim=2, shape=side, n_images=settings.n_images, photons_low=cam.photons,
                                 photons_high=cam.photons * 1000 / 15, photons_spread=PHOTONS_SPREAD, background=0.0,
                                 psf=psf, camera=cam.camera(), target="clean", seed=settings.seed)

    return fit_to_image(image, settings, build, _inputs, pixel_size_nm=pixel_size_nm,
                        pixel_size_source=pixel_size_source, image_name=image_name, norm=norm, qc=qc, cancel=cancel)


def default_base_model() -> Path:
    return shared_default_base_model("denoise")


def train_like(image: np.ndarray, out_path: str | os.PathLike, settings: LikeSettings, *, meta=None,
               image_name: str = "image", base_model: str | os.PathLike | None = None, commit: str = "",
               progress: bool | Callable[[int, int, str], None] = True,
               cancel: Callable[[], bool] | None = None) -> tuple[ModelCard, Path, LikeFit]:
    """Fit the simulation to `image` and fine-tune the base model (default: the shipped 2D CARE denoiser) on it,
    or train from scratch; export the carded ONNX to `out_path` (a ``.pt`` checkpoint beside it).

    `progress`: a bar (True), nothing (False) or ``callback(step, steps, message)``; `cancel`: checked before
    each step, raises :class:`TrainingCancelled` (nothing written)."""
    from fluorecon.export import save_model, unet_card, unet_from_onnx
    from fluorecon.qc.ood import training_statistics
    from fluorecon.tasks.denoise.qc import evaluate, input_statistics
    from fluorecon.tasks.denoise.simulate import simulate_pairs
    from fluorecon.train import card_train_info, normalize_pair, predict_torch

    cancelled = cancel or (lambda: False)
    report = progress_callback(progress)
    base_path = Path(base_model) if base_model is not None else default_base_model()
    base, base_card = unet_from_onnx(base_path)
    if base_card.task != "denoise" or base_card.ndim != 2 or base.config.probabilistic:
        raise ValueError(f"{base_path.name} is a {base_card.task} model ({base_card.axes_in}); fitting to an image "
                         "fine-tunes a 2D, non-probabilistic denoising model.")
    pixel_size_nm, source = resolve_pixel_size(meta, settings.pixel_size_nm, image_name)
    report(0, settings.steps, "fitting the simulation to the image")
    fit = fit_simulation_to_image(image, settings, pixel_size_nm=pixel_size_nm, pixel_size_source=source,
                                  image_name=image_name, norm=base_card.norm, qc=base_card.qc, cancel=cancelled)
    sim = fit.simulation
    report(0, settings.steps, f"simulating {sim.n_images} '{sim.kind}' pairs")
    raw = [(p.low, p.high) for p in simulate_pairs(sim)]
    n_val = max(1, round(len(raw) * 0.2))
    train_raw, val_raw = raw[:-n_val], raw[-n_val:]
    norm = base_card.norm
    train_pairs = [normalize_pair(x, y, norm=norm) for x, y in train_raw]
    val_pairs = [normalize_pair(x, y, norm=norm) for x, y in val_raw]
    network, train, history = fine_tune_same_grid(base, train_pairs, settings, sim.image_shape, cancel=cancelled,
                                                  progress=progress, report=report)
    metrics = evaluate(val_pairs, lambda x: predict_torch(network, x), multiple=base.config.multiple)
    before = evaluate(val_pairs, lambda x: predict_torch(base, x), multiple=base.config.multiple, nlm_baseline=False)
    metrics.update({"val_psnr_base": before["val_psnr_care"], "val_ssim_base": before["val_ssim_care"],
                    "val_reference": "noise-free simulated image, normalized with the input's percentiles "
                                     "(the fitted simulation)"})
    report(settings.steps, settings.steps, "training statistics for the OOD check")
    calibration = [p.low for p in simulate_pairs(sim, n=16, seed=sim.seed + 1)]
    reference = [x for x, _ in train_raw] + [p.low for p in simulate_pairs(sim, n=24, seed=sim.seed + 2)]
    qc = training_statistics(reference, norm=norm, pixel_size_nm=pixel_size_nm, calibration=calibration)
    qc["source"] = (f"{len(reference)} + {len(calibration)} inputs of the fitted simulation (this model's training "
                    "distribution; fluorecon.tasks.denoise.like)")
    start = started_from(settings, base_card, base_path)
    train_info = {
        "data": f"simulation fitted to {image_name} (fluorecon.tasks.denoise.like)", "pairs": str(len(train_raw)),
        **card_train_info(train, history), "unet": base.config.model_dump_json(),
        "target_units": "input (affine fit of target to input)", "commit": commit,
        "fine_tuned_from": start, "psf": sim.psf.model_dump_json(), "noise_model": sim.camera.model_dump_json(),
        "pixel_size_nm": f"{pixel_size_nm:g}", "photons_low": f"{sim.photons_low:.6g}",
        "photons_high": f"{sim.photons_high:.6g}", "photons_spread": f"{sim.photons_spread:g}",
        "background": f"{sim.background:g}", "target": sim.target, "structure_scale": f"{sim.structure_scale:g}", "phantom": sim.kind, "seed_data": str(sim.seed),
        **fit.train_info(), **input_statistics([x for x, _ in train_raw], norm)}
    name = settings.name.strip() or f"CARE denoising fitted to {Path(image_name).stem}"[:80]
    config = DenoiseConfig(method="care", ndim=2, unet=base.config, train=train, simulation=sim, norm=norm, name=name)
    card = unet_card(base.config, task="denoise", method="care", name=name, norm=norm, cite=CITE, train=train_info,
                     metrics=metrics, qc=qc, description=f"CARE denoising U-Net (2D), {'trained' if settings.from_scratch else 'fine-tuned'} "
                     f"on a simulation {fit.provenance()}; output in the input's intensity units.")
    if cancelled():
        raise TrainingCancelled("Training was cancelled; nothing was written.")
    return card, save_model(network, out_path, card, config), fit
