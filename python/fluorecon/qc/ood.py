"""Out-of-distribution warnings: compare an input with the training statistics in the model card.

A network asked to restore an image unlike its training data can still return a confident-looking
result (Belthangady & Royer 2019, "generalization"). Before trusting a result, fluorecon compares
three things with what the model saw in training, all stored in the card under ``qc.*``:

- the intensity distribution after the model's own normalization (quantiles),
- the noise level in normalized units (Poisson–Gaussian estimate, qc/noise_estimate.py),
- the pixel size (a model trained at 100 nm sees structures twice as large at 50 nm).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fluorecon.core.normalize import normalize, parse_norm, percentile_range
from fluorecon.qc.noise_estimate import estimate_noise

QUANTILES = (1, 5, 25, 50, 75, 95, 99)
QUANTILE_TOLERANCE = 0.15
NOISE_RATIO_RANGE = (0.5, 2.0)
PIXEL_SIZE_TOLERANCE = 0.2


@dataclass
class OODReport:
    """Warnings in words, and the figures behind them."""

    warnings: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def in_distribution(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict:
        return {"in_distribution": self.in_distribution, "warnings": self.warnings, "scores": self.scores}


def _fmt(values) -> str:
    return ",".join(f"{v:.6g}" for v in values)


def image_statistics(image: np.ndarray, norm: str) -> tuple[np.ndarray, float]:
    """Normalized-intensity quantiles and noise standard deviation (normalized units) of one image."""
    image = np.asarray(image, dtype=np.float32)
    lo, hi = percentile_range(image, *parse_norm(norm))
    quantiles = np.percentile(normalize(image, lo, hi), QUANTILES)
    model = estimate_noise(image.reshape((-1,) + image.shape[-2:]))
    noise = float(np.sqrt(model.variance(np.median(image)))) / max(hi - lo, 1e-6)
    return quantiles, noise


def training_statistics(images: list[np.ndarray], *, norm: str, pixel_size_nm: float | None = None) -> dict[str, str]:
    """The ``qc.*`` card entries for a set of raw training inputs."""
    stats = [image_statistics(im, norm) for im in images]
    out = {
        "input_quantiles": _fmt(np.mean([q for q, _ in stats], axis=0)),
        "quantile_levels": _fmt(QUANTILES),
        "noise_std_norm": f"{float(np.median([n for _, n in stats])):.6g}",
    }
    if pixel_size_nm:
        out["pixel_size_nm"] = f"{pixel_size_nm:.6g}"
    return out


def check_input(image: np.ndarray, qc: dict[str, str], *, norm: str, pixel_size_nm: float | None = None) -> OODReport:
    """Compare one raw input with a card's ``qc`` statistics; the report says what differs and by how much."""
    report = OODReport()
    if "input_quantiles" not in qc:
        report.warnings.append("The model card has no training statistics; this input cannot be checked "
                               "against the training data (re-export the model with fluorecon ≥ 0.1).")
        return report
    quantiles, noise = image_statistics(image, norm)
    train_q = np.array([float(v) for v in qc["input_quantiles"].split(",")])
    shift = float(np.max(np.abs(quantiles - train_q)))
    report.scores["quantile_shift"] = shift
    if shift > QUANTILE_TOLERANCE:
        report.warnings.append(f"Intensity distribution differs from the training data (normalized quantiles "
                               f"differ by up to {shift:.2f}, tolerance {QUANTILE_TOLERANCE}); e.g. much more "
                               "background or saturated regions than in training.")
    if "noise_std_norm" in qc:
        ratio = noise / max(float(qc["noise_std_norm"]), 1e-12)
        report.scores["noise_ratio"] = ratio
        if not NOISE_RATIO_RANGE[0] <= ratio <= NOISE_RATIO_RANGE[1]:
            report.warnings.append(f"Noise level is {ratio:.2f}× that of the training data (accepted "
                                   f"{NOISE_RATIO_RANGE[0]}–{NOISE_RATIO_RANGE[1]}×); the model may remove real "
                                   "structure or leave noise. Train on images like this one.")
    if pixel_size_nm and "pixel_size_nm" in qc:
        rel = pixel_size_nm / float(qc["pixel_size_nm"])
        report.scores["pixel_size_ratio"] = rel
        if abs(rel - 1) > PIXEL_SIZE_TOLERANCE:
            report.warnings.append(f"Pixel size {pixel_size_nm:g} nm differs from training ({qc['pixel_size_nm']} nm) "
                                   f"by {abs(rel - 1) * 100:.0f}%; structures appear at another scale than the model learned.")
    return report


def ensemble_disagreement(predictions: np.ndarray, *, noise_std: float) -> tuple[np.ndarray, float]:
    """Per-pixel spread of K ensemble predictions (K, ...) and its median relative to the noise level.

    Members trained from different seeds agree where the data determine the answer and disagree
    where they guess (Lakshminarayanan et al. 2017)."""
    spread = np.asarray(predictions, dtype=np.float32).std(axis=0)
    return spread, float(np.median(spread) / max(noise_std, 1e-12))
