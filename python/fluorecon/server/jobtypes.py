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

Progress = Callable[..., None]  # progress(done, total[, message])
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
    scale: list[int] | None = Field(None, min_length=2, max_length=3, description="Result grid / input grid per "
                                    "spatial axis ((y, x) or (z, y, x)) for a super-resolved or isotropic result: "
                                    "channel 1 then holds the input repeated scale× per axis (nearest neighbour) "
                                    "and the model_file's forward model maps the result back onto the input's grid.")


def _qc_pair(inputs: JobInputs, spec: "QCSpec | None" = None) -> tuple[np.ndarray, np.ndarray, str]:
    data, axes = inputs.image, inputs.meta.axes
    if axes not in ("CYX", "ZCYX") or data.shape[axes.index("C")] != 2:
        raise ValueError(f"A qc job takes the input and the result as 2 channels (axes CYX or ZCYX); got axes "
                         f"{axes!r} with shape {tuple(data.shape)}. Check one plane or z-stack of one time point.")
    if not np.issubdtype(data.dtype, np.number) or not np.isfinite(data).all():
        raise ValueError("The image contains NaN or infinite values (or is not grey-level); replace them "
                         "(Process › Math › Remove NaNs…) first.")
    c = axes.index("C")
    image, result, axes = np.take(data, 0, axis=c), np.take(data, 1, axis=c), axes.replace("C", "")
    if spec is not None and spec.scale is not None and any(f != 1 for f in spec.scale):
        from fluorecon.tasks.upsample import unrepeat

        image = unrepeat(image, spec.scale)
    return image, result, axes


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
    _qc_pair(inputs, spec)
    card = _qc_card(spec)
    if spec.scale is not None and any(f != 1 for f in spec.scale) and (card is None or "forward_model" not in card.qc):
        raise ValueError(f"scale = {spec.scale}: a result on a finer grid than its input is checked through the "
                         "forward model of the model that made it; give model_file = that model (its card needs "
                         "qc.forward_model).")


def _run_qc(inputs: JobInputs, spec: QCSpec, settings: Settings, device: str,
            progress: Progress, cancel: Cancel) -> JobOutput:
    import json

    from fluorecon.qc.report import check_result

    image, result, axes = _qc_pair(inputs, spec)
    meta = _like(inputs.meta, axes)
    pixel_nm = meta.pixel_size_um * 1000 if meta.pixel_size_um else None
    if image.shape != result.shape:
        from fluorecon.tasks.upsample import check_superres

        report = check_superres(image, result, card=_qc_card(spec), pixel_size_nm=pixel_nm)
    else:
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


# --- train-denoise ----------------------------------------------------------------------------
# Self-supervised training on the user's own image (fluorecon.tasks.selfsupervised.train_selfsupervised,
# as `fluorecon train denoise --method n2v|n2v2|n2s`). An ONNX file is not a TIFF: the model goes to the
# server's models folder, its path is in the job's message (model_file = …), and the result TIFF
# is the uploaded image denoised by the new model, so the user sees what it does at once. While it
# trains, the job's progress is the share of steps done and its message "step S/N, loss L"; a cancel
# stops it before the next step and nothing is written to the models folder.

from fluorecon.tasks.selfsupervised import TrainingCancelled  # noqa: E402  (re-exported: the job's "cancelled")


