"""Percentile normalization: the contract in DESIGN.md ("Normalization"), mirrored by
java-plugin/.../core/Normalizer.java and checked against tests/vectors/normalize.json."""

from __future__ import annotations

import math

import numpy as np

MAX_SAMPLES = 4_194_304
EPS = 1e-6


def parse_norm(norm: str) -> tuple[float, float]:
    """Parse a card's ``norm`` value, e.g. ``"percentile:1:99.8"`` → ``(1.0, 99.8)``."""
    parts = norm.split(":")
    if len(parts) != 3 or parts[0] != "percentile":
        raise ValueError(f"Unknown normalization {norm!r}; expected 'percentile:LOW:HIGH'.")
    low, high = float(parts[1]), float(parts[2])
    if not 0 <= low < high <= 100:
        raise ValueError(f"Normalization percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}.")
    return low, high


def norm_range(image: np.ndarray, norm: str) -> tuple[float, float]:
    """The (lo, hi) pair that :func:`normalize` maps to (0, 1), for any card ``norm``:
    ``percentile:LOW:HIGH`` (percentiles of the block), ``zscore`` (mean, mean + std of the block; as
    bioimage.io's zero_mean_unit_variance) or ``fixed:MEAN:STD`` (fixed statistics, e.g. from training)."""
    kind = norm.split(":")[0]
    if kind == "percentile":
        return percentile_range(image, *parse_norm(norm))
    if kind == "zscore" and norm == "zscore":
        flat = np.asarray(image, dtype=np.float64).reshape(-1)
        if flat.size == 0:
            raise ValueError("Image is empty; there is nothing to normalize.")
        mean, std = float(flat.mean()), float(flat.std())
        return mean, mean + std + EPS
    if kind == "fixed":
        parts = norm.split(":")
        try:
            mean, std = float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise ValueError(f"Unknown normalization {norm!r}; expected 'fixed:MEAN:STD'.") from None
        if len(parts) != 3 or not std > 0:
            raise ValueError(f"Normalization {norm!r} needs a positive STD.")
        return mean, mean + std
    raise ValueError(f"Unknown normalization {norm!r}; expected 'percentile:LOW:HIGH', 'zscore' or 'fixed:MEAN:STD'.")


def map_output(output: np.ndarray, lo: float, hi: float, denorm: str = "input", *, is_scale: bool = False) -> np.ndarray:
    """A network output in the units the card's ``denorm`` names: ``input`` (:func:`denormalize`),
    ``none`` (unchanged) or ``linear:GAIN:OFFSET``."""
    if denorm == "input":
        return denormalize(output, lo, hi, is_scale=is_scale)
    if denorm == "none":
        return np.asarray(output, dtype=np.float32)
    parts = denorm.split(":")
    if parts[0] == "linear" and len(parts) == 3:
        gain, offset = float(parts[1]), float(parts[2])
        out = np.asarray(output, dtype=np.float32) * np.float32(gain)
        return out if is_scale else (out + np.float32(offset)).astype(np.float32)
    raise ValueError(f"Unknown output mapping denorm = {denorm!r}; expected 'input', 'none' or 'linear:GAIN:OFFSET'.")


def percentile_range(image: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """Low and high percentiles of the whole block (never per tile); large blocks are subsampled
    with a fixed stride so Python and Java agree exactly."""
    flat = np.asarray(image).reshape(-1)
    if flat.size == 0:
        raise ValueError("Image is empty; there is nothing to normalize.")
    if flat.size > MAX_SAMPLES:
        flat = flat[:: math.ceil(flat.size / MAX_SAMPLES)]
    lo, hi = np.percentile(flat.astype(np.float64), [low, high])
    return float(lo), float(hi)


def normalize(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo → 0`` and ``hi → 1`` (float32)."""
    return ((np.asarray(image, dtype=np.float32) - np.float32(lo)) / np.float32(max(hi - lo, EPS))).astype(np.float32)


def denormalize(image: np.ndarray, lo: float, hi: float, *, is_scale: bool = False) -> np.ndarray:
    """Back to input intensity units; a `scale` (uncertainty) output is only multiplied."""
    out = np.asarray(image, dtype=np.float32) * np.float32(max(hi - lo, EPS))
    return out if is_scale else (out + np.float32(lo)).astype(np.float32)
