"""Multiview fusion: register views of one specimen onto a common grid and fuse them by multiview
Richardson–Lucy over the forward-model objects (Preibisch et al. 2014); a directional Fourier
correlation measures how isotropic the result is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

import fluorecon
from fluorecon.imaging.forward import Blur, default_device
from fluorecon.imaging.psf import psf_confocal, psf_from_image, psf_widefield
from fluorecon.solvers.richardson_lucy import richardson_lucy_multiview
from fluorecon.tasks.deconvolve.classical import PSFParams, pixel_sizes_nm, theoretical_psf_shape
from fluorecon.tasks.register.correlate import phase_correlation

__all__ = ["register_views", "fuse_multiview", "directional_correlation", "view_psf", "FuseSpec", "fuse_views",
           "check_job", "run_job", "run_job_values", "FusionCancelled"]


class FusionCancelled(RuntimeError):
    """Raised between iterations when the ``cancel`` callback returns True."""


def register_views(views: Sequence[np.ndarray], *, upsample: int = 10) -> tuple[list[np.ndarray], np.ndarray]:
    """Translate every view onto view 0 (sub-pixel phase correlation). Returns (views, shifts)."""
    reference = np.asarray(views[0], np.float32)
    out, shifts = [reference], [np.zeros(reference.ndim)]
    for view in views[1:]:
        view = np.asarray(view, np.float32)
        shift = phase_correlation(reference, view, upsample=upsample)
        out.append(ndimage.shift(view, shift, order=3, mode="nearest").astype(np.float32))
        shifts.append(shift)
    return out, np.array(shifts)


def fuse_multiview(views: Sequence[np.ndarray], psfs: Sequence[np.ndarray], *, num_iter: int = 30,
                   background: float = 0.0, device=None,
                   progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """Multiview Richardson–Lucy deconvolution of registered views, one forward model
    (:class:`~fluorecon.imaging.forward.Blur`) per view with its own PSF.

    Each iteration updates the estimate view after view (the sequential scheme of Preibisch et
    al.): ``x ← x · A_vᵀ(y_v / (A_v x + b)) / A_vᵀ1``, through the one RL loop
    (:func:`fluorecon.solvers.richardson_lucy.richardson_lucy_multiview`). Views with complementary PSFs (e.g. a
    light-sheet imaged from two orthogonal directions) give a nearly isotropic result.

    Parameters
    ----------
    views : sequence of ndarray, all (z, y, x) or (y, x), already on one grid
        Offset-subtracted measurements (see :func:`register_views`).
    psfs : sequence of ndarray, one per view, centre at ``k // 2``, sum 1
    num_iter : int
        Iterations (each visits every view once).
    progress : callable(done, total), optional
    cancel : callable() -> bool, optional
        Checked between iterations; True raises :class:`FusionCancelled`.

    Returns
    -------
    ndarray, float32, the views' shape.

    References
    ----------
    Preibisch et al., "Efficient Bayesian-based multiview deconvolution", Nat. Methods 11, 645 (2014).
    """
    if len(views) < 1 or len(views) != len(psfs):
        raise ValueError(f"Give one PSF per view: {len(views)} view(s), {len(psfs)} PSF(s).")
    shape = np.shape(views[0])
    if any(np.shape(v) != shape for v in views):
        raise ValueError(f"All views must have the same shape after registration; got {[np.shape(v) for v in views]}.")
    device = torch.device(device) if device is not None else default_device()
    physics = [Blur(np.asarray(p, np.float32), image_shape=shape, device=device) for p in psfs]
    return richardson_lucy_multiview(views, physics, num_iter=num_iter, background=background, progress=progress,
                                     cancel=cancel, cancelled=FusionCancelled)


def directional_correlation(estimate: np.ndarray, truth: np.ndarray, *, axis: int = 0, n_bins: int = 16,
                            cone_deg: float = 30.0) -> np.ndarray:
    """Fourier shell correlation between `estimate` and `truth` restricted to a cone of half-angle
    `cone_deg` around one frequency axis (axis 0 = z: the axial resolution).

    Returns
    -------
    ndarray, (n_bins,): correlation per frequency shell from 0 to Nyquist (1 = identical).
    """
    a = np.fft.fftn(np.asarray(estimate, np.float64) - np.mean(estimate))
    b = np.fft.fftn(np.asarray(truth, np.float64) - np.mean(truth))
    freqs = np.meshgrid(*[np.fft.fftfreq(n) for n in np.shape(truth)], indexing="ij")
    radius = np.sqrt(sum(f**2 for f in freqs))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_angle = np.abs(freqs[axis]) / radius
    cone = cos_angle >= np.cos(np.deg2rad(cone_deg))
    shells = np.minimum((radius / 0.5 * n_bins).astype(int), n_bins)
    out = np.zeros(n_bins)
    for k in range(n_bins):
        sel = cone & (shells == k)
        if sel.any():
            num = np.real(np.sum(a[sel] * b[sel].conj()))
            den = np.sqrt(np.sum(np.abs(a[sel]) ** 2) * np.sum(np.abs(b[sel]) ** 2))
            out[k] = num / den if den > 0 else 0.0
    return out


# --- views of a stated orientation, and the job ------------------------------------------------


ViewAxis = Literal["z", "y", "x"]


def _centre_crop(kernel: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Crop every axis of `kernel` (centre at k // 2) to at most the largest odd size <= `shape`."""
    cut = []
    for k, n in zip(kernel.shape, shape):
        keep = min(k, n if n % 2 else n - 1)
        start = k // 2 - keep // 2
        cut.append(slice(start, start + keep))
    out = kernel[tuple(cut)]
    return (out / out.sum()).astype(np.float32)


