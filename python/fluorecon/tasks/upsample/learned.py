"""Upsampling (×2, ×4; 2D and 3D) with a CARE-style network, and its classical baselines: bicubic
interpolation and Richardson–Lucy against the blur + downsample forward model.

Physics (:class:`~fluorecon.imaging.sampling.BlurDownsample`): the high-resolution image ``x`` is
the object seen through a high-NA objective on a fine grid; the low-resolution acquisition is
``y ~ noise(bin_f(k ⊛ x))`` with ``k`` the extra blur of the lower-NA system (Gaussian
approximation, Zhang et al., Appl. Opt. 46, 1819 (2007): ``σ = 0.21 λ/NA`` laterally,
``0.66 λ n/NA²`` axially; ``σ_k² = σ_low² − σ_high²``) and ``bin_f`` the mean over f×f camera
pixels. The same operator re-applied to a result gives the data-consistency map
(:func:`consistency`).

Network: bilinear (trilinear) ×f interpolation, then a residual U-Net on the fine grid
(Weigert et al., Nat. Methods 15, 1090 (2018), "CARE"). The card's ``scale`` is f per axis; the
input tile multiple is ``2**depth / f`` (tile origins land on the U-Net's pooling grid), so tiled
prediction equals whole-image prediction. Outputs come back in the input's intensity units;
calibration of the output is the input's divided by the scale (:func:`output_meta`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import ndimage
from torch import nn
from torch.nn import functional as F

from fluorecon.core import pairs as core_pairs
from fluorecon.core.io import TiffMeta, output_meta, write_tiff
from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import normalize, parse_norm, percentile_range
from fluorecon.export import save_model, unet_card
from fluorecon.imaging.noise import CameraNoise, SimulatedAcquisition, apply_noise, simulation_shape
from fluorecon.imaging.sampling import BlurDownsample, degrade, gaussian_kernel, gaussian_sigma_nm, physics_for  # noqa: F401  (re-exported)
from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.qc.consistency import consistency_map
from fluorecon.qc.metrics import psnr, ssim
from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise
from fluorecon.qc.report import check_result
from fluorecon.tasks.denoise.simulate import draw_object
from fluorecon.train import TrainConfig, fit_batches, loss_fn, match_to_input

CITE = ("Weigert et al., Content-aware image restoration: pushing the limits of fluorescence microscopy, "
        "Nat. Methods 15, 1090 (2018)")


# --- optics ---------------------------------------------------------------------------------


class UpsampleSimulation(SimulatedAcquisition):
    """How `fluorecon simulate upsample` makes (low-resolution, high-resolution) pairs."""

    ndim: Literal[2, 3] = Field(2, description="2D planes or 3D stacks (3D upsamples every axis).")
    factor: Literal[2, 4] = Field(2, description="Upsampling factor per axis.")
    shape: tuple[int, ...] | None = Field(None, description="High-resolution shape; default (256, 256) or (32, 128, 128).")
    n_images: int = Field(16, ge=1, description="Number of pairs.")
    pixel_size_nm: float = Field(50.0, gt=0, description="High-resolution pixel size, nm (low-res pixels are factor× larger).")
    z_step_nm: float = Field(100.0, gt=0, description="High-resolution z step, nm (3D).")
    wavelength_nm: float = Field(520.0, gt=0, description="Emission wavelength, nm.")
    na_high: float = Field(1.4, gt=0, description="NA of the high-resolution system (targets).")
    na_low: float = Field(0.8, gt=0, description="NA of the low-resolution system (inputs); at most na_high.")
    ns: float = Field(1.33, gt=0, description="Sample refractive index (axial PSF width).")
    photons: float = Field(50.0, gt=0, description="Peak photons per low-resolution pixel of the input.")
    photons_spread: float = Field(2.0, ge=1, description="Photons drawn log-uniformly in [p/spread, p·spread].")
    background: float = Field(0.05, ge=0, description="Background photons per pixel as a fraction of the peak.")
    structure_scale: float = Field(1.0, gt=0, description="Structures this many times larger in Y and X than the "
                                   "phantoms' own (fitted to a user's image by fluorecon.train_like).")

    @model_validator(mode="after")
    def _check(self) -> "UpsampleSimulation":
        if self.na_low > self.na_high:
            raise ValueError(f"na_low ({self.na_low}) must not exceed na_high ({self.na_high}).")
        bad = [s for s in self.image_shape if s % self.factor]
        if bad:
            raise ValueError(f"shape {self.image_shape} must be a multiple of factor {self.factor} on every axis.")
        return self

    @property
    def image_shape(self) -> tuple[int, ...]:
        return simulation_shape(self.shape, self.ndim)

    def _sigmas_px(self, na: float) -> tuple[float, ...]:
        lat, ax = gaussian_sigma_nm(na=na, wavelength_nm=self.wavelength_nm, ns=self.ns)
        lat_px = lat / self.pixel_size_nm
        return (lat_px, lat_px) if self.ndim == 2 else (ax / self.z_step_nm, lat_px, lat_px)

    @property
    def sigma_high_px(self) -> tuple[float, ...]:
        """σ per axis (high-res pixels) of the high-NA PSF that makes the targets."""
        return self._sigmas_px(self.na_high)

    @property
    def sigma_extra_px(self) -> tuple[float, ...]:
        """σ per axis (high-res pixels) of the extra blur k of the low-NA system: σ_low² − σ_high²."""
        return tuple(math.sqrt(max(lo**2 - hi**2, 0.0))
                     for lo, hi in zip(self._sigmas_px(self.na_low), self.sigma_high_px))


@dataclass
class ScalePair:
    """One simulated pair: `low` (input, ADU) and `high` (noise-free target in the input's ADU, factor× larger)."""

    low: np.ndarray
    high: np.ndarray
    photons: float


def simulate_pairs(sim: UpsampleSimulation, *, n: int | None = None, seed: int | None = None) -> list[ScalePair]:
    """Simulate `n` (default ``sim.n_images``) low/high pairs.

    Each pair: phantom → high-NA blur (peak 1) = the target's relative intensity; → extra low-NA blur,
    block mean (:func:`degrade`) → camera noise = the input. The target is the camera's expectation
    of that relative intensity (ADU, same camera), so input and target share units.
    """
    rng = np.random.default_rng(sim.seed if seed is None else seed)
    pairs = []
    for _ in range(n if n is not None else sim.n_images):
        obj = draw_object(sim, seed=int(rng.integers(2**31)))
        high = ndimage.gaussian_filter(obj, sim.sigma_high_px, mode="reflect", truncate=3.0)
        high = (high / max(float(high.max()), 1e-12)).astype(np.float32)
        low_rel = degrade(high, factor=sim.factor, sigma_px=sim.sigma_extra_px)
        photons = float(sim.photons * sim.photons_spread ** rng.uniform(-1, 1))
        cam = sim.camera.model_copy(update={"photons": photons, "background": sim.background * photons})
        low = apply_noise(low_rel, cam, seed=int(rng.integers(2**31)))
        pairs.append(ScalePair(low=low, high=cam.mean(high), photons=photons))
    return pairs


# --- calibration ----------------------------------------------------------------------------


def predict_superres(predictor, image: np.ndarray, meta: TiffMeta, *, tile=None, progress=None, task=None):
    """`fluorecon predict` for models whose output grid differs from the input's: upsampling
    (card ``scale`` > 1) and isotropic restoration (two-view fusion along z).

    Returns (mean, scale or None, output TiffMeta).
    """
    card = predictor.card
    if card.task == "isotropic":
        from fluorecon.tasks.isotropic.learned import restore_isotropic

        if task is not None and task != "isotropic":
            from fluorecon.infer import validate_input

            validate_input(image, card, axes=meta.axes, task=task)  # raises with the usual message
        out, out_meta = restore_isotropic(image, predictor, meta=meta, tile=tile, progress=progress)
        return out, None, out_meta
    mean, unc = predictor.predict(image, axes=meta.axes, tile=tile, progress=progress, task=task, return_scale=True)
    return mean, unc, output_meta(meta, card.scale, ndim=card.ndim)


# --- configs --------------------------------------------------------------------------------


class UpsampleConfig(BaseModel):
    """Everything that defines an upsampling model (CLI options, server body, card record)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["upsample"] = "upsample"
    method: Literal["care"] = Field("care", description="'care': interpolation + residual U-Net on low/high pairs.")
    name: str = Field("CARE upsampling", description="Model name shown in Fiji.")
    ndim: Literal[2, 3] = Field(2, description="2D (per plane) or 3D (per stack) model.")
    factor: Literal[2, 4] = Field(2, description="Upsampling factor per axis.")
    unet: UNetConfig | None = Field(None, description="U-Net on the fine grid; default depth 2, 16 filters, residual.")
    train: TrainConfig | None = Field(None, description="Optimisation; patch_size in INPUT (low-res) pixels.")
    simulation: UpsampleSimulation | None = Field(None, description="Simulation settings (for simulated data).")
    sigma_extra_px: tuple[float, ...] | None = Field(
        None, description="Forward-model blur σ per axis in output pixels (for --qc); default from the simulation.")
    norm: str = Field("percentile:1:99.8", description="Input normalization recorded in the card.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Share of pairs held out for validation metrics.")
    rl_iter: int = Field(10, ge=0, description="RL-TV iterations of the classical baseline (0 = skip).")

    @model_validator(mode="after")
    def _defaults(self) -> "UpsampleConfig":
        if self.unet is None:
            self.unet = UNetConfig(ndim=self.ndim, depth=2, filters=16, residual=True)
        if self.unet.ndim != self.ndim:
            raise ValueError(f"unet.ndim ({self.unet.ndim}) must equal ndim ({self.ndim}).")
        if self.train is None:
            patch = (32, 32) if self.ndim == 2 else (8, 16, 16)
            self.train = TrainConfig(patch_size=patch, batch_size=16 if self.ndim == 2 else 4)
        if len(self.train.patch_size) != self.ndim:
            raise ValueError(f"train.patch_size {self.train.patch_size} needs {self.ndim} entries.")
        m = input_multiple(self.unet, self.factor)
        if any(p % m for p in self.train.patch_size):
            raise ValueError(f"train.patch_size {self.train.patch_size} must be multiples of {m} (2**depth / factor).")
        if self.simulation is None:
            self.simulation = UpsampleSimulation(ndim=self.ndim, factor=self.factor)
        if self.simulation.ndim != self.ndim or self.simulation.factor != self.factor:
            raise ValueError("simulation.ndim/factor must equal ndim/factor.")
        parse_norm(self.norm)
        return self


# --- network --------------------------------------------------------------------------------


def input_multiple(unet: UNetConfig, factor: int) -> int:
    """Input tile multiple: f·(origin) must sit on the U-Net's 2**depth pooling grid."""
    return max(1, unet.multiple // factor)


def input_halo(unet: UNetConfig, factor: int) -> int:
    """Input halo: the U-Net's receptive-field radius in input pixels, +1 for the interpolation."""
    radius = math.ceil((unet.receptive_field() - 1) / 2)
    m = input_multiple(unet, factor)
    return -(-(math.ceil(radius / factor) + 1) // m) * m


class UpsampleNet(nn.Module):
    """(B, C, *S) → (B, C, *S·f): linear interpolation ×f (half-pixel centres), then a U-Net."""

    def __init__(self, unet: UNetConfig, factor: int):
        super().__init__()
        self.factor = int(factor)
        self.mode = "bilinear" if unet.ndim == 2 else "trilinear"
        self.unet = build_network(unet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=float(self.factor), mode=self.mode, align_corners=False)
        return self.unet(up)


def upsample_card(unet: UNetConfig, factor: int, *, tile_default: int | None = None, **fields) -> ModelCard:
    """Card of an :class:`UpsampleNet`: scale f per axis, input multiple and halo (tiling contract)."""
    base = unet_card(unet, **fields)
    n, m, h = unet.ndim, input_multiple(unet, factor), input_halo(unet, factor)
    tile = tile_default or (128 if n == 2 else 32)
    tile = max(tile, 4 * h, 2 * h + m)
    data = base.model_dump()
    data.update(tile_multiple=(m,) * n, tile_halo=(h,) * n, tile_default=(-(-tile // m) * m,) * n, scale=(factor,) * n)
    return ModelCard.model_validate(data)


def scaled_batches(pairs: Sequence[tuple[np.ndarray, np.ndarray]], config: TrainConfig, factor: int):
    """``batch(rng)``: `config.batch_size` random patches of (low, high) pairs cut at the same place in both
    (patch_size in low-res pixels), rotated/flipped alike when `config.augment`."""
    patch = tuple(config.patch_size)

    def batch(rng):
        xs, ys = [], []
        for _ in range(config.batch_size):
            x, y = pairs[rng.integers(len(pairs))]
            o = [int(rng.integers(0, s - p + 1)) for s, p in zip(x.shape, patch)]
            px = x[tuple(slice(a, a + p) for a, p in zip(o, patch))]
            py = y[tuple(slice(a * factor, (a + p) * factor) for a, p in zip(o, patch))]
            if config.augment:
                k = int(rng.integers(4)) if patch[-1] == patch[-2] else 2 * int(rng.integers(2))
                px, py = np.rot90(px, k, axes=(-2, -1)), np.rot90(py, k, axes=(-2, -1))
                if rng.integers(2):
                    px, py = px[..., ::-1], py[..., ::-1]
            xs.append(np.ascontiguousarray(px))
            ys.append(np.ascontiguousarray(py))
        return np.stack(xs)[:, None], np.stack(ys)[:, None]

    return batch


def train_scaled(network: nn.Module, pairs: Sequence[tuple[np.ndarray, np.ndarray]], config: TrainConfig,
                 factor: int, *, progress: bool = True) -> list[float]:
    """Train `network` (input grid → factor× grid) on normalized (low, high) pairs; patches are cut
    at the same place in both (patch_size in low-res pixels). Returns the loss per step."""
    patch = tuple(config.patch_size)
    for x, y in pairs:
        if x.ndim != len(patch) or any(s < p for s, p in zip(x.shape, patch)):
            raise ValueError(f"Training input of shape {x.shape} is smaller than patch_size {patch}.")
        if tuple(s * factor for s in x.shape) != y.shape:
            raise ValueError(f"Target shape {y.shape} is not factor {factor} × input shape {x.shape}.")

    batch = scaled_batches(pairs, config, factor)
    return fit_batches(network, config, batch, loss=lambda out, yb: loss_fn(config.loss, out.float(), yb),
                       progress=progress)


@torch.no_grad()
def predict_torch(network: nn.Module, image: np.ndarray) -> np.ndarray:
    network.eval()
    return network(torch.from_numpy(np.ascontiguousarray(image, np.float32))[None, None])[0, 0].numpy()


# --- baselines ------------------------------------------------------------------------------


def bicubic(image: np.ndarray, *, factor: int) -> np.ndarray:
    """Bicubic (tricubic) interpolation ×factor with half-pixel centres (skimage ``resize``, order 3)."""
    from skimage.transform import resize

    image = np.asarray(image, np.float32)
    shape = tuple(s * factor for s in image.shape)
    return resize(image, shape, order=3, mode="reflect", anti_aliasing=False, preserve_range=True).astype(np.float32)


def _tv_divergence(x: torch.Tensor) -> torch.Tensor:
    """div(∇x/|∇x|) with forward differences (periodic; the padding keeps the wrap out of the crop)."""
    grads = [torch.roll(x, -1, d) - x for d in range(x.ndim)]
    mag = torch.sqrt(sum(g * g for g in grads) + 1e-4)
    return sum(g / mag - torch.roll(g / mag, 1, d) for d, g in enumerate(grads))


def richardson_lucy_sr(image: np.ndarray, *, factor: int, sigma_px: Sequence[float], num_iter: int = 10,
                       tv: float = 0.01) -> np.ndarray:
    """Classical super-resolution: Richardson–Lucy with total-variation regularisation (Dey et al.,
    Microsc. Res. Tech. 69, 260 (2006)) against blur + downsample, normalised for ``Aᵀ1 ≠ 1``:
    ``x ← x · Aᵀ(y/Ax) / (Aᵀ1 − tv·div(∇x/|∇x|))``, started from bicubic, on a reflect-padded image
    (the operator is zero outside its grid).

    `image` is normalized (background near 0, peak near 1; `tv` is in those units: 0.01 was best of
    0, 0.01, 0.03, 0.1 on simulated 50–200-photon data, plain RL (tv = 0) amplifies the noise
    below bicubic). Returns the fine grid, float32.
    """
    image = np.asarray(image, np.float32)
    pad = int(math.ceil(3 * max(sigma_px) / factor)) + 2
    padded = np.pad(image, pad, mode="reflect")
    shift = max(0.0, -float(padded.min())) + 0.05  # RL needs positive data
    y = torch.from_numpy(padded + shift)
    op = physics_for(tuple(s * factor for s in padded.shape), factor=factor, sigma_px=sigma_px)
    x = torch.from_numpy(np.clip(bicubic(padded + shift, factor=factor), 1e-3, None))
    norm = op.A_adjoint(torch.ones_like(y)).clamp_(min=1e-6)
    for _ in range(num_iter):
        denom = norm - tv * _tv_divergence(x) if tv else norm
        x = x * op.A_adjoint(y / op.A(x).clamp_(min=1e-6)) / denom.clamp(min=0.2 * float(norm.mean()))
    crop = tuple(slice(pad * factor, (pad + s) * factor) for s in image.shape)
    return (x.numpy()[crop] - shift).astype(np.float32)


# --- data consistency -----------------------------------------------------------------------


def consistency(image: np.ndarray, result: np.ndarray, *, physics, noise=None) -> np.ndarray:
    """Data-consistency map of a super-resolved `result` against its low-res input `image` (both ADU).

    ``(y − A x̂) / sqrt(var(A x̂))``: ≈ N(0, 1) where the result explains the data; structure or a
    std ≫ 1 marks features the data do not support.

    Parameters
    ----------
    image : ndarray, ``physics.measurement_shape``
    result : ndarray, ``physics.image_shape``
    physics : :class:`~fluorecon.imaging.sampling.BlurDownsample`
    noise : CameraNoise, NoiseModel or None
        The camera (from a simulation) or a Poisson–Gaussian model; None estimates one from `image`
        (:func:`fluorecon.qc.noise_estimate.estimate_noise`).
    """
    noise = noise if noise is not None else estimate_noise(image)
    if isinstance(noise, CameraNoise):
        # consistency_map adds the offset to A(x̂): hand it x̂ without the offset (A keeps constants).
        return consistency_map(image, np.asarray(result, np.float32) - noise.offset, physics, noise)
    if not isinstance(noise, NoiseModel):
        raise ValueError(f"noise must be a CameraNoise, a NoiseModel or None, got {type(noise).__name__}.")
    predicted = physics.A(torch.as_tensor(np.asarray(result, np.float32))).cpu().numpy()
    y = np.asarray(image, np.float32)
    return ((y - predicted) / np.sqrt(noise.variance(predicted))).astype(np.float32)


def interior(array: np.ndarray, border: int) -> np.ndarray:
    """`array` without `border` pixels on each side (the zero-padded blur is wrong there)."""
    return array[tuple(slice(border, s - border) for s in array.shape)]


# --- training -------------------------------------------------------------------------------


def load_pairs(data_dir: str | os.PathLike, *, factor: int, ndim: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read DIR/low/*.tif (inputs) and DIR/high/*.tif (targets, factor× larger per axis), matched by name."""
    return core_pairs.load_pairs(data_dir, factor=factor, ndim=ndim, no_folders="{root} must contain low/ (inputs) and "
                                 "high/ (factor× larger targets); make one with `fluorecon simulate upsample --out DIR`.")


def write_pairs(out_dir: str | os.PathLike, pairs: list[ScalePair], sim: UpsampleSimulation) -> Path:
    """DIR/low/NNN.tif (coarse calibration), DIR/high/NNN.tif (fine) and DIR/simulation.json."""
    out = Path(out_dir)
    f = sim.factor
    fine = TiffMeta(axes="YX" if sim.ndim == 2 else "ZYX", pixel_size_um=sim.pixel_size_nm / 1000,
                    z_step_um=sim.z_step_nm / 1000 if sim.ndim == 3 else None)
    coarse = TiffMeta(axes=fine.axes, pixel_size_um=fine.pixel_size_um * f,
                      z_step_um=fine.z_step_um * f if fine.z_step_um else None)
    for i, p in enumerate(pairs):
        write_tiff(out / "low" / f"{i:03d}.tif", p.low, coarse, info=f"fluorecon simulate upsample: low, x{f}")
        write_tiff(out / "high" / f"{i:03d}.tif", p.high, fine, info="fluorecon simulate upsample: noise-free target")
    (out / "simulation.json").write_text(json.dumps(sim.model_dump(mode="json"), indent=2))
    return out


def normalize_scaled_pair(low: np.ndarray, high: np.ndarray, *, factor: int, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalize a (low, high) pair with the INPUT's percentiles after mapping the target into the
    input's units (affine fit of the input against the block-mean of the target)."""
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    a, b = match_to_input(degrade(high, factor=factor, sigma_px=(0.0,) * high.ndim), low)
    lo, hi = percentile_range(low, *parse_norm(norm))
    return normalize(low, lo, hi), normalize(high * np.float32(a) + np.float32(b), lo, hi)


def evaluate(pairs: list[tuple[np.ndarray, np.ndarray]], predict_fn: Callable[[np.ndarray], np.ndarray], *,
             factor: int, multiple: int, sigma_px: Sequence[float] | None, rl_iter: int) -> dict[str, str]:
    """PSNR/SSIM of bicubic, RL-TV super-resolution (key ``rl``) and the network on normalized validation pairs."""
    scores: dict[str, list[float]] = {}
    for x, y in pairs:
        x = x[tuple(slice(0, (s // multiple) * multiple) for s in x.shape)]
        y = y[tuple(slice(0, s * factor) for s in x.shape)]
        cands = {"bicubic": bicubic(x, factor=factor), "care": predict_fn(x)}
        if rl_iter and sigma_px is not None:
            cands["rl"] = richardson_lucy_sr(x, factor=factor, sigma_px=sigma_px, num_iter=rl_iter)
        for key, est in cands.items():
            scores.setdefault(f"val_psnr_{key}", []).append(psnr(est, y))
            scores.setdefault(f"val_ssim_{key}", []).append(ssim(est, y))
    out = {k: f"{np.mean(v):.4f}" for k, v in scores.items()}
    out["val_images"] = str(len(pairs))
    out["val_reference"] = "high-res target mapped to input units, normalized with the input's percentiles"
    return out


def train_upsample(config: UpsampleConfig, out_path: str | os.PathLike, *,
                   data: str | os.PathLike | list[tuple[np.ndarray, np.ndarray]] | None = None,
                   progress: bool = True, commit: str = "") -> tuple[ModelCard, Path]:
    """Train an upsampling model, evaluate it against bicubic and RL on held-out pairs, export ONNX
    (card with ``scale``) and a ``.pt`` checkpoint beside it.

    Parameters
    ----------
    config : UpsampleConfig
    out_path : path of the ``.onnx`` to write
    data : folder with low/ and high/, a list of (low, high) arrays, or None to simulate.

    Returns
    -------
    (card, onnx path)
    """
    sim, f = None, config.factor
    if data is None:
        sim = config.simulation
        raw = [(p.low, p.high) for p in simulate_pairs(sim)]
        source = "simulated phantoms (fluorecon.tasks.upsample.learned.simulate_pairs)"
    elif isinstance(data, (str, os.PathLike)):
        raw = load_pairs(data, factor=f, ndim=config.ndim)
        sim_file = Path(data) / "simulation.json"
        if sim_file.is_file():
            sim = UpsampleSimulation(**json.loads(sim_file.read_text()))
        source = f"folder {Path(data).name}"
    else:
        raw, source = list(data), "pairs given in memory"
    if len(raw) < 2:
        raise ValueError(f"Need at least 2 pairs (one for validation), got {len(raw)}.")
    sigma = config.sigma_extra_px or (sim.sigma_extra_px if sim is not None else None)
    n_val = max(1, int(round(len(raw) * config.val_fraction)))
    norm_pairs = [normalize_scaled_pair(x, y, factor=f, norm=config.norm) for x, y in raw]
    train_pairs, val_pairs = norm_pairs[:-n_val], norm_pairs[-n_val:]

    torch.manual_seed(config.train.seed)
    network = UpsampleNet(config.unet, f)
    losses = train_scaled(network, train_pairs, config.train, f, progress=progress)
    multiple = input_multiple(config.unet, f)
    metrics = evaluate(val_pairs, lambda x: predict_torch(network, x), factor=f, multiple=multiple,
                       sigma_px=sigma, rl_iter=config.rl_iter)
    w = max(1, min(20, len(losses) // 2))
    train_info = {
        "data": source, "pairs": str(len(raw) - n_val), "steps": str(config.train.steps),
        "batch_size": str(config.train.batch_size), "patch_size": ",".join(map(str, config.train.patch_size)),
        "lr": str(config.train.lr), "loss": config.train.loss, "seed": str(config.train.seed),
        "loss_first": f"{np.mean(losses[:w]):.5f}", "loss_last": f"{np.mean(losses[-w:]):.5f}",
        "unet": config.unet.model_dump_json(), "factor": str(f), "interpolation": network.mode,
        "target_units": "input (affine fit of the binned target to the input)", "commit": commit,
        "calibration": "output pixel size = input pixel size / scale",
    }
    qc = {}
    if sigma is not None:
        qc["forward_model"] = json.dumps({"name": "blur_downsample", "factor": [f] * config.ndim,
                                          "sigma_px": [round(s, 4) for s in sigma]})
    if sim is not None:
        train_info.update({"pixel_size_nm": str(sim.pixel_size_nm), "na_high": str(sim.na_high),
                           "na_low": str(sim.na_low), "photons": str(sim.photons), "phantom": sim.kind,
                           "noise_model": sim.camera.model_dump_json(), "seed_data": str(sim.seed)})
    card = upsample_card(config.unet, f, task="upsample", method=config.method, name=config.name, norm=config.norm,
                         cite=CITE, train=train_info, metrics=metrics, qc=qc,
                         description=f"CARE upsampling ×{f} ({config.ndim}D): {network.mode} interpolation + residual "
                                     "U-Net; output in the input's intensity units, pixel size / scale.")
    return card, save_model(network, out_path, card, config)


def physics_from_card(card: ModelCard, output_shape: Sequence[int], *, noise: CameraNoise | None = None) -> BlurDownsample:
    """The blur + downsample operator recorded in an upsampling card's ``qc.forward_model``."""
    if "forward_model" not in card.qc:
        raise ValueError(f"Model '{card.name}' records no forward model (qc.forward_model); "
                         "data consistency needs one (retrain with sigma_extra_px or simulated data).")
    fm = json.loads(card.qc["forward_model"])
    return physics_for(output_shape, factor=fm["factor"], sigma_px=fm["sigma_px"], noise=noise)


class ReflectForwardModel:
    """The card's blur + downsample applied to a result that is mirror-padded first, so the
    predicted measurement has no dark rim where :class:`BlurDownsample`'s zero-padded blur would
    leave one. Equals :func:`degrade` (scipy's "reflect" border) up to the kernel's truncation
    radius (``A`` only; for the consistency check)."""

    def __init__(self, factor: Sequence[int], sigma_px: Sequence[float]):
        self.factor = tuple(int(f) for f in factor)
        self.sigma_px = tuple(float(s) for s in sigma_px)
        # Pad by ≥ 3σ (the kernel's reach), rounded up to whole blocks so the crop is block-aligned.
        self.pad = tuple(-(-max(int(math.ceil(3 * s)), 0) // f) * f for s, f in zip(self.sigma_px, self.factor))

    def A(self, x) -> torch.Tensor:
        x = np.asarray(torch.as_tensor(x).cpu().numpy(), np.float32)
        padded = np.pad(x, [(p, p) for p in self.pad], mode="symmetric")  # scipy.ndimage "reflect"
        op = physics_for(padded.shape, factor=self.factor, sigma_px=self.sigma_px)
        y = op.A(torch.from_numpy(padded)).cpu().numpy()
        return torch.from_numpy(np.ascontiguousarray(
            y[tuple(slice(p // f, p // f + s // f) for p, f, s in zip(self.pad, self.factor, x.shape))]))


def unrepeat(image: np.ndarray, scale: Sequence[int]) -> np.ndarray:
    """Undo a nearest-neighbour ×`scale` repetition (how the plugin sends a low-resolution input
    beside its result on the result's grid); ValueError when `image` is not such a repetition."""
    image = np.asarray(image)
    scale = tuple(int(f) for f in scale)
    if len(scale) != image.ndim or any(f < 1 for f in scale) or any(s % f for s, f in zip(image.shape, scale)):
        raise ValueError(f"scale = {list(scale)} does not divide the image's shape {image.shape} (one factor per "
                         "spatial axis, (y, x) or (z, y, x)).")
    small = image[tuple(slice(None, None, f) for f in scale)]
    again = small
    for axis, f in enumerate(scale):
        again = np.repeat(again, f, axis=axis)
    if not np.array_equal(again, image):
        raise ValueError(f"Channel 1 is not the input repeated {list(scale)}× per axis (nearest neighbour); send the "
                         "raw input that way, or the input and result at the same size.")
    return small


def forward_model_from_card(card: ModelCard, ndim: int) -> ReflectForwardModel:
    """The card's ``qc.forward_model`` for an image of `ndim` axes: a 2D model's (f, f) applies per
    plane of a (Z, Y, X) stack as (1, f, f)."""
    if "forward_model" not in card.qc:
        raise ValueError(f"Model '{card.name}' records no forward model (qc.forward_model); the consistency check "
                         "of a result of another size needs one (retrain with --sigma-extra-px or simulated data).")
    fm = json.loads(card.qc["forward_model"])
    factor, sigma = list(fm["factor"]), list(fm["sigma_px"])
    if len(factor) == ndim - 1:
        factor, sigma = [1] + factor, [0.0] + sigma
    if len(factor) != ndim:
        raise ValueError(f"Model '{card.name}' has a {len(factor)}-axis forward model; the image has {ndim} axes.")
    return ReflectForwardModel(factor, sigma)


def check_superres(image: np.ndarray, result: np.ndarray, *, card: ModelCard, pixel_size_nm: float | None = None, out_dir: str | os.PathLike | None = None, meta=None):
    """Data consistency of a result on a finer grid than its input (upsampling, isotropic restoration).

    The card's forward model (blur + block mean, reflect borders) maps the `result` back onto the
    input's grid and :func:`fluorecon.qc.report.check_result` compares it with the `image` under a
    Poisson–Gaussian noise model estimated from the image: consistency.tif and its local score
    have the INPUT's shape and calibration (`meta`).

    Parameters
    ----------
    image : ndarray (Y, X) or (Z, Y, X)
        The raw low-resolution (or anisotropic) input, camera units.
    result : ndarray
        The model's output, ``factor`` × the input's shape per axis, the input's units.
    card : ModelCard
        Of the model that made the result (``qc.forward_model``; ``qc.*`` statistics for OOD).

    Returns
    -------
    QCReport
    """
    image = np.asarray(image, np.float32)
    result = np.asarray(result, np.float32)
    physics = forward_model_from_card(card, image.ndim)
    expected = tuple(s * f for s, f in zip(image.shape, physics.factor))
    if result.shape != expected:
        raise ValueError(f"The result has shape {result.shape}; model '{card.name}' maps input {image.shape} to "
                         f"{expected} (factor {physics.factor}). Give the input the result was made from.")
    report = check_result(image, result, card=card, physics=physics, pixel_size_nm=pixel_size_nm)
    report.summary["forward_model"] = {"factor": list(physics.factor), "sigma_px": list(physics.sigma_px),
                                       "border": "reflect"}
    if out_dir is not None:
        report.write(out_dir, meta)
    return report
