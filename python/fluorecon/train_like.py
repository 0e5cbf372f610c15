"""Train for my microscope, the part every task shares: fit the training simulation to one of the user's own
images, choose the phantom structure, and fine-tune a shipped model with cancel and progress
(`fluorecon train <denoise|deconvolve|upsample> --like IMAGE`, the ``train-like`` server job, Fiji's
Train for my microscope…). Each task's ``like.py`` supplies only its simulation (``build``, ``inputs``), its
network and its card; the fit below is the one fit all of them use.

A simulation-trained model is out of distribution when the user's camera, light level or specimen
differ from what it was trained on (fluorecon.qc.ood says which). What is fitted, and how:

- **optics**: the pixel size from the image's calibration (or the caller, when the file has none); NA and
  emission wavelength from the caller — an image file does not record them, and a guess would be
  presented as a measurement, so they are required, never defaulted;
- **camera**: the Poisson–Gaussian noise ``var = a·mean + b`` estimated from the image
  (fluorecon.qc.noise_estimate, the estimator VST-BM3D uses), from every plane when the image is a stack
  (one bead in a 64² crop leaves too few blocks off the background for one plane to show its shot noise).
  ``a`` is the gain (ADU per detected photon); its spread over bootstrap resamplings of the blocks is
  kept, and a slope within twice that spread of zero is refused with a message naming the calibration
  options (``gain``, ``offset``, ``read_noise_e``; CLI --gain/--background/--read-noise-e), never
  replaced by a default. Values given that way replace the estimate (with all three nothing is
  estimated). One image cannot separate the camera offset from a uniform background, nor read noise from
  that background's shot noise; they are folded together so that the simulated variance reproduces the
  fitted line: offset = the dark level (0.5th percentile of the 7×7-smoothed image) and read noise
  ``sqrt(a·dark + b)/a``, or, when the line's zero-variance intercept ``−b/a`` lies above the dark level
  (clipped or rescaled 8-bit data), offset = that intercept and no read noise;
- **intensity scale**: peak photons = (99.8th percentile of the 3×3-smoothed image − offset) / gain, spread
  ×/÷ 1.3 between training images;
- **structure**: the phantom family (filaments, vesicles, membranes, nuclei, their mix, diffuse
  cytoplasm alone or under the mix) and structure size (1, 1.5, 2 or 3 × the phantoms' own) whose
  simulated inputs are nearest the user's image in the OOD structure and intensity-distribution features
  (fluorecon.qc.ood.image_features, z-scored with the base model's feature scales).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from fluorecon.imaging.noise import CameraNoise
from fluorecon.imaging.phantoms import EXTRA_KINDS, KINDS
from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise_spread

#: The tasks whose shipped 2D model `train <task> --like` fine-tunes.
LIKE_TASKS: tuple[str, ...] = ("denoise", "deconvolve", "upsample")
LikeTask = Literal["denoise", "deconvolve", "upsample"]
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
    """What `train <task> --like` needs besides the image: optics the file lacks and the training budget."""

    model_config = ConfigDict(extra="forbid")

    pixel_size_nm: float | None = Field(None, gt=0, description="Pixel size in the sample, nm; needed when the "
                                        "image is not calibrated (overrides the calibration when given).")
    na: float = Field(..., gt=0, le=1.7, description="Numerical aperture of the objective (not in image files).")
    wavelength_nm: float = Field(..., ge=300, le=1100, description="Emission wavelength, nm (not in image files).")
    ni: float = Field(1.33, ge=1.0, le=1.6, description="Immersion refractive index of the widefield PSF (1.515 oil, "
                      "1.33 water, 1.0 air); the NA must stay below it.")
    steps: int = Field(300, ge=1, le=100_000, description="Optimizer steps of the fine-tuning.")
    batch_size: int = Field(8, ge=1, description="Patches per step.")
    lr: float = Field(5e-4, gt=0, description="Peak learning rate (fine-tuning: a quarter of the shipped model's).")
    n_images: int = Field(12, ge=3, description="Simulated training pairs (a fifth held out for validation).")
    from_scratch: bool = Field(False, description="Start from random weights instead of the base model's.")
    seed: int = Field(0, description="Seeds the simulation, the weights (from scratch) and patch sampling.")
    device: str = Field("auto", description="'auto' (CUDA when available), 'cpu' or 'cuda'.")
    name: str = Field("", max_length=80, description="Model name; default '<method> fitted to <image>'.")
    gain: float | None = Field(None, gt=0, description="Camera gain, ADU per detected photon, from the camera's "
                               "calibration; None: estimated from the image.")
    offset: float | None = Field(None, description="Camera offset (+ background), ADU, from the camera's "
                                 "calibration; None: estimated from the image.")
    read_noise_e: float | None = Field(None, ge=0, description="Read noise, electrons rms, from the camera's "
                                       "calibration; None: estimated from the image.")
    plane: int | None = Field(None, ge=0, description="Stack plane (0-based) the structure and light level are "
                              "fitted to; None: the brightest (99.8th percentile). The camera is estimated "
                              "from every plane.")


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
    gain_sd: float = 0.0
    how: str = "estimated from the image"

    def camera(self) -> CameraNoise:
        return CameraNoise(gain=self.gain, offset=self.offset, read_noise_e=self.read_noise_e)


@dataclass(frozen=True)
class LikeFit:
    """The fitted simulation (the task's own simulation config, with ``kind`` and ``structure_scale``) and how
    each part of it was obtained."""

    simulation: Any
    camera: CameraFit
    structure_distance: dict[str, float]
    pixel_size_source: str
    image_name: str
    pixel_size_nm: float
    na: float
    wavelength_nm: float

    def provenance(self) -> str:
        c, s = self.camera, self.simulation
        return (f"fitted to {self.image_name}: pixel size {self.pixel_size_nm:g} nm ({self.pixel_size_source}); NA "
                f"{self.na:g}, emission {self.wavelength_nm:g} nm (given); gain {c.gain:.4g} ADU/photon, offset "
                f"{c.offset:.4g} ADU, read noise {c.read_noise_e:.3g} e- ({c.how}: Poisson-Gaussian "
                f"var = {c.noise.a:.4g}·mean {c.noise.b:+.4g}, offset and background folded together); peak "
                f"{c.photons:.3g} photons (estimated); structure '{s.kind}' at "
                f"{s.structure_scale:g}× size (nearest of {len(self.structure_distance)} phantom families "
                "and sizes by the OOD features)")

    def train_info(self) -> dict[str, str]:
        c = self.camera
        return {"fitted_to": self.image_name, "fitted": self.provenance(),
                "fitted_gain": f"{c.gain:.6g}", "fitted_offset": f"{c.offset:.6g}",
                "fitted_read_noise_e": f"{c.read_noise_e:.6g}", "fitted_photons": f"{c.photons:.6g}",
                "fitted_noise_a": f"{c.noise.a:.6g}", "fitted_noise_b": f"{c.noise.b:.6g}",
                "fitted_gain_sd": f"{c.gain_sd:.6g}", "fitted_camera": c.how,
                "fitted_pixel_size_source": self.pixel_size_source,
                "fitted_structure_distance": ",".join(f"{k}:{v:.3g}" for k, v in self.structure_distance.items())}


#: The options that replace the camera estimate (CLI flags; LikeSettings / job fields gain, offset, read_noise_e).
CAMERA_OPTIONS = "--gain (ADU per photon), --background (camera offset, ADU) and --read-noise-e (electrons)"


class CameraNotMeasured(ValueError):
    """The image does not show its shot noise, so the gain cannot be measured. ``str()`` names the CLI's options;
    :meth:`naming` words the same advice for another front end (the server job's fields, Fiji's macro keys)."""

    def __init__(self, where: str, slope: float, slope_sd: float, blocks: int):
        self.where, self.slope, self.slope_sd, self.blocks = where, slope, slope_sd, blocks
        super().__init__(self.naming(CAMERA_OPTIONS))

    def naming(self, options: str, *, stacks: bool = True) -> str:
        """The message with `options` as the way to give the camera's calibration (`stacks`: whether this front
        end takes a whole stack, which may show the shot noise one plane does not)."""
        return (f"The noise in {self.where} does not grow with intensity clearly enough to measure the camera gain (no "
                f"shot noise found: Poisson-Gaussian slope {self.slope:.3g} ± {self.slope_sd:.2g} ADU/photon over "
                f"{self.blocks} blocks). A small or sparse image (one bead, mostly background) may not show it: give "
                f"{'the whole stack, or ' if stacks else ''}the camera's calibration: {options}. A denoised, averaged "
                "or synthetic image has no shot noise left: give the raw camera image.")


def fit_camera(image: np.ndarray, *, stack: np.ndarray | None = None, gain: float | None = None,
               offset: float | None = None, read_noise_e: float | None = None) -> CameraFit:
    """Gain, offset, read noise and peak photons of a raw (Y, X) image (see the module docstring). `stack`: every
    plane of the acquisition `image` comes from, pooled for the noise fit. `gain`, `offset`, `read_noise_e`: the
    camera's calibration, replacing the estimate of each value given."""
    image = np.asarray(image, np.float32)
    source = image if stack is None else np.asarray(stack, np.float32)
    planes = int(np.prod(source.shape[:-2], dtype=int)) if source.ndim > 2 else 1
    where = "the image" if planes == 1 else f"the {planes} planes of the stack"
    if gain is not None and offset is not None and read_noise_e is not None:
        noise, gain_sd, how = NoiseModel(a=gain, b=gain**2 * read_noise_e**2 - gain * offset), 0.0, "given (camera calibration)"
    else:
        fit = estimate_noise_spread(source, a=gain)
        if gain is None and not fit.shot_noise_found:
            raise CameraNotMeasured(where, fit.model.a, fit.a_sd, fit.blocks)
        noise, gain_sd = fit.model, fit.a_sd
        how = (f"gain given, the rest estimated from {where}" if gain is not None else
               f"estimated from {where}, gain ± {gain_sd:.2g} (bootstrap over {fit.blocks} blocks)")
    # Dark level on 7×7 means (noise 7-fold down, so the low percentile sits near the true level); the bright level
    # on 3×3 means (wider ones would flatten the peaks of thin structures).
    dark = float(np.percentile(ndimage.uniform_filter(image, 7), 0.5))
    bright = float(np.percentile(ndimage.uniform_filter(image, 3), 99.8))
    a = float(noise.a)
    if offset is not None:  # the line's variance at the offset is the read noise's
        read = read_noise_e if read_noise_e is not None else float(np.sqrt(max(a * offset + noise.b, 0.0))) / a
        off = float(offset)
    elif read_noise_e is not None:  # the offset is where the line reaches the read noise's variance
        off, read = float((a**2 * read_noise_e**2 - noise.b) / a), float(read_noise_e)
    elif a * dark + noise.b > 0:
        off, read = dark, float(np.sqrt(a * dark + noise.b)) / a
    else:
        off, read = float(-noise.b / a), 0.0
    photons = (bright - off) / a
    if photons <= 0.5:
        raise ValueError(f"The brightest part of the image is at most {photons:.2g} photons above the camera "
                         "offset; too dim to fit a simulation to.")
    return CameraFit(noise=noise, gain=a, offset=off, read_noise_e=float(read), photons=float(photons),
                     dark_level=dark, bright_level=bright, gain_sd=gain_sd, how=how)


