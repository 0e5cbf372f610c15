"""Train the shipped learned-deconvolution model models/care_deconvolve_2d.onnx (CPU, minutes).
Usage: python scripts/train_deconv_model.py [--steps N]"""

import argparse
from pathlib import Path

from fluorecon.tasks.deconvolve.learned import LearnedDeconvolveConfig, train_learned_deconvolution

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    card, path = train_learned_deconvolution(LearnedDeconvolveConfig(steps=args.steps), ROOT / "models" / "care_deconvolve_2d.onnx")
    print(path, card.metrics)
