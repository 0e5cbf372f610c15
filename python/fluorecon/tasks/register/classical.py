"""Sample stabilisation: sub-pixel drift correction of 2D/3D time series and SMLM table drift
(RCC). The correlation kernels live in :mod:`fluorecon.tasks.register.correlate`, deformable
registration in :mod:`fluorecon.tasks.register.learned`, multiview fusion in
:mod:`fluorecon.tasks.fuse.classical`; their public names are importable from here too.

Drift convention: ``drift[t]`` (pixels, (dy, dx) or (dz, dy, dx)) is how far the content of frame
``t`` has moved since frame 0; correcting shifts frame ``t`` by ``−drift[t]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

import fluorecon
from fluorecon.tasks.register.correlate import _Aligner, _chunks, _correlate, _spectrum, phase_correlation
from fluorecon.tasks.register.physics import fourier_shift

__all__ = [
    "phase_correlation",
    "estimate_drift",
    "correct_drift",
    "register_time_series",
    "rcc_drift",
    "correct_table",
    "RegisterSpec",
    "RegistrationCancelled",
    "check_job",
    "run_job",
    # moved to register.learned and fuse.classical (loaded on first use: see __getattr__ below)
    "optical_flow",
    "DeformNet",
    "spatial_transform",
    "train_deform_network",
    "register_learned",
    "build_register_model",
    "fuse_multiview",
    "register_views",
    "directional_correlation",
]

Reference = Literal["first", "previous", "mean"]


def estimate_drift(frames: np.ndarray, *, reference: Reference = "first", upsample: int = 20,
                   highpass_px: float = 4.0, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Drift of every frame of a time series relative to frame 0.

    Two passes, each batched over frames: a whole-pixel cross-correlation of windowed, 2×-binned
    frames, then a sub-pixel one (upsampled DFT on the half spectrum, Guizar-Sicairos 2008) of a
    windowed template cut from the reference's centre against an unwindowed, slightly larger crop
    of the frame placed by the whole-pixel shift. Only content both frames share is compared, so
    content entering or leaving the field does not bias the peak; the window moves with the
    template, so it does not pull the peak towards zero shift either (the earlier scheme — both
    images windowed, the remainder re-measured up to three times — needed those extra passes and
    was no more accurate on the benchmark). Plain (not phase-normalised) correlation: phase
    normalisation whitens the noise floor of blurred fluorescence images (scikit-image's
    phase-normalised default: 0.74 px max error vs 0.14 px plain at 100 photons, bench/register.py).

    Parameters
    ----------
    frames : ndarray, (T, y, x) or (T, z, y, x)
    reference : {"first", "previous", "mean"}
        Register each frame to frame 0; to its predecessor (drift accumulates the steps — follows
        slowly changing samples); or to the mean of the first-pass corrected series (less noise).
    upsample : int
        Sub-pixel precision 1/`upsample` px.
    highpass_px : float
        Structures larger than about this (box filter of width 2·`highpass_px`+1) are removed
        before correlating; 0 keeps everything.
    progress : callable(done, total), optional
        Called after each batch of frames.

    Returns
    -------
    ndarray, float64, (T, ndim) in pixels; ``drift[0] == 0``.

    References
    ----------
    Guizar-Sicairos, Thurman & Fienup, "Efficient subpixel image registration algorithms",
    Opt. Lett. 33, 156 (2008).
    """
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or frames.shape[0] < 1:
        raise ValueError(f"frames has shape {frames.shape}; give a (T, y, x) or (T, z, y, x) time series.")
    if reference not in ("first", "previous", "mean"):
        raise ValueError(f"reference must be 'first', 'previous' or 'mean', got {reference!r}.")
    if upsample < 1:
        raise ValueError(f"upsample must be >= 1, got {upsample}.")
    frames = frames.astype(np.float32, copy=False)
    n = len(frames)
    if n == 1:
        return np.zeros((1, frames.ndim - 1))
    aligner = _Aligner(frames, upsample=upsample, highpass_px=highpass_px)
    chunks = _chunks(n, int(np.prod(frames.shape[1:])))
    passes = 2 if reference == "mean" else 1
    done = 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(done, passes * n)

    def against(ref_image: np.ndarray | None) -> np.ndarray:
        """Drift of every frame against one image (None: against its predecessor)."""
        whole = np.zeros((n, frames.ndim - 1), np.int64)
        for a, b in chunks:
            if ref_image is None:
                whole[a:b] = aligner.coarse(frames[[max(t - 1, 0) for t in range(a, b)]], frames[a:b])
            else:
                whole[a:b] = aligner.coarse(ref_image[None], frames[a:b])
        aligner.plan(whole)
        drift = np.zeros((n, frames.ndim - 1))
        fixed = None if ref_image is None else aligner.templates(ref_image[None])
        for a, b in chunks:
            if ref_image is None:
                # Each step measured both ways (template from t-1 on frame t, and from t on
                # t-1) and averaged: the steps add up, and so would any offset one direction
                # leaves (bench: 0.35 -> 0.27 px max error over 50 frames at 100 photons).
                previous = frames[[max(t - 1, 0) for t in range(a, b)]]
                forward = aligner.fine(aligner.templates(previous), frames[a:b], whole[a:b])
                backward = aligner.fine(aligner.templates(frames[a:b]), previous, -whole[a:b])
                drift[a:b] = (forward - backward) / 2
            else:
                drift[a:b] = aligner.fine(fixed, frames[a:b], whole[a:b])
            tick(b - a)
        drift = np.cumsum(drift, axis=0) if ref_image is None else drift
        return drift - drift[0]

    drift = against(None if reference == "previous" else frames[0])
    if reference == "mean":
        mean = np.mean(correct_drift(frames, drift, axes="T" + "ZYX"[-(frames.ndim - 1):], mode="fourier"), axis=0)
        drift = against(mean)
    return drift


