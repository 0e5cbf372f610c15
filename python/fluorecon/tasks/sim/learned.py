"""Learned SIM reconstruction: a network maps raw SIM frames (all 9 of a 3-angle × 3-phase set, or a
reduced set such as one phase per angle) at low light straight to the 2×-finer image.

Physics (:mod:`fluorecon.tasks.sim.physics`, :class:`SIMConfig`): raw frame ``(a, p)`` is
``noise(bin₂(h ⊛ (x · I_ap)))`` with the sinusoidal illumination ``I_ap`` and camera noise
(Poisson–Gaussian). Training triples come from that forward model: phantom ``x`` on the fine grid,
random pattern phases and modulation, small angle/spacing jitter around the nominal pattern that the
card records (``train.angles_deg``, ``train.line_spacing_nm``, ...), and a target that is ``x`` seen
at SIM resolution (Gaussian of σ = widefield σ · k_det / (k_det + k_pattern), :func:`sim_reference`),
mapped into the raw frames' units (affine fit of its 2×2 binning to the mean of the input frames), so
the output comes back in camera units like a widefield image, on a grid of pixel size / 2.

Network (:class:`SIMNet`): U-Net on the camera grid with one input channel per raw frame and 4
output channels, pixel-shuffled to the 2× grid, added to the bilinearly up-sampled frame mean
(Jin et al., Nat. Commun. 11, 1934 (2020), "DL-SIM"; Qiao et al., Nat. Methods 18, 194 (2021)).
All frames are normalized together with one percentile pair (the whole raw stack of one z plane), so
the Fiji plugin runs the model with the existing tiled inference, channels = raw frames. The card's
``train.frames`` lists which frames of the full set (angle-major, phase-minor) the model takes.

The data-consistency map re-simulates the raw frames from the result with the pattern of this
acquisition (:func:`sim_consistency`, through the classical module's ``resimulate_raw``) and
standardises the residual by the camera's Poisson–Gaussian variance.
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

from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import denormalize, normalize, parse_norm
from fluorecon.imaging.noise import SimulatedAcquisition
from fluorecon.imaging.phantoms import phantom
from fluorecon.nets.unet import UNetConfig, build_network
# Use-time half (frame order, prediction, data consistency), re-exported as this task's API.
from fluorecon.tasks.sim.predict import (TASK, card_frames, frame_index, normalize_frames,  # noqa: F401
                                               pattern_from_data, predict_sim, select_planes, sim_consistency,
                                               sim_ood, sim_training_statistics, stack_layout)
from fluorecon.train import TrainConfig, fit_batches, match_to_input, resolve_device
from fluorecon.tasks.sim.physics import SIMConfig, simulate_sim
from fluorecon.qc.metrics import psnr
from fluorecon.tasks.sim.classical import reconstruct_sim
from fluorecon.export import save_model

CITE = ("Jin et al., Deep learning enables structured illumination microscopy with low light levels and enhanced "
        "speed, Nat. Commun. 11, 1934 (2020); Gustafsson, J. Microsc. 198, 82 (2000)")


# --- simulation -----------------------------------------------------------------------------


class SIMLearnedSimulation(SimulatedAcquisition):
    """How training triples (raw frames, SIM-resolution target, widefield) are simulated (2D SIM)."""

    raw_shape: tuple[int, int] = Field((64, 64), description="Raw frame shape (Y, X); the object is 2× finer.")
    n_stacks: int = Field(48, ge=2, description="Number of simulated raw stacks.")
    n_angles: int = Field(3, ge=1, description="Pattern angles.")
    n_phases: int = Field(3, ge=1, description="Phases per angle.")
    pixel_size_nm: float = Field(80.0, gt=0, description="Raw camera pixel in sample space, nm (result: half).")
    na: float = Field(1.4, gt=0, description="Numerical aperture.")
    wavelength_nm: float = Field(520.0, gt=0, description="Emission wavelength, nm.")
    line_spacing_nm: float = Field(210.0, gt=0, description="Nominal pattern period, nm.")
    angle_offset_deg: float = Field(8.0, description="Nominal first pattern angle; the others every 180/A degrees.")
    angle_jitter_deg: float = Field(1.0, ge=0, description="Uniform jitter of the pattern angle per stack, degrees.")
    spacing_jitter: float = Field(0.02, ge=0, lt=0.5, description="Relative uniform jitter of the pattern period.")
    modulation: tuple[float, float] = Field((0.6, 0.9), description="Modulation depth drawn uniformly in this range.")
    photons: float = Field(30.0, gt=0, description="Peak photons per raw pixel and frame (low light).")
    photons_spread: float = Field(2.0, ge=1, description="Photons drawn log-uniformly in [p/spread, p·spread].")
    background: float = Field(0.05, ge=0, description="Background photons per pixel as a fraction of the peak.")
    seed: int = Field(0, description="Seed of phantoms, patterns and noise.")

    def sim_config(self, *, angle_offset_deg: float | None = None, line_spacing_nm: float | None = None,
                   phase_offsets_deg: Sequence[float] | None = None, modulation: float | None = None,
                   photons: float | None = None, raw_shape: Sequence[int] | None = None):
        """The forward model's :class:`~fluorecon.tasks.sim.physics.SIMConfig` for one stack (nominal by default)."""
        h, w = raw_shape or self.raw_shape
        p = self.photons if photons is None else photons
        cam = self.camera.model_copy(update={"photons": p, "background": self.background * p})
        return SIMConfig(
            mode="2d", image_shape=(2 * h, 2 * w), n_angles=self.n_angles, n_phases=self.n_phases,
            pixel_size_nm=self.pixel_size_nm, na=self.na, wavelength_nm=self.wavelength_nm,
            line_spacing_nm=self.line_spacing_nm if line_spacing_nm is None else line_spacing_nm,
            angle_offset_deg=self.angle_offset_deg if angle_offset_deg is None else angle_offset_deg,
            phase_offsets_deg=None if phase_offsets_deg is None else [float(v) for v in phase_offsets_deg],
            modulation=float(np.mean(self.modulation)) if modulation is None else modulation, noise=cam)


