"""Validation figures (PSNR/SSIM of the network, NLM and the raw input) and the training-input
statistics a denoising card records for out-of-distribution warnings."""

from __future__ import annotations

from typing import Callable

import numpy as np

from fluorecon.core.normalize import parse_norm, percentile_range
from fluorecon.qc.metrics import psnr, ssim
from fluorecon.tasks.denoise.classical import nlm


def evaluate(pairs: list[tuple[np.ndarray, np.ndarray]], predict_fn: Callable[[np.ndarray], np.ndarray],
             *, multiple: int, nlm_baseline: bool = True) -> dict[str, str]:
    """PSNR/SSIM of the raw input, NLM and the network on normalized validation pairs
    (reference = target mapped to input units; data_range from the reference; images cropped to
    a multiple of the network's 2**depth)."""
    return score_pairs(pairs, predict_fn, multiple=multiple, nlm_baseline=nlm_baseline, method="care",
                       reference="target mapped to input units, normalized with the input's percentiles")


def score_pairs(pairs, predict_fn: Callable[[np.ndarray], np.ndarray], *, multiple: int, nlm_baseline: bool,
                method: str, reference: str) -> dict[str, str]:
    """``val_psnr_<key>``/``val_ssim_<key>`` (mean over `pairs`) of the input, the network (`method`) and NLM on
    normalized (input, reference) pairs cropped to a multiple of the network's 2**depth, plus ``val_images`` and
    ``val_reference`` (what the reference is)."""
    scores: dict[str, list[float]] = {}
    for x, y in pairs:
        crop = tuple(slice(0, (s // multiple) * multiple) for s in x.shape)
        x, y = x[crop], y[crop]
        candidates = {"input": x, method: predict_fn(x)}
        if nlm_baseline:
            candidates["nlm"] = nlm(x)
        for key, est in candidates.items():
            scores.setdefault(f"val_psnr_{key}", []).append(psnr(est, y))
            scores.setdefault(f"val_ssim_{key}", []).append(ssim(est, y))
    out = {k: f"{np.mean(v):.4f}" for k, v in scores.items()}
    out["val_images"] = str(len(pairs))
    out["val_reference"] = reference
    return out


def input_statistics(raw_inputs: list[np.ndarray], norm: str) -> dict[str, str]:
    """Training-input statistics recorded in the card for out-of-distribution warnings."""
    from skimage.restoration import estimate_sigma

    low, high = parse_norm(norm)
    los, his, sig = [], [], []
    for x in raw_inputs:
        lo, hi = percentile_range(x, low, high)
        los.append(lo)
        his.append(hi)
        sig.append(float(estimate_sigma(x)) / max(hi - lo, 1e-6))
    return {"input_lo_median": f"{np.median(los):.4g}", "input_hi_median": f"{np.median(his):.4g}",
            "input_noise_sigma_norm_median": f"{np.median(sig):.4g}",
            "input_noise_sigma_norm_range": f"{np.min(sig):.4g},{np.max(sig):.4g}"}
