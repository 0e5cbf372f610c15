"""The ``qc`` server job (cross-task): check a result against the input it was made from
(:func:`fluorecon.qc.report.check_result`, as ``fluorecon qc``). The API takes one image, so the pair
travels as two channels: C = (input, result)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.core.modelcard import ModelCardError, read_card
from fluorecon.qc.report import check_result
from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress, like as _like
from fluorecon.server.settings import Settings
from fluorecon.tasks.upsample.learned import check_superres, unrepeat


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
        image = unrepeat(image, spec.scale)
    return image, result, axes


def _qc_card(spec: QCSpec):
    if spec.model_file is None:
        return None
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
    image, result, axes = _qc_pair(inputs, spec)
    meta = _like(inputs.meta, axes)
    pixel_nm = meta.pixel_size_um * 1000 if meta.pixel_size_um else None
    card = _qc_card(spec)
    if image.shape != result.shape:
        report = check_superres(image, result, card=card, pixel_size_nm=pixel_nm)
    else:
        report = check_result(image, result, card=card, pixel_size_nm=pixel_nm)
    channels = list(QC_CHANNELS)
    if card is not None and card.task == "denoise":
        # A denoiser's texture is checked by re-noising its result and predicting again (the server has
        # the model; the result alone cannot tell invented texture within the noise level).
        from fluorecon.infer import get_predictor
        from fluorecon.qc.disagreement import add_for_denoiser

        if add_for_denoiser(report, get_predictor(spec.model_file, device=device), image, result, axes=axes):
            channels += ["disagreement", "invented"]
    figures = report.to_dict()
    summary = json.dumps(figures, ensure_ascii=False)
    info = (f"fluorecon qc\nchannels = {','.join(channels)}\nqc.spec = {spec.model_dump_json()}\n"
            f"qc = {summary}")
    planes = [report.consistency, report.local] + ([report.disagreement, report.invented]
                                                   if "disagreement" in channels else [])
    maps = np.stack(planes, axis=0 if axes == "YX" else 1)
    return JobOutput(maps.astype(np.float32), _like(inputs.meta, "CYX" if axes == "YX" else "ZCYX"), info,
                     message=f"Done. qc = {summary}", values={"qc": figures, "channels": channels})


JOB = JobType(
    task="qc", listed=3, spec=QCSpec, methods=("consistency",),
    description="Check a result against its input (fluorecon qc): upload C = (input, result); the result is "
    "C = (consistency, consistency_local[, disagreement, invented for a denoiser's model_file]) and the figures and warnings are in the job's message (qc = JSON).",
    check=_check_qc, run=_run_qc, cancelled=(),
)