def sim_sigma_px(config) -> float:
    """σ (fine-grid pixels) of the Gaussian PSF at SIM resolution: the widefield Gaussian σ
    (0.21 λ/NA, Zhang et al. 2007) shrunk by the OTF support gain k_det / (k_det + k_pattern)."""
    k_det = 2 * config.na / config.wavelength_nm
    k_pat = 1.0 / config.line_spacing_nm
    sigma_nm = 0.21 * config.wavelength_nm / config.na * k_det / (k_det + k_pat)
    return sigma_nm / (config.pixel_size_nm / 2)


def sim_reference(truth: np.ndarray, config) -> np.ndarray:
    """The object `truth` (fine grid, relative) as an ideal SIM would resolve it: the reference for
    training targets and PSNR."""
    return ndimage.gaussian_filter(np.asarray(truth, np.float32), sim_sigma_px(config), mode="reflect",
                                   truncate=3.0).astype(np.float32)


@dataclass
class SIMTriple:
    """One simulated acquisition: `raw` (A·P, H, W) ADU in angle-major order, `truth` (2H, 2W)
    relative object, `reference` (2H, 2W) SIM-resolution object, and the exact `config` used."""

    raw: np.ndarray
    truth: np.ndarray
    reference: np.ndarray
    config: object


def simulate_triples(sim: SIMLearnedSimulation, *, n: int | None = None, seed: int | None = None) -> list[SIMTriple]:
    """`n` (default ``sim.n_stacks``) raw stacks with random phases, modulation and small pattern jitter."""
    rng = np.random.default_rng(sim.seed if seed is None else seed)
    out = []
    h, w = sim.raw_shape
    for _ in range(n if n is not None else sim.n_stacks):
        obj = phantom((2 * h, 2 * w), kind=sim.kind, seed=int(rng.integers(2**31)))
        obj = (obj / max(float(obj.max()), 1e-12)).astype(np.float32)
        cfg = sim.sim_config(
            angle_offset_deg=sim.angle_offset_deg + rng.uniform(-1, 1) * sim.angle_jitter_deg,
            line_spacing_nm=sim.line_spacing_nm * (1 + rng.uniform(-1, 1) * sim.spacing_jitter),
            phase_offsets_deg=rng.uniform(0, 360, sim.n_angles),
            modulation=float(rng.uniform(*sim.modulation)),
            photons=float(sim.photons * sim.photons_spread ** rng.uniform(-1, 1)))
        data = simulate_sim(obj, cfg, seed=int(rng.integers(2**31)), device="cpu")
        raw = np.asarray(data.raw, np.float32).reshape((-1,) + tuple(data.raw.shape[-2:]))
        out.append(SIMTriple(raw=raw, truth=obj, reference=sim_reference(obj, cfg), config=cfg))
    return out