def correct_drift(image: np.ndarray, drift: np.ndarray, *, axes: str = "TYX",
                  mode: Literal["spline", "fourier"] = "spline") -> np.ndarray:
    """Shift every time point (all channels) of `image` back by its drift.

    Parameters
    ----------
    image : ndarray with axes `axes` (a TZCYX subset containing T, Y, X)
    drift : ndarray, (T, ndim) — ndim 3 when `axes` has Z (dz, dy, dx), else 2 (dy, dx)
    mode : {"spline", "fourier"}
        Cubic spline (edges repeat the nearest value) or Fourier shift (exact, wraps around).

    Returns
    -------
    ndarray, float32, same shape and axes.
    """
    axes = axes.upper()
    if "T" not in axes or "Y" not in axes or "X" not in axes or len(axes) != np.ndim(image):
        raise ValueError(f"axes={axes!r} must describe the image (shape {np.shape(image)}) and contain T, Y and X.")
    spatial = [a for a in "ZYX" if a in axes]
    drift = np.asarray(drift, np.float64)
    if drift.shape != (image.shape[axes.index("T")], len(spatial)):
        raise ValueError(f"drift has shape {drift.shape}; expected ({image.shape[axes.index('T')]}, {len(spatial)}).")
    rest = [a for a in axes if a not in spatial and a != "T"]
    order = [axes.index("T")] + [axes.index(a) for a in rest] + [axes.index(a) for a in spatial]
    work = np.transpose(np.asarray(image, np.float32), order)
    out = np.empty_like(work)
    for t in range(work.shape[0]):
        for idx in np.ndindex(*work.shape[1:1 + len(rest)]):
            plane = work[(t, *idx)]
            if mode == "fourier":
                out[(t, *idx)] = fourier_shift(plane, -drift[t])
            elif mode == "spline":
                out[(t, *idx)] = ndimage.shift(plane, -drift[t], order=3, mode="nearest")
            else:
                raise ValueError(f"mode must be 'spline' or 'fourier', got {mode!r}.")
    return np.transpose(out, np.argsort(order))