def _features(images: list[np.ndarray], names: list[str], norm: str) -> np.ndarray:
    from fluorecon.qc.ood import image_features

    return np.array([[f[n] for n in names] for f in (image_features(im, norm) for im in images)])


#: ``inputs(simulation, n, seed)``: `n` simulated network inputs (raw, camera units) of a task's simulation.
Inputs = Callable[[Any, int, int], list[np.ndarray]]


def choose_structure(image: np.ndarray, sim, inputs: Inputs, *, norm: str, qc: dict[str, str] | None = None,
                     n: int = 2, cancel: Callable[[], bool] | None = None) -> tuple[str, float, dict[str, float]]:
    """The phantom family and structure scale whose simulated inputs (`n` per candidate, `sim` otherwise) lie
    nearest `image` in the OOD structure and intensity-distribution features, each z-scored by the base card's
    ``qc.feature_scale`` (else the features' floors); returns (family, scale, mean z-distance per
    'family@scale')."""
    from fluorecon.qc.ood import FEATURES

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
            lows = inputs(candidate, n, sim.seed + 7919)
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


def check_plane(image: np.ndarray) -> np.ndarray:
    """The image as float32 after the checks every fit needs (one finite YX plane, or a stack of them —
    Z or T, one channel — of at least 32×32)."""
    image = np.asarray(image, np.float32)
    if image.ndim not in (2, 3):
        raise ValueError(f"Fitting a simulation takes one YX plane or one stack of them (Z or T, one channel); got "
                         f"shape {image.shape}. Save one channel (Image › Duplicate…) and fit to it.")
    if min(image.shape[-2:]) < 32:
        raise ValueError(f"The image is {image.shape[-2]}×{image.shape[-1]} pixels; fitting needs at least 32×32.")
    if not np.isfinite(image).all():
        raise ValueError("The image contains NaN or infinite pixels; replace them (Process › Math › Remove NaNs…) "
                         "first.")
    return image


