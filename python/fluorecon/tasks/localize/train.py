"""Training the localisation networks end to end: simulate, train, pick the peak threshold on a validation set,
export with the card and its out-of-distribution statistics. `fluorecon train localize` and
scripts/train_smlm_models.py (the shipped models/deepstorm_2d.onnx, models/decode_2d.onnx) both call
:func:`train_localize`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fluorecon.core.modelcard import ModelCard, write_card
from fluorecon.nets.localization import LocalizationNetConfig
from fluorecon.qc.smlm_metrics import score_localizations
from fluorecon.tasks.localize.learned import (LocalizationModel, TrainLocalizeConfig, export_localization_net,
                                              localization_card, peaks_from_output, predict_torch,
                                              simulate_training_set, train_localization_net)
from fluorecon.tasks.localize.physics import SMLMConfig

#: Threshold candidates per method (Deep-STORM: density; DECODE: summed probability).
CANDIDATES = {"deepstorm": [1, 2, 3, 4, 5, 6, 8, 10, 12], "decode": [0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]}


def training_config(method: str, *, steps: int, pixel_size_nm: float = 100.0, sigma_nm: float = 130.0,
                    photons: float = 2000.0, background: float = 20.0, camera: str = "emccd",
                    density_range: tuple[float, float] = (0.1, 3.0), num_samples: int = 2048, batch_size: int = 8,
                    patch: int = 32, filters: int = 16, lr: float = 2e-3, seed: int = 0,
                    device: str = "auto") -> TrainLocalizeConfig:
    """The training of the shipped models at the defaults; the acquisition (pixel size, PSF σ, photons,
    background, camera) is the user's to set."""
    sim = SMLMConfig(structure="uniform", camera=camera, pixel_size_nm=pixel_size_nm, sigma_nm=sigma_nm,
                     photons=photons, photons_log_sigma=0.3, background=background)
    return TrainLocalizeConfig(net={"method": method, "scale": 4 if method == "deepstorm" else 1, "filters": filters},
                               simulation=sim, density_range=density_range, patch=patch, num_samples=num_samples,
                               steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device)


def calibrate(method: str, run: Callable[[np.ndarray], np.ndarray], scale: int, cfg: TrainLocalizeConfig, *,
              n_val: int = 48) -> tuple[float, dict[str, str]]:
    """Threshold with the best mean Jaccard over a low (the range's lowest 0.2 /µm²) and a high (its highest
    1 /µm²) density validation set of 64×64 filament frames — a pooled set would be dominated by the crowded
    frames' emitters — and the validation metrics at that threshold. `run` maps normalised inputs to outputs."""
    lo, hi = cfg.density_range
    sets = {}
    for label, dens in (("low", (lo, min(lo + 0.2, hi))), ("high", (max(hi - 1.0, lo), hi))):
        # Validation on filaments (training used uniform emitters): crowded lines are where
        # false positives and merges show, and where users' data look like.
        sim = cfg.simulation.model_copy(update={"structure": "filaments"})
        val = cfg.model_copy(update={"density_range": dens, "simulation": sim, "patch": 64})
        xv, _, tv = simulate_training_set(val, seed=99, num_samples=n_val)
        sets[label] = (run(xv), tv)
    px = cfg.simulation.pixel_size_nm

    def scores(thr):
        return {label: score_localizations(tv, peaks_from_output(method, out, scale=scale, pixel_size_nm=px,
                                                                 threshold=thr)) for label, (out, tv) in sets.items()}

    thr = max(CANDIDATES[method], key=lambda t: sum(s.jaccard for s in scores(t).values()))
    metrics = {}
    for label, score in scores(thr).items():
        metrics[f"val_jaccard_{label}_density"] = f"{score.jaccard:.3f}"
        metrics[f"val_rmse_nm_{label}_density"] = f"{score.rmse_lateral_nm:.1f}"
    return float(thr), metrics


def train_localize(cfg: TrainLocalizeConfig, out: str | os.PathLike, *, name: str, progress: bool = False,
                   n_val: int = 48, qc_inputs: int = 96, log=print) -> ModelCard:
    """Train, calibrate the threshold, export `out` (ONNX + card) and add the card's ``qc.*`` statistics from
    `qc_inputs` fresh draws of the training simulation (and half as many to calibrate). Returns the card."""
    from fluorecon.qc.training_inputs import add_card_statistics

    method = LocalizationNetConfig(**cfg.net).method
    t0 = time.time()
    net, net_cfg, losses = train_localization_net(cfg, progress=progress)
    log(f"{method}: trained {cfg.steps} steps in {time.time() - t0:.0f} s; loss {np.mean(losses[:20]):.4g} -> "
        f"{np.mean(losses[-50:]):.4g}")
    thr, metrics = calibrate(method, lambda x: predict_torch(net, x), net_cfg.scale, cfg, n_val=n_val)
    card = localization_card(net_cfg, cfg, name=name, threshold=thr, metrics=metrics)
    path = export_localization_net(net, net_cfg, out, card)
    add_card_statistics(path, qc_inputs)
    return LocalizationModel(path).card


def recalibrate(method: str, path: str | os.PathLike) -> ModelCard:
    """Pick the threshold again for an exported model (after a change in peak extraction) and rewrite its
    card; the weights stay as they are."""
    model = LocalizationModel(path)
    card = model.card
    t = card.train
    cfg = training_config(method, steps=int(t.get("steps", 0)) or 1, pixel_size_nm=float(t["pixel_size_nm"]),
                          sigma_nm=float(t["psf_sigma_nm"]), photons=float(t["photons"]),
                          background=float(t["background_photons"]), camera=t.get("camera", "emccd"),
                          density_range=tuple(float(v) for v in t["density_per_um2"].split("-")))
    thr, metrics = calibrate(method, lambda x: np.concatenate([model.run(x[i:i + 64]) for i in range(0, len(x), 64)]),
                             card.scale[0], cfg)
    extraction = localization_card(LocalizationNetConfig(**cfg.net), cfg, name="", threshold=thr).train["peak_extraction"]
    card = card.model_copy(update={"train": {**t, "threshold": f"{thr:g}", "peak_extraction": extraction},
                                   "metrics": metrics})
    write_card(Path(path), card)
    return card
