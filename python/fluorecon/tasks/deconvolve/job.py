"""The ``deconvolve`` server job: Richardson–Lucy and Wiener deconvolution (:mod:`.classical`)."""

from __future__ import annotations

from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress
from fluorecon.server.settings import Settings
from fluorecon.tasks.deconvolve import classical as D


def _check_deconvolve(inputs: JobInputs, spec: D.DeconvolveSpec, settings: Settings) -> None:
    data, meta = inputs.image, inputs.meta
    D.validate_image(data, meta.axes, max_voxels=settings.max_voxels)
    spatial = [data.shape[meta.axes.index(a)] for a in D.spatial_axes(meta.axes)]
    if inputs.psf_image is None and spec.psf is None:
        raise ValueError("No PSF: put PSF parameters in spec.psf (na, wavelength_nm, …) or upload a 'psf' TIFF.")
    # Builds the PSF once to check it (a theoretical 3D PSF takes ~1 s: checked by the worker).
    if inputs.psf_image is not None or len(spatial) == 2:
        D.build_psf(spatial, meta, spec, inputs.psf_image, inputs.psf_meta)
    else:
        D.pixel_sizes_nm(meta, spec.psf, 3)


def _run_deconvolve(inputs: JobInputs, spec: D.DeconvolveSpec, settings: Settings, device: str,
                    progress: Progress, cancel: Cancel) -> JobOutput:
    chunks = None
    if inputs.image.size > settings.chunk_voxels:
        chunks = 64 if inputs.image.ndim >= 3 else 1024
    report: dict = {}
    result, info = D.deconvolve_image(
        inputs.image, inputs.meta, spec, psf_image=inputs.psf_image, psf_meta=inputs.psf_meta, device=device,
        chunks=chunks, scheduler=settings.dask_scheduler if chunks else None, progress=progress, cancel=cancel,
        report=report,
    )
    # The stop's outcome (iterations, reason, misfit) as values, and its sentence as the job's message.
    said = [report[k] for k in ("stop_message", "psf_crop") if k in report]
    message = f"Done: {'; '.join(said)}." if said else "Done."
    return JobOutput(result, inputs.meta, info, message=message, values=report)


def _stream_deconvolve(source, meta, spec: D.DeconvolveSpec, out_path, settings: Settings, device: str,
                       progress: Progress, cancel: Cancel) -> None:
    from fluorecon.tasks.deconvolve.streaming import deconvolve_to_zarr

    deconvolve_to_zarr(source, meta, spec, out_path, chunks=64 if len(D.spatial_axes(meta.axes)) == 3 else 1024,
                       device=device, progress=progress, cancel=cancel, scheduler=settings.dask_scheduler)


JOB = JobType(
    task="deconvolve", listed=0, spec=D.DeconvolveSpec, methods=tuple(D.METHODS), accepts_psf=True,
    description="Richardson–Lucy (+ acceleration, + TV) and Wiener deconvolution; theoretical or uploaded PSF.",
    check=_check_deconvolve, run=_run_deconvolve, cancelled=(D.DeconvolutionCancelled,), stream=_stream_deconvolve,
)
