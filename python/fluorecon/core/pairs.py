"""Folders of aligned training pairs: DIR/low/*.tif (inputs) and DIR/high/*.tif (targets), matched by file name;
one reader for every task that trains on such folders (denoise, upsample)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fluorecon.core.io import read_tiff


def load_pairs(data_dir: str | os.PathLike, *, no_folders: str, factor: int = 1,
               ndim: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (low, high) float32 pairs of `data_dir`; a high image is `factor`× larger than its low one on every
    axis. `no_folders` is the message (with ``{root}``) when low/ or high/ is missing: it says how to make them."""
    root = Path(data_dir)
    low_dir, high_dir = root / "low", root / "high"
    if not low_dir.is_dir() or not high_dir.is_dir():
        raise FileNotFoundError(no_folders.format(root=root))
    names = sorted(p.name for p in low_dir.glob("*.tif*"))
    missing = [n for n in names if not (high_dir / n).is_file()]
    if not names or missing:
        raise FileNotFoundError(f"No matching low/high TIFF pairs in {root}" + (f" (no high/{missing[0]})" if missing else "") + ".")
    pairs = []
    for name in names:
        low, meta = read_tiff(low_dir / name)
        high, _ = read_tiff(high_dir / name)
        if factor == 1 and low.shape != high.shape:
            raise ValueError(f"low/{name} {low.shape} and high/{name} {high.shape} differ in shape; pairs must be aligned.")
        if factor != 1 and tuple(s * factor for s in low.shape) != high.shape:
            raise ValueError(f"high/{name} {high.shape} must be factor {factor} × low/{name} {low.shape} on every axis.")
        if ndim is not None and low.ndim != ndim:
            raise ValueError(f"low/{name} has {low.ndim} axes ({meta.axes}) but a {ndim}D model was requested.")
        pairs.append((low.astype(np.float32), high.astype(np.float32)))
    return pairs