def fit_plane(image: np.ndarray, plane: int | None = None) -> tuple[np.ndarray, int | None]:
    """The YX plane a fit is made to and its index: the image itself when it is one plane; of a stack, plane
    `plane`, else the brightest (highest 99.8th percentile of 3×3 means: the focus of a bead stack)."""
    image = check_plane(image)
    if image.ndim == 2:
        return image, None
    if plane is None:
        plane = int(np.argmax([np.percentile(ndimage.uniform_filter(p, 3), 99.8) for p in image]))
    elif plane >= len(image):
        raise ValueError(f"The stack has {len(image)} planes (0–{len(image) - 1}); plane {plane} does not exist.")
    return image[plane], plane


def fit_to_image(image: np.ndarray, settings: LikeSettings, build: Callable[[CameraFit, tuple[int, int]], Any],
                 inputs: Inputs, *, pixel_size_nm: float, pixel_size_source: str = "given", image_name: str = "image",
                 norm: str = "percentile:1:99.8", qc: dict[str, str] | None = None,
                 cancel: Callable[[], bool] | None = None) -> LikeFit:
    """The one fit every task uses: the camera and light level estimated from `image` (a raw (Y, X) plane in camera
    units, or a stack of them: the camera from every plane, the rest from `settings.plane` or the brightest; see
    :func:`fit_plane`), the task's simulation built from them (``build(camera_fit, side)``: the user's optics from
    `settings`, training images of side `side`), then the nearest phantom family and size, compared on the
    task's simulated inputs (``inputs(sim, n, seed)``). `qc`: the base card's ``qc`` (scales for the distance)."""
    stack = check_plane(image)
    image, plane = fit_plane(stack, settings.plane)
    cam = fit_camera(image, stack=stack if plane is not None else None, gain=settings.gain, offset=settings.offset,
                     read_noise_e=settings.read_noise_e)
    side = tuple(int(min(256, max(64, s)) // 16 * 16) for s in image.shape)
    sim = build(cam, side)
    kind, scale_factor, distance = choose_structure(image, sim, inputs, norm=norm, qc=qc, cancel=cancel)
    return LikeFit(simulation=sim.model_copy(update={"kind": kind, "structure_scale": scale_factor}), camera=cam,
                   structure_distance=distance, pixel_size_source=pixel_size_source,
                   image_name=image_name if plane is None else f"{image_name} (plane {plane} of {len(stack)})",
                   pixel_size_nm=float(pixel_size_nm), na=settings.na, wavelength_nm=settings.wavelength_nm)


def fine_tune(network, config, next_batch: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]], *,
              cancel: Callable[[], bool], report: Callable[[int], None], progress):
    """The shared training loop (fluorecon.train.fit_batches) over batches ``next_batch(rng)`` draws; before each
    step `cancel` is checked (raises :class:`TrainingCancelled`) and `report(steps done)` called."""
    from fluorecon.train import TrainResult, fit_batches, loss_fn, resolve_device

    done = [0]

    def batch(rng):
        if cancel():
            raise TrainingCancelled("Training was cancelled; nothing was written.")
        report(done[0])
        done[0] += 1
        return next_batch(rng)

    losses = fit_batches(network, config, batch, loss=lambda out, yb: loss_fn(config.loss, out.float(), yb),
                         amp=config.amp, progress=progress is True)
    report(config.steps)
    return TrainResult(losses=losses, device=str(resolve_device(config.device)))


