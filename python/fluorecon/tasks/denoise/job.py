"""Self-supervised training on the user's own image (fluorecon.tasks.denoise.selfsupervised.train_selfsupervised,
as `fluorecon train denoise --method n2v|n2v2|n2s`). An ONNX file is not a TIFF: the model goes to the
server's models folder, its path is in the job's message (model_file = …), and the result TIFF
is the uploaded image denoised by the new model, so the user sees what it does at once. While it
trains, the job's progress is the share of steps done and its message "step S/N, loss L"; a cancel
stops it before the next step and nothing is written to the models folder."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.infer import predict
from fluorecon.nets.unet import UNetConfig
from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress, models_folder
from fluorecon.server.settings import Settings
from fluorecon.tasks.denoise.classical import METHODS as CLASSICAL_METHODS
from fluorecon.tasks.denoise.selfsupervised import TrainingCancelled, train_selfsupervised
from fluorecon.tasks.denoise.spec import DenoiseConfig, struct_masking
from fluorecon.train import TrainConfig


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
    struct_n2v_axis: Literal["none", "horizontal", "vertical"] = Field(
        "none", description="structN2V (n2v, n2v2): also mask along this axis, for noise correlated along X "
        "(horizontal: line-scan or rolling-shutter stripes) or Y (vertical); none: plain N2V.")
    struct_n2v_span: int = Field(5, ge=3, le=15, description="structN2V: pixels hidden along the axis (odd, blind "
                                 "spot included): about the noise correlation length.")


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
    # As `fluorecon train denoise`: depth 2, 16 filters, blind-spot nets without the residual add;
    # patches shrink to the image (multiples of 2**depth) so a small image still trains.
    unet = UNetConfig(ndim=spec.ndim, depth=2, filters=16).model_copy(update={"residual": False})
    shape = images[0].shape
    want = (64, 64) if spec.ndim == 2 else (32, 64, 64)
    patch = tuple(max(4, min(w, s) // 4 * 4) for w, s in zip(want, shape))
    train = TrainConfig(steps=spec.steps, batch_size=16 if spec.ndim == 2 else 4, patch_size=patch, seed=spec.seed,
                        loss="l2")
    label = {"n2v": "Noise2Void", "n2s": "Noise2Self", "n2v2": "N2V2"}[spec.method]
    label = "structN2V" if spec.method == "n2v" and spec.struct_n2v_axis != "none" else label
    return DenoiseConfig(method=spec.method, ndim=spec.ndim, unet=unet, train=train,
                         name=spec.name.strip() or f"{label} denoising",
                         masking=struct_masking(spec.struct_n2v_axis, spec.struct_n2v_span))


def install_model(onnx: Path, folder: Path) -> Path:
    """Move a trained model (and its ``.pt`` checkpoint) into the server's models folder under an unused name
    (stem, stem-2, …); returns the new path."""
    stem, k = onnx.stem, 1
    target = folder / f"{stem}.onnx"
    while target.exists():
        k += 1
        target = folder / f"{stem}-{k}.onnx"
    if onnx.with_suffix(".pt").is_file():
        shutil.move(onnx.with_suffix(".pt"), target.with_suffix(".pt"))
    shutil.move(onnx, target)
    return target


def _check_train_denoise(inputs: JobInputs, spec: TrainDenoiseSpec, settings: Settings) -> None:
    _train_config(spec, _train_images(inputs, spec))



def _run_train_denoise(inputs: JobInputs, spec: TrainDenoiseSpec, settings: Settings, device: str,
                       progress: Progress, cancel: Cancel) -> JobOutput:
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
        result = predict(inputs.image, onnx, axes=inputs.meta.axes, device=device)
        target = install_model(onnx, folder)
    progress(steps + 1, steps + 1, "done")
    info = (f"fluorecon train-denoise\nmodel_file = {target}\nmodel.name = {card.name}\nmodel.method = {card.method}\n"
            f"train.spec = {spec.model_dump_json()}\noutput: the uploaded image denoised by the new model")
    return JobOutput(np.asarray(result, np.float32), inputs.meta, info, message=f"Done. model_file = {target}",
                     values={"model_file": str(target), "model_name": card.name, "model_method": card.method})


JOB = JobType(
    task="train-denoise", listed=4, spec=TrainDenoiseSpec, methods=("n2v", "n2v2", "n2s"),
    description="Noise2Void / Noise2Self training on the uploaded noisy image; the model is saved in the server's "
    "models folder (model_file = path in the job's message) and the result is the image denoised by it.",
    check=_check_train_denoise,
    run=_run_train_denoise, cancelled=(TrainingCancelled,),
)


# --- classical denoising (NLM / BM3D and whatever fluorecon.tasks.denoise.classical offers) ----------------

class ClassicalCancelled(Exception):
    """The denoise-classical job was cancelled between planes."""


class DenoiseClassicalSpec(BaseModel):
    """Classical denoising of the uploaded image in its own units (as `fluorecon denoise-classical`)."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["denoise-classical"] = Field("denoise-classical", description="Task name.")
    # The methods travel as the schema's enum (Fiji's Process file… offers them) while the check below words the
    # refusal of any other.
    method: str = Field("nlm", description="A method of fluorecon.tasks.denoise.classical.denoise_classical: nlm "
                        "(non-local means; a z-stack in 3D), bm3d, vst-bm3d, vst-nlm (3D on a z-stack), gaussian or "
                        "median.", json_schema_extra={"enum": list(CLASSICAL_METHODS)})


