"""The drift CSV of `fluorecon register --drift-csv`, also written by `fluorecon simulate register` (same format)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from fluorecon.core.atomic import atomic_path


def write_drift_csv(path: Path, drift: np.ndarray, names: list[str], scale: list[float | None], unit: str) -> None:
    """The drift table `fluorecon register --drift-csv` writes: frame (from 1), the shift in pixels per axis and,
    where the axis is calibrated, in `unit`; written whole or not at all."""
    header = ["frame"] + [f"d{n}_px" for n in names] + [f"d{n}_{unit}" for n, s in zip(names, scale) if s]
    with atomic_path(path, suffix=".csv.part") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for t, row in enumerate(drift):
            writer.writerow([t + 1] + [f"{v:.4f}" for v in row] + [f"{v * s:.5g}" for v, s in zip(row, scale) if s])