def view_psf(image_shape: Sequence[int], voxel_nm: Sequence[float], axis: ViewAxis, params: PSFParams, *,
             sheet_fwhm_nm: float | None = None) -> np.ndarray:
    """Theoretical PSF of a view whose detection (optical) axis is image axis `axis`, sampled on
    the image grid (z, y, x) of voxel sizes `voxel_nm`: the PSF is modelled with its optical axis
    along `axis` (lateral sampling the finer of the two other axes), resampled to those axes'
    own sampling, and its axes ordered as the image's. A view imaged along x has its long,
    axial extent along x.

    Parameters
    ----------
    image_shape : (nz, ny, nx)
    voxel_nm : (dz, dy, dx) in nm
    axis : "z", "y" or "x"
    params : :class:`~fluorecon.tasks.deconvolve.classical.PSFParams` (na, wavelength, indices, kind)
    sheet_fwhm_nm : float, optional
        Light-sheet illumination: the detection PSF times a Gaussian of this FWHM along `axis`.

    Returns
    -------
    ndarray, float32, odd sizes no larger than the image, sum 1, centre at ``k // 2``.
    """
    if len(image_shape) != 3 or len(voxel_nm) != 3:
        raise ValueError(f"Theoretical view PSFs need a 3D (z, y, x) image; got shape {tuple(image_shape)}. "
                         "For 2D views upload one PSF per view.")
    if axis not in ("z", "y", "x"):
        raise ValueError(f"View axis must be 'z', 'y' or 'x', got {axis!r}.")
    optical = "zyx".index(axis)
    lateral = [i for i in range(3) if i != optical]
    fine = float(min(voxel_nm[i] for i in lateral))
    frame_shape = (image_shape[optical], *[int(np.ceil(image_shape[i] * voxel_nm[i] / fine)) for i in lateral])
    shape = theoretical_psf_shape(frame_shape, params, (voxel_nm[optical], fine))
    common = dict(na=params.na, wavelength_nm=params.wavelength_nm, pixel_size_nm=fine,
                  z_step_nm=float(voxel_nm[optical]), ni=params.ni, ns=params.ns)
    if params.kind == "confocal":
        kernel = psf_confocal(shape, excitation_nm=params.excitation_nm, pinhole_au=params.pinhole_au, **common)
    else:
        kernel = psf_widefield(shape, **common)
    if sheet_fwhm_nm is not None:
        depth = (np.arange(shape[0]) - shape[0] // 2) * float(voxel_nm[optical])
        sigma = sheet_fwhm_nm / (2 * np.sqrt(2 * np.log(2)))
        kernel = kernel * np.exp(-depth**2 / (2 * sigma**2))[:, None, None].astype(np.float32)
    target = (float(voxel_nm[optical]), *[float(voxel_nm[i]) for i in lateral])
    if target[1:] != (fine, fine):
        kernel = psf_from_image(kernel, image_pixel_size_nm=target, psf_pixel_size_nm=(target[0], fine, fine),
                                background=0.0)
    kernel = np.transpose(kernel, np.argsort([optical, *lateral]))
    return _centre_crop(kernel, image_shape)


class FuseSpec(BaseModel):
    """A multiview fusion job: the views travel as the channels (C) of one image, on one grid."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["fuse"] = Field("fuse", description="Task name.")
    num_iter: int = Field(20, ge=1, le=1000, description="Multiview Richardson–Lucy iterations (each visits every view).")
    psf: PSFParams | None = Field(None, description="Detection optics shared by the views (theoretical PSFs); omit "
                                  "when a PSF stack is uploaded (one PSF per view as its channels, sampled like "
                                  "the views).")
    view_axes: list[ViewAxis] | None = Field(None, min_length=1, max_length=16,
                                             description="Detection axis of each view in the image grid, e.g. "
                                             "['z', 'x'] for a view along z and one at 90° along x.")
    background: float = Field(0.0, ge=0, le=1e9, description="Camera offset + background subtracted from every view.")
    sheet_fwhm_nm: float | None = Field(None, gt=0, le=1e6, description="Light-sheet thickness (FWHM, nm) along each "
                                        "view's detection axis; multiplies the theoretical PSFs (omit: widefield).")
    align: bool = Field(True, description="Translate every view onto view 1 (sub-pixel phase correlation) first.")


def _views(image: np.ndarray, axes: str, min_size: int = 8) -> list[np.ndarray]:
    if "T" in axes:
        raise ValueError(f"The image has a time axis (axes {axes!r}); fuse one time point at a time "
                         "(Image › Duplicate… a single frame).")
    if "C" not in axes or image.shape[axes.index("C")] < 2:
        raise ValueError(f"Fusion needs two or more views as channels (C); got axes {axes!r} and shape "
                         f"{image.shape}. Merge the views with Image › Color › Merge Channels… (or Image › "
                         "Stacks › Tools › Concatenate… then Hyperstack) first.")
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"Image axes {axes!r} have no Y and X.")
    spatial = [a for a in "ZYX" if a in axes]
    order = [axes.index("C")] + [axes.index(a) for a in spatial]
    stack = np.transpose(np.asarray(image), order)
    small = {a: n for a, n in zip(spatial, stack.shape[1:]) if n < min_size}
    if small:
        raise ValueError(f"Views are too small to fuse ({small}); need at least {min_size} pixels per axis.")
    if not np.issubdtype(stack.dtype, np.number) or not np.isfinite(stack).all():
        raise ValueError("The views contain NaN or infinite values (or are not grey-level); replace them "
                         "(Process › Math › Remove NaNs…) first.")
    return [v.astype(np.float32) for v in stack]


def _voxel_nm(meta, params: PSFParams | None) -> tuple[float, float, float]:
    dz, dxy = pixel_sizes_nm(meta, params, 3)
    return float(dz), float(dxy), float(dxy)


def _uploaded_psfs(psf_image: np.ndarray, psf_axes: str, n_views: int, ndim: int) -> list[np.ndarray]:
    psfs = _views(psf_image, psf_axes, min_size=1) if "C" in psf_axes else [np.asarray(psf_image, np.float32)]
    if len(psfs) != n_views or psfs[0].ndim != ndim:
        raise ValueError(f"The PSF upload has {len(psfs)} PSF(s) of {psfs[0].ndim} axes (axes {psf_axes!r}) for "
                         f"{n_views} views of {ndim} axes: give one PSF per view as the channels of one stack.")
    out = []
    for i, k in enumerate(psfs):
        k = np.clip(k, 0, None)
        if k.sum() <= 0:
            raise ValueError(f"PSF {i + 1} is all zero (after clipping negatives).")
        out.append((k / k.sum()).astype(np.float32))
    return out


def job_psfs(views: Sequence[np.ndarray], meta, spec: FuseSpec, psf_image: np.ndarray | None = None,
             psf_axes: str | None = None) -> list[np.ndarray]:
    """One PSF per view: the uploaded stack's channels, or theoretical PSFs along `spec.view_axes`."""
    if psf_image is not None:
        return _uploaded_psfs(psf_image, psf_axes or "", len(views), views[0].ndim)
    if spec.psf is None or spec.view_axes is None:
        raise ValueError("No PSFs: give psf (na, wavelength_nm, …) and view_axes (the detection axis of each view, "
                         "e.g. ['z', 'x']), or upload one PSF per view as the channels of a 'psf' TIFF.")
    if len(spec.view_axes) != len(views):
        raise ValueError(f"view_axes has {len(spec.view_axes)} entries for {len(views)} views; give one axis per view.")
    if views[0].ndim != 3:
        raise ValueError("Theoretical view PSFs need 3D views (C, Z, Y, X); for 2D views upload one PSF per view.")
    voxel = _voxel_nm(meta, spec.psf)
    return [view_psf(views[0].shape, voxel, axis, spec.psf, sheet_fwhm_nm=spec.sheet_fwhm_nm) for axis in spec.view_axes]


def fuse_views(views: Sequence[np.ndarray], psfs: Sequence[np.ndarray], *, num_iter: int, background: float = 0.0,
               register: bool = True, device=None, progress=None, cancel=None) -> tuple[np.ndarray, np.ndarray]:
    """Subtract the background, optionally register onto view 1, fuse. Returns (fused, shifts px)."""
    views = [np.clip(np.asarray(v, np.float32) - background, 0, None) for v in views]
    shifts = np.zeros((len(views), views[0].ndim))
    if register:
        views, shifts = register_views(views)
    return fuse_multiview(views, psfs, num_iter=num_iter, device=device, progress=progress, cancel=cancel), shifts


def check_job(image: np.ndarray, meta, spec: FuseSpec, psf_image: np.ndarray | None = None,
              psf_meta=None) -> None:
    """Cheap checks before a job is queued (theoretical PSFs are built by the worker); ValueError
    says what to change."""
    views = _views(image, meta.axes)
    if psf_image is not None:
        _uploaded_psfs(psf_image, psf_meta.axes if psf_meta is not None else "", len(views), views[0].ndim)
        return
    if spec.psf is None or spec.view_axes is None:
        job_psfs(views, meta, spec)  # raises the message naming what is missing
    if len(spec.view_axes) != len(views):
        raise ValueError(f"view_axes has {len(spec.view_axes)} entries for {len(views)} views; give one axis per view.")
    if views[0].ndim != 3:
        raise ValueError("Theoretical view PSFs need 3D views (C, Z, Y, X); for 2D views upload one PSF per view.")
    _voxel_nm(meta, spec.psf)


def run_job(image: np.ndarray, meta, spec: FuseSpec, psf_image=None, psf_meta=None, device=None, progress=None,
            cancelled=None) -> tuple[np.ndarray, str, str]:
    """Fuse the views (channels) of `image`; equal to ``fluorecon fuse``. Returns (fused, axes, info)."""
    return run_job_values(image, meta, spec, psf_image, psf_meta, device=device, progress=progress,
                          cancelled=cancelled)[:3]


def run_job_values(image: np.ndarray, meta, spec: FuseSpec, psf_image=None, psf_meta=None, device=None,
                   progress=None, cancelled=None) -> tuple[np.ndarray, str, str, dict]:
    """:func:`run_job` plus the structured values of the server job: ``{"shifts_px": [[…], …]}`` (view 1 first)."""
    import json

    views = _views(image, meta.axes)
    psfs = job_psfs(views, meta, spec, psf_image, psf_meta.axes if psf_meta is not None else None)
    fused, shifts = fuse_views(views, psfs, num_iter=spec.num_iter, background=spec.background,
                               register=spec.align, device=device, progress=progress, cancel=cancelled)
    axes = "".join(a for a in "ZYX" if a in meta.axes)
    values = {"shifts_px": np.round(shifts, 4).tolist()}
    info = (f"fluorecon {fluorecon.__version__} fuse multiview-RL views={len(views)} num_iter={spec.num_iter}\n"
            f"settings = {json.dumps(spec.model_dump())}\n"
            f"shifts_px = {json.dumps(values['shifts_px'])}")
    return np.ascontiguousarray(fused, np.float32), axes, info, values
