"""Training of the learned light-field model (:mod:`fluorecon.tasks.lightfield.learned`): simulated
volumes of beads and 3D filaments projected by the wave-optics model, lenslet-aligned patches with
the lateral flips and turns the optics allow, validation against one back-projection and
Richardson–Lucy, ONNX export with the card."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import normalize, parse_norm, percentile_range
from fluorecon.export import save_model
from fluorecon.imaging.phantoms import phantom
from fluorecon.nets.vcd import build_vcd
from fluorecon.qc.ood import training_statistics
from fluorecon.tasks.lightfield.classical import backproject, bead_volume, richardson_lucy_lightfield
from fluorecon.tasks.lightfield.model import (LearnedLightFieldConfig, LearnedLightFieldSimulation, lightfield_card,
                                                psnr_fitted, views_as_channels)
from fluorecon.tasks.lightfield.physics import LightField, LightFieldConfig
from fluorecon.train import TrainConfig, loss_fn, match_to_input, resolve_device


# --- simulation -----------------------------------------------------------------------------


def training_volume(shape: Sequence[int], *, nnum: int, rng: np.random.Generator, beads: tuple[int, int] = (8, 40),
                    sigma_px: tuple[float, float] = (1.0, 2.5), filaments: bool = False) -> np.ndarray:
    """A (Z, Y, X) volume of beads and, with `filaments`, 3D filaments; peak 1, float32."""
    shape = tuple(int(s) for s in shape)
    n = int(rng.integers(beads[0], beads[1] + 1))
    volume, _ = bead_volume(shape, n_beads=n, seed=int(rng.integers(2**31)),
                            sigma_px=float(rng.uniform(*sigma_px)))
    volume = np.asarray(volume, np.float32)
    volume = volume / max(float(volume.max()), 1e-12)
    if filaments:
        fil = phantom(shape, kind="filaments", seed=int(rng.integers(2**31))).astype(np.float32)
        volume = volume + float(rng.uniform(0.3, 1.0)) * fil / max(float(fil.max()), 1e-12)
    return (volume / max(float(volume.max()), 1e-12)).astype(np.float32)


def simulate_training_pairs(physics, sim: LearnedLightFieldSimulation, *, n: int | None = None,
                            seed: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` (light field in photo-electrons + read noise, true volume) pairs drawn through `physics`.

    Each volume (peak 1) is scaled to a log-uniform peak photon count, projected (``A``), a flat
    background added, then Poisson shot noise and Gaussian read noise applied.
    """
    rng = np.random.default_rng(sim.seed if seed is None else seed)
    pairs = []
    with torch.no_grad():
        for _ in range(n if n is not None else sim.n_volumes):
            volume = training_volume(physics.image_shape, nnum=physics.nnum, rng=rng, beads=sim.beads,
                                     sigma_px=sim.bead_sigma_px, filaments=bool(rng.uniform() < sim.filaments))
            photons = float(np.exp(rng.uniform(np.log(sim.photons[0]), np.log(sim.photons[1]))))
            mean = physics.A(torch.as_tensor(volume * photons, device=physics.device)).cpu().numpy()
            mean = np.clip(mean, 0, None) + sim.background * photons
            lf = rng.poisson(mean).astype(np.float32) + rng.normal(0, sim.read_noise_e, mean.shape).astype(np.float32)
            pairs.append((lf, volume))
    return pairs


