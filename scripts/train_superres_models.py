"""Train the shipped super-resolution model `models/care_upsample2x_2d.onnx` on CPU (fixed seeds,
1 thread) and print its models/README.md row.

    .venv/bin/python scripts/train_superres_models.py
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import torch

from fluorecon.core.modelcard import write_card
from fluorecon.nets.unet import UNetConfig
from fluorecon.tasks.upsample import UpsampleConfig, UpsampleSimulation, train_upsample
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


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def readme_row(path: Path, card) -> str:
    m = card.metrics
    return (f"| `{path.name}` | upsample / care (×2) | {card.axes_in} | bicubic {m['val_psnr_bicubic']} / "
            f"{m['val_ssim_bicubic']}; RL-TV {m.get('val_psnr_rl', '–')} / {m.get('val_ssim_rl', '–')} | "
            f"**{m['val_psnr_care']} / {m['val_ssim_care']}** | {path.stat().st_size / 1e6:.2f} | "
            f"{card.train['steps']} steps × {card.train['batch_size']} patches {card.train['patch_size']} (input px), "
            f"{card.train.get('wall_seconds', '?')} s wall on a shared 2-core CPU |")


def main() -> None:
    torch.set_num_threads(1)  # the machine is shared; 2 threads bought nothing
    start = time.time()
    out = MODELS / "care_upsample2x_2d.onnx"
    card, path = train_upsample(CONFIG, out, commit=_commit())
    path.with_suffix(".pt").unlink()  # reproducible from this script; keep the repo small
    card.train["wall_seconds"] = str(round(time.time() - start))
    write_card(path, card)
    print(card.metrics)
    print(readme_row(path, card))


if __name__ == "__main__":
    main()