def register_time_series(image: np.ndarray, *, axes: str = "TYX", reference: Reference = "first",
                         channel: int = 0, upsample: int = 20, mode: Literal["spline", "fourier"] = "spline",
                         progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Estimate drift on one channel and correct every channel. Returns (corrected, drift)."""
    axes = axes.upper()
    if "T" not in axes:
        raise ValueError(f"The image has no time axis (axes {axes!r}); drift correction needs a time series.")
    if len(axes) != np.ndim(image):
        raise ValueError(f"axes={axes!r} does not describe an image of shape {np.shape(image)}.")
    image = np.asarray(image, np.float32)
    view = image
    if "C" in axes:
        if not 0 <= channel < image.shape[axes.index("C")]:
            raise ValueError(f"channel={channel} but the image has {image.shape[axes.index('C')]} channel(s).")
        view = np.take(image, channel, axis=axes.index("C"))
    view_axes = axes.replace("C", "")
    spatial = [a for a in "ZYX" if a in view_axes]
    frames = np.transpose(view, [view_axes.index("T")] + [view_axes.index(a) for a in spatial])
    drift = estimate_drift(frames, reference=reference, upsample=upsample, progress=progress)
    return correct_drift(image, drift, axes=axes, mode=mode), drift


# --- SMLM drift by redundant cross-correlation ------------------------------------------------


def _render(x: np.ndarray, y: np.ndarray, origin: np.ndarray, shape: tuple[int, int], pixel_nm: float,
            blur_px: float) -> np.ndarray:
    rows = ((y - origin[1]) / pixel_nm).astype(np.int64)
    cols = ((x - origin[0]) / pixel_nm).astype(np.int64)
    keep = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    image = np.bincount(rows[keep] * shape[1] + cols[keep], minlength=shape[0] * shape[1]).astype(np.float32)
    return ndimage.gaussian_filter(image.reshape(shape), blur_px)


def rcc_drift(x_nm, y_nm, frame, *, n_segments: int = 15, pixel_nm: float = 20.0, upsample: int = 20,
              max_residual_nm: float | None = None, blur_px: float = 1.0) -> np.ndarray:
    """Drift of a 2D SMLM localisation table by redundant cross-correlation (RCC).

    The table is cut into `n_segments` time bins of equal frame count; each bin is rendered as a
    histogram image; every pair (i < j) of renderings is cross-correlated (sub-pixel, upsampled
    DFT) giving ``r_ij = d_j − d_i``; the segment drifts ``d`` solve this overdetermined system by
    least squares (``d_0 = 0``), pairs whose residual exceeds `max_residual_nm` are dropped and the
    system solved again; the per-frame drift is a cubic spline through the segment centres.

    Returns
    -------
    ndarray, float64, (n_frames, 2): (x, y) drift in nm for frames 0 .. max(frame), drift[0] = 0.
    Subtract it with :func:`correct_table`.

    References
    ----------
    Wang et al., "Localization events-based sample drift correction for localization
    microscopy with redundant cross-correlation algorithm", Opt. Express 22, 15982 (2014).
    """
    from scipy.interpolate import CubicSpline

    x, y, frame = np.asarray(x_nm, np.float64), np.asarray(y_nm, np.float64), np.asarray(frame, np.int64)
    if not (x.shape == y.shape == frame.shape) or x.ndim != 1 or x.size == 0:
        raise ValueError("x_nm, y_nm and frame must be 1D arrays of the same, non-zero length.")
    if n_segments < 2:
        raise ValueError(f"n_segments must be at least 2, got {n_segments}.")
    n_frames = int(frame.max()) + 1
    if n_frames < n_segments:
        raise ValueError(f"{n_frames} frames cannot be cut into {n_segments} segments; use fewer segments.")
    max_residual_nm = 2 * pixel_nm if max_residual_nm is None else max_residual_nm
    origin = np.array([x.min(), y.min()]) - 4 * pixel_nm
    shape = (int(np.ceil((y.max() - origin[1]) / pixel_nm)) + 4, int(np.ceil((x.max() - origin[0]) / pixel_nm)) + 4)
    edges = np.linspace(0, n_frames, n_segments + 1)
    segment = np.clip(np.searchsorted(edges, frame, side="right") - 1, 0, n_segments - 1)
    spectra = []
    for s in range(n_segments):
        sel = segment == s
        if sel.sum() < 10:
            raise ValueError(f"Time segment {s + 1} holds only {int(sel.sum())} localisations; use fewer segments.")
        spectra.append(_spectrum(_render(x[sel], y[sel], origin, shape, pixel_nm, blur_px)))
    pairs, shifts = [], []
    for i in range(n_segments):
        for j in range(i + 1, n_segments):
            dy, dx = -_correlate(spectra[i], spectra[j], upsample=upsample, normalization=None) * pixel_nm
            pairs.append((i, j))
            shifts.append((dx, dy))
    pairs_arr, shifts_arr = np.array(pairs), np.array(shifts)
    design = np.zeros((len(pairs), n_segments))
    design[np.arange(len(pairs)), pairs_arr[:, 1]] = 1
    design[np.arange(len(pairs)), pairs_arr[:, 0]] = -1
    keep = np.ones(len(pairs), bool)
    for _ in range(2):
        solution = np.linalg.lstsq(design[keep][:, 1:], shifts_arr[keep], rcond=None)[0]
        drift_seg = np.vstack([np.zeros(2), solution])
        residual = np.linalg.norm(design @ drift_seg - shifts_arr, axis=1)
        new_keep = residual <= max_residual_nm
        if new_keep.all() or np.linalg.matrix_rank(design[new_keep][:, 1:]) < n_segments - 1:
            break
        keep = new_keep
    centres = np.array([frame[segment == s].mean() for s in range(n_segments)])
    spline = CubicSpline(centres, drift_seg, axis=0, bc_type="natural", extrapolate=True)
    drift = spline(np.arange(n_frames))
    return drift - drift[0]


def correct_table(x_nm, y_nm, frame, drift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subtract a per-frame (x, y) drift (from :func:`rcc_drift`) from localisations."""
    frame = np.asarray(frame, np.int64)
    drift = np.asarray(drift, np.float64)
    if frame.max() >= len(drift) or frame.min() < 0:
        raise ValueError(f"frame numbers span {frame.min()}..{frame.max()} but the drift covers {len(drift)} frames.")
    return np.asarray(x_nm, np.float64) - drift[frame, 0], np.asarray(y_nm, np.float64) - drift[frame, 1]


# --- job spec: the one typed config shared by the server (and, field for field, the CLI) ------


class RegistrationCancelled(RuntimeError):
    """Raised between frames when the ``cancelled`` callback returns True."""


class RegisterSpec(BaseModel):
    """A drift-correction job: the same choices as ``fluorecon register``."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["register"] = Field("register", description="Task name.")
    reference: Reference = Field("first", description="Register to the first frame, the previous one, or the mean.")
    channel: int = Field(1, ge=1, le=1000, description="Channel (1-based) the drift is measured on; all are corrected.")
    upsample: int = Field(20, ge=1, le=1000, description="Sub-pixel precision 1/upsample px.")
    mode: Literal["spline", "fourier"] = Field("spline", description="How frames are shifted: cubic spline or Fourier.")


def check_job(image: np.ndarray, axes: str, spec: RegisterSpec) -> None:
    """Cheap checks before a job is queued; ValueError says what to change."""
    if "T" not in axes:
        raise ValueError(f"The image has axes {axes!r} and no time axis; drift correction needs a time series "
                         "(if the slices are time points, set them as frames in Image › Properties…).")
    if "C" in axes and spec.channel > image.shape[axes.index("C")]:
        raise ValueError(f"channel={spec.channel} but the image has {image.shape[axes.index('C')]} channel(s).")
    if "C" not in axes and spec.channel != 1:
        raise ValueError(f"channel={spec.channel} but the image has one channel; use channel=1.")
    small = {a: image.shape[axes.index(a)] for a in "ZYX" if a in axes and image.shape[axes.index(a)] < 16}
    if {"Y", "X"} & set(small):
        raise ValueError(f"Frames are too small to register ({small}); need at least 16 pixels in y and x.")
    if not np.issubdtype(image.dtype, np.number) or not np.isfinite(image).all():
        raise ValueError("The image contains NaN or infinite values (or is not grey-level); replace them "
                         "(Process › Math › Remove NaNs…) first.")


def run_job(image: np.ndarray, meta, spec: RegisterSpec, progress=None, cancelled=None):
    """Drift-correct a time series; equal to ``fluorecon register``.

    Returns ``(corrected, axes, info)``; `info` carries the drift per frame as JSON
    (``drift_px = [[d…], …]`` in the order of ``drift_axes``).
    """
    return run_job_values(image, meta, spec, progress=progress, cancelled=cancelled)[:3]


def run_job_values(image: np.ndarray, meta, spec: RegisterSpec, progress=None, cancelled=None):
    """:func:`run_job` plus the structured values the server job returns: ``(corrected, axes, info, values)`` with
    ``values = {"drift_axes": [...], "drift_px": [[d…], …]}``."""
    import json

    check_job(np.asarray(image), meta.axes, spec)
    n_frames = image.shape[meta.axes.index("T")]

    def tick(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total + 1)  # the last step is applying the shifts
        if cancelled is not None and cancelled():
            raise RegistrationCancelled(f"Cancelled after {done} of {total} frames.")

    tick(0, n_frames)
    corrected, drift = register_time_series(image, axes=meta.axes, reference=spec.reference, channel=spec.channel - 1,
                                            upsample=spec.upsample, mode=spec.mode, progress=tick)
    if progress is not None:
        progress(n_frames + 1, n_frames + 1)
    names = [a.lower() for a in "ZYX" if a in meta.axes]
    values = {"drift_axes": names, "drift_px": np.round(drift, 6).tolist()}
    info = (f"fluorecon {fluorecon.__version__} register reference={spec.reference} channel={spec.channel} "
            f"upsample={spec.upsample} mode={spec.mode}\n"
            f"settings = {json.dumps(spec.model_dump())}\n"
            f"drift_axes = {','.join(names)}\n"
            f"drift_px = {json.dumps(values['drift_px'])}")
    return np.ascontiguousarray(corrected, dtype=np.float32), meta.axes, info, values


# Deformable registration and multiview fusion moved to their own modules; their names stay
# importable from here. Imported last: neither module imports this one at import time.


# Deformable registration (register.learned) and multiview fusion (fuse.classical) moved to their own
# modules; their names stay importable from here, loaded on first use so that this module imports neither.
_MOVED = {
    **dict.fromkeys(("DeformNet", "build_register_model", "optical_flow", "register_learned", "spatial_transform",
                     "train_deform_network"), "fluorecon.tasks.register.learned"),
    **dict.fromkeys(("directional_correlation", "fuse_multiview", "register_views"), "fluorecon.tasks.fuse.classical"),
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
