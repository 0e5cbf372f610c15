"""The ``train-like`` server job (Fiji: Denoise › Train for my microscope…): fit the simulation to the uploaded
raw image — one YX plane or a Z/T stack of them, as `--like` takes — and fine-tune a shipped model on it (fluorecon.train_like; ``model_task`` picks the CARE denoiser, the
learned deconvolution model or the ×2 upsampling model, as `fluorecon train <task> --like`). As train-denoise:
the model goes to the server's models folder (``model_file = …`` in the message), the result TIFF is the plane fitted
to (of a stack: ``plane``, default the brightest) restored by it (upsampled: calibration divided by the scale); progress is the share of steps done, a
cancel stops before the next step and leaves nothing in the models folder. ``values`` carry the fitted camera
and the OOD verdict of the image before and after."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.infer import predict
from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress, models_folder
from fluorecon.server.settings import Settings
from fluorecon.tasks.denoise.job import install_model
from fluorecon.like_tasks import train_like_for
from fluorecon.train_like import (LIKE_TASKS, CameraNotMeasured, LikeSettings, LikeTask, TrainingCancelled,
                                  default_base_model, fit_plane, resolve_pixel_size, safe_stem)


class TrainLikeSpec(BaseModel):
    """Fit the training simulation to the uploaded raw image and fine-tune a shipped model on it."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["train-like"] = Field("train-like", description="Task name.")
    # `task` names the job (the request's discriminator); the model's task is its own field.
    model_task: LikeTask = Field("denoise", description="Which shipped 2D model to fit: " + ", ".join(LIKE_TASKS) +
                                 " (CARE denoising, learned deconvolution, ×2 upsampling).")
    na: float = Field(..., gt=0, le=1.7, description="Numerical aperture of the objective (image files do not "
                      "record it).")
    wavelength_nm: float = Field(..., ge=300, le=1100, description="Emission wavelength, nm.")
    pixel_size_nm: float = Field(0.0, ge=0, description="Pixel size in the sample, nm; 0 = the image's calibration.")
    steps: int = Field(300, ge=1, le=100_000, description="Fine-tuning steps (one batch of 8 random patches each).")
    from_scratch: bool = Field(False, description="Train from random weights instead of the shipped model's.")
    name: str = Field("", max_length=80, description="Model name shown in Fiji (and its file name); default '<the "
                      "model's method> fitted to <image>'.")
    seed: int = Field(0, description="Seed for the simulation, weights and patch sampling.")
    # The camera's calibration, for frames that do not show their shot noise (a bead crop, mostly background):
    # each value given replaces the estimate; none has a default (unset: estimated from the frame).
    gain: Optional[float] = Field(None, gt=0, allow_inf_nan=False, description="Camera gain, ADU per detected "
                                  "photon, from the camera's calibration; unset: estimated from the frame.")
    background: Optional[float] = Field(None, allow_inf_nan=False, description="Camera offset (+ background), ADU, "
                                        "from the camera's calibration; unset: estimated from the frame.")
    read_noise_e: Optional[float] = Field(None, ge=0, allow_inf_nan=False, description="Camera read noise, electrons "
                                          "rms, from the camera's calibration; unset: estimated from the frame.")
    plane: Optional[int] = Field(None, ge=0, description="Of a Z or T stack: the plane (0-based) the structure and "
                                 "light level are fitted to; unset: the brightest. The camera is estimated from "
                                 "every plane.")

#: How the job (and Fiji, whose macro keys are the job's fields) gives the camera's calibration.
JOB_CAMERA_OPTIONS = ("gain (ADU per photon), background (camera offset, ADU) and read_noise_e (electrons) in the "
                      "train-like job (Fiji: gain=, background=, read_noise_e= in Train for my microscope…)")


def _image(inputs: JobInputs, plane: int | None) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(the uploaded image, the YX plane fitted to, its index in the stack or None) — `fit_plane`'s rule, as the CLI."""
    data, axes = inputs.image, inputs.meta.axes
    if axes not in ("YX", "ZYX", "TYX") or not np.issubdtype(data.dtype, np.number):
        raise ValueError(f"Train for my microscope takes one grey YX plane or one Z or T stack of them; got axes "
                         f"{axes!r}. Duplicate one channel of the image first.")
    if axes == "YX" and plane is not None:
        raise ValueError(f"plane = {plane}, but the image is one YX plane; leave plane unset.")
    image = np.asarray(data, np.float32)
    fitted, index = fit_plane(image, plane)
    return image, fitted, index


