"""Deconvolution: Richardson–Lucy (plain, Biggs–Andrews accelerated, total-variation regularised)
and Wiener/Tikhonov, in torch float32 on CUDA when present, CPU otherwise, 2D and 3D.

Every iterative method is written once against a physics object (:mod:`fluorecon.imaging.forward`,
``A``/``A_adjoint``); with :class:`~fluorecon.imaging.forward.Blur` the boundary handling is that of
``skimage.restoration.richardson_lucy``: zero-padded linear convolution cropped to the image
(``scipy.signal.convolve(mode="same")``), so with ``init=0.5, clip=True`` plain RL reproduces
scikit-image to float round-off (odd-sized PSF; skimage mirrors an even PSF about a different
centre). Nothing wraps around. The large-data driver (:func:`deconvolve`) runs the same code on
overlapping dask chunks, locally or on a ``dask.distributed`` cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.fft
import torch

import fluorecon
from fluorecon.core.io import TiffMeta
from fluorecon.imaging.forward import Blur, default_device
from fluorecon.imaging.psf import psf_confocal, psf_from_image, psf_widefield

__all__ = [
    "DeconvolutionCancelled",
    "richardson_lucy",
    "richardson_lucy_accelerated",
    "richardson_lucy_tv",
    "wiener",
    "deconvolve",
    "METHODS",
    "DeconvolveSpec",
    "PSFParams",
    "build_psf",
    "deconvolve_image",
]

from fluorecon.solvers.richardson_lucy import (  # noqa: F401  (re-exported: the methods' home until phase 2)
    Cancel, DeconvolutionCancelled, DiscrepancyStop, Progress, _as_image, richardson_lucy, richardson_lucy_accelerated, richardson_lucy_tv,
)
from fluorecon.solvers.wiener import wiener
from fluorecon.tasks.deconvolve.spec import DeconvolveSpec, PSFParams  # noqa: F401  (re-exported)



# --- driver: method registry, chunking, dask -----------------------------------------------

METHODS: dict[str, Callable] = {
    "rl": richardson_lucy,
    "rl-accel": richardson_lucy_accelerated,
    "rltv": richardson_lucy_tv,
    "wiener": wiener,
}
ITERATIVE = {"rl", "rl-accel", "rltv"}


def _run_method(block, psf, method, num_iter, options, device, progress=None, cancel=None):
    fn = METHODS[method]
    if method in ITERATIVE:
        return fn(block, psf, num_iter=num_iter, device=device, progress=progress, cancel=cancel, **options)
    return fn(block, psf, device=device, **options)


def default_overlap(psf_shape: Sequence[int], image_shape: Sequence[int], num_iter: int = 1) -> tuple[int, ...]:
    """Overlap of dask chunks per axis: the PSF half-width times ``ceil(sqrt(num_iter)) + 1``.

    Each RL iteration reaches one PSF width further, but the influence of a chunk's edge decays
    like a diffusion (∝ √iterations); this margin keeps chunked results within 1e-3 of the image
    range of the whole-volume result for noisy data (tests). Capped by the image size.
    """
    factor = int(np.ceil(np.sqrt(max(num_iter, 1)))) + 1
    return tuple(min(max(k // 2, 1) * factor, n) for k, n in zip(psf_shape, image_shape))


def deconvolve(
    image,
    psf,
    *,
    method: str = "rl-accel",
    num_iter: int = 20,
    chunks: int | Sequence[int] | None = None,
    overlap: Sequence[int] | None = None,
    scheduler: str | None = None,
    device=None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    **options,
) -> np.ndarray:
    """Deconvolve an image with any method, whole or in overlapping dask chunks.

    Parameters
    ----------
    image : ndarray, (y, x) or (z, y, x)
    psf : ndarray, same axes
    method : {"rl", "rl-accel", "rltv", "wiener"}
        "rl-accel" (Biggs–Andrews) is the fast default.
    num_iter : int
        Iterations (ignored by "wiener").
    chunks : int or per-axis sizes, optional
        Process in blocks of this size (core.blocks, the plan the streamed path shares; overlap from the PSF
        size, see :func:`default_overlap`); None processes the whole image at once.
    overlap : per-axis ints, optional
        Chunk overlap in pixels; default :func:`default_overlap`.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``); the chunks then run
        there. Requires ``chunks``; by default one chunk per worker-sized piece is not guessed.
    device, progress, cancel
        As in :func:`richardson_lucy`. Chunked results equal the whole-image result within
        1e-3 of its range for "rl" and "rltv" (measured in the tests); "rl-accel" computes its
        extrapolation weight per chunk (≈1e-2) and Wiener's mirror boundary depends on the
        block (≈1e-2 at balance 1e-2), so those agree more loosely. With chunks, progress counts finished chunks
        (``done, total`` in chunk units) and cancel is checked between chunks.
    **options
        Passed to the method (``tv_lambda``, ``balance``, ``background``, ``init`` …).

    Returns
    -------
    ndarray, float32, same shape as ``image``
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: use one of {', '.join(METHODS)} (or 'learned' via the CLI).")
    if num_iter < 1 and method in ITERATIVE:
        raise ValueError(f"num_iter={num_iter}: use at least 1 iteration.")
    array = _as_image(image)
    kernel = _as_image(psf, "psf")
    if kernel.ndim != array.ndim:
        raise ValueError(f"psf has {kernel.ndim} axes but the image has {array.ndim}; give matching dimensions.")
    if method in ITERATIVE and options.get("init", "mean") == "mean":
        # One start value for the whole image: per-chunk means would make chunks disagree.
        options["init"] = max(float(array.mean()), 1e-6)
    device = str(device) if device is not None else str(default_device())
    if chunks is None:
        if scheduler is not None:
            raise ValueError("A dask scheduler needs chunks: give chunks=… (e.g. 128) to split the image.")
        return _run_method(array, kernel, method, num_iter, options, device, progress, cancel)
    stop = options.pop("stop", None)
    if stop is not None and method in ITERATIVE:
        num_iter = _iterations_on_central_chunk(array, kernel, method, num_iter, options, device, chunks, stop)
    return _deconvolve_chunked(array, kernel, method, num_iter, options, device, chunks, overlap, scheduler, progress, cancel)


