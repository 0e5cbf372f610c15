"""Spectral unmixing: linear (NNLS), blind (NMF), hyperspectral phasors and a learned network for
low photon counts, with a data-consistency (residual) map. Bleed-through correction of an
ordinary multichannel image is the same operation with a 2–3 channel matrix.

Images are (channels, *spatial) with the channel axis first; abundances come back as
(labels, *spatial), in the image's intensity units above `offset` per unit of mixing-matrix
column (a column that sums to 1 makes an abundance the label's total detected signal).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

import fluorecon
from fluorecon.core.modelcard import read_card, write_card
from fluorecon.core.normalize import parse_norm, percentile_range
from fluorecon.core.tiling import plan_tiles, predict_tiled
from fluorecon.export import export_onnx, unet_card
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.infer import get_predictor
from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.tasks.unmix.physics import Detector, SpectralMixing, mixing_matrix, simulate_labels, simulate_spectral

__all__ = [
    "unmix_nnls",
    "unmix_nmf",
    "correct_bleedthrough",
    "bleedthrough_from_controls",
    "residual_map",
    "phasor",
    "phasor_plot",
    "phasor_to_plot_pixels",
    "phasor_mask",
    "UnmixNet",
    "unmix_learned",
    "train_unmix_network",
    "abundance_error",
    "build_unmix_model",
    "UNMIX_4LABEL",
]

_MAX_ENUMERATED_LABELS = 8


# --- input checks ---------------------------------------------------------------------------


def _as_channels(image, *, channel_axis: int = 0) -> np.ndarray:
    array = np.asarray(image)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"image has pixel type {array.dtype}; convert it to 32-bit first.")
    if array.ndim < 2:
        raise ValueError(f"image has shape {array.shape}; give (channels, y, x) or (channels, z, y, x).")
    array = np.moveaxis(array.astype(np.float32, copy=False), channel_axis, 0)
    if not np.isfinite(array).all():
        raise ValueError("image contains NaN or infinite values; replace them (Process › Math › Remove NaNs…) first.")
    return array


def _as_mixing(mixing, channels: int) -> np.ndarray:
    m = np.asarray(mixing, np.float64)
    if m.ndim != 2 or m.shape[0] != channels:
        raise ValueError(f"mixing has shape {m.shape} but the image has {channels} channels; "
                         "give a (channels, labels) matrix with one row per channel.")
    if not np.isfinite(m).all() or m.min() < 0:
        raise ValueError("mixing must be finite and non-negative.")
    if m.shape[1] > channels:
        raise ValueError(f"{m.shape[1]} labels cannot be unmixed from {channels} channels; "
                         "record at least as many channels as labels, or use fewer labels.")
    if np.linalg.matrix_rank(m) < m.shape[1]:
        raise ValueError("Two or more spectra in the mixing matrix are indistinguishable (matrix rank "
                         f"{np.linalg.matrix_rank(m)} < {m.shape[1]} labels); drop one of them.")
    return m


# --- linear unmixing ------------------------------------------------------------------------


def _nnls_enumerated(gram: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact NNLS for every column of `b` at once: the optimum is the unconstrained least-squares
    solution on one face of the non-negative orthant (its passive set), so solving every face and
    keeping, per pixel, the feasible solution of lowest objective is exact. 2^L − 1 tiny solves."""
    labels, n = b.shape
    best_x = np.zeros((labels, n), np.float64)
    best_obj = np.zeros(n, np.float64)  # objective of x = 0
    for size in range(1, labels + 1):
        for subset in itertools.combinations(range(labels), size):
            idx = list(subset)
            x_s = np.linalg.solve(gram[np.ix_(idx, idx)], b[idx])
            # At a face's stationary point the objective ½xᵀGx − bᵀx equals −½ bᵀx.
            obj = -0.5 * np.einsum("ij,ij->j", x_s, b[idx])
            better = np.all(x_s >= 0, axis=0) & (obj < best_obj)
            if better.any():
                best_obj[better] = obj[better]
                best_x[:, better] = 0.0
                best_x[np.ix_(idx, np.flatnonzero(better))] = x_s[:, better]
    return best_x


def _nnls_projected_gradient(gram: np.ndarray, b: np.ndarray, *, num_iter: int) -> np.ndarray:
    """FISTA projected gradient for many labels (where enumerating faces is too costly)."""
    step = 1.0 / np.linalg.eigvalsh(gram)[-1]
    x = np.clip(np.linalg.solve(gram, b), 0, None)
    z, t = x.copy(), 1.0
    for _ in range(num_iter):
        x_new = np.clip(z - step * (gram @ z - b), 0, None)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x


