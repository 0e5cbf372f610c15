"""Train the shipped SMLM models (models/deepstorm_2d.onnx, models/decode_2d.onnx) on simulated
frames, pick each one's peak threshold on a validation set, and export with the card.

    .venv/bin/python scripts/train_smlm_models.py [--method deepstorm|decode|both] [--steps N] [--threads N]

CPU minutes each at the defaults (2 threads); CUDA when present. Seeded: the same command gives the
same model on the same machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from fluorecon.imaging.smlm import SMLMConfig
from fluorecon.qc.smlm_metrics import score_localizations
from fluorecon.tasks.localize import (TrainLocalizeConfig, calibrate_threshold, deepstorm_peaks, decode_peaks,
                                      export_localization_net, localization_card, predict_torch,
                                      simulate_training_set, train_localization_net)

ROOT = Path(__file__).resolve().parents[1]


def train_one(method: str, steps: int, out: Path) -> None:
    sim = SMLMConfig(structure="uniform", camera="emccd", pixel_size_nm=100, sigma_nm=130, photons=2000,
                     photons_log_sigma=0.3, background=20)
    cfg = TrainLocalizeConfig(net={"method": method, "scale": 4 if method == "deepstorm" else 1, "filters": 16},
                              simulation=sim, density_range=(0.1, 3.0), patch=32, num_samples=2048,
                              steps=steps, batch_size=8, lr=2e-3, seed=0)
    t0 = time.time()
    net, net_cfg, losses = train_localization_net(cfg, progress=True)
    print(f"{method}: trained {steps} steps in {time.time() - t0:.0f} s; loss {np.mean(losses[:20]):.4g} -> "
          f"{np.mean(losses[-50:]):.4g}", flush=True)
    val = cfg.model_copy(update={"density_range": (0.1, 3.0)})
    x, _, truth = simulate_training_set(val, seed=1234, num_samples=256)
    thr, jac = calibrate_threshold(net, net_cfg, x, truth, pixel_size_nm=sim.pixel_size_nm)
    metrics = {"val_jaccard": f"{jac:.3f}"}
    for label, dens in (("low", (0.1, 0.3)), ("high", (2.0, 3.0))):
        xv, _, tv = simulate_training_set(cfg.model_copy(update={"density_range": dens}), seed=99, num_samples=128)
        outv = predict_torch(net, xv)
        found = (deepstorm_peaks(outv[:, 0], scale=net_cfg.scale, pixel_size_nm=100, threshold=thr)
                 if method == "deepstorm" else decode_peaks(outv, pixel_size_nm=100, threshold=thr))
        score = score_localizations(tv, found)
        metrics[f"val_jaccard_{label}_density"] = f"{score.jaccard:.3f}"
        metrics[f"val_rmse_nm_{label}_density"] = f"{score.rmse_lateral_nm:.1f}"
    print(f"{method}: threshold {thr:g}, metrics {metrics}", flush=True)
    card = localization_card(net_cfg, cfg, name=f"{method} 2D (100 nm px, EMCCD, simulated)", threshold=thr,
                             metrics=metrics)
    export_localization_net(net, net_cfg, out, card)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="both", choices=["deepstorm", "decode", "both"])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for method in (["deepstorm", "decode"] if args.method == "both" else [args.method]):
        train_one(method, args.steps, args.out / f"{method}_2d.onnx")


if __name__ == "__main__":
    main()
