"""Train the shipped resolution models on CPU (fixed seeds, 1 thread) and print their
models/README.md rows:

* `models/care_upsample2x_2d.onnx`   — upsampling ×2 (bicubic and RL-TV baselines in the card);
* `models/care_isotropic_2d.onnx`    — isotropic restoration, z step = 4× pixel (z-interpolation baseline);
* `models/care_crossmodal_2d.onnx`   — widefield → confocal translation (widefield input baseline).

    .venv/bin/python scripts/train_superres_models.py                    # all three
    .venv/bin/python scripts/train_superres_models.py --only isotropic   # one of upsample|isotropic|crossmodal
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import torch

from fluorecon.core.modelcard import write_card
from fluorecon.nets.unet import UNetConfig
from fluorecon.tasks.crossmodal.learned import CrossModalConfig, CrossModalSimulation, train_crossmodal
from fluorecon.tasks.isotropic.learned import IsotropicConfig, IsotropicSimulation, train_isotropic
from fluorecon.tasks.upsample.learned import UpsampleConfig, UpsampleSimulation, train_upsample
from fluorecon.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"

CONFIG = UpsampleConfig(
    name="CARE upsampling x2 2D (simulated widefield, NA 0.8 -> 1.4)", ndim=2, factor=2,
    unet=UNetConfig(ndim=2, depth=2, filters=8),
    train=TrainConfig(steps=500, batch_size=8, patch_size=(32, 32), lr=3e-3, seed=0, device="cpu"),
    simulation=UpsampleSimulation(ndim=2, factor=2, shape=(256, 256), n_images=16, seed=1),
    val_fraction=0.2,
)

# L2 loss (the conditional mean; the L1 median of sparse bright structure sits below it: the
# former L1 model read 4.5 ADU dark, QC residual mean +0.5), flips only (no 90° rotations, which
# moved the degraded axis) and the stacks' own noise on the degraded samples (training_pairs):
# PSNR 23.7 -> 28.1 dB, axial FRC 351 -> 338 nm, QC residual mean +0.51 -> -0.03 on seed 20261126.
ISOTROPIC = IsotropicConfig(
    name="CARE isotropic 2D (simulated widefield, z step 4x pixel)", z_factor=4,
    unet=UNetConfig(ndim=2, depth=2, filters=16, residual=True),
    train=TrainConfig(steps=300, batch_size=8, patch_size=(48, 48), lr=3e-3, loss="l2", seed=0, device="cpu"),
    simulation=IsotropicSimulation(shape=(48, 128, 128), z_factor=4, n_stacks=4, seed=1),
    val_fraction=0.25,
)

CROSSMODAL = CrossModalConfig(
    name="Widefield to confocal 2D (simulated, NA 1.2, 1 AU)", modality_in="widefield",
    modality_out="confocal (1 AU pinhole)",
    unet=UNetConfig(ndim=2, depth=2, filters=16, residual=True),
    train=TrainConfig(steps=300, batch_size=8, patch_size=(64, 64), lr=3e-3, seed=0, device="cpu"),
    simulation=CrossModalSimulation(shape=(128, 128), n_images=10, seed=1),
    val_fraction=0.2,
)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _training(path: Path, card) -> str:
    return (f"{path.stat().st_size / 1e6:.2f} | {card.train['steps']} steps × {card.train['batch_size']} patches "
            f"{card.train['patch_size']}, {card.train.get('wall_seconds', '?')} s wall on a shared 2-core CPU |")


def readme_row(path: Path, card) -> str:
    m = card.metrics
    if card.task == "isotropic":
        return (f"| `{path.name}` | isotropic / care (z ×{card.train['z_factor']}) | {card.axes_in} | z-interpolation "
                f"{m['val_psnr_interp']} / {m['val_ssim_interp']}, axial FRC {m['val_axial_frc_nm_interp']} nm | "
                f"**{m['val_psnr_care']} / {m['val_ssim_care']}, axial FRC {m['val_axial_frc_nm_care']} nm** | "
                + _training(path, card))
    if card.task == "crossmodal":
        return (f"| `{path.name}` | crossmodal / care ({card.train['modality_in']} → {card.train['modality_out']}) | "
                f"{card.axes_in} | widefield input {m['val_psnr_input']} / {m['val_ssim_input']} | "
                f"**{m['val_psnr_care']} / {m['val_ssim_care']}** | " + _training(path, card))
    return (f"| `{path.name}` | upsample / care (×2) | {card.axes_in} | bicubic {m['val_psnr_bicubic']} / "
            f"{m['val_ssim_bicubic']}; RL-TV {m.get('val_psnr_rl', '–')} / {m.get('val_ssim_rl', '–')} | "
            f"**{m['val_psnr_care']} / {m['val_ssim_care']}** | " + _training(path, card))


JOBS = {
    "upsample": ("care_upsample2x_2d.onnx", lambda out: train_upsample(CONFIG, out, commit=_commit())),
    "isotropic": ("care_isotropic_2d.onnx", lambda out: train_isotropic(ISOTROPIC, out, commit=_commit())),
    "crossmodal": ("care_crossmodal_2d.onnx", lambda out: train_crossmodal(CROSSMODAL, out, commit=_commit())),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(JOBS), help="Train one model only.")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine is shared; 2 threads bought nothing
    for key in [args.only] if args.only else list(JOBS):
        name, run = JOBS[key]
        start = time.time()
        card, path = run(MODELS / name)
        path.with_suffix(".pt").unlink()  # reproducible from this script; keep the repo small
        card.train["wall_seconds"] = str(round(time.time() - start))
        write_card(path, card)
        print(card.metrics)
        print(readme_row(path, card), flush=True)


if __name__ == "__main__":
    main()