class DeconvolveBlock:
    """One block of a block-wise deconvolution (core.blocks): background, then the method with one start value
    for the whole (t, c) block (`init`: a number, or one per index of the looped axes), so blocks agree."""

    def __init__(self, psf, method, num_iter, options, device, *, background: float = 0.0, init=None):
        self.psf, self.method, self.num_iter, self.options = psf, method, num_iter, dict(options)
        self.device, self.background, self.init = device, float(background), init

    def __call__(self, block: np.ndarray, lead: tuple) -> np.ndarray:
        if self.background:
            block = np.clip(block - np.float32(self.background), 0, None)
        options = dict(self.options)
        if isinstance(self.init, dict):
            options["init"] = self.init[lead]
        return _run_method(block, self.psf, self.method, self.num_iter, options, self.device)


def chunk_plan(shape, axes: str, spatial: str, chunks, overlap):
    """The block plan (core.blocks) of chunked deconvolution: cores of `chunks` px, a halo of `overlap` px, blocks
    clipped at the image edge (the solvers' own boundary applies there, as for the whole image)."""
    from fluorecon.core.blocks import plan_blocks
    from fluorecon.core.tiling import _per_axis

    core = _per_axis(chunks, len(spatial), "chunks")
    halo = _per_axis(overlap, len(spatial), "overlap")
    return plan_blocks(shape, axes, spatial, tile=[c + 2 * h for c, h in zip(core, halo)], halo=halo, multiple=1,
                       border="none")


