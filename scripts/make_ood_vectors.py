"""Generate tests/vectors/ood.json and its images: the OOD check's figures on a few small inputs.

fluorecon.qc.ood (Python) and org.fluorecon.core.OodCheck (Java, run by every Fiji command that runs a
model) must compute the same features, distance and verdict. tests/qc/test_ood_vectors.py and
OodCheckTest (JUnit) both check their numbers against these files. Inputs: an input simulated from the
shipped 2D CARE denoiser's recorded training settings (in distribution), the same ×1000 (intensity scale),
an 8-bit photograph (skimage's camera, structure and noise unlike fluorescence), odd-sized and long
stacks (non-power-of-two FFTs, plane subsampling), a fallback card without ``qc.features`` and a pixel
size that differs from training. Usage: python scripts/make_ood_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tifffile

from fluorecon.core.modelcard import read_card
from fluorecon.qc.noise_estimate import estimate_noise
from fluorecon.qc.ood import check_input, image_features, training_statistics
from fluorecon.qc.training_inputs import training_inputs

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "vectors"
MODEL = ROOT / "models" / "care_denoise_2d.onnx"


def case(name: str, image: np.ndarray, qc: dict, norm: str, pixel_size_nm: float | None = None,
         file: str | None = None) -> dict:
    """One vector; `file` names an image an earlier case wrote (the same input against other statistics)."""
    image = np.asarray(image, np.float32)
    if file is None:
        file = f"ood_{name}.tif"
        tifffile.imwrite(OUT / file, image, imagej=True)  # (Z, Y, X) planes or one (Y, X) plane, float32
    planes = image.reshape((-1,) + image.shape[-2:])
    report = check_input(image, qc, norm=norm, pixel_size_nm=pixel_size_nm)
    noise = estimate_noise(planes[np.linspace(0, len(planes) - 1, min(len(planes), 16)).round().astype(int)])
    return {"name": name, "image": file, "shape": list(image.shape), "norm": norm, "qc": qc,
            "pixel_size_nm": pixel_size_nm, "features": image_features(image, norm),
            "noise": {"a": noise.a, "b": noise.b}, "scores": report.scores,
            "in_distribution": report.in_distribution, "warnings": report.warnings}


def main() -> None:
    from skimage import data

    card = read_card(MODEL)
    qc, norm = dict(card.qc), card.norm
    inside = training_inputs(card, n=1, seed=20261206)[0][:96, :128]
    rng = np.random.default_rng(5)
    camera = data.camera()[::4, ::4].astype(np.float32)  # 128 x 128, 8-bit values
    odd = rng.poisson(50 + 40 * np.sin(np.arange(37)[:, None] / 5) * np.cos(np.arange(50)[None, :] / 7),
                      size=(3, 37, 50)).astype(np.float32)
    long = (100 + rng.normal(0, 5, (20, 24, 40)) + 30 * (np.arange(40) > 20)).astype(np.float32)
    few = training_inputs(card, n=4, seed=7)
    fallback = training_statistics(few, norm=norm)  # quantiles and noise only, as a card without features
    cases = [
        case("in_distribution", inside, qc, norm),
        case("brighter_x1000", inside * 1000, qc, norm),
        case("camera_8bit", camera, qc, norm),
        case("odd_stack", odd, qc, norm),
        case("long_stack", long, qc, norm),
        case("fallback_card", inside, fallback, norm, file="ood_in_distribution.tif"),
        case("other_pixel_size", inside, qc, norm, pixel_size_nm=float(qc["pixel_size_nm"]) / 2,
             file="ood_in_distribution.tif"),
    ]
    (OUT / "ood.json").write_text(json.dumps({"model": MODEL.name, "cases": cases}, indent=1) + "\n")
    for c in cases:
        print(c["name"], c["in_distribution"], round(c["scores"].get("distance", float("nan")), 3))


if __name__ == "__main__":
    main()
