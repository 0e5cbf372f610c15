"""Seeded fluorescent-object phantoms in 2D and 3D: the ground truth training data are made from.

Four structure families that cover what a widefield/confocal user images: filaments (actin,
microtubules: thin smooth curves), vesicles (hollow or filled spheres), membranes (cell outlines
of a tissue-like Voronoi tessellation) and nuclei (large blobs with a chromatin-like texture);
"mixed" overlays them. Diffuse cytoplasm (alone, or under "mixed") is a fifth family that "mixed" leaves
out, for fitting a simulation to a user's image (fluorecon.tasks.denoise.like). All are relative intensities in [0, 1], float32, and a seed fixes them exactly.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

Kind = Literal["mixed", "filaments", "vesicles", "membranes", "nuclei", "diffuse", "diffuse-mixed"]
KINDS: tuple[str, ...] = ("filaments", "vesicles", "membranes", "nuclei")
#: Families outside "mixed" (so the shipped models' seeded simulations stay as they were): diffuse cytoplasm,
#: the texture the shipped denoiser paints filament-like "worms" over (docs/realdata.md), alone or under "mixed".
EXTRA_KINDS: tuple[str, ...] = ("diffuse", "diffuse-mixed")


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 4:
        raise ValueError(f"shape must be 2D (Y, X) or 3D (Z, Y, X) with at least 4 pixels per axis, got {shape}.")
    return shape


def _scale(shape: tuple[int, ...]) -> float:
    """Typical lateral extent, so object counts follow the field of view."""
    return float(np.sqrt(shape[-1] * shape[-2]))


def filaments(shape: Sequence[int], *, rng: np.random.Generator, n: int | None = None,
              width: float = 0.8) -> np.ndarray:
    """Smooth random curves (persistence-length random walks), ~`width` px Gaussian cross-section."""
    shape = _check_shape(shape)
    ndim = len(shape)
    n = n if n is not None else max(2, int(_scale(shape) / 12 * (shape[0] / 12 if ndim == 3 else 1)))
    out = np.zeros(shape, np.float32)
    size = np.array(shape, float)
    for _ in range(n):
        pos = rng.uniform(0, 1, ndim) * size
        direction = rng.normal(size=ndim)
        if ndim == 3:
            direction[0] *= 0.3  # filaments lie mostly in the focal plane, as in adherent cells
        direction /= np.linalg.norm(direction)
        steps = int(rng.uniform(0.6, 1.5) * _scale(shape) / 0.5)
        points = np.empty((steps, ndim))
        for i in range(steps):
            direction += rng.normal(scale=0.04, size=ndim)
            direction /= np.linalg.norm(direction)
            pos = pos + 0.5 * direction
            points[i] = pos
        idx = np.round(points).astype(int)
        keep = np.all((idx >= 0) & (idx < np.array(shape)), axis=1)
        np.add.at(out, tuple(idx[keep].T), rng.uniform(0.5, 1.0) * 0.5)
    out = ndimage.gaussian_filter(out, width)
    return out


def vesicles(shape: Sequence[int], *, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Spheres of radius 2–8 px, half of them hollow (membrane-bound) and half filled."""
    shape = _check_shape(shape)
    ndim = len(shape)
    n = n if n is not None else max(2, int(_scale(shape) / 6))
    out = np.zeros(shape, np.float32)
    for _ in range(n):
        radius = rng.uniform(2.0, 8.0)
        center = rng.uniform(0, 1, ndim) * np.array(shape)
        lo = np.maximum(np.floor(center - radius - 2).astype(int), 0)
        hi = np.minimum(np.ceil(center + radius + 2).astype(int), shape)
        if np.any(hi <= lo):
            continue
        grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij")
        dist = np.sqrt(sum((g - c) ** 2 for g, c in zip(grids, center)))
        if rng.uniform() < 0.5:
            blob = np.exp(-((dist - radius) ** 2) / (2 * 0.8**2))
        else:
            blob = 1 / (1 + np.exp((dist - radius) / 0.6))
        region = tuple(slice(a, b) for a, b in zip(lo, hi))
        out[region] = np.maximum(out[region], rng.uniform(0.4, 1.0) * blob)
    return out


