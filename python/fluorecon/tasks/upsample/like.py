"""Train for my microscope, upsampling ×2: fit the training simulation to one of the user's raw images (the one fit
of fluorecon.train_like: pixel size, camera, light level, structure; NA and wavelength given) and fine-tune the
shipped ×2 model (care_upsample2x_2d) on it (`fluorecon train upsample --like IMAGE`, the ``train-like`` job with
``model_task = upsample``).

The user's image is what the model will take as input: its pixel size is the low-resolution one (the
simulation's fine grid is half of it), its NA the low-resolution system's (``na_low``). The targets are the
same specimen through a higher NA, the base model's ``na_high`` (or the given NA when that is higher: then the
model only interpolates and denoises). Validation: the new model, the base model, bicubic and RL-TV with the
forward model on held-out pairs of the fitted simulation (card ``metrics.*``)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from fluorecon.core.modelcard import ModelCard
from fluorecon.tasks.upsample.learned import (CITE, UpsampleConfig, UpsampleNet, UpsampleSimulation, evaluate,
                                              input_multiple, normalize_scaled_pair, predict_torch, scaled_batches,
                                              simulate_pairs, upsample_card)
from fluorecon.train_like import (BASE_MODELS, PHOTONS_SPREAD, CameraFit, LikeFit, LikeSettings, TrainingCancelled, base_network,
                                  fine_tune, fit_to_image, progress_callback, resolve_pixel_size, started_from)

DEFAULT_BASE = BASE_MODELS["upsample"]
FACTOR = 2
RL_ITERATIONS = 10


def _inputs(sim: UpsampleSimulation, n: int, seed: int) -> list[np.ndarray]:
    return [p.low for p in simulate_pairs(sim, n=n, seed=seed)]


def fit_simulation_to_image(image: np.ndarray, settings: LikeSettings, *, pixel_size_nm: float, na_high: float,
                            pixel_size_source: str = "given", image_name: str = "image", norm: str = "percentile:1:99.8",
                            qc: dict[str, str] | None = None, cancel: Callable[[], bool] | None = None) -> LikeFit:
    """The ×2 upsampling simulation whose low-resolution inputs look like `image` (a raw (Y, X) plane in camera
    units, `pixel_size_nm` its pixels); targets through NA `na_high`."""

    def build(cam: CameraFit, side) -> UpsampleSimulation:
        return UpsampleSimulation(ndim=2, factor=FACTOR, shape=tuple(side), n_images=settings.n_images,
                                  pixel_size_nm=pixel_size_nm / FACTOR, wavelength_nm=settings.wavelength_nm,
                                  na_low=settings.na, na_high=max(na_high, settings.na), photons=cam.photons,
                                  photons_spread=PHOTONS_SPREAD, background=0.0, camera=cam.camera(),
                                  seed=settings.seed)

    return fit_to_image(image, settings, build, _inputs, pixel_size_nm=pixel_size_nm,
                        pixel_size_source=pixel_size_source, image_name=image_name, norm=norm, qc=qc, cancel=cancel)


def _network(unet) -> UpsampleNet:
    net = UpsampleNet(unet.config, FACTOR)
    net.unet = unet
    return net


def train_like(image: np.ndarray, out_path: str | os.PathLike, settings: LikeSettings, *, meta=None,
               image_name: str = "image", base_model: str | os.PathLike | None = None, commit: str = "",
               progress: bool | Callable[[int, int, str], None] = True,
               cancel: Callable[[], bool] | None = None) -> tuple[ModelCard, Path, LikeFit]:
    """Fit the simulation to `image` and fine-tune the base model (default: the shipped 2D ×2 CARE upsampling
    model) on it, or train from scratch; export the carded ONNX (``scale`` 2) to `out_path` (a ``.pt`` beside it).
    `progress` and `cancel` as fluorecon.tasks.denoise.like.train_like."""
    import torch

    from fluorecon.export import save_model
    from fluorecon.nets.unet import build_network
    from fluorecon.qc.ood import training_statistics
    from fluorecon.train import TrainConfig, card_train_info

    cancelled = cancel or (lambda: False)
    report = progress_callback(progress)
    base_unet, base_card, base_path = base_network(base_model, DEFAULT_BASE, task="upsample")
    if tuple(base_card.scale) != (FACTOR, FACTOR):
        raise ValueError(f"{base_path.name} upsamples ×{base_card.scale[0]}; --like fine-tunes a ×{FACTOR} model.")
    pixel_size_nm, source = resolve_pixel_size(meta, settings.pixel_size_nm, image_name)
    report(0, settings.steps, "fitting the simulation to the image")
    norm = base_card.norm
    fit = fit_simulation_to_image(image, settings, pixel_size_nm=pixel_size_nm,
                                  na_high=float(base_card.train.get("na_high", settings.na)),
                                  pixel_size_source=source, image_name=image_name, norm=norm, qc=base_card.qc,
                                  cancel=cancelled)
    sim = fit.simulation
    report(0, settings.steps, f"simulating {sim.n_images} '{sim.kind}' pairs")
    raw = [(p.low, p.high) for p in simulate_pairs(sim)]
    n_val = max(1, round(len(raw) * 0.2))
    pairs = [normalize_scaled_pair(x, y, factor=FACTOR, norm=norm) for x, y in raw]
    train_pairs, val_pairs = pairs[:-n_val], pairs[-n_val:]
    multiple = input_multiple(base_unet.config, FACTOR)
    patch = tuple(min(32, s) // multiple * multiple for s in raw[0][0].shape)
    train = TrainConfig(steps=settings.steps, batch_size=settings.batch_size, patch_size=patch, lr=settings.lr,
                        loss="l1", seed=settings.seed, device=settings.device)
    base = _network(base_unet)
    if settings.from_scratch:
        torch.manual_seed(settings.seed)
        network = _network(build_network(base_unet.config))
    else:
        network = copy.deepcopy(base)
    history = fine_tune(network, train, scaled_batches(train_pairs, train, FACTOR), cancel=cancelled,
                        progress=progress, report=lambda step: report(step, settings.steps, f"step {step}/{settings.steps}"))
    sigma = sim.sigma_extra_px
    metrics = evaluate(val_pairs, lambda x: predict_torch(network, x), factor=FACTOR, multiple=multiple,
                       sigma_px=sigma, rl_iter=RL_ITERATIONS)
    before = evaluate(val_pairs, lambda x: predict_torch(base, x), factor=FACTOR, multiple=multiple, sigma_px=None,
                      rl_iter=0)
    metrics.update({"val_psnr_base": before["val_psnr_care"], "val_ssim_base": before["val_ssim_care"],
                    "val_reference": "high-res target of the fitted simulation mapped to input units, normalized "
                                     "with the input's percentiles"})
    report(settings.steps, settings.steps, "training statistics for the OOD check")
    calibration = _inputs(sim, 16, sim.seed + 1)
    reference = [x for x, _ in raw[:-n_val]] + _inputs(sim, 24, sim.seed + 2)
    qc = training_statistics(reference, norm=norm, pixel_size_nm=pixel_size_nm, calibration=calibration)
    qc["source"] = (f"{len(reference)} + {len(calibration)} inputs of the fitted simulation (this model's training "
                    "distribution; fluorecon.tasks.upsample.like)")
    qc["forward_model"] = json.dumps({"name": "blur_downsample", "factor": [FACTOR] * 2,
                                      "sigma_px": [round(s, 4) for s in sigma]})
    train_info = {
        "data": f"simulation fitted to {image_name} (fluorecon.tasks.upsample.like)", "pairs": str(len(train_pairs)),
        **card_train_info(train, history), "unet": base_unet.config.model_dump_json(), "factor": str(FACTOR),
        "interpolation": network.mode, "target_units": "input (affine fit of the binned target to the input)",
        "commit": commit, "calibration": "output pixel size = input pixel size / scale",
        "fine_tuned_from": started_from(settings, base_card, base_path),
        "pixel_size_nm": f"{sim.pixel_size_nm:g}", "wavelength_nm": f"{sim.wavelength_nm:g}",
        "na_high": f"{sim.na_high:g}", "na_low": f"{sim.na_low:g}", "photons": f"{sim.photons:.6g}",
        "photons_spread": f"{sim.photons_spread:g}", "background": f"{sim.background:g}",
        "structure_scale": f"{sim.structure_scale:g}", "phantom": sim.kind,
        "noise_model": sim.camera.model_dump_json(), "seed_data": str(sim.seed), **fit.train_info()}
    name = settings.name.strip() or f"CARE upsampling ×2 fitted to {Path(image_name).stem}"[:80]
    config = UpsampleConfig(ndim=2, factor=FACTOR, name=name, unet=base_unet.config, train=train, simulation=sim,
                            norm=norm, rl_iter=RL_ITERATIONS)
    card = upsample_card(base_unet.config, FACTOR, task="upsample", method="care", name=name, norm=norm, cite=CITE,
                         train=train_info, metrics=metrics, qc=qc,
                         description=f"CARE upsampling ×{FACTOR} (2D), {'trained' if settings.from_scratch else 'fine-tuned'} "
                                     f"on a simulation {fit.provenance()}; output in the input's intensity units, "
                                     "pixel size / scale.")
    if cancelled():
        raise TrainingCancelled("Training was cancelled; nothing was written.")
    return card, save_model(network, out_path, card, config), fit
