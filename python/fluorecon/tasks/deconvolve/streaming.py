"""Block-wise deconvolution of images larger than memory: a lazy input, the block plan of chunked deconvolution
(:func:`classical.chunk_plan`, the same blocks as ``deconvolve_image(..., chunks=…)`` in memory), each block written
into OME-Zarr as it finishes."""

from __future__ import annotations

import numpy as np

from fluorecon.core.blocks import block_count_message, run_blocks
from fluorecon.core.io import TiffMeta
from fluorecon.core.streaming import Progress, block_writer
from fluorecon.imaging.forward import default_device
from fluorecon.tasks.deconvolve.classical import (ITERATIVE, DeconvolutionCancelled, DeconvolveBlock, build_psf,
                                                  chunk_plan, default_overlap, spatial_axes)


def deconvolve_to_zarr(source, meta: TiffMeta, spec, out_path, *, psf_image=None, psf_meta=None, chunks: int = 256,
                       device=None, progress: Progress | None = None, cancel=None, scheduler=None,
                       report: dict | None = None) -> str:
    """Deconvolve a lazy image block by block into `out_path` (OME-Zarr or ImageJ TIFF); returns the provenance info.

    Each (t, c) block first gets one streaming pass for the start value (its mean, as in memory) and a finiteness
    check; then the plan's blocks run one at a time here, or on the dask.distributed `scheduler`. `report` (optional)
    receives ``psf_crop`` when a theoretical PSF was cropped (:func:`classical.bounded_depth`).
    """
    import json

    import dask
    import dask.array as da

    import fluorecon

    axes = meta.axes
    spatial = spatial_axes(axes)
    sizes = [source.shape[axes.index(a)] for a in spatial]
    if min(sizes) < 4:
        raise ValueError(f"Image is too small to deconvolve ({dict(zip(spatial, sizes))}); need at least 4 pixels "
                         "per axis.")
    psf_report: dict = {}
    psf = build_psf(tuple(sizes), meta, spec, psf_image, psf_meta, report=psf_report)
    if report is not None and "psf_crop" in psf_report:
        report["psf_crop"] = psf_report["psf_crop"]
    device = str(device) if device is not None else str(default_device())
    options = {"tv_lambda": spec.tv_lambda} if spec.method == "rltv" else {}
    if spec.method == "wiener":
        options = {"balance": spec.balance}
    overlap = default_overlap(psf.shape, sizes, spec.num_iter if spec.method in ITERATIVE else 10)
    plan = chunk_plan(source.shape, axes, spatial, chunks, overlap)
    init = {}
    for lead in np.ndindex(*plan.loop_shape):
        loop = dict(zip(plan.loop_axes, lead))
        block = source[tuple(loop.get(i, slice(None)) for i in range(len(axes)))].astype(np.float32)
        if spec.background:
            block = da.clip(block - np.float32(spec.background), 0, None)
        mean, finite = dask.compute(block.mean(), da.isfinite(block).all(), scheduler="synchronous")
        if not finite:
            raise ValueError("The image contains NaN or infinite values; replace them (Process › Math › "
                             "Remove NaNs…) first.")
        init[lead] = max(float(mean), 1e-6)
    process = DeconvolveBlock(psf, spec.method, spec.num_iter, options, device, background=spec.background or 0.0,
                              init=init if spec.method in ITERATIVE else None)

    info = (f"fluorecon {fluorecon.__version__} deconvolve (block-wise, chunks {chunks})\n"
            f"settings: {json.dumps(spec.model_dump(exclude_none=True))}\n"
            f"psf: {'measured' if psf_image is not None else 'theoretical'} shape {psf.shape}\n"
            + (f"psf background: {psf_report['background_reason']}\n" if "background_reason" in psf_report else "")
            + (f"psf crop: {psf_report['psf_crop']}\n" if "psf_crop" in psf_report else "")
            + f"{block_count_message(plan)}\ndevice: {device}" + (f" (dask {scheduler})" if scheduler else "")
            # Blocks stopped at different iterations would disagree at their seams; block-wise runs keep the cap.
            + (f"\nstop: ran all {spec.num_iter} iterations in every block (the discrepancy stop is not applied "
               f"block-wise)" if spec.method in ITERATIVE and spec.stop == "discrepancy" else ""))
    with block_writer(out_path, source.shape, meta, chunks=plan.out_chunks(), info=info) as out:
        run_blocks(source, plan, process, out, progress=progress, cancel=cancel, scheduler=scheduler,
                   cancelled=DeconvolutionCancelled)
    return info