def _iterations_on_central_chunk(array, kernel, method, num_iter, options, device, chunks, stop) -> int:
    """The discrepancy stop for chunked runs: every chunk must run the same number of iterations (chunks stopped
    apart would disagree at their seams), so the count is chosen once, on the central chunk with its margin."""
    size = (chunks,) * array.ndim if np.isscalar(chunks) else tuple(chunks)
    margin = default_overlap(kernel.shape, array.shape, num_iter)
    centre = tuple(
        slice(max(0, n // 2 - c // 2 - m), min(n, n // 2 - c // 2 - m + c + 2 * m))
        for n, c, m in zip(array.shape, size, margin)
    )
    if stop.measured is not None:
        stop.measured = np.asarray(stop.measured)[centre]
    _run_method(array[centre], kernel, method, num_iter, {**options, "stop": stop}, device)
    stop.chunked = True
    return max(stop.iterations, 1)


def _deconvolve_chunked(array, kernel, method, num_iter, options, device, chunks, overlap, scheduler, progress, cancel):
    from fluorecon.core.blocks import run_blocks

    if overlap is None:
        # Wiener's inverse filter is global too; give it the margin of ~10 RL iterations.
        overlap = default_overlap(kernel.shape, array.shape, num_iter if method in ITERATIVE else 10)
    axes = "ZYX"[-array.ndim:]
    plan = chunk_plan(array.shape, axes, axes, chunks, overlap)
    out = np.empty(array.shape, np.float32)
    run_blocks(array, plan, DeconvolveBlock(kernel, method, num_iter, options, device), out, progress=progress,
               cancel=cancel, scheduler=scheduler, cancelled=DeconvolutionCancelled)
    return out


# --- job spec (tasks/deconvolve/spec.py: the one typed config of the CLI, the server and the plugin) ----


def pixel_sizes_nm(meta: TiffMeta, spec_psf: PSFParams | None, ndim: int) -> tuple[float, ...]:
    pixel = (spec_psf.pixel_size_nm if spec_psf and spec_psf.pixel_size_nm else None) or (
        meta.pixel_size_um * 1000 if meta.pixel_size_um else None
    )
    if pixel is None:
        raise ValueError(
            "The image has no pixel size: give pixel_size_nm (CLI: --pixel-size-nm) or set it in "
            "Image › Properties before saving."
        )
    if ndim == 2:
        return (pixel,)
    z = (spec_psf.z_step_nm if spec_psf and spec_psf.z_step_nm else None) or (
        meta.z_step_um * 1000 if meta.z_step_um else None
    )
    if z is None:
        raise ValueError("The stack has no z step: give z_step_nm (CLI: --z-step-nm) or set 'Voxel depth' in Image › Properties.")
    return (z, pixel)


def _per_axis_nm(sizes: Sequence[float], ndim: int) -> tuple[float, ...]:
    """(lateral,) or (z, lateral) or full per-axis sizes → one size per axis."""
    sizes = tuple(float(v) for v in sizes)
    if len(sizes) == ndim:
        return sizes
    if len(sizes) == 1 and ndim == 2:
        return sizes * 2
    if len(sizes) == 2 and ndim == 3:
        return (sizes[0], sizes[1], sizes[1])
    raise ValueError(f"psf_pixel_size_nm={sizes}: give (lateral) for 2D or (z, lateral) / (z, y, x) for 3D, in nm.")


def theoretical_psf_shape(image_shape: Sequence[int], params: PSFParams, sizes: Sequence[float]) -> tuple[int, ...]:
    """PSF size for an image: 4 Airy radii laterally, widened to the defocus cone of half the
    stack (``z · tan θ``, ``sin θ = NA / ni``), never larger than the image (odd sizes)."""
    pixel = sizes[-1]
    radius = 4 * 0.61 * params.wavelength_nm / params.na
    shape = []
    if len(image_shape) == 3:
        nz = image_shape[0]
        half_depth = (nz // 2) * sizes[0]
        theta = np.arcsin(min(params.na / params.ni, 0.999))
        radius = max(radius, half_depth * np.tan(theta))
        shape.append(2 * (nz // 2) + 1 if nz > 1 else 1)
    r = int(np.ceil(radius / pixel))
    for n in image_shape[-2:]:
        shape.append(min(2 * r + 1, 2 * ((n - 1) // 2) + 1))
    return tuple(shape)


# Reference depth of the energy rule, in planes either side of focus: deeper stacks are judged against ±512 planes
# (the core's light falls like 1/z², so what lies beyond moves the crop little; the reference costs seconds).
MAX_REFERENCE_HALF_PLANES = 512


def bounded_depth(image_shape: Sequence[int], spec: DeconvolveSpec, sizes: Sequence[float], optics: dict,
                  report: dict | None = None) -> tuple[int, ...]:
    """The stack depth a 3D theoretical PSF is built for: the whole stack, or fewer planes when
    ``spec.psf_extent_um`` or ``spec.psf_energy`` (:func:`fluorecon.imaging.psf.axial_energy_extent`) bounds it. A widefield PSF as deep as
    the stack makes every block's halo the whole volume; the crop is said in `report["psf_crop"]` (a sentence with
    ``{shape}`` for the caller to fill), never silently."""
    from fluorecon.imaging.psf import axial_energy_extent

    params, energy, extent_um = spec.psf, spec.psf_energy, spec.psf_extent_um
    nz, z_step = int(image_shape[0]), sizes[0]
    stack_half = nz // 2
    if extent_um is not None:
        half = int(extent_um * 1000 / 2 // z_step)
        reason = f"z extent {extent_um:g} µm (psf_extent_um)"
    elif energy < 1 and stack_half > 0:
        core = int(np.ceil(4 * 0.61 * params.wavelength_nm / params.na / sizes[-1]))
        extra = dict(excitation_nm=params.excitation_nm, pinhole_au=params.pinhole_au) if params.kind == "confocal" else {}
        half, held = axial_energy_extent(energy, max_half_planes=min(stack_half, MAX_REFERENCE_HALF_PLANES),
                                         core_radius_px=core, kind=params.kind, **optics, **extra)
        reason = (f"holding {100 * held:.4g} % of its light within the in-focus core ({2 * core + 1} px, 4 Airy "
                  f"radii) over the stack (psf_energy {energy:g}; 1 keeps the whole stack)")
    else:
        return tuple(image_shape)
    if half >= stack_half:
        return tuple(image_shape)
    planes = 2 * half + 1
    if report is not None:
        report["psf_crop"] = (f"theoretical PSF cropped to {{shape}} (±{half} planes, ±{half * z_step / 1000:.3g} µm "
                              f"of the stack's {nz} planes) {reason}")
    return (planes,) + tuple(image_shape[1:])


def build_psf(
    image_shape: Sequence[int],
    meta: TiffMeta,
    spec: DeconvolveSpec,
    psf_image: np.ndarray | None = None,
    psf_meta: TiffMeta | None = None,
    report: dict | None = None,
) -> np.ndarray:
    """The PSF for a job: measured (``psf_image``) or theoretical (``spec.psf``), at the image's
    sampling. A measured PSF's background follows ``spec.psf_background``; `report` (optional) is
    filled with what was subtracted and why (:func:`fluorecon.imaging.psf.psf_from_image`).
    Raises ValueError with what to change."""
    ndim = len(image_shape)
    if psf_image is not None:
        psf_image = np.squeeze(np.asarray(psf_image))
        if psf_image.ndim != ndim:
            raise ValueError(
                f"The PSF image has {psf_image.ndim} spatial axes (shape {psf_image.shape}) but the image "
                f"has {ndim}: give a {'3D (z, y, x)' if ndim == 3 else '2D (y, x)'} PSF."
            )
        try:
            target = _per_axis_nm(pixel_sizes_nm(meta, spec.psf, ndim), ndim)
        except ValueError:
            target = None
        source = spec.psf_pixel_size_nm
        if source is None and psf_meta is not None and psf_meta.pixel_size_um:
            lateral = psf_meta.pixel_size_um * 1000
            source = (lateral,) if ndim == 2 else (psf_meta.z_step_um * 1000 if psf_meta.z_step_um else None, lateral)
        if source is not None and ndim == 3 and len(source) == 2 and source[0] is None:
            source = (target[0], source[1]) if target else None
        if target is None or source is None:
            # No calibration on one side: take the PSF as sampled like the image.
            return psf_from_image(psf_image, image_pixel_size_nm=1.0, psf_pixel_size_nm=1.0,
                                  background=spec.psf_background, report=report)
        return psf_from_image(psf_image, image_pixel_size_nm=target, psf_pixel_size_nm=_per_axis_nm(source, ndim),
                              background=spec.psf_background, report=report)
    if spec.psf is None:
        raise ValueError("No PSF: give PSF parameters (na, wavelength_nm, …) or a measured PSF image.")
    sizes = pixel_sizes_nm(meta, spec.psf, ndim)
    common = dict(na=spec.psf.na, wavelength_nm=spec.psf.wavelength_nm, pixel_size_nm=sizes[-1],
                  z_step_nm=sizes[0] if ndim == 3 else None, ni=spec.psf.ni, ns=spec.psf.ns)
    if ndim == 3:
        image_shape = bounded_depth(image_shape, spec, sizes, common, report)
    shape = theoretical_psf_shape(image_shape, spec.psf, sizes)
    if report is not None and "psf_crop" in report:
        report["psf_crop"] = report["psf_crop"].replace("{shape}", "×".join(map(str, shape)))
    if spec.psf.kind == "confocal":
        return psf_confocal(shape, excitation_nm=spec.psf.excitation_nm, pinhole_au=spec.psf.pinhole_au, **common)
    return psf_widefield(shape, **common)


def spatial_axes(axes: str) -> str:
    """The axes deconvolved together ('YX' or 'ZYX'); T and C are looped over."""
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"Image axes {axes!r} have no Y and X; give a 2D image or a stack.")
    return "".join(a for a in axes if a in "ZYX")


def validate_image(image: np.ndarray, axes: str, *, max_voxels: int | None = None) -> None:
    """Check an input before accepting a job; ValueError says what to change."""
    spatial = spatial_axes(axes)
    if not np.issubdtype(image.dtype, np.number) or np.iscomplexobj(image):
        raise ValueError(f"Image dtype {image.dtype} is not a grey-level type; convert to 32-bit.")
    sizes = [image.shape[axes.index(a)] for a in spatial]
    if min(sizes) < 4:
        raise ValueError(f"Image is too small to deconvolve ({dict(zip(spatial, sizes))}); need at least 4 pixels per axis.")
    if max_voxels is not None and image.size > max_voxels:
        raise ValueError(f"Image has {image.size} voxels, more than this server's limit of {max_voxels}.")
    if not np.isfinite(image).all():
        raise ValueError("Image contains NaN or infinite values; replace them (Process › Math › Remove NaNs…) first.")


def deconvolve_image(
    image: np.ndarray,
    meta: TiffMeta,
    spec: DeconvolveSpec,
    *,
    psf_image: np.ndarray | None = None,
    psf_meta: TiffMeta | None = None,
    device=None,
    chunks=None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    report: dict | None = None,
) -> tuple[np.ndarray, str]:
    """Deconvolve an image of any TZCYX subset per its spec; returns (result, provenance info).

    Each (t, c) block is deconvolved on its own (Z)YX axes; progress counts iterations over
    all blocks. The same function serves ``fluorecon deconvolve`` and the server's jobs. An iterative method
    watches its misfit (:class:`DiscrepancyStop`, ``spec.stop``); the Info's ``stop:`` line says where it ended and
    `report` (optional) receives the same as values (:func:`stop_values`).
    """
    import json

    validate_image(image, meta.axes)
    spatial = spatial_axes(meta.axes)
    other = [i for i, a in enumerate(meta.axes) if a not in spatial]
    order = other + [meta.axes.index(a) for a in spatial]
    moved = np.transpose(image, order)
    lead_shape = moved.shape[: len(other)]
    blocks = moved.reshape((-1,) + moved.shape[len(other):]).astype(np.float32)
    psf_report: dict = {}
    psf = build_psf(blocks.shape[1:], meta, spec, psf_image, psf_meta, report=psf_report)
    steps = spec.num_iter if spec.method in ITERATIVE else 1
    total = steps * len(blocks)
    out = np.empty_like(blocks)
    device = str(device) if device is not None else str(default_device())
    options = {"tv_lambda": spec.tv_lambda} if spec.method == "rltv" else {}
    if spec.method == "wiener":
        options = {"balance": spec.balance}
    stops = []
    for b, block in enumerate(blocks):
        data = np.clip(block - spec.background, 0, None) if spec.background else block
        stop = _discrepancy_stop(block, spec) if spec.method in ITERATIVE else None
        if stop is not None:
            stops.append(stop)
            options["stop"] = stop

        def block_progress(done, count, b=b):
            if progress is not None:
                progress(b * steps + done * steps // max(count, 1), total)

        out[b] = deconvolve(
            data, psf, method=spec.method, num_iter=spec.num_iter, chunks=chunks, scheduler=scheduler,
            device=device, progress=block_progress, cancel=cancel, **options,
        )
    result = np.transpose(out.reshape(lead_shape + out.shape[1:]), np.argsort(order))
    details = spec.model_dump(exclude_none=True)
    info = (
        f"fluorecon {fluorecon.__version__} deconvolve\n"
        f"settings: {json.dumps(details)}\n"
        f"psf: {'measured' if psf_image is not None else 'theoretical'} shape {psf.shape}\n"
        + (f"psf background: {psf_report['background_reason']}\n" if "background_reason" in psf_report else "")
        + (f"psf crop: {psf_report['psf_crop']}\n" if "psf_crop" in psf_report else "") +
        f"device: {device}{' (dask ' + scheduler + ')' if scheduler else ''}"
        + "".join(f"\nstop{'' if len(stops) == 1 else f' (block {i + 1})'}: {s.message()}" for i, s in enumerate(stops))
    )
    if report is not None and stops:
        report.update(stop_values(stops))
    if report is not None and "psf_crop" in psf_report:
        report["psf_crop"] = psf_report["psf_crop"]
    return np.ascontiguousarray(result, dtype=np.float32), info


def _discrepancy_stop(block: np.ndarray, spec: DeconvolveSpec) -> DiscrepancyStop:
    """The stop of one (Z)YX block: noise model estimated from the raw block (fluorecon.qc.noise_estimate); the
    misfit is judged on the block minus the subtracted background, before RL clamps it at 0."""
    from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise

    try:
        noise = estimate_noise(block)
    except ValueError:  # smaller than one 8×8 noise block: χ² then never reaches 1 and RL runs all iterations
        noise = NoiseModel(a=0.0, b=0.0)
    return DiscrepancyStop.from_noise(noise, offset=spec.background, enabled=spec.stop == "discrepancy",
                                      measured=block - np.float32(spec.background))


def stop_values(stops: Sequence[DiscrepancyStop]) -> dict:
    """The stops of all blocks as job result values: one block's values, or lists per block, and ``stop_message``."""
    values = [s.values() for s in stops]
    merged = values[0] if len(values) == 1 else {k: [v[k] for v in values] for k in values[0]}
    return {**merged, "stop_message": "; ".join(s.message() for s in stops)}
