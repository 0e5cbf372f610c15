"""Train the shipped SMLM models (models/deepstorm_2d.onnx, models/decode_2d.onnx): the same training as
`fluorecon train localize` (fluorecon.tasks.localize.train) with the shipped names and steps.

    .venv/bin/python scripts/train_smlm_models.py [--method deepstorm|decode|both] [--steps N] [--threads N]

CPU minutes each at the defaults (2 threads); CUDA when present. Seeded: the same command gives the
same model on the same machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fluorecon.tasks.localize.train import recalibrate, train_localize, training_config

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="both", choices=["deepstorm", "decode", "both"])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    parser.add_argument("--calibrate-only", action="store_true",
                        help="Keep the exported weights; choose the peak threshold again and rewrite the card.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for method in (["deepstorm", "decode"] if args.method == "both" else [args.method]):
        path = args.out / f"{method}_2d.onnx"
        if args.calibrate_only:
            card = recalibrate(method, path)
        else:
            card = train_localize(training_config(method, steps=args.steps), path, progress=True,
                                  name=f"{method} 2D (100 nm px, EMCCD, simulated)")
        print(f"{path}: threshold {card.train['threshold']}, metrics {card.metrics}", flush=True)


if __name__ == "__main__":
    main()
