"""Train for my microscope: fit the training simulation to one of the user's own images, then fine-tune
the shipped CARE model on it (`fluorecon train denoise --like IMAGE`, the ``train-like`` server job,
Fiji's Denoise › Train for my microscope…).

A simulation-trained model is out of distribution when the user's camera, light level or specimen
differ from what it was trained on (fluorecon.qc.ood says which). What is fitted, and how:

- **optics**: the pixel size from the image's calibration (or the caller, when the file has none); NA and
  emission wavelength from the caller — an image file does not record them, and a guess would be
  presented as a measurement, so they are required, never defaulted;
- **camera**: the Poisson–Gaussian noise ``var = a·mean + b`` estimated from the image
  (fluorecon.qc.noise_estimate, the estimator VST-BM3D uses). ``a`` is the gain (ADU per detected
  photon). One image cannot separate the camera offset from a uniform background, nor read noise from
  that background's shot noise; they are folded together so that the simulated variance reproduces the
  fitted line: offset = the dark level (0.5th percentile of the 7×7-smoothed image) and read noise
  ``sqrt(a·dark + b)/a``, or, when the line's zero-variance intercept ``−b/a`` lies above the dark level
  (clipped or rescaled 8-bit data), offset = that intercept and no read noise;
- **intensity scale**: peak photons = (99.8th percentile of the 3×3-smoothed image − offset) / gain, spread
  ×/÷ 1.3 between training images;
- **structure**: the phantom family (filaments, vesicles, membranes, nuclei, their mix, diffuse
  cytoplasm alone or under the mix) and structure size (1, 1.5, 2 or 3 × the phantoms' own) whose
  simulated images are nearest the user's image in the OOD structure and intensity-distribution features (fluorecon.qc.ood.image_features, z-scored with the
  base model's feature scales).

The base model's weights are the starting point (:func:`fluorecon.export.unet_from_onnx`); ``from_scratch``
starts from random ones. Targets are the noise-free simulated images. The card records the fitted
simulation in the same ``train.*`` keys a simulated model records (so fluorecon.qc.training_inputs can redraw
its inputs), the estimates and their provenance (``train.fitted_*``), validation figures of the new and
the base model on the fitted simulation, and ``qc.*`` statistics computed afresh from that simulation.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from fluorecon.core.modelcard import ModelCard
from fluorecon.imaging.noise import CameraNoise
from fluorecon.imaging.phantoms import EXTRA_KINDS, KINDS
from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise
from fluorecon.tasks.denoise.spec import CITE, DenoiseConfig, DenoiseSimulation, PSFSettings

#: The shipped model `train denoise --like` fine-tunes unless told otherwise.
DEFAULT_BASE = "care_denoise_2d.onnx"
#: Phantom families the structure fit chooses among.
STRUCTURES: tuple[str, ...] = ("mixed", *KINDS, *EXTRA_KINDS)
#: Structure sizes tried (× the phantoms' own): the same specimen at a finer pixel size, or larger cells.
STRUCTURE_SCALES: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
#: OOD feature groups compared when choosing the structure (intensity scale and noise are fitted directly).
_STRUCTURE_GROUPS = ("structure", "intensity distribution")
PHOTONS_SPREAD = 1.3


class TrainingCancelled(RuntimeError):
    """`cancel()` turned True during fitting or training; nothing was written."""


class LikeSettings(BaseModel):
    """What `train denoise --like` needs besides the image: optics the file lacks and the training budget."""

    model_config = ConfigDict(extra="forbid")

    pixel_size_nm: float | None = Field(None, gt=0, description="Pixel size in the sample, nm; needed when the "
                                        "image is not calibrated (overrides the calibration when given).")
    na: float = Field(..., gt=0, le=1.7, description="Numerical aperture of the objective (not in image files).")
    wavelength_nm: float = Field(..., ge=300, le=1100, description="Emission wavelength, nm (not in image files).")
    steps: int = Field(300, ge=1, le=100_000, description="Optimizer steps of the fine-tuning.")
    batch_size: int = Field(8, ge=1, description="Patches per step.")
    lr: float = Field(5e-4, gt=0, description="Peak learning rate (fine-tuning: a quarter of the shipped model's).")
    n_images: int = Field(12, ge=3, description="Simulated training pairs (a fifth held out for validation).")
    from_scratch: bool = Field(False, description="Start from random weights instead of the base model's.")
    seed: int = Field(0, description="Seeds the simulation, the weights (from scratch) and patch sampling.")
    device: str = Field("auto", description="'auto' (CUDA when available), 'cpu' or 'cuda'.")
    name: str = Field("", max_length=80, description="Model name; default 'CARE denoising fitted to <image>'.")


@dataclass(frozen=True)
class CameraFit:
    """The camera and light level estimated from one image (ADU: the image's own units)."""

    noise: NoiseModel
    gain: float
    offset: float
    read_noise_e: float
    photons: float
    dark_level: float
    bright_level: float

    def camera(self) -> CameraNoise:
        return CameraNoise(gain=self.gain, offset=self.offset, read_noise_e=self.read_noise_e)


@dataclass(frozen=True)
class LikeFit:
    """The fitted simulation and how each part of it was obtained."""

    simulation: DenoiseSimulation
    camera: CameraFit
    structure_distance: dict[str, float]
    pixel_size_source: str
    image_name: str

    def provenance(self) -> str:
        c, p = self.camera, self.simulation.psf
        return (f"fitted to {self.image_name}: pixel size {p.pixel_size_nm:g} nm ({self.pixel_size_source}); NA "
                f"{p.na:g}, emission {p.wavelength_nm:g} nm (given); gain {c.gain:.4g} ADU/photon, offset "
                f"{c.offset:.4g} ADU, read noise {c.read_noise_e:.3g} e- (estimated from the image: Poisson-Gaussian "
                f"fit var = {c.noise.a:.4g}·mean {c.noise.b:+.4g}, offset and background folded together); peak "
                f"{c.photons:.3g} photons (estimated); structure '{self.simulation.kind}' at "
                f"{self.simulation.structure_scale:g}× size (nearest of {len(self.structure_distance)} phantom families "
                "and sizes by the OOD features)")

    def train_info(self) -> dict[str, str]:
        c = self.camera
        return {"fitted_to": self.image_name, "fitted": self.provenance(),
                "fitted_gain": f"{c.gain:.6g}", "fitted_offset": f"{c.offset:.6g}",
                "fitted_read_noise_e": f"{c.read_noise_e:.6g}", "fitted_photons": f"{c.photons:.6g}",
                "fitted_noise_a": f"{c.noise.a:.6g}", "fitted_noise_b": f"{c.noise.b:.6g}",
                "fitted_pixel_size_source": self.pixel_size_source,
                "fitted_structure_distance": ",".join(f"{k}:{v:.3g}" for k, v in self.structure_distance.items())}


def fit_camera(image: np.ndarray) -> CameraFit:
    """Gain, offset, read noise and peak photons of a raw (Y, X) image (see the module docstring)."""
    image = np.asarray(image, np.float32)
    noise = estimate_noise(image)
    if noise.a <= 0:
        raise ValueError("The noise in this image does not grow with intensity (no shot noise found); it may be "
                         "denoised, averaged or synthetic already. Give the raw camera image.")
    # Dark level on 7×7 means (noise 7-fold down, so the low percentile sits near the true level); the bright level
    # on 3×3 means (wider ones would flatten the peaks of thin structures).
    dark = float(np.percentile(ndimage.uniform_filter(image, 7), 0.5))
    bright = float(np.percentile(ndimage.uniform_filter(image, 3), 99.8))
    gain = float(noise.a)
    dark_var = gain * dark + noise.b
    if dark_var > 0:
        offset, read = dark, float(np.sqrt(dark_var)) / gain
    else:
        offset, read = float(-noise.b / gain), 0.0
    photons = (bright - offset) / gain
    if photons <= 0.5:
        raise ValueError(f"The brightest part of the image is at most {photons:.2g} photons above the camera "
                         "offset; too dim to fit a simulation to.")
    return CameraFit(noise=noise, gain=gain, offset=offset, read_noise_e=read, photons=float(photons),
                     dark_level=dark, bright_level=bright)


def _features(images: list[np.ndarray], names: list[str], norm: str) -> np.ndarray:
    from fluorecon.qc.ood import image_features

    return np.array([[f[n] for n in names] for f in (image_features(im, norm) for im in images)])


def choose_structure(image: np.ndarray, sim: DenoiseSimulation, *, norm: str, qc: dict[str, str] | None = None,
                     n: int = 2, cancel: Callable[[], bool] | None = None) -> tuple[str, float, dict[str, float]]:
    """The phantom family and structure scale whose simulated inputs (`n` per candidate, `sim` otherwise) lie
    nearest `image` in the OOD structure and intensity-distribution features, each z-scored by the base card's
    ``qc.feature_scale`` (else the features' floors); returns (family, scale, mean z-distance per
    'family@scale')."""
    from fluorecon.qc.ood import FEATURES
    from fluorecon.tasks.denoise.simulate import simulate_pairs

    names = [k for k, (group, _) in FEATURES.items() if group in _STRUCTURE_GROUPS]
    scale = {k: floor for k, (_, floor) in FEATURES.items()}
    if qc and "features" in qc:
        scale.update(zip(qc["features"].split(","), (float(v) for v in qc["feature_scale"].split(","))))
    s = np.array([scale[k] for k in names])
    target = _features([image], names, norm)[0]
    distance = {}
    for kind in STRUCTURES:
        for scale_factor in STRUCTURE_SCALES:
            if cancel is not None and cancel():
                raise TrainingCancelled("Cancelled while choosing the structure.")
            candidate = sim.model_copy(update={"kind": kind, "structure_scale": scale_factor})
            lows = [p.low for p in simulate_pairs(candidate, n=n, seed=sim.seed + 7919)]
            distance[f"{kind}@{scale_factor:g}"] = float(np.mean(np.linalg.norm((_features(lows, names, norm) - target) / s,
                                                                                axis=1)))
    best = min(distance, key=distance.get)
    kind, scale_factor = best.split("@")
    return kind, float(scale_factor), distance


def resolve_pixel_size(meta, pixel_size_nm: float | None, name: str) -> tuple[float, str]:
    """The pixel size in nm and where it came from: the caller's value, else the image's calibration."""
    from fluorecon.core.units import um_to_nm

    if pixel_size_nm is not None:
        return float(pixel_size_nm), "given"
    calibrated = um_to_nm(meta.pixel_size_um) if meta is not None and meta.calibrated else None
    if calibrated:
        return float(calibrated), "image calibration"
    raise ValueError(f"{name} has no pixel size in its metadata; give it (--pixel-size-nm, or pixel_size_nm=) "
                     "from the microscope's calibration.")


def fit_simulation_to_image(image: np.ndarray, settings: LikeSettings, *, pixel_size_nm: float,
                            pixel_size_source: str = "given", image_name: str = "image", norm: str = "percentile:1:99.8",
                            qc: dict[str, str] | None = None, cancel: Callable[[], bool] | None = None) -> LikeFit:
    """The denoising simulation that looks like `image` (a raw (Y, X) plane in camera units): the user's optics,
    the camera and light level estimated from the image, and the nearest phantom family. `qc`: the base
    card's ``qc`` (scales for the structure distance)."""
    image = np.asarray(image, np.float32)
    if image.ndim != 2:
        raise ValueError(f"Fitting a simulation takes one YX plane; got shape {image.shape}. Save one plane "
                         "(Image › Duplicate…) and fit to it.")
    if min(image.shape) < 32:
        raise ValueError(f"The image is {image.shape[0]}×{image.shape[1]} pixels; fitting needs at least 32×32.")
    if not np.isfinite(image).all():
        raise ValueError("The image contains NaN or infinite pixels; replace them (Process › Math › Remove NaNs…) "
                         "first.")
    cam = fit_camera(image)
    side = tuple(int(min(256, max(64, s)) // 16 * 16) for s in image.shape)
    psf = PSFSettings(na=settings.na, wavelength_nm=settings.wavelength_nm, pixel_size_nm=pixel_size_nm)
    sim = DenoiseSimulation(ndim=2, shape=side, n_images=settings.n_images, photons_low=cam.photons,
                            photons_high=cam.photons * 1000 / 15, photons_spread=PHOTONS_SPREAD, background=0.0,
                            psf=psf, camera=cam.camera(), target="clean", seed=settings.seed)
    kind, scale_factor, distance = choose_structure(image, sim, norm=norm, qc=qc, cancel=cancel)
    return LikeFit(simulation=sim.model_copy(update={"kind": kind, "structure_scale": scale_factor}), camera=cam,
                   structure_distance=distance,
                   pixel_size_source=pixel_size_source, image_name=image_name)


def default_base_model() -> Path:
    from fluorecon.commands.models import REPO_MODELS

    return REPO_MODELS / DEFAULT_BASE


def train_like(image: np.ndarray, out_path: str | os.PathLike, settings: LikeSettings, *, meta=None,
               image_name: str = "image", base_model: str | os.PathLike | None = None, commit: str = "",
               progress: bool | Callable[[int, int, str], None] = True,
               cancel: Callable[[], bool] | None = None) -> tuple[ModelCard, Path, LikeFit]:
    """Fit the simulation to `image` and fine-tune the base model (default: the shipped 2D CARE denoiser) on it,
    or train from scratch; export the carded ONNX to `out_path` (a ``.pt`` checkpoint beside it).

    `progress`: a bar (True), nothing (False) or ``callback(step, steps, message)``; `cancel`: checked before
    each step, raises :class:`TrainingCancelled` (nothing written)."""
    import torch

    from fluorecon.export import save_model, unet_card, unet_from_onnx
    from fluorecon.nets.unet import build_network
    from fluorecon.qc.ood import training_statistics
    from fluorecon.tasks.denoise.qc import evaluate, input_statistics
    from fluorecon.tasks.denoise.simulate import simulate_pairs
    from fluorecon.train import TrainConfig, card_train_info, normalize_pair, predict_torch, train_network

    cancelled = cancel or (lambda: False)
    report = progress if callable(progress) else (lambda *a: None)
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
    patch = tuple(min(64, s) // base.config.multiple * base.config.multiple for s in sim.image_shape)
    train = TrainConfig(steps=settings.steps, batch_size=settings.batch_size, patch_size=patch, lr=settings.lr,
                        loss="l1", seed=settings.seed, device=settings.device)
    if settings.from_scratch:
        torch.manual_seed(settings.seed)
        network = build_network(base.config)
    else:
        network = copy.deepcopy(base)
    history = _fit(network, train_pairs, train, cancel=cancelled, progress=progress,
                   report=lambda step: report(step, settings.steps, f"step {step}/{settings.steps}"))
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
    start = "random weights" if settings.from_scratch else f"{base_card.name} ({base_path.name}, sha256 {base_card.model_sha256[:12]})"
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


def _fit(network, pairs, config, *, cancel: Callable[[], bool], report: Callable[[int], None], progress) -> "TrainResult":
    """The shared training loop (fluorecon.train.fit_batches) on normalized pairs, with random patches as
    train_network draws them; before each step `cancel` is checked and `report(steps done)` called."""
    from fluorecon.train import TrainResult, _sample_batch, fit_batches, loss_fn, resolve_device

    patch, done = tuple(config.patch_size), [0]

    def next_batch(rng):
        if cancel():
            raise TrainingCancelled("Training was cancelled; nothing was written.")
        report(done[0])
        done[0] += 1
        return _sample_batch(pairs, patch, config.batch_size, rng, config.augment)

    losses = fit_batches(network, config, next_batch, loss=lambda out, yb: loss_fn(config.loss, out.float(), yb),
                         amp=config.amp, progress=progress is True)
    report(config.steps)
    return TrainResult(losses=losses, device=str(resolve_device(config.device)))


def safe_stem(name: str) -> str:
    """A file stem for a model name (as the train-denoise job names its files)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "denoise"
