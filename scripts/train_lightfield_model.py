#!/usr/bin/env python3
"""Train the shipped learned light-field model models/lightfield_vcd.onnx (`make models`).

VCD-style view → volume network (fluorecon.tasks.lightfield.learned) for the core light-field
optics' defaults: 20×/0.5 NA water, 100 µm lenslets with f = 2 mm, nnum = 11, nine planes from
−16 to +16 µm every 4 µm. Trained on simulated beads + 3D filaments through the wave-optics
projector, validated on held-out volumes against one back-projection and Richardson–Lucy.
Prints the models/README.md row. Fixed seeds; a few minutes on a shared 2-core CPU.

    .venv/bin/python scripts/train_lightfield_model.py [--steps N] [--out PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import torch

from fluorecon.core.modelcard import write_card
from fluorecon.nets.vcd import VCDConfig
from fluorecon.tasks.lightfield.learned import LearnedLightFieldConfig, LearnedLightFieldSimulation
from fluorecon.tasks.lightfield.train import train_lightfield_learned
from fluorecon.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def config(steps: int) -> LearnedLightFieldConfig:
    return LearnedLightFieldConfig(
        name="VCD light-field 20x/0.5, nnum 11, 9 planes",
        net=VCDConfig(nnum=11, z_planes=9, filters=32, depth=1, fine_filters=8),
        train=TrainConfig(steps=steps, batch_size=8, patch_size=(12, 12), lr=3e-3, loss="l2", seed=0, device="auto"),
        simulation=LearnedLightFieldSimulation(n_volumes=48, n_lenslets=(16, 16), seed=0),
        rl_iter=8,
    )


def readme_row(path: Path, card) -> str:
    m = card.metrics
    return (f"| `{path.name}` | `scripts/train_lightfield_model.py` ({card.train['steps']} steps × "
            f"{card.train['batch_size']} patches of {card.train['patch_lenslets']} lenslets, "
            f"{card.train.get('wall_seconds', '?')} s) | {card.train['pairs']} simulated bead + 3D-filament volumes, "
            f"20×/0.5 NA, nnum 11, 9 planes −16…16 µm, beads σ 1–2.5 voxels, 300–3000 photons | held-out volumes, fitted PSNR: "
            f"back-projection {float(m['val_psnr_backprojection']):.1f}, RL ({m.get('val_rl_iter', '?')} it.) "
            f"{float(m.get('val_psnr_rl', 'nan')):.1f}, VCD {float(m['val_psnr_vcd']):.1f} dB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "lightfield_vcd.onnx")
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.time()
    card, path = train_lightfield_learned(config(args.steps), args.out, commit=_commit())
    path.with_suffix(".pt").unlink()  # reproducible from this script; keep the repo small
    card.train["wall_seconds"] = str(round(time.time() - start))
    write_card(path, card)
    print(card.metrics)
    print(readme_row(path, card), flush=True)


if __name__ == "__main__":
    main()