def fine_tune_same_grid(base, train_pairs, settings: LikeSettings, image_shape, *, cancel: Callable[[], bool],
                        progress, report: Callable[[int, int, str], None]):
    """Fine-tune a copy of the U-Net `base` (a fresh one with ``from_scratch``) on normalized (input, target) pairs of
    one grid (denoise, deconvolve): L1 loss, random patches up to 64², the budget of `settings`. Returns (network,
    TrainConfig, TrainResult)."""
    import copy

    import torch

    from fluorecon.nets.unet import build_network
    from fluorecon.train import TrainConfig, _sample_batch

    m = base.config.multiple
    patch = tuple(min(64, s) // m * m for s in image_shape)
    train = TrainConfig(steps=settings.steps, batch_size=settings.batch_size, patch_size=patch, lr=settings.lr,
                        loss="l1", seed=settings.seed, device=settings.device)
    if settings.from_scratch:
        torch.manual_seed(settings.seed)
        network = build_network(base.config)
    else:
        network = copy.deepcopy(base)
    history = fine_tune(network, train, lambda rng: _sample_batch(train_pairs, patch, train.batch_size, rng, train.augment),
                        cancel=cancel, progress=progress,
                        report=lambda step: report(step, settings.steps, f"step {step}/{settings.steps}"))
    return network, train, history


def progress_callback(progress) -> Callable[..., None]:
    """`progress` as ``callback(step, steps, message)`` (a bar or nothing otherwise reports nowhere)."""
    return progress if callable(progress) else (lambda *a: None)


def base_network(base_model, default_name: str, *, task: str):
    """(network, card, path) of the base model to fine-tune; refuses a model of another task or a probabilistic one."""
    from pathlib import Path

    from fluorecon.commands.models import REPO_MODELS
    from fluorecon.export import unet_from_onnx

    path = Path(base_model) if base_model is not None else REPO_MODELS / default_name
    network, card = unet_from_onnx(path)
    if card.task != task or card.ndim != 2 or getattr(network, "config", None) is not None and network.config.probabilistic:
        raise ValueError(f"{path.name} is a {card.task} model ({card.axes_in}); fitting to an image for {task} "
                         f"fine-tunes a 2D, non-probabilistic {task} model.")
    return network, card, path


def started_from(settings: LikeSettings, base_card, base_path) -> str:
    """The card's ``train.fine_tuned_from``."""
    if settings.from_scratch:
        return "random weights"
    return f"{base_card.name} ({base_path.name}, sha256 {base_card.model_sha256[:12]})"


def safe_stem(name: str) -> str:
    """A file stem for a model name (as the train-denoise job names its files)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "denoise"


#: The shipped model `train <task> --like` fine-tunes, per task.
BASE_MODELS = {"denoise": "care_denoise_2d.onnx", "deconvolve": "care_deconvolve_2d.onnx",
               "upsample": "care_upsample2x_2d.onnx"}


def default_base_model(task: str):
    """The shipped model `train <task> --like` fine-tunes."""
    from fluorecon.commands.models import REPO_MODELS

    return REPO_MODELS / BASE_MODELS[task]
