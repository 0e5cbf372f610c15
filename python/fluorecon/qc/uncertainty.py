"""Uncertainty of a learned result: deep ensembles and the calibration of a predicted scale.

- A **deep ensemble** (Lakshminarayanan et al., NeurIPS 2017) is K models trained from different
  seeds; the per-pixel mean is the result and the per-pixel standard deviation (the spread) says
  where the models guess rather than read the data.
- A **probabilistic** model (card ``outputs = mean,scale``) predicts a Laplace scale ``s`` per
  pixel; its central 90 % interval is ``mean ± s·ln 10``. :func:`interval_coverage` measures how
  often the truth falls inside it (calibrated: ≈ 90 %).
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

__all__ = ["predict_ensemble", "laplace_interval", "interval_coverage", "spearman"]


def predict_ensemble(image: np.ndarray, model_paths: Sequence[str | os.PathLike], *, axes: str | None = None,
                     tile=None, threads: int | None = None, device: str = "auto",
                     task: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run K models on one image; return the per-pixel mean and spread (std over members).

    Parameters
    ----------
    image : ndarray, any TZCYX subset (see :func:`fluorecon.infer.predict`)
    model_paths : K ≥ 2 ONNX models of the same task (e.g. trained with seeds 0..K-1)

    Returns
    -------
    (mean, spread) : float32 arrays of the prediction's shape, in the input's units.
    """
    from fluorecon.infer import predict

    paths = list(model_paths)
    if len(paths) < 2:
        raise ValueError(f"An ensemble needs at least 2 models, got {len(paths)}; list them comma-separated.")
    members = np.stack([predict(image, p, axes=axes, tile=tile, threads=threads, device=device, task=task)
                        for p in paths])
    return members.mean(axis=0).astype(np.float32), members.std(axis=0).astype(np.float32)


def laplace_interval(mean: np.ndarray, scale: np.ndarray, *, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Central `level` interval of a Laplace(mean, scale): ``mean ± scale·ln(1/(1 − level))``."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    half = np.asarray(scale, np.float32) * np.float32(math.log(1 / (1 - level)))
    return mean - half, mean + half


def interval_coverage(truth: np.ndarray, mean: np.ndarray, scale: np.ndarray, *, level: float = 0.9) -> float:
    """Fraction of pixels whose true value lies in the central `level` Laplace interval."""
    low, high = laplace_interval(np.asarray(mean, np.float32), scale, level=level)
    truth = np.asarray(truth, np.float32)
    return float(np.mean((truth >= low) & (truth <= high)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two same-shaped arrays (flattened)."""
    from scipy.stats import spearmanr

    return float(spearmanr(np.ravel(a), np.ravel(b)).statistic)