def _check_method(method: str) -> None:
    if method not in CLASSICAL_METHODS:
        raise ValueError(f"method = '{method}' is not a classical denoiser; use one of {', '.join(CLASSICAL_METHODS)}.")


def _check_denoise_classical(inputs: JobInputs, spec: DenoiseClassicalSpec, settings: Settings) -> None:
    _check_method(spec.method)
    data, axes = inputs.image, inputs.meta.axes
    if "Y" not in axes or "X" not in axes or min(data.shape[axes.index("Y")], data.shape[axes.index("X")]) < 8:
        raise ValueError("The image is too small to denoise; the noise estimate and the patches need at least 8×8 "
                         "pixels.")
    if not np.isfinite(data).all():
        raise ValueError("The image contains NaN or infinite pixels; replace them (Process › Math › Remove NaNs…) "
                         "first.")


def _run_denoise_classical(inputs: JobInputs, spec: DenoiseClassicalSpec, settings: Settings, device: str,
                           progress: Progress, cancel: Cancel) -> JobOutput:
    from fluorecon.tasks.denoise.streaming import denoise_image

    # The same blocks as `fluorecon denoise-classical` (planes; z-stacks in 3D for classical.METHODS_3D).
    result = denoise_image(inputs.image, inputs.meta, spec.method, cancel=cancel, cancelled=ClassicalCancelled,
                           progress=lambda done, total: progress(done, total, f"{spec.method}: block {done}/{total}"))
    info = f"fluorecon denoise-classical\nmethod: {spec.method} (classical)\nspec = {spec.model_dump_json()}"
    return JobOutput(result, inputs.meta, info)


def _stream_denoise_classical(source, meta, spec: DenoiseClassicalSpec, out_path, settings: Settings, device: str,
                              progress: Progress, cancel: Cancel) -> None:
    from fluorecon.tasks.denoise.streaming import denoise_to_zarr

    _check_method(spec.method)
    denoise_to_zarr(source, meta, out_path, method=spec.method, progress=progress, cancel=cancel,
                    cancelled=ClassicalCancelled, scheduler=settings.dask_scheduler,
                    info=f"fluorecon denoise-classical (block-wise)\nmethod: {spec.method} (classical)\n"
                    f"spec = {spec.model_dump_json()}")


CLASSICAL_JOB = JobType(
    task="denoise-classical", spec=DenoiseClassicalSpec, methods=CLASSICAL_METHODS,
    description="Classical denoising (non-local means, BM3D, …) of the uploaded image in its own units, plane by "
    "plane (nlm, vst-nlm: z-stacks in 3D), as `fluorecon denoise-classical`.",
    check=_check_denoise_classical, run=_run_denoise_classical, cancelled=(ClassicalCancelled,),
    stream=_stream_denoise_classical,
)
