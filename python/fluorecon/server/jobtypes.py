"""The job types the server runs, in one registry: a task registers its spec class, the checks run
at submit (4xx before anything is queued) and the job function the worker calls. Routes, the
worker, ``JobCreate`` and ``GET /v1/models`` are derived from ``JOB_TYPES``; adding a task is one
``register_job_type`` call, no switch to edit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.core.io import TiffMeta
from fluorecon.server.settings import Settings
from fluorecon.tasks import deconvolve as D
from fluorecon.tasks import register as R
from fluorecon.tasks import unmix as U

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


@dataclass(frozen=True)
class JobInputs:
    """What a job gets: the image, its calibration and an optional uploaded PSF."""

    image: np.ndarray
    meta: TiffMeta
    psf_image: np.ndarray | None = None
    psf_meta: TiffMeta | None = None


@dataclass(frozen=True)
class JobOutput:
    result: np.ndarray
    meta: TiffMeta
    info: str
    message: str = "Done."


@dataclass(frozen=True)
class JobType:
    """One task the server runs.

    ``check(inputs, spec, settings)`` raises ValueError (→ 422) before a job is queued;
    ``run(inputs, spec, settings, device, progress, cancel)`` returns a :class:`JobOutput` and
    raises one of ``cancelled`` when ``cancel()`` turned True.
    """

    task: str
    spec: type[BaseModel]
    methods: tuple[str, ...]
    description: str
    check: Callable[[JobInputs, BaseModel, Settings], None]
    run: Callable[..., JobOutput]
    cancelled: tuple[type[BaseException], ...]
    accepts_psf: bool = False


JOB_TYPES: dict[str, JobType] = {}


def register_job_type(job_type: JobType) -> JobType:
    if job_type.task in JOB_TYPES:
        raise ValueError(f"Job type {job_type.task!r} is registered twice.")
    JOB_TYPES[job_type.task] = job_type
    return job_type


def _like(meta: TiffMeta, axes: str) -> TiffMeta:
    return TiffMeta(axes=axes, pixel_size_um=meta.pixel_size_um, z_step_um=meta.z_step_um, unit=meta.unit,
                    frame_interval_s=meta.frame_interval_s)


# --- deconvolve -------------------------------------------------------------------------------


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
    result, info = D.deconvolve_image(
        inputs.image, inputs.meta, spec, psf_image=inputs.psf_image, psf_meta=inputs.psf_meta, device=device,
        chunks=chunks, scheduler=settings.dask_scheduler if chunks else None, progress=progress, cancel=cancel,
    )
    return JobOutput(result, inputs.meta, info)


register_job_type(JobType(
    task="deconvolve", spec=D.DeconvolveSpec, methods=tuple(D.METHODS), accepts_psf=True,
    description="Richardson–Lucy (+ acceleration, + TV) and Wiener deconvolution; theoretical or uploaded PSF.",
    check=_check_deconvolve, run=_run_deconvolve, cancelled=(D.DeconvolutionCancelled,),
))


# --- unmix ------------------------------------------------------------------------------------


def _check_unmix(inputs: JobInputs, spec: U.UnmixSpec, settings: Settings) -> None:
    U.check_job(inputs.image, inputs.meta.axes, spec)
    if not np.issubdtype(inputs.image.dtype, np.number) or not np.isfinite(inputs.image).all():
        raise ValueError("The image contains NaN or infinite values (or is not grey-level); replace them "
                         "(Process › Math › Remove NaNs…) first.")


def _run_unmix(inputs: JobInputs, spec: U.UnmixSpec, settings: Settings, device: str,
               progress: Progress, cancel: Cancel) -> JobOutput:
    result, axes, info = U.run_job(inputs.image, inputs.meta, spec, progress=progress, cancelled=cancel)
    return JobOutput(result, _like(inputs.meta, axes), info)


register_job_type(JobType(
    task="unmix", spec=U.UnmixSpec, methods=("nnls", "nmf", "learned"),
    description="Spectral unmixing: labels (C) then, optionally, the residual map's channels.",
    check=_check_unmix, run=_run_unmix, cancelled=(U.UnmixCancelled,),
))


# --- register ---------------------------------------------------------------------------------


def _run_register(inputs: JobInputs, spec: R.RegisterSpec, settings: Settings, device: str,
                  progress: Progress, cancel: Cancel) -> JobOutput:
    result, axes, info = R.run_job(inputs.image, inputs.meta, spec, progress=progress, cancelled=cancel)
    drift = info.rsplit("drift_px = ", 1)[1]
    return JobOutput(result, _like(inputs.meta, axes), info, message=f"Done. drift_px = {drift}")


register_job_type(JobType(
    task="register", spec=R.RegisterSpec, methods=("translation",),
    description="Translation drift correction of a time series; the drift per frame is in the result's Info "
    "and the job's message (drift_px = JSON).",
    check=lambda inputs, spec, settings: R.check_job(inputs.image, inputs.meta.axes, spec),
    run=_run_register, cancelled=(R.RegistrationCancelled,),
))


# --- qc ---------------------------------------------------------------------------------------
# Check a result against the input it was made from (fluorecon.qc.report.check_result, as
# `fluorecon qc`). The API takes one image, so the pair travels as two channels: C = (input, result).

QC_CHANNELS = ("consistency", "consistency_local")


class QCSpec(BaseModel):
    """A result check: the uploaded image holds the raw input (channel 1) and the result (channel 2)."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["qc"] = Field("qc", description="Task name.")
    model_file: str | None = Field(None, max_length=4096, description="Path, on the server's machine, of the ONNX "
                                   "model that made the result: its card's qc.* statistics drive the "
                                   "out-of-distribution checks. None skips them.")