def normalized_pair(lf: np.ndarray, volume: np.ndarray, physics, *, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """(normalized light field, target volume ``a·x``) with ``lf' ≈ a·A(x) + b`` (module docstring)."""
    lo, hi = percentile_range(lf, *parse_norm(norm))
    lfn = normalize(lf, lo, hi)
    with torch.no_grad():
        projected = physics.A(torch.as_tensor(volume, device=physics.device)).cpu().numpy()
    a, _ = match_to_input(projected, lfn)
    return lfn, (np.float32(a) * np.asarray(volume, np.float32)).astype(np.float32)


# --- training -------------------------------------------------------------------------------


def _augment(lf: np.ndarray, volume: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # The light-field PSF of square lenslets under a round pupil is symmetric under lateral flips and
    # 90° turns of the whole image (lenslet grid and pixels inside a lenslet turn together).
    k = int(rng.integers(4))
    lf, volume = np.rot90(lf, k, axes=(-2, -1)), np.rot90(volume, k, axes=(-2, -1))
    if rng.integers(2):
        lf, volume = lf[..., ::-1], volume[..., ::-1]
    return np.ascontiguousarray(lf), np.ascontiguousarray(volume)


def train_vcd(network, pairs: list[tuple[np.ndarray, np.ndarray]], config: TrainConfig, *, nnum: int,
              progress: bool = False) -> list[float]:
    """Train on lenslet-aligned random patches of (normalized light field, target volume) pairs."""
    device = resolve_device(config.device)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    network.to(device).train()
    opt = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps, pct_start=0.1,
                                                final_div_factor=100)
    py, px = config.patch_size
    losses = []
    start = time.perf_counter()
    for step in range(config.steps):
        xs, ys = [], []
        for _ in range(config.batch_size):
            lf, vol = pairs[int(rng.integers(len(pairs)))]
            ny, nx = lf.shape[0] // nnum, lf.shape[1] // nnum
            i, j = int(rng.integers(0, ny - py + 1)) * nnum, int(rng.integers(0, nx - px + 1)) * nnum
            lfp = lf[i:i + py * nnum, j:j + px * nnum]
            vp = vol[:, i:i + py * nnum, j:j + px * nnum]
            if config.augment and py == px:
                lfp, vp = _augment(lfp, vp, rng)
            xs.append(views_as_channels(lfp, nnum=nnum))
            ys.append(vp)
        xb = torch.from_numpy(np.stack(xs)).to(device)
        yb = torch.from_numpy(np.stack(ys)).to(device)
        loss = loss_fn(config.loss, network(xb).float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress and (step + 1) % max(1, config.steps // 10) == 0:
            print(f"  step {step + 1}/{config.steps} loss {np.mean(losses[-20:]):.5f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    network.eval().cpu()
    return losses


@torch.no_grad()
def predict_torch(network, lf_normalized: np.ndarray, *, nnum: int) -> np.ndarray:
    """Whole-image torch prediction of a normalized light field (no tiling): (Z, Y, X)."""
    network.eval()
    views = torch.from_numpy(views_as_channels(lf_normalized, nnum=nnum))[None]
    return network(views)[0].numpy()


# --- validation, export ----------------------------------------------------------------


def evaluate(pairs: list[tuple[np.ndarray, np.ndarray]], physics, predict_fn: Callable[[np.ndarray], np.ndarray], *,
             rl_iter: int) -> dict[str, str]:
    """Fitted PSNR (:func:`psnr_fitted`) of one back-projection, RL and the network vs the true volumes."""
    scores: dict[str, list[float]] = {}
    for lf, volume in pairs:
        cands = {"backprojection": backproject(lf, physics), "vcd": predict_fn(lf)}
        if rl_iter:
            cands["rl"] = richardson_lucy_lightfield(lf, physics, num_iter=rl_iter)
        for key, est in cands.items():
            scores.setdefault(f"val_psnr_{key}", []).append(psnr_fitted(est, volume))
    out = {k: f"{np.mean(v):.4f}" for k, v in scores.items()}
    out["val_volumes"] = str(len(pairs))
    out["val_reference"] = "true volume (peak 1); PSNR after a least-squares affine fit of each estimate"
    if rl_iter:
        out["val_rl_iter"] = str(rl_iter)
    return out


def train_lightfield_learned(config: LearnedLightFieldConfig, out_path: str | os.PathLike, *, progress: bool = True,
                             commit: str = "", cache_dir: str | os.PathLike | None = None) -> tuple[ModelCard, Path]:
    """Simulate pairs, train the view → volume network, validate against one back-projection and
    Richardson–Lucy, export ONNX with its card and a ``.pt`` checkpoint beside it.

    Returns
    -------
    (card, onnx path)
    """
    optics = config.lightfield_optics()
    sim = config.simulation
    physics = LightField.from_config(LightFieldConfig(n_lenslets=sim.n_lenslets, optics=optics), cache_dir=cache_dir)
    raw = simulate_training_pairs(physics, sim)
    n_val = max(1, int(round(len(raw) * config.val_fraction)))
    pairs = [normalized_pair(lf, vol, physics, norm=config.norm) for lf, vol in raw]
    torch.manual_seed(config.train.seed)
    network = build_vcd(config.net)
    start = time.perf_counter()
    losses = train_vcd(network, pairs[:-n_val], config.train, nnum=optics.nnum, progress=progress)
    seconds = time.perf_counter() - start
    metrics = evaluate(raw[-n_val:], physics, lambda lf: predict_torch(
        network, normalize(lf, *percentile_range(lf, *parse_norm(config.norm))), nnum=optics.nnum),
        rl_iter=config.rl_iter)
    w = max(1, min(20, len(losses) // 2))
    train_info = {
        "data": "simulated beads + 3D filaments through fluorecon.tasks.lightfield.physics.LightField",
        "simulation": sim.model_dump_json(), "pairs": str(len(raw) - n_val), "steps": str(config.train.steps),
        "batch_size": str(config.train.batch_size), "patch_lenslets": ",".join(map(str, config.train.patch_size)),
        "lr": str(config.train.lr), "loss": config.train.loss, "seed": str(config.train.seed),
        "loss_first": f"{np.mean(losses[:w]):.5f}", "loss_last": f"{np.mean(losses[-w:]):.5f}",
        "seconds": f"{seconds:.0f}", "commit": commit,
    }

    qc = training_statistics([lf for lf, _ in raw[:-n_val]][:16], norm=config.norm,
                             pixel_size_nm=optics.voxel_size_um * 1000)
    qc["source"] = "training light fields (up to 16), computed at training time"
    card = lightfield_card(config.net, optics, name=config.name, norm=config.norm, train=train_info, metrics=metrics,
                           qc=qc)
    out_path = Path(out_path)
    m = config.net.multiple
    side = max(2 * card.tile_halo[0] + m, 2 * m)
    return card, save_model(network, out_path, card, config, example_shape=(1, optics.nnum**2, side, side))


def load_checkpoint(path: str | os.PathLike):
    """(network, config) from a ``.pt`` written by :func:`train_lightfield_learned`."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    config = LearnedLightFieldConfig(**state["config"])
    network = build_vcd(config.net)
    network.load_state_dict(state["state_dict"])
    return network.eval(), config