def unmix_nnls(image, mixing, *, offset: float | Sequence[float] = 0.0, channel_axis: int = 0,
               num_iter: int = 500, chunk: int = 1 << 20) -> np.ndarray:
    """Linear unmixing by non-negative least squares, every pixel at once.

    Solves ``min_x ||y − M x||²  s.t. x ≥ 0`` per pixel. Up to 8 labels the solution is exact
    (all passive sets are solved vectorised over pixels — equal to ``scipy.optimize.nnls``); with
    more labels, accelerated projected gradient (`num_iter` steps).

    Parameters
    ----------
    image : ndarray, (channels, *spatial)
        Spectral or multichannel image, any real dtype.
    mixing : ndarray, (channels, labels)
        Reference spectra as columns (see :func:`fluorecon.tasks.unmix.physics.mixing_matrix`).
    offset : float or per-channel floats
        Camera offset (+ background) subtracted first.
    channel_axis : int
        Axis of `image` that holds the channels.

    Returns
    -------
    ndarray, float32, (labels, *spatial)

    Examples
    --------
    >>> abundances = unmix_nnls(spectral_image, mixing, offset=100)  # doctest: +SKIP

    References
    ----------
    Zimmermann, "Spectral imaging and linear unmixing in light microscopy", Adv. Biochem. Eng.
    Biotechnol. 95, 245 (2005); Lawson & Hanson, "Solving Least Squares Problems" (1974).
    """
    y = _as_channels(image, channel_axis=channel_axis)
    m = _as_mixing(mixing, y.shape[0])
    spatial = y.shape[1:]
    flat = y.reshape(y.shape[0], -1) - np.asarray(offset, np.float32).reshape(-1, 1)
    gram = m.T @ m
    out = np.empty((m.shape[1], flat.shape[1]), np.float32)
    for start in range(0, flat.shape[1], chunk):
        b = m.T @ flat[:, start:start + chunk].astype(np.float64)
        if m.shape[1] <= _MAX_ENUMERATED_LABELS:
            out[:, start:start + chunk] = _nnls_enumerated(gram, b)
        else:
            out[:, start:start + chunk] = _nnls_projected_gradient(gram, b, num_iter=num_iter)
    return out.reshape((m.shape[1], *spatial))


def correct_bleedthrough(image, matrix, *, offset: float | Sequence[float] = 0.0, channel_axis: int = 0) -> np.ndarray:
    """Remove channel bleed-through (crosstalk) from an ordinary 2–3 channel image.

    `matrix[c, l]` is the signal label `l` gives in channel `c` relative to its own channel
    (diagonal = 1); from single-label controls use :func:`bleedthrough_from_controls`. The result
    has one channel per label in the units of each label's own channel.
    """
    return unmix_nnls(image, matrix, offset=offset, channel_axis=channel_axis)


def bleedthrough_from_controls(controls: Sequence[np.ndarray], *, offset: float = 0.0,
                               channel_axis: int = 0, threshold_percentile: float = 90.0) -> np.ndarray:
    """Bleed-through matrix from single-label control images (control `l` holds label `l` only).

    Uses the brightest pixels (above `threshold_percentile` of the label's own channel) and the
    ratio of channel means there. Returns (channels, labels) with ones on the diagonal.
    """
    columns = []
    for label, control in enumerate(controls):
        y = _as_channels(control, channel_axis=channel_axis) - offset
        if label >= y.shape[0]:
            raise ValueError(f"Control {label + 1} has {y.shape[0]} channels; need one control per channel.")
        own = y[label]
        bright = own >= np.percentile(own, threshold_percentile)
        means = y[:, bright].mean(axis=1)
        if means[label] <= 0:
            raise ValueError(f"Control {label + 1} has no signal in its own channel above offset {offset}.")
        columns.append(np.clip(means / means[label], 0, None))
    return np.stack(columns, axis=1).astype(np.float32)


def residual_map(image, abundances, mixing, *, offset: float | Sequence[float] = 0.0, gain: float = 1.0,
                 read_noise: float = 0.0, channel_axis: int = 0) -> np.ndarray:
    """Data consistency: ``(y − offset − M x̂) / sqrt(var)`` per channel and pixel.

    The variance is the Poisson–Gaussian one of the re-mixed image,
    ``var = gain · max(M x̂, 0) + read_noise²`` (ADU², `gain` in ADU per photo-electron,
    `read_noise` in ADU). Where the model explains the data the map is ~N(0, 1); structure in it
    marks a missing or wrong spectrum.

    Returns
    -------
    ndarray, float32, (channels, *spatial)
    """
    y = _as_channels(image, channel_axis=channel_axis)
    m = np.asarray(mixing, np.float32)
    x = np.asarray(abundances, np.float32)
    expected = np.tensordot(m, x, axes=([1], [0]))
    signal = y - np.asarray(offset, np.float32).reshape((-1,) + (1,) * (y.ndim - 1))
    variance = gain * np.clip(expected, 0, None) + read_noise**2
    return ((signal - expected) / np.sqrt(np.maximum(variance, 1e-6))).astype(np.float32)


# --- blind unmixing -------------------------------------------------------------------------