def membranes(shape: Sequence[int], *, rng: np.random.Generator, cell_size: float = 40.0,
              width: float = 1.0) -> np.ndarray:
    """Cell outlines: the boundaries of a Voronoi tessellation of random cell centres."""
    shape = _check_shape(shape)
    count = max(3, int(np.prod(shape) / cell_size ** len(shape)))
    seeds = rng.uniform(0, 1, (count, len(shape))) * np.array(shape)
    coords = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, len(shape))
    d, idx = cKDTree(seeds).query(coords, k=2)
    # Exact distance to the bisector between the two nearest centres: a thin, even outline.
    spacing = np.linalg.norm(seeds[idx[:, 1]] - seeds[idx[:, 0]], axis=1)
    gap = ((d[:, 1] ** 2 - d[:, 0] ** 2) / (2 * np.maximum(spacing, 1e-6))).reshape(shape)
    # Brightness varies from cell to cell and along the outline, as with uneven labelling.
    modulation = ndimage.gaussian_filter(rng.uniform(0.3, 1.0, shape).astype(np.float32), cell_size / 4)
    modulation = (modulation - modulation.min()) / max(np.ptp(modulation), 1e-6) * 0.7 + 0.3
    return (np.exp(-(gap**2) / (2 * width**2)) * modulation).astype(np.float32)


def nuclei(shape: Sequence[int], *, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Ellipsoidal nuclei (radius 8–20 px) with a smooth chromatin-like texture and soft edges."""
    shape = _check_shape(shape)
    ndim = len(shape)
    n = n if n is not None else max(1, int(np.prod(shape[-2:]) / 64**2))
    texture = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), 1.5)
    texture = 0.6 + 0.4 * texture / max(float(np.abs(texture).max()), 1e-6)
    coords = np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij")
    out = np.zeros(shape, np.float32)
    for _ in range(n):
        center = rng.uniform(0.1, 0.9, ndim) * np.array(shape)
        radii = rng.uniform(8.0, 20.0, ndim)
        if ndim == 3:
            radii[0] = min(radii[0], shape[0] / 3)
        r = np.sqrt(sum(((g - c) / a) ** 2 for g, c, a in zip(coords, center, radii)))
        inside = 1 / (1 + np.exp((r - 1) / 0.08))
        out = np.maximum(out, rng.uniform(0.4, 0.8) * inside * texture)
    return out.astype(np.float32)


def diffuse(shape: Sequence[int], *, rng: np.random.Generator, cell_size: float = 60.0) -> np.ndarray:
    """Diffuse cytoplasm: a smooth log-normal intensity field (correlation length ~cell_size/6 px) with a
    faint fine grain (σ 1.5 px), inside soft-edged cell regions (~cell_size px) that leave dark gaps."""
    shape = _check_shape(shape)

    def field(sigma: float) -> np.ndarray:
        f = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), sigma)
        return (f - f.mean()) / max(float(f.std()), 1e-6)

    cells = 1 / (1 + np.exp(-(field(cell_size / 3) + 0.4) / 0.25))  # ~65 % of the field is cytoplasm
    out = cells * np.exp(0.45 * field(cell_size / 6)) * (1 + 0.15 * field(1.5))
    return np.clip(out, 0, None).astype(np.float32)


_MAKERS = {"filaments": filaments, "vesicles": vesicles, "membranes": membranes, "nuclei": nuclei,
           "diffuse": diffuse}


def phantom(shape: Sequence[int], *, kind: Kind = "mixed", seed: int | None = None) -> np.ndarray:
    """A seeded fluorescent object.

    Parameters
    ----------
    shape : (Y, X) or (Z, Y, X)
        Size in pixels, at least 4 per axis.
    kind : {"mixed", "filaments", "vesicles", "membranes", "nuclei", "diffuse", "diffuse-mixed"}
        Structure family; "mixed" overlays the first four with random weights; "diffuse-mixed" lays
        "mixed" over diffuse cytoplasm (the cytoplasm at 0.3–0.8 of the structures' peak).
    seed : int, optional
        Same seed, same phantom.

    Returns
    -------
    ndarray, float32, `shape`, values in [0, 1] (maximum 1 unless the phantom is empty).

    Examples
    --------
    >>> obj = phantom((128, 128), kind="filaments", seed=1)
    """
    shape = _check_shape(shape)
    rng = np.random.default_rng(seed)
    if kind == "mixed":
        weights = rng.uniform(0.3, 1.0, len(KINDS))
        weights[rng.integers(len(KINDS))] = 1.0
        parts = [w * _normalized(_MAKERS[k](shape, rng=rng)) for k, w in zip(KINDS, weights)]
        out = np.max(parts, axis=0) + 0.15 * np.sum(parts, axis=0)
    elif kind == "diffuse-mixed":
        base = _normalized(diffuse(shape, rng=rng))
        out = rng.uniform(0.3, 0.8) * base + phantom(shape, kind="mixed", seed=int(rng.integers(2**31)))
    elif kind in _MAKERS:
        out = _MAKERS[kind](shape, rng=rng)
    else:
        raise ValueError(f"kind must be one of {('mixed',) + KINDS + EXTRA_KINDS}, got {kind!r}.")
    return _normalized(out)


def _normalized(image: np.ndarray) -> np.ndarray:
    peak = float(image.max())
    image = np.clip(image, 0, None)
    return (image / peak).astype(np.float32) if peak > 0 else image.astype(np.float32)