def _qc_pair(inputs: JobInputs) -> tuple[np.ndarray, np.ndarray, str]:
    data, axes = inputs.image, inputs.meta.axes
    if axes not in ("CYX", "ZCYX") or data.shape[axes.index("C")] != 2:
        raise ValueError(f"A qc job takes the input and the result as 2 channels (axes CYX or ZCYX); got axes "
                         f"{axes!r} with shape {tuple(data.shape)}. Check one plane or z-stack of one time point.")
    if not np.issubdtype(data.dtype, np.number) or not np.isfinite(data).all():
        raise ValueError("The image contains NaN or infinite values (or is not grey-level); replace them "
                         "(Process › Math › Remove NaNs…) first.")
    c = axes.index("C")
    return np.take(data, 0, axis=c), np.take(data, 1, axis=c), axes.replace("C", "")


def _qc_card(spec: QCSpec):
    if spec.model_file is None:
        return None
    from pathlib import Path

    from fluorecon.core.modelcard import ModelCardError, read_card

    path = Path(spec.model_file)
    if path.suffix != ".onnx" or not path.is_file():
        raise ValueError(f"model_file = {spec.model_file!r} is not an .onnx file on the server's machine; give the "
                         "path of the model that made the result, or leave it out.")
    try:
        return read_card(path)
    except (ModelCardError, OSError) as err:
        raise ValueError(f"model_file = {spec.model_file!r}: {err}") from None


def _check_qc(inputs: JobInputs, spec: QCSpec, settings: Settings) -> None:
    _qc_pair(inputs)
    _qc_card(spec)


def _run_qc(inputs: JobInputs, spec: QCSpec, settings: Settings, device: str,
            progress: Progress, cancel: Cancel) -> JobOutput:
    import json

    from fluorecon.qc.report import check_result

    image, result, axes = _qc_pair(inputs)
    meta = _like(inputs.meta, axes)
    pixel_nm = meta.pixel_size_um * 1000 if meta.pixel_size_um else None
    report = check_result(image, result, card=_qc_card(spec), pixel_size_nm=pixel_nm)
    summary = json.dumps(report.to_dict(), ensure_ascii=False)
    info = (f"fluorecon qc\nchannels = {','.join(QC_CHANNELS)}\nqc.spec = {spec.model_dump_json()}\n"
            f"qc = {summary}")
    maps = np.stack([report.consistency, report.local], axis=0 if axes == "YX" else 1)
    return JobOutput(maps.astype(np.float32), _like(inputs.meta, "CYX" if axes == "YX" else "ZCYX"), info,
                     message=f"Done. qc = {summary}")


register_job_type(JobType(
    task="qc", spec=QCSpec, methods=("consistency",),
    description="Check a result against its input (fluorecon qc): upload C = (input, result); the result is "
    "C = (consistency, consistency_local) and the figures and warnings are in the job's message (qc = JSON).",
    check=_check_qc, run=_run_qc, cancelled=(),
))