def _nndsvda(v: np.ndarray, rank: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """NNDSVD start (Boutsidis & Gallopoulos 2008), zeros filled with the data mean ("a"
    variant): converges in far fewer multiplicative updates than a random start."""
    u, sv, vt = np.linalg.svd(v.astype(np.float64), full_matrices=False)
    w = np.zeros((v.shape[0], rank))
    h = np.zeros((rank, v.shape[1]))
    w[:, 0], h[0] = np.sqrt(sv[0]) * np.abs(u[:, 0]), np.sqrt(sv[0]) * np.abs(vt[0])
    for j in range(1, rank):
        x, y = u[:, j], vt[j]
        xp, xn, yp, yn = np.maximum(x, 0), np.maximum(-x, 0), np.maximum(y, 0), np.maximum(-y, 0)
        pos = np.linalg.norm(xp) * np.linalg.norm(yp)
        neg = np.linalg.norm(xn) * np.linalg.norm(yn)
        a, b, sigma = (xp, yp, pos) if pos > neg else (xn, yn, neg)
        scale = np.sqrt(sv[j] * sigma)
        w[:, j] = scale * a / max(np.linalg.norm(a), 1e-12)
        h[j] = scale * b / max(np.linalg.norm(b), 1e-12)
    mean = float(v.mean())
    rng = np.random.default_rng(seed)
    w[w <= 1e-12] = mean * rng.uniform(0.01, 0.1, int((w <= 1e-12).sum()))
    h[h <= 1e-12] = mean * rng.uniform(0.01, 0.1, int((h <= 1e-12).sum()))
    return w.astype(np.float32), h.astype(np.float32)


def unmix_nmf(image, n_labels: int, *, offset: float | Sequence[float] = 0.0, num_iter: int = 1000,
              seed: int = 0, channel_axis: int = 0, tol: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Blind unmixing by non-negative matrix factorisation, ``Y ≈ W H`` (Frobenius loss,
    multiplicative updates, Lee & Seung, NIPS 2000, from an NNDSVDa start), when the spectra are
    unknown. Stops when 10 updates lower the error by less than `tol` of the starting error.

    Returns
    -------
    abundances : ndarray, float32, (n_labels, *spatial)
    spectra : ndarray, float32, (channels, n_labels), each column summing to 1; components are
        ordered by spectral centroid (blue to red), so a seed gives a stable order.
    """
    y = _as_channels(image, channel_axis=channel_axis)
    if not 1 <= n_labels <= y.shape[0]:
        raise ValueError(f"n_labels must be between 1 and the number of channels ({y.shape[0]}), got {n_labels}.")
    v = np.clip(y.reshape(y.shape[0], -1) - np.asarray(offset, np.float32).reshape(-1, 1), 0, None)
    w, h = _nndsvda(v, n_labels, seed=seed)
    eps = np.float32(1e-12)
    initial = previous = float(np.linalg.norm(v - w @ h))
    for i in range(num_iter):
        h *= (w.T @ v) / (w.T @ w @ h + eps)
        w *= (v @ h.T) / (w @ (h @ h.T) + eps)
        if i % 10 == 9:
            error = float(np.linalg.norm(v - w @ h))
            if (previous - error) / max(initial, 1e-12) < tol:
                break
            previous = error
    norms = w.sum(axis=0) + eps
    w, h = w / norms, h * norms[:, None]
    order = np.argsort((np.arange(w.shape[0])[:, None] * w).sum(axis=0))
    return h[order].reshape((n_labels, *y.shape[1:])), w[:, order].astype(np.float32)


# --- phasors --------------------------------------------------------------------------------


def phasor(image, *, harmonic: int = 1, channel_axis: int = 0, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectral phasor per pixel (Cutrale et al., Nat. Methods 14, 149 (2017)).

    ``G = Σ_k I_k cos(2πnk/N) / Σ_k I_k``, ``S = Σ_k I_k sin(2πnk/N) / Σ_k I_k`` over the N
    channels k = 0..N−1 at harmonic n — the same definition as phasorpy's ``phasor_from_signal``.
    A spectrum that is all in channel k lands at (cos 2πnk/N, sin 2πnk/N) on the unit circle;
    mixtures lie on the straight line between their components.

    Returns
    -------
    g, s, intensity : ndarrays, float32, spatial shape; g and s are NaN where the intensity is ≤ 0.
    """
    y = _as_channels(image, channel_axis=channel_axis) - np.float32(offset)
    n = y.shape[0]
    if n < 3:
        raise ValueError(f"A phasor needs at least 3 spectral channels, the image has {n}.")
    k = np.arange(n, dtype=np.float64)
    cos = np.cos(2 * np.pi * harmonic * k / n).astype(np.float32)
    sin = np.sin(2 * np.pi * harmonic * k / n).astype(np.float32)
    total = y.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.tensordot(cos, y, axes=1) / total
        s = np.tensordot(sin, y, axes=1) / total
    g[total <= 0] = np.nan
    s[total <= 0] = np.nan
    return g.astype(np.float32), s.astype(np.float32), (total / n).astype(np.float32)


def phasor_to_plot_pixels(g, s, *, bins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Phasor coordinates → (row, column) in a :func:`phasor_plot` image (floats, pixel centres at
    integers). The plot spans G, S ∈ [−1, 1]; column = (G + 1)/2·bins − ½, row = (1 − S)/2·bins − ½
    (S grows upwards, as on a printed phasor plot). Java draws ROIs on the plot with the inverse:
    G = (column + ½)·2/bins − 1, S = 1 − (row + ½)·2/bins."""
    g, s = np.asarray(g, np.float64), np.asarray(s, np.float64)
    return (1 - s) / 2 * bins - 0.5, (g + 1) / 2 * bins - 0.5


def phasor_plot(g, s, *, intensity=None, threshold: float = 0.0, bins: int = 256, log: bool = True,
                circle: bool = True) -> np.ndarray:
    """The phasor plot as an image: a 2D histogram of (G, S) over [−1, 1]², S upwards.

    Pixels whose `intensity` is at or below `threshold` are left out. With `log`, counts are shown
    as log(1 + count); with `circle`, the unit circle (where pure single-channel spectra land) is
    drawn at half the maximum so it is visible but does not dominate.

    Returns
    -------
    ndarray, float32, (bins, bins)
    """
    g, s = np.asarray(g, np.float64).ravel(), np.asarray(s, np.float64).ravel()
    keep = np.isfinite(g) & np.isfinite(s)
    if intensity is not None:
        keep &= np.asarray(intensity).ravel() > threshold
    rows, cols = phasor_to_plot_pixels(g[keep], s[keep], bins=bins)
    hist, _, _ = np.histogram2d(rows, cols, bins=bins, range=[[-0.5, bins - 0.5]] * 2)
    plot = np.log1p(hist) if log else hist
    if circle:
        theta = np.linspace(0, 2 * np.pi, 8 * bins)
        r, c = phasor_to_plot_pixels(np.cos(theta), np.sin(theta), bins=bins)
        ri, ci = np.clip(np.round(r).astype(int), 0, bins - 1), np.clip(np.round(c).astype(int), 0, bins - 1)
        plot[ri, ci] = np.maximum(plot[ri, ci], 0.5 * max(float(plot.max()), 1.0))
    return plot.astype(np.float32)


def phasor_mask(g, s, roi) -> np.ndarray:
    """Pixels whose phasor falls inside a phasor-space ROI.

    Parameters
    ----------
    g, s : ndarrays of the image's spatial shape (from :func:`phasor`)
    roi : ((g0, s0), radius) for a circle, or a sequence of (g, s) polygon vertices (≥ 3)

    Returns
    -------
    ndarray of bool, spatial shape — the image mask of the selection.
    """
    from matplotlib.path import Path as PolyPath

    g, s = np.asarray(g, np.float64), np.asarray(s, np.float64)
    finite = np.isfinite(g) & np.isfinite(s)
    if len(roi) == 2 and np.ndim(roi[1]) == 0:
        (g0, s0), radius = roi
        if radius <= 0:
            raise ValueError(f"Circle ROI radius must be positive, got {radius}.")
        with np.errstate(invalid="ignore"):
            return finite & ((g - g0) ** 2 + (s - s0) ** 2 <= radius**2)
    vertices = np.asarray(roi, np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3:
        raise ValueError("roi must be ((g, s), radius) or at least 3 (g, s) polygon vertices.")
    points = np.stack([np.nan_to_num(g).ravel(), np.nan_to_num(s).ravel()], axis=1)
    inside = PolyPath(vertices).contains_points(points).reshape(g.shape)
    return inside & finite


# --- learned unmixing -----------------------------------------------------------------------


class UnmixNet(nn.Module):
    """U-Net from all channels to all abundances with a non-negative (ReLU) output; the whole
    module is what is exported to ONNX: input (B, channels, Y, X), output (B, labels, Y, X).
    Training uses :meth:`raw` (no ReLU): a ReLU head on mostly-empty abundance maps dies at zero
    and stops learning."""

    def __init__(self, config):
        super().__init__()

        self.config = config
        self.unet = build_network(config)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.unet(x))


def _joint_range(image: np.ndarray, norm: str) -> tuple[float, float]:
    # All channels of a time point are ONE block: per-channel percentiles would change the spectra.
    low, high = parse_norm(norm)
    return percentile_range(image, low, high)


def unmix_learned(image, model_path: str | os.PathLike, *, channel_axis: int = 0, tile: int | None = None,
                  threads: int | None = None) -> np.ndarray:
    """Unmix with a trained ONNX model (task ``unmix``), tiled per the card.

    Normalisation: ``lo, hi`` = the card's percentiles over ALL channels jointly; the network sees
    ``(y − lo)/(hi − lo)`` and its output is multiplied by ``(hi − lo)`` (a scale, like a
    ``scale`` output), giving abundances in the units of :func:`unmix_nnls` with the card's
    mixing matrix (stored as ``train.mixing``) and the camera offset subtracted.

    Returns
    -------
    ndarray, float32, (labels, *spatial)
    """
    predictor = get_predictor(model_path, threads=threads)
    card = predictor.card
    if card.task != "unmix":
        raise ValueError(f"Model '{card.name}' is a '{card.task}' model; unmixing needs an 'unmix' model.")
    y = _as_channels(image, channel_axis=channel_axis)
    if y.shape[0] != card.channels_in:
        raise ValueError(f"Model '{card.name}' was trained for {card.channels_in} spectral channels; "
                         f"the image has {y.shape[0]}. Record the same channels or use unmix_nnls.")
    if y.ndim - 1 != card.ndim:
        raise ValueError(f"Model '{card.name}' is {card.ndim}D; the image has spatial shape {y.shape[1:]}.")
    lo, hi = _joint_range(y, card.norm)
    scale = max(hi - lo, 1e-6)
    plan = plan_tiles(y.shape[1:], tile=tile or card.tile_default, halo=card.tile_halo,
                      multiple=card.tile_multiple)
    out = predict_tiled(predictor._run, (y - lo) / np.float32(scale), plan)
    return (out * np.float32(scale)).astype(np.float32)


def train_unmix_network(mixing: np.ndarray, *, steps: int = 1500, batch_size: int = 8, patch: int = 64,
                        photons: tuple[float, float] = (5.0, 300.0), background: tuple[float, float] = (0.0, 3.0),
                        filters: int = 16, depth: int = 2, seed: int = 0, pool: int = 32, pool_size: int = 128,
                        lr: float = 2e-3, log=None, progress=None):
    """Train an :class:`UnmixNet` on simulated mixtures for `mixing` (channels × labels).

    Each step draws random crops of simulated multi-label specimens, a peak photon count
    log-uniform in `photons`, a background, and a camera (offset 100 ADU, read noise 1.5 e⁻, gain
    1); the target is the abundance in ADU above offset + background (what NNLS would estimate)
    divided by the input's joint percentile range; loss = mean squared error (the abundance
    error that matters is an RMS one). Returns (network, losses).
    """
    mixing = np.asarray(mixing, np.float32)
    channels, labels = mixing.shape
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    specimens = [simulate_labels((pool_size, pool_size), labels, seed=int(s)) for s in rng.integers(0, 2**31, pool)]
    config = UNetConfig(ndim=2, depth=depth, filters=filters, channels_in=channels, channels_out=labels, residual=False)
    net = UnmixNet(config)
    optim = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=lr, total_steps=steps, pct_start=0.1)
    losses, baselines = [], []
    for step in range(steps):
        xs, ts = [], []
        for _ in range(batch_size):
            spec = specimens[rng.integers(pool)]
            y0, x0 = rng.integers(0, pool_size - patch + 1, 2)
            abundance = spec[:, y0:y0 + patch, x0:x0 + patch] * rng.uniform(0.2, 1.0, (labels, 1, 1)).astype(np.float32)
            if rng.random() < 0.5:
                abundance = abundance[:, :, ::-1]
            camera = CameraNoise(photons=float(np.exp(rng.uniform(*np.log(photons)))),
                                 background=float(rng.uniform(*background)), offset=100.0, read_noise_e=1.5)
            clean = np.tensordot(mixing, abundance, axes=([1], [0]))
            noisy = apply_noise(clean, camera, seed=int(rng.integers(2**31)))
            lo, hi = _joint_range(noisy, "percentile:1:99.8")
            scale = max(hi - lo, 1e-6)
            xs.append((noisy - lo) / scale)
            ts.append(abundance * camera.photons * camera.qe * camera.gain / scale)
        x = torch.from_numpy(np.stack(xs).astype(np.float32))
        t = torch.from_numpy(np.stack(ts).astype(np.float32))
        loss = torch.mean((net.raw(x) - t) ** 2)
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log and step % 50 == 0:
            log(f"step {step} loss {np.mean(losses[-100:]):.4f}")
        if progress is not None:
            progress(step + 1, steps)
    return net.eval(), losses


def abundance_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Relative RMS error ``||x̂ − x|| / ||x||`` over all labels and pixels."""
    truth = np.asarray(truth, np.float64)
    return float(np.linalg.norm(np.asarray(estimate, np.float64) - truth) / max(np.linalg.norm(truth), 1e-12))


#: The shipped model's acquisition: 4 labels on an 8-channel lambda stack 430–710 nm (35 nm bins).
UNMIX_4LABEL = {"labels": ["DAPI", "EGFP", "tdTomato", "mCherry"], "start_nm": 430.0, "stop_nm": 710.0, "channels": 8}


def _evaluate(onnx_path, mixing, *, photons: float, seeds: Sequence[int], shape=(128, 128)) -> tuple[float, float]:
    learned, linear = [], []
    for seed in seeds:
        truth = simulate_labels(shape, mixing.shape[1], seed=seed)
        camera = CameraNoise(photons=photons, offset=100.0, read_noise_e=1.5)
        physics = SpectralMixing(mixing, image_shape=shape, device="cpu")
        y = simulate_spectral(truth, physics, camera=camera, seed=seed + 1)
        target = truth * photons
        learned.append(abundance_error(unmix_learned(y, onnx_path), target))
        linear.append(abundance_error(unmix_nnls(y, mixing, offset=100.0), target))
    return float(np.mean(learned)), float(np.mean(linear))


def build_unmix_model(path: str | os.PathLike, *, steps: int = 1500, seed: int = 0, log=print, progress=None,
                      labels: Sequence[str] = tuple(UNMIX_4LABEL["labels"]), start_nm: float = UNMIX_4LABEL["start_nm"],
                      stop_nm: float = UNMIX_4LABEL["stop_nm"], channels: int = UNMIX_4LABEL["channels"],
                      photons: tuple[float, float] = (5.0, 300.0), eval_photons: Sequence[float] = (10.0, 30.0, 300.0),
                      eval_seeds: Sequence[int] = (1001, 1002), eval_shape: tuple[int, int] = (128, 128),
                      name: str | None = None) -> dict:
    """Train, export (ONNX + card) and evaluate a low-photon unmixing model for `labels` (built-in spectra) on a
    lambda stack of `channels` bands from `start_nm` to `stop_nm` (default: the shipped 4-label model).

    The card records the labels, detector bands and mixing matrix (``train.*``) and the mean
    abundance error of the network and of NNLS on held-out simulated specimens (``metrics.*``).
    """
    detector = Detector.lambda_stack(start_nm=start_nm, stop_nm=stop_nm, channels=channels)
    mixing = mixing_matrix(list(labels), detector)
    net, losses = train_unmix_network(mixing, steps=steps, seed=seed, photons=photons, log=log, progress=progress)
    card = unet_card(
        net.config, task="unmix", method="unet", name=name or os.path.splitext(os.path.basename(str(path)))[0],
        tile_default=256,
        description=(f"Learned spectral unmixing for low photon counts: {channels}-channel lambda stack "
                     f"({start_nm:g}–{stop_nm:g} nm, {(stop_nm - start_nm) / channels:g} nm bands) → abundances of "
                     f"{', '.join(labels)}. Normalise ALL channels jointly "
                     "with the card's percentiles (lo, hi); multiply the outputs by (hi − lo)."),
        cite="Zimmermann 2005 (linear unmixing); Ronneberger et al. 2015 (U-Net)",
        train={"labels": ",".join(labels),
               "bands_nm": ";".join(f"{a:g}-{b:g}" for a, b in detector.bands_nm),
               "mixing": ";".join(",".join(f"{v:.6g}" for v in row) for row in mixing),
               "norm_block": "all channels jointly", "output_scale": "hi-lo",
               "photons": f"{photons[0]:g}-{photons[1]:g} log-uniform",
               "noise": "Poisson-Gaussian, offset 100 ADU, read 1.5 e, gain 1",
               "data": "simulated specimens (fluorecon.tasks.unmix.physics.simulate_labels)",
               "steps": str(steps), "seed": str(seed), "final_loss": f"{np.mean(losses[-50:]):.4g}"},
    )
    export_onnx(net, path, card)
    metrics = {}
    for ph in eval_photons:
        learned, linear = _evaluate(path, mixing, photons=ph, seeds=eval_seeds, shape=eval_shape)
        metrics[f"error_learned_{ph:g}ph"] = f"{learned:.4f}"
        metrics[f"error_nnls_{ph:g}ph"] = f"{linear:.4f}"
        log(f"photons {ph:g}: learned {learned:.4f}  nnls {linear:.4f}")

    card = read_card(path)
    write_card(path, card.model_copy(update={"metrics": metrics}))
    return metrics


# --- job spec: the one typed config shared by the server (and, field for field, the CLI) ------


#: The learned method's model (shipped in models/).
DEFAULT_UNMIX_MODEL = Path(__file__).resolve().parents[4] / "models" / "unmix_4label.onnx"


class UnmixCancelled(RuntimeError):
    """Raised between blocks (time points) when the ``cancelled`` callback returns True."""


class UnmixSpec(BaseModel):
    """An unmixing job; the same choices as ``fluorecon unmix`` (give exactly one of `spectra`,
    `mixing` or `blind` unless `method` is ``learned``, whose spectra come from its model card)."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["unmix"] = Field("unmix", description="Task name.")
    method: Literal["nnls", "nmf", "learned"] = Field(
        "nnls", description="nnls: known spectra; nmf: blind (unknown spectra); learned: the shipped 4-label network.")
    spectra: list[str] | None = Field(None, min_length=1, max_length=16,
                                      description="Built-in spectra, one per label, e.g. ['DAPI', 'EGFP'].")
    mixing: list[list[float]] | None = Field(None, min_length=2, description="Mixing matrix, channels × labels.")
    blind: int | None = Field(None, ge=1, le=16, description="Number of labels for blind NMF.")
    bands_nm: list[tuple[float, float]] | None = Field(
        None, min_length=2, description="(low, high) band edges per channel, nm; default: the lambda range split evenly.")
    lambda_start_nm: float = Field(430.0, gt=200, lt=2000, description="Lambda stack: first band's lower edge, nm.")
    lambda_stop_nm: float = Field(710.0, gt=200, lt=2000, description="Lambda stack: last band's upper edge, nm.")
    offset: float = Field(0.0, ge=-1e9, le=1e9, description="Camera offset (+ background) in image units, subtracted first.")
    gain: float = Field(1.0, gt=0, le=1e6, description="ADU per photo-electron (residual map).")
    read_noise: float = Field(0.0, ge=0, le=1e6, description="Read noise in ADU (residual map).")
    residual: bool = Field(False, description="Append the standardised residual map, one channel per input channel.")
    label_names: list[str] | None = Field(
        None, min_length=1, max_length=16,
        description="Names of the mixing matrix's labels (e.g. the ROIs its spectra were measured in); "
        "default label1, label2, …")
    background: list[float] | None = Field(
        None, min_length=2, max_length=4096,
        description="Per-channel background in image units (e.g. a background ROI's mean spectrum), "
        "subtracted with `offset`.")

    @model_validator(mode="after")
    def _check(self) -> "UnmixSpec":
        if self.blind is not None and self.method == "nnls":
            self.method = "nmf"  # as the CLI: --blind means NMF
        given = [name for name in ("spectra", "mixing", "blind") if getattr(self, name) is not None]
        if self.method == "learned":
            if given:
                raise ValueError(f"method 'learned' takes its spectra from the model; drop {', '.join(given)}.")
        elif len(given) != 1:
            raise ValueError("give exactly one of spectra (built-in names), mixing (channels × labels) or "
                             f"blind (number of labels); got {', '.join(given) or 'none'}.")
        if self.label_names is not None and self.mixing is None:
            raise ValueError("label_names name the columns of mixing; give them only with mixing.")
        if self.label_names is not None and len(self.label_names) != len(self.mixing[0]):
            raise ValueError(f"label_names has {len(self.label_names)} names but mixing has {len(self.mixing[0])} "
                             "labels (columns); give one name per column.")
        if self.lambda_stop_nm <= self.lambda_start_nm:
            raise ValueError(f"lambda_stop_nm={self.lambda_stop_nm} must be above lambda_start_nm={self.lambda_start_nm}.")
        return self


def _job_blocks(image: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """(..., C, [Z,] Y, X) with the loop axes (T) first, as ``fluorecon unmix`` does."""
    if "C" not in axes or image.shape[axes.index("C")] < 2:
        raise ValueError(f"The image has axes {axes!r} and no channel axis with 2 or more channels; unmixing needs "
                         "a multichannel or lambda-stack image (Image › Hyperstacks › Stack to Hyperstack…).")
    spatial = [a for a in "ZYX" if a in axes]
    loop = [a for a in axes if a not in spatial and a != "C"]
    order = [axes.index(a) for a in loop] + [axes.index("C")] + [axes.index(a) for a in spatial]
    return np.transpose(image, order), "".join(loop) + "C" + "".join(spatial)


def _job_mixing(spec: UnmixSpec, n_channels: int) -> tuple[list[str], np.ndarray | None]:
    """Label names and mixing matrix (None for blind NMF) of a job; ValueError names what to fix."""
    if spec.method == "learned":
        from fluorecon.core.modelcard import read_card

        if not DEFAULT_UNMIX_MODEL.is_file():
            raise ValueError(f"method 'learned' needs the shipped model {DEFAULT_UNMIX_MODEL.name}, which is missing.")
        card = read_card(DEFAULT_UNMIX_MODEL)
        if card.channels_in != n_channels:
            raise ValueError(f"method 'learned' was trained for {card.channels_in} spectral channels; the image has "
                             f"{n_channels}. Use nnls with spectra instead.")
        mixing = np.array([[float(v) for v in row.split(",")] for row in card.train["mixing"].split(";")], np.float32)
        return card.train.get("labels", "").split(","), mixing
    if spec.spectra is not None:
        detector = (Detector(bands_nm=spec.bands_nm) if spec.bands_nm else Detector.lambda_stack(
            start_nm=spec.lambda_start_nm, stop_nm=spec.lambda_stop_nm, channels=n_channels))
        if len(detector.bands_nm) != n_channels:
            raise ValueError(f"bands_nm has {len(detector.bands_nm)} bands but the image has {n_channels} channels; "
                             "give one (low, high) band per channel.")
        mixing = mixing_matrix(spec.spectra, detector)
        _as_mixing(mixing, n_channels)
        return list(spec.spectra), mixing
    if spec.mixing is not None:
        mixing = np.asarray(spec.mixing, np.float32)
        _as_mixing(mixing, n_channels)
        return list(spec.label_names or [f"label{i + 1}" for i in range(mixing.shape[1])]), mixing
    if spec.blind > n_channels:
        raise ValueError(f"blind={spec.blind} labels cannot be found in {n_channels} channels; use at most {n_channels}.")
    return [f"component{i + 1}" for i in range(spec.blind)], None


def check_job(image: np.ndarray, axes: str, spec: UnmixSpec) -> None:
    """Everything that can be checked before a job is queued (cheap); ValueError says what to change."""
    blocks, work_axes = _job_blocks(np.asarray(image), axes)
    _job_mixing(spec, blocks.shape[work_axes.index("C")])
    _job_offset(spec, blocks.shape[work_axes.index("C")])


def _job_offset(spec: UnmixSpec, n_channels: int) -> float | np.ndarray:
    """`offset`, plus the per-channel `background` when given (float32, one value per channel)."""
    if spec.background is None:
        return spec.offset
    if len(spec.background) != n_channels:
        raise ValueError(f"background has {len(spec.background)} values but the image has {n_channels} channels; "
                         "give one background value per channel.")
    return np.float32(spec.offset) + np.asarray(spec.background, np.float32)


def unmix_blocks(blocks, *, method: str, mixing=None, blind: int | None = None, offset: float = 0.0, model=None,
                 residual: bool = False, gain: float = 1.0, read_noise: float = 0.0, progress=None, cancelled=None):
    """Unmix each (C, *spatial) block of `blocks` (the CLI's and the server's shared loop).

    Returns ``(abundances per block, residual maps per block or [], spectra found by NMF or None)``."""
    results, residuals, found = [], [], None
    for i, block in enumerate(blocks):
        if cancelled is not None and cancelled():
            raise UnmixCancelled(f"Cancelled after {i} of {len(blocks)} time points.")
        if method == "nnls":
            x = unmix_nnls(block, mixing, offset=offset)
        elif method == "nmf":
            x, found = unmix_nmf(block, blind or mixing.shape[1], offset=offset)
        else:
            x = unmix_learned(block - np.asarray(offset, np.float32).reshape((-1,) + (1,) * (block.ndim - 1)), model)
        results.append(x)
        if residual:
            residuals.append(residual_map(block, x, found if method == "nmf" else mixing, offset=offset,
                                          gain=gain, read_noise=read_noise))
        if progress is not None:
            progress(i + 1, len(blocks))
    return results, residuals, found


def run_job(image: np.ndarray, meta, spec: UnmixSpec, progress=None, cancelled=None):
    """Unmix an image of any TZCYX subset with a C axis; the server's job function.

    Returns ``(result, axes, info)``: result float32 in ImageJ order with C = the labels, then (with
    ``spec.residual``) the residual map's channels (one per input channel); `info` names them.
    Equal to ``fluorecon unmix`` (+ ``--residual``) with the same options.
    """
    import json

    work, axes = _job_blocks(np.asarray(image, np.float32), meta.axes)
    c = axes.index("C")
    labels, mixing = _job_mixing(spec, work.shape[c])
    loop_shape = work.shape[:c]
    results, residuals, found = unmix_blocks(
        work.reshape((-1,) + work.shape[c:]), method=spec.method, mixing=mixing, blind=spec.blind,
        offset=_job_offset(spec, work.shape[c]),
        model=DEFAULT_UNMIX_MODEL, residual=spec.residual, gain=spec.gain, read_noise=spec.read_noise,
        progress=progress, cancelled=cancelled)
    out = np.stack(results)
    names = list(labels)
    if spec.residual:
        out = np.concatenate([out, np.stack(residuals)], axis=1)  # blocks × (labels + channels) × spatial
        names += [f"residual{k + 1}" for k in range(work.shape[c])]
    out = out.reshape(loop_shape + out.shape[1:])
    target = "".join(a for a in "TZCYX" if a in axes)
    out = np.transpose(out, [axes.index(a) for a in target])
    used = found if spec.method == "nmf" else mixing
    info = (f"fluorecon {fluorecon.__version__} unmix method={spec.method} labels={','.join(labels)} offset={spec.offset}\n"
            f"channels = {','.join(names)}\n"
            f"settings = {json.dumps(spec.model_dump(exclude_none=True))}\n"
            f"mixing = {json.dumps(np.round(np.asarray(used, np.float64), 6).tolist())}")
    return np.ascontiguousarray(out, dtype=np.float32), target, info