def _settings(spec: TrainLikeSpec, device: str = "auto") -> LikeSettings:
    return LikeSettings(pixel_size_nm=spec.pixel_size_nm or None, na=spec.na, wavelength_nm=spec.wavelength_nm,
                        steps=spec.steps, from_scratch=spec.from_scratch, seed=spec.seed, name=spec.name, device=device,
                        gain=spec.gain, offset=spec.background, read_noise_e=spec.read_noise_e, plane=spec.plane)


def _check(inputs: JobInputs, spec: TrainLikeSpec, settings: Settings) -> None:
    _image(inputs, spec.plane)  # axes, size, finite pixels and the plane index, before the job is queued
    resolve_pixel_size(inputs.meta, spec.pixel_size_nm or None, "The image")


def _run(inputs: JobInputs, spec: TrainLikeSpec, settings: Settings, device: str, progress: Progress,
         cancel: Cancel) -> JobOutput:
    from fluorecon.core.io import output_meta
    from fluorecon.export import unet_from_onnx
    from fluorecon.qc.ood import check_input

    image, plane, index = _image(inputs, spec.plane)
    like = _settings(spec, device)
    steps = like.steps
    progress(0, steps + 1, "fitting the simulation to the image")
    _, base_card = unet_from_onnx(default_base_model(spec.model_task))
    before = check_input(plane, base_card.qc, norm=base_card.norm)
    folder = models_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".training-") as tmp:
        try:
            card, onnx, fit = train_like_for(
                spec.model_task, image, Path(tmp) / "model.onnx", like, meta=inputs.meta,
                image_name="the uploaded image",
                progress=lambda step, total, message: progress(step, total + 1, message), cancel=cancel)
        except CameraNotMeasured as e:  # the job's own fields, not the CLI's flags
            raise ValueError(e.naming(JOB_CAMERA_OPTIONS)) from None
        if cancel():
            raise TrainingCancelled("Training was cancelled; the new model was discarded.")
        progress(steps, steps + 1, f"step {steps}/{steps}: exported, applying it to the image")
        result = predict(plane, onnx, axes="YX", device=device, task=spec.model_task)
        named = onnx.with_name(f"{safe_stem(card.name)}.onnx")
        onnx.rename(named)
        if onnx.with_suffix(".pt").is_file():
            onnx.with_suffix(".pt").rename(named.with_suffix(".pt"))
        target = install_model(named, folder)
    after = check_input(plane, card.qc, norm=card.norm)
    progress(steps + 1, steps + 1, "done")
    verdict = {"before": before.to_dict(), "after": after.to_dict()}
    info = (f"fluorecon train-like\nmodel_file = {target}\nmodel.name = {card.name}\nmodel.fitted = {fit.provenance()}\n"
            f"train.spec = {spec.model_dump_json()}\nood.before = {'in' if before.in_distribution else 'out of'} distribution"
            f"\nood.after = {'in' if after.in_distribution else 'out of'} distribution\n"
            f"output: the uploaded image{'' if index is None else f' (plane {index})'} restored by the new model "
            f"({spec.model_task})")
    values = {"model_file": str(target), "model_name": card.name, "model_method": card.method,
              "model_task": card.task,
              "fitted": fit.provenance(), "gain": fit.camera.gain, "offset": fit.camera.offset,
              "read_noise_e": fit.camera.read_noise_e, "photons": fit.camera.photons, "structure": fit.simulation.kind,
              "ood": verdict}
    meta = replace(inputs.meta, axes="YX")  # the plane fitted to, restored
    meta = output_meta(meta, card.scale, ndim=2) if card.scale and max(card.scale) > 1 else meta
    return JobOutput(np.asarray(result, np.float32), meta, info, message=f"Done. model_file = {target}",
                     values=values)


JOB = JobType(
    task="train-like", spec=TrainLikeSpec, methods=("care",),
    description="Train for my microscope: fit the training simulation to the uploaded raw image or Z/T stack (its pixel size, "
    "camera noise and light level; NA and wavelength given) and fine-tune a shipped model on it (model_task: the "
    "CARE denoiser, the learned deconvolution or the ×2 upsampling model); the model is saved in the server's models "
    "folder (model_file = path in the job's message) and the result is the image restored by it.",
    check=_check, run=_run, cancelled=(TrainingCancelled,),
)