class TrainDenoiseSpec(BaseModel):
    """Train a Noise2Void / Noise2Self denoiser on the uploaded noisy image(s)."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["train-denoise"] = Field("train-denoise", description="Task name.")
    method: Literal["n2v", "n2s", "n2v2"] = Field(
        "n2v", description="n2v: Noise2Void; n2v2: N2V2 (no checkerboard artefacts); n2s: Noise2Self (noisy images only).")
    steps: int = Field(1000, ge=1, le=100_000, description="Optimizer steps (one batch of random patches each).")
    ndim: Literal[2, 3] = Field(2, description="2: a plane model (every plane of a stack is a training image); "
                                "3: a z-stack model.")
    name: str = Field("", max_length=80, description="Model name shown in Fiji (and its file name); default "
                      "'Noise2Void denoising' / 'Noise2Self denoising'.")
    seed: int = Field(0, description="Seed for weights and patch sampling.")


def _train_images(inputs: JobInputs, spec: TrainDenoiseSpec) -> list[np.ndarray]:
    data, axes = inputs.image, inputs.meta.axes
    if "C" in axes or not np.issubdtype(data.dtype, np.number) or not np.isfinite(data).all():
        raise ValueError(f"Training takes one channel of finite grey values; got axes {axes!r}. Split the channels "
                         "and replace NaNs (Process › Math › Remove NaNs…) first.")
    spatial = "ZYX" if spec.ndim == 3 else "YX"
    if spec.ndim == 3 and "Z" not in axes:
        raise ValueError(f"ndim=3 needs a z-stack but the image has axes {axes!r}; use ndim=2 or a z-stack.")
    loop = [a for a in axes if a not in spatial]
    blocks = np.moveaxis(data, [axes.index(a) for a in loop], list(range(len(loop))))
    blocks = blocks.reshape(-1, *blocks.shape[len(loop):]).astype(np.float32)
    small = [s for s in blocks.shape[-2:] if s < 32]
    if small:
        raise ValueError(f"The image is {blocks.shape[-2:]} pixels in y, x; training needs at least 32 x 32.")
    return list(blocks)


def _train_config(spec: TrainDenoiseSpec, images: list[np.ndarray]):
    from fluorecon.nets.unet import UNetConfig
    from fluorecon.tasks.denoise import DenoiseConfig
    from fluorecon.train import TrainConfig

    # As `fluorecon train denoise`: depth 2, 16 filters, blind-spot nets without the residual add;
    # patches shrink to the image (multiples of 2**depth) so a small image still trains.
    unet = UNetConfig(ndim=spec.ndim, depth=2, filters=16).model_copy(update={"residual": False})
    shape = images[0].shape
    want = (64, 64) if spec.ndim == 2 else (32, 64, 64)
    patch = tuple(max(4, min(w, s) // 4 * 4) for w, s in zip(want, shape))
    train = TrainConfig(steps=spec.steps, batch_size=16 if spec.ndim == 2 else 4, patch_size=patch, seed=spec.seed,
                        loss="l2")
    label = {"n2v": "Noise2Void", "n2s": "Noise2Self", "n2v2": "N2V2"}[spec.method]
    return DenoiseConfig(method=spec.method, ndim=spec.ndim, unet=unet, train=train,
                         name=spec.name.strip() or f"{label} denoising")


def _check_train_denoise(inputs: JobInputs, spec: TrainDenoiseSpec, settings: Settings) -> None:
    _train_config(spec, _train_images(inputs, spec))


def models_folder(settings: Settings):
    """Where the server lists models and saves trained ones: --models-dir, else <data dir>/models."""
    from pathlib import Path

    return Path(settings.models_dir) if settings.models_dir is not None else settings.data_dir / "models"


def _run_train_denoise(inputs: JobInputs, spec: TrainDenoiseSpec, settings: Settings, device: str,
                       progress: Progress, cancel: Cancel) -> JobOutput:
    import re
    import shutil
    import tempfile
    from pathlib import Path

    from fluorecon.infer import predict
    from fluorecon.tasks.selfsupervised import train_selfsupervised

    images = _train_images(inputs, spec)
    config = _train_config(spec, images)
    config = config.model_copy(update={"train": config.train.model_copy(update={"device": device})})
    steps = config.train.steps
    progress(0, steps + 1, f"step 0/{steps}: starting")
    if cancel():
        raise TrainingCancelled("Training was cancelled before it started.")

    def on_step(step: int, total: int, loss: float) -> None:
        progress(step, total + 1, f"step {step}/{total}, loss {loss:.4g}")
    folder = models_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", config.name).strip("_.") or "denoise"
    with tempfile.TemporaryDirectory(dir=folder, prefix=".training-") as tmp:
        # A cancel inside training raises before export; the temporary folder (and anything in it) goes.
        card, onnx = train_selfsupervised(config, Path(tmp) / f"{stem}.onnx", data=images, progress=on_step,
                                          cancel=cancel)
        if cancel():
            raise TrainingCancelled("Training was cancelled; the new model was discarded.")
        progress(steps, steps + 1, f"step {steps}/{steps}: exported, denoising the image")
        target, k = folder / f"{stem}.onnx", 1
        while target.exists():
            k += 1
            target = folder / f"{stem}-{k}.onnx"
        result = predict(inputs.image, onnx, axes=inputs.meta.axes, device=device)
        pt = onnx.with_suffix(".pt")
        if pt.is_file():
            shutil.move(pt, target.with_suffix(".pt"))
        shutil.move(onnx, target)
    progress(steps + 1, steps + 1, "done")
    info = (f"fluorecon train-denoise\nmodel_file = {target}\nmodel.name = {card.name}\nmodel.method = {card.method}\n"
            f"train.spec = {spec.model_dump_json()}\noutput: the uploaded image denoised by the new model")
    return JobOutput(np.asarray(result, np.float32), inputs.meta, info, message=f"Done. model_file = {target}")


register_job_type(JobType(
    task="train-denoise", spec=TrainDenoiseSpec, methods=("n2v", "n2v2", "n2s"),
    description="Noise2Void / Noise2Self training on the uploaded noisy image; the model is saved in the server's "
    "models folder (model_file = path in the job's message) and the result is the image denoised by it.",
    check=_check_train_denoise,
    run=_run_train_denoise, cancelled=(TrainingCancelled,),
))

# Job types registered from their own modules (each imports this one; keep these lines last).
import fluorecon.server.jobtypes_table  # noqa: E402,F401  register-table
import fluorecon.server.jobtypes_lightfield_calibrate  # noqa: E402,F401  lightfield-calibrate
import fluorecon.server.lightfield_job  # noqa: E402,F401  lightfield
import fluorecon.server.jobtypes_fuse  # noqa: E402,F401  fuse


# --- sim --------------------------------------------------------------------------------------
# Classical SIM (fluorecon.tasks.sim): raw frames in the spec's order → reconstruction on the 2× grid.


def _check_sim(inputs: JobInputs, spec, settings: Settings) -> None:
    from fluorecon.tasks import sim_job

    sim_job.check_job(inputs.image, inputs.meta.axes, spec, inputs.meta)
    if inputs.psf_image is not None:
        frames = sim_job.flat_frames(inputs.image, inputs.meta.axes)
        sim_job.psf_for_config(inputs.psf_image, inputs.psf_meta, sim_job.config_from_spec(frames, inputs.meta, spec))


def _run_sim(inputs: JobInputs, spec, settings: Settings, device: str, progress: Progress, cancel: Cancel) -> JobOutput:
    import json

    from fluorecon.tasks import sim_job

    result, meta, info, table = sim_job.run_job(inputs.image, inputs.meta, spec, progress=progress, cancelled=cancel,
                                                device=device, psf_image=inputs.psf_image, psf_meta=inputs.psf_meta)
    return JobOutput(result, meta, info, message=f"Done. sim_params = {json.dumps(table)}")


def _register_sim() -> None:
    from fluorecon.tasks.sim import SIMCancelled
    from fluorecon.tasks.sim_job import SimSpec

    register_job_type(JobType(
        task="sim", spec=SimSpec, methods=("wiener",), accepts_psf=True,
        description="Classical SIM (2D per plane or 3D): pattern estimated from the data, generalised Wiener filter; "
        "result on the 2× grid, the pattern parameters as JSON in Info and the job's message (sim_params = …).",
        check=_check_sim, run=_run_sim, cancelled=(SIMCancelled,),
    ))


_register_sim()
