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
