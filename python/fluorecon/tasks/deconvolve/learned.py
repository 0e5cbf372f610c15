"""Learned deconvolution: a CARE-style U-Net trained on simulated (blurred + noisy, sharp) pairs,
exported to ONNX with the PSF in its card, run locally (Fiji's Deconvolve… with method 'learned',
or `fluorecon deconvolve --method learned`). Weigert et al., Nat. Methods 2018.

The classical baseline on the same validation images is Richardson–Lucy (tasks/deconvolve.py)
with the same PSF; both figures go into the card's ``metrics.*``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.signal import fftconvolve

from fluorecon.export import export_onnx, unet_card
from fluorecon.imaging.noise import apply_noise
from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.qc.metrics import psnr, ssim
from fluorecon.qc.ood import training_statistics
from fluorecon.tasks.deconvolve.classical import richardson_lucy
from fluorecon.tasks.denoise.learned import DenoiseSimulation, make_psf
from fluorecon.tasks.denoise.simulate import draw_object
from fluorecon.train import TrainConfig, match_to_input, normalize_pair, predict_torch, train_network

CITE = "Weigert et al., Content-aware image restoration, Nature Methods 15, 1090 (2018)"


class LearnedDeconvolveConfig(BaseModel):
    """Training settings of a learned deconvolution model (2D)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("CARE deconvolution 2D", description="Model name shown in Fiji.")
    simulation: DenoiseSimulation = Field(
        default_factory=lambda: DenoiseSimulation(ndim=2, n_images=16, photons_low=60.0, photons_spread=1.5),
        description="Phantoms, PSF and camera; inputs are blurred + noisy, targets the sharp phantom.")
    steps: int = Field(400, ge=1, description="Optimizer steps.")
    filters: int = Field(16, ge=4, description="U-Net filters at the first level.")
    rl_iterations: int = Field(30, ge=1, description="Richardson–Lucy iterations of the classical baseline.")
    seed: int = 0


def simulate_deconvolution_pairs(sim: DenoiseSimulation, *, n: int, seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """(noisy blurred input in ADU, sharp phantom) pairs and the PSF that made them."""
    rng = np.random.default_rng(seed)
    psf = make_psf(sim)
    pairs = []
    for _ in range(n):
        obj = draw_object(sim, seed=int(rng.integers(2**31)))
        blurred = np.clip(fftconvolve(obj, psf, mode="same"), 0, None).astype(np.float32)
        photons = float(sim.photons_low * sim.photons_spread ** rng.uniform(-1, 1))
        camera = sim.camera.model_copy(update={"photons": photons, "background": sim.background * photons})
        pairs.append((apply_noise(blurred, camera, seed=int(rng.integers(2**31))), obj.astype(np.float32)))
    return pairs, psf


def _rl_baseline(image: np.ndarray, psf: np.ndarray, offset: float, num_iter: int) -> np.ndarray:
    return richardson_lucy(np.clip(image - offset, 0, None), psf, num_iter=num_iter)


def evaluate(val_raw: list[tuple[np.ndarray, np.ndarray]], predictors: dict, *, psf: np.ndarray, offset: float,
             rl_iterations: int, norm: str = "percentile:1:99.8") -> dict[str, str]:
    """PSNR/SSIM on held-out (raw input, sharp phantom) pairs of the normalized input, of each network
    (``predictors``: key → function of the normalized input) and of Richardson–Lucy with the same PSF."""
    scores: dict[str, list[float]] = {}
    for x, obj in val_raw:
        xn, yn = normalize_pair(x, obj, norm=norm)
        rl = _rl_baseline(x, psf, offset, rl_iterations)
        # RL estimates the object in photons, not in the reference's units: give it its best affine map.
        ca, cb = match_to_input(yn, rl)
        rl_units = ((rl - cb) / max(ca, 1e-12)).astype(np.float32)
        estimates = {"input": xn, **{key: fn(xn) for key, fn in predictors.items()}, "rl": rl_units}
        for key, est in estimates.items():
            scores.setdefault(f"val_psnr_{key}", []).append(psnr(est, yn))
            scores.setdefault(f"val_ssim_{key}", []).append(ssim(est, yn))
    metrics = {k: f"{np.mean(v):.4f}" for k, v in scores.items()}
    metrics["val_images"] = str(len(val_raw))
    metrics["rl_iterations"] = str(rl_iterations)
    return metrics


def train_learned_deconvolution(config: LearnedDeconvolveConfig, out_path: str | os.PathLike, *,
                                progress: bool = True):
    """Train, evaluate against Richardson–Lucy on held-out pairs, export ONNX (task 'deconvolve')."""
    import torch

    sim = config.simulation
    raw, psf = simulate_deconvolution_pairs(sim, n=sim.n_images, seed=sim.seed)
    n_val = max(1, len(raw) // 5)
    train_raw, val_raw = raw[:-n_val], raw[-n_val:]
    unet = UNetConfig(ndim=2, depth=2, filters=config.filters, residual=True)
    train_cfg = TrainConfig(steps=config.steps, batch_size=8, patch_size=(64, 64), seed=config.seed, loss="l1")
    torch.manual_seed(config.seed)
    network = build_network(unet)
    history = train_network(network, [normalize_pair(x, y, norm="percentile:1:99.8") for x, y in train_raw], train_cfg,
                            progress=progress)
    metrics = evaluate(val_raw, {"care": lambda x: predict_torch(network, x)}, psf=psf, offset=sim.camera.offset,
                       rl_iterations=config.rl_iterations)
    first, last = history.smoothed()
    train_info = {"data": "simulated phantoms blurred by the PSF + camera noise; target: sharp phantom",
                  "psf": sim.psf.model_dump_json(), "noise_model": sim.camera.model_dump_json(),
                  "pixel_size_nm": str(sim.psf.pixel_size_nm), "photons": str(sim.photons_low),
                  "steps": str(config.steps), "seed": str(config.seed), "device": history.device,
                  "loss_first": f"{first:.5f}", "loss_last": f"{last:.5f}", "unet": unet.model_dump_json()}
    card = unet_card(unet, task="deconvolve", method="care", name=config.name, cite=CITE, train=train_info,
                     metrics=metrics, description="Learned deconvolution (CARE U-Net, 2D), widefield PSF in train.psf; "
                     "output in the input's intensity units.",
                     qc=training_statistics([x for x, _ in train_raw], norm="percentile:1:99.8",
                                            pixel_size_nm=sim.psf.pixel_size_nm))
    out_path = Path(out_path)
    export_onnx(network, out_path, card)
    return card, out_path