# --- frames and normalization ---------------------------------------------------------------


def default_frames(n_angles: int, n_phases: int, count: int | None) -> tuple[int, ...]:
    """Frames of a reduced set, as indices into the full angle-major set: all frames (None or A·P),
    one phase per angle (count = A: the first phase of each angle), or the first `count` frames."""
    full = n_angles * n_phases
    if count is None or count == full:
        return tuple(range(full))
    if count == n_angles:
        return tuple(a * n_phases for a in range(n_angles))
    if 1 <= count < full:
        return tuple(range(count))
    raise ValueError(f"frames = {count} is not possible with {n_angles} angles × {n_phases} phases; "
                     f"use 1..{full}.")


def block_mean(image: np.ndarray, factor: int = 2) -> np.ndarray:
    """Mean over factor×factor blocks (the camera's binning of the fine grid)."""
    h, w = (s // factor for s in image.shape[-2:])
    return image[..., : h * factor, : w * factor].reshape(*image.shape[:-2], h, factor, w, factor).mean(axis=(-3, -1))


def training_pair(triple: SIMTriple, frames: Sequence[int], *, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalized (input frames (n, H, W), target (2H, 2W)); the target is the SIM-resolution
    reference mapped into the frames' units by an affine fit of its binning to their mean."""
    x = triple.raw[list(frames)]
    a, b = match_to_input(block_mean(triple.reference), x.mean(0))
    xn, lo, hi = normalize_frames(x, norm=norm)
    target = triple.reference * np.float32(a) + np.float32(b)
    return xn, normalize(target, lo, hi)


# --- network --------------------------------------------------------------------------------


class SIMNet(nn.Module):
    """(B, n_frames, H, W) → (B, 1, 2H, 2W): U-Net on the camera grid (4 output channels,
    pixel-shuffled) added to the bilinearly up-sampled mean of the frames. The head starts at
    zero, so an untrained net returns the widefield image."""

    def __init__(self, unet: UNetConfig):
        super().__init__()
        if unet.channels_out != 4 or unet.residual or unet.ndim != 2:
            raise ValueError("SIMNet needs a 2D U-Net with channels_out = 4 and residual = False.")
        self.unet = build_network(unet)
        nn.init.zeros_(self.unet.head.weight)
        nn.init.zeros_(self.unet.head.bias)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x.mean(1, keepdim=True), scale_factor=2.0, mode="bilinear", align_corners=False)
        return base + self.shuffle(self.unet(x))


def sim_halo(unet: UNetConfig) -> int:
    """Input halo: the U-Net's receptive-field radius + 1 (bilinear base), rounded up to 2**depth."""
    radius = math.ceil((unet.receptive_field() - 1) / 2) + 1
    return -(-radius // unet.multiple) * unet.multiple


def sim_card(unet: UNetConfig, *, n_frames: int, tile_default: int = 128, **fields) -> ModelCard:
    """Card of a :class:`SIMNet`: channels_in = raw frames, scale 2, halo from the receptive field."""
    m, h = unet.multiple, sim_halo(unet)
    tile = max(tile_default, 4 * h, 2 * h + m)
    return ModelCard(task=TASK, axes_in="bcyx", axes_out="bcyx", channels_in=n_frames, channels_out=1,
                     tile_multiple=(m, m), tile_halo=(h, h), tile_default=(-(-tile // m) * m,) * 2, scale=(2, 2),
                     outputs="mean", **fields)


# --- config ---------------------------------------------------------------------------------


class SIMLearnedConfig(BaseModel):
    """Everything that defines a learned SIM model (CLI options, card record)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["sim"] = "sim"
    method: Literal["learned"] = Field("learned", description="'learned': U-Net on raw frames → 2× grid.")
    name: str = Field("Learned SIM 2D", description="Model name shown in Fiji.")
    frames: tuple[int, ...] | None = Field(None, description="Frames the model takes, as indices into the full "
                                                             "angle-major set; None = all A·P frames.")
    n_frames: int | None = Field(None, ge=1, description="Shortcut for `frames`: A·P (all) or A (one phase per angle).")
    unet: UNetConfig | None = Field(None, description="Camera-grid U-Net; default depth 3, 16 filters.")
    train: TrainConfig | None = Field(None, description="Optimisation; patch_size in raw (camera) pixels.")
    simulation: SIMLearnedSimulation | None = Field(None, description="Simulation settings.")
    norm: str = Field("percentile:1:99.8", description="Normalization of the raw frames (one pair per z plane).")
    val_stacks: int = Field(4, ge=1, description="Simulated stacks held out for validation metrics.")
    classical_wiener: float = Field(0.3, gt=0, description="Wiener parameter of the classical baseline in the card "
                                                         "(0.3: best of 0.02, 0.05, 0.1, 0.3, 1 on 16–300-photon stacks).")

    @model_validator(mode="after")
    def _defaults(self) -> "SIMLearnedConfig":
        if self.simulation is None:
            self.simulation = SIMLearnedSimulation()
        s = self.simulation
        if self.frames is None:
            self.frames = default_frames(s.n_angles, s.n_phases, self.n_frames)
        full = s.n_angles * s.n_phases
        if any(f < 0 or f >= full for f in self.frames) or len(set(self.frames)) != len(self.frames):
            raise ValueError(f"frames {self.frames} must be distinct indices in 0..{full - 1} "
                             f"({s.n_angles} angles × {s.n_phases} phases).")
        if self.n_frames is not None and self.n_frames != len(self.frames):
            raise ValueError(f"n_frames = {self.n_frames} but frames lists {len(self.frames)}.")
        if self.unet is None:
            self.unet = UNetConfig(ndim=2, depth=3, filters=16, channels_in=len(self.frames), channels_out=4,
                                   residual=False)
        if self.unet.channels_in != len(self.frames):
            raise ValueError(f"unet.channels_in ({self.unet.channels_in}) must equal the number of frames "
                             f"({len(self.frames)}).")
        if self.train is None:
            self.train = TrainConfig(patch_size=(32, 32), batch_size=16, steps=1000, lr=2e-3, augment=False)
        m = self.unet.multiple
        if len(self.train.patch_size) != 2 or any(p % m for p in self.train.patch_size):
            raise ValueError(f"train.patch_size {self.train.patch_size} must be 2 multiples of {m} (2**depth).")
        parse_norm(self.norm)
        return self


# --- training -------------------------------------------------------------------------------


def _train(network: SIMNet, pairs: list[tuple[np.ndarray, np.ndarray]], config: TrainConfig, *,
           progress: bool) -> list[float]:
    """Random patches (same place on both grids), L1 loss, AdamW with cosine decay. No flips or
    rotations: they would turn the pattern away from the angles the model is made for."""
    patch = tuple(config.patch_size)

    def batch(rng):
        xs, ys = [], []
        for _ in range(config.batch_size):
            x, y = pairs[rng.integers(len(pairs))]
            oy, ox = (int(rng.integers(0, s - p + 1)) for s, p in zip(x.shape[-2:], patch))
            xs.append(x[:, oy:oy + patch[0], ox:ox + patch[1]])
            ys.append(y[2 * oy:2 * (oy + patch[0]), 2 * ox:2 * (ox + patch[1])])
        return np.stack(xs), np.stack(ys)[:, None]

    # raw frames carry sharp moiré; without clipping, single batches threw training off (loss ×10)
    return fit_batches(network, config, batch, loss=F.l1_loss, clip_grad_norm=0.5, progress=progress)


def fit_network(config: SIMLearnedConfig, triples: list[SIMTriple], *, progress: bool = True) -> tuple[SIMNet, list[float]]:
    """Train a :class:`SIMNet` for `config` on simulated `triples`; (network on CPU, loss per step)."""
    pairs = [training_pair(t, list(config.frames), norm=config.norm) for t in triples]
    torch.manual_seed(config.train.seed)
    network = SIMNet(config.unet)
    return network, _train(network, pairs, config.train, progress=progress)


def save_triples(path: str | os.PathLike, triples: list[SIMTriple]) -> None:
    """Training triples as one .npz (raw and reference as float16: 0.1 ADU steps, far below the noise)."""
    np.savez_compressed(path, raw=np.stack([t.raw for t in triples]).astype(np.float16),
                        reference=np.stack([t.reference for t in triples]).astype(np.float16))


def load_triples(path: str | os.PathLike) -> list[SIMTriple]:
    """Triples written by :func:`save_triples` (truth and config are not kept: enough to train)."""
    with np.load(path) as f:
        return [SIMTriple(raw=r.astype(np.float32), truth=None, reference=g.astype(np.float32), config=None)
                for r, g in zip(f["raw"], f["reference"])]


@torch.no_grad()
def _predict_torch(network: SIMNet, frames: np.ndarray) -> np.ndarray:
    m = network.unet.config.multiple
    h, w = (s // m * m for s in frames.shape[-2:])
    return network(torch.from_numpy(np.ascontiguousarray(frames[:, :h, :w]))[None])[0, 0].numpy()


def fit_psnr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """PSNR (dB, reference's data range) after the least-squares affine map of `estimate` onto
    `reference`: methods whose outputs come in different units are compared on equal terms."""
    a, b = match_to_input(estimate, reference)
    return psnr(estimate * np.float32(a) + np.float32(b), reference)


def classical_reconstruction(triple: SIMTriple, *, wiener: float = 0.05, estimate: bool = False) -> np.ndarray:
    """The classical Wiener-SIM result (fine grid) of a simulated stack, with the exact pattern
    (``estimate=False``) or an estimated one."""
    cfg = triple.config
    raw = triple.raw.reshape(cfg.n_angles, -1, *triple.raw.shape[-2:])
    background = cfg.noise.offset + cfg.noise.gain * cfg.noise.background if cfg.noise is not None else None
    result = reconstruct_sim(raw, cfg.model_copy(update={"noise": None}), estimate=estimate, wiener=wiener,
                             background=background, device="cpu")
    return np.asarray(result.image, np.float32)


def evaluate(triples: list[SIMTriple], predict_fn: Callable[[np.ndarray], np.ndarray], *, frames: Sequence[int],
             wiener: float = 0.05, classical: bool = True) -> dict[str, str]:
    """PSNR (after an affine fit) against the SIM-resolution reference of: widefield (bilinear ×2 of the
    mean of all frames), the classical Wiener SIM (all frames, exact pattern) and the network."""
    scores: dict[str, list[float]] = {}
    for t in triples:
        ref = t.reference
        wf = t.raw.mean(0)
        wf_up = F.interpolate(torch.from_numpy(wf)[None, None], scale_factor=2.0, mode="bilinear",
                              align_corners=False)[0, 0].numpy()
        cands = {"widefield": wf_up, "learned": predict_fn(t.raw[list(frames)])}
        if classical:
            cands["classical"] = classical_reconstruction(t, wiener=wiener)
        for key, est in cands.items():
            h, w = est.shape
            scores.setdefault(f"val_psnr_{key}", []).append(fit_psnr(est, ref[:h, :w]))
    out = {k: f"{np.mean(v):.4f}" for k, v in scores.items()}
    out["val_stacks"] = str(len(triples))
    out["val_reference"] = ("object blurred to SIM resolution (fluorecon.tasks.sim.learned.sim_reference); "
                            "each result affinely fitted to it before PSNR")
    return out


def train_sim(config: SIMLearnedConfig, out_path: str | os.PathLike, *, progress: bool = True, commit: str = "",
              data: tuple[list[SIMTriple], list[SIMTriple]] | None = None,
              pretrained: dict | None = None) -> tuple[ModelCard, Path]:
    """Simulate, train, evaluate against widefield and classical SIM, export ONNX with its card
    (``scale`` 2, ``channels.in`` = frames, ``train.*`` = frames, order and SIM parameters).

    `data` = (training, validation) triples made by :func:`simulate_triples` with
    ``config.simulation`` (to share one simulation between models); None simulates them.
    `pretrained` = ``{"state_dict", "losses", "device"}`` from :func:`fit_network` run elsewhere
    (e.g. on a GPU machine): training is skipped, evaluation and export run here.
    """
    sim = config.simulation
    if data is None:
        data = (simulate_triples(sim), simulate_triples(sim, n=config.val_stacks, seed=sim.seed + 10_000))
    triples, val = data
    frames = list(config.frames)
    if pretrained is None:
        network, losses = fit_network(config, triples, progress=progress)
        device = str(resolve_device(config.train.device))
    else:
        network = SIMNet(config.unet)
        network.load_state_dict(pretrained["state_dict"])
        network.eval()
        losses, device = list(pretrained["losses"]), str(pretrained["device"])

    def predict_fn(x: np.ndarray) -> np.ndarray:
        xn, lo, hi = normalize_frames(x, norm=config.norm)
        return denormalize(_predict_torch(network, xn), lo, hi)

    metrics = evaluate(val, predict_fn, frames=frames, wiener=config.classical_wiener)
    w = max(1, min(20, len(losses) // 2))
    train_info = {
        "data": "simulated SIM raw stacks (fluorecon.tasks.sim.learned.simulate_triples, imaging.sim forward model)",
        "stacks": str(sim.n_stacks), "steps": str(config.train.steps), "batch_size": str(config.train.batch_size),
        "patch_size": ",".join(map(str, config.train.patch_size)), "lr": str(config.train.lr),
        "seed": str(config.train.seed), "device": device,
        "loss_first": f"{np.mean(losses[:w]):.5f}", "loss_last": f"{np.mean(losses[-w:]):.5f}",
        "unet": config.unet.model_dump_json(), "commit": commit,
        "frames": ",".join(map(str, frames)), "frames_used": str(len(frames)),
        "frame_order": "angle-major, phase-minor (frame = angle·n_phases + phase); z outside or inside per stack order",
        "n_angles": str(sim.n_angles), "n_phases": str(sim.n_phases),
        "angles_deg": ",".join(f"{sim.angle_offset_deg + a * 180.0 / sim.n_angles:.3f}" for a in range(sim.n_angles)),
        "angle_offset_deg": str(sim.angle_offset_deg), "angle_jitter_deg": str(sim.angle_jitter_deg),
        "line_spacing_nm": str(sim.line_spacing_nm), "spacing_jitter": str(sim.spacing_jitter),
        "phases": "random per angle (uniform 0-360 degrees), steps of 360/n_phases",
        "modulation": f"{sim.modulation[0]}-{sim.modulation[1]}", "na": str(sim.na),
        "wavelength_nm": str(sim.wavelength_nm), "pixel_size_nm": str(sim.pixel_size_nm),
        "photons": f"{sim.photons} (x/÷{sim.photons_spread})", "background": str(sim.background),
        "noise_model": sim.camera.model_dump_json(), "phantom": sim.kind, "raw_shape": ",".join(map(str, sim.raw_shape)),
        "seed_data": str(sim.seed), "target": "object blurred to SIM resolution, mapped into the raw frames' units",
        "calibration": "output pixel size = input pixel size / 2",
        "norm_scope": "one percentile pair over all frames of a z plane",
    }
    qc = {"forward_model": json.dumps({"name": "sim", "n_angles": sim.n_angles, "n_phases": sim.n_phases,
                                       "angle_offset_deg": sim.angle_offset_deg,
                                       "line_spacing_nm": sim.line_spacing_nm, "na": sim.na,
                                       "wavelength_nm": sim.wavelength_nm, "pixel_size_nm": sim.pixel_size_nm})}
    qc.update(sim_training_statistics(triples[:16], frames, norm=config.norm, pixel_size_nm=sim.pixel_size_nm))
    qc["source"] = "training raw stacks (up to 16, the model's frames), computed at training time"
    card = sim_card(config.unet, n_frames=len(frames), method=config.method, name=config.name, norm=config.norm,
                    cite=CITE, train=train_info, metrics=metrics, qc=qc,
                    description=f"Learned 2D SIM from {len(frames)} of {sim.n_angles}×{sim.n_phases} raw frames "
                                f"(frames {','.join(map(str, frames))}): U-Net on the camera grid, pixel shuffle ×2; "
                                "output in the raw frames' units, pixel size / 2.")
    return card, save_model(network, out_path, card, config)


def training_config(n_frames: int, *, steps: int, device: str = "auto", sim: SIMLearnedSimulation | None = None,
                    batch_size: int = 32, patch: int = 48, filters: int = 16, val_stacks: int = 8, seed: int = 0,
                    name: str = "") -> SIMLearnedConfig:
    """The training of the shipped learned-SIM models (`fluorecon train sim`, scripts/train_sim_models.py):
    depth-3 U-Net, `n_frames` of the 3 × 3 raw frames, no augmentation (it would rotate the pattern)."""
    sim = sim or SIMLearnedSimulation(raw_shape=(64, 64), n_stacks=160, photons=30.0, photons_spread=2.0, seed=1)
    return SIMLearnedConfig(
        name=name or (f"Learned SIM 2D, {n_frames} frames (simulated, NA {sim.na:g}, {sim.line_spacing_nm:g} nm "
                      "pattern, low light)"),
        n_frames=n_frames, simulation=sim, val_stacks=val_stacks,
        unet=UNetConfig(ndim=2, depth=3, filters=filters, channels_in=n_frames, channels_out=4, residual=False),
        train=TrainConfig(steps=steps, batch_size=batch_size, patch_size=(patch, patch), lr=5e-4, seed=seed,
                          augment=False, device=device))
