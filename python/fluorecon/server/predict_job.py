"""The ``predict`` job: a carded image-to-image model file (any task) on a local file, block by block (issue 15 §3).

Local paths only (POST /v1/jobs/local): the model file is named by absolute path on the server's machine, as the
input and output are, and checked when the job is submitted. The run is ``infer.predict_to_zarr``, the function
behind ``fluorecon predict IN OUT.zarr|.tif``, so the output equals the CLI's. Uploads are refused with a 422 that
names the local route: a model that fits an upload runs in Fiji (Plugins › fluorecon › Predict) or the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fluorecon.core.blocks import BlocksCancelled
from fluorecon.server.job import Cancel, JobInputs, JobType, Progress
from fluorecon.server.settings import Settings


class PredictSpec(BaseModel):
    """A fluorecon ONNX model (with its card) on a local file, as `fluorecon predict MODEL IN OUT.zarr|.tif`."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["predict"] = Field("predict", description="Task name.")
    model_file: str = Field(min_length=1, max_length=4096, description="Absolute path of the fluorecon ONNX model "
                            "(image-to-image, with its card) on the server's machine, readable by the server's user.")
    tile: int | None = Field(None, ge=0, description="Tile side in pixels (default or 0: the card's tile.default); "
                             "the output does not depend on it.")

    @field_validator("model_file")
    @classmethod
    def _readable_model(cls, text: str) -> str:
        try:
            return str(check_model_file(text))
        except OSError as err:  # a name too long, a loop of links…: a 422 as for the image paths, never a 500
            raise ValueError(f"model_file cannot be used on the server's machine ({err}).") from None


def check_model_file(text: str) -> Path:
    """The model file, resolved, or ValueError saying what to fix (as server.local checks the image paths)."""
    from fluorecon.core.modelcard import ModelCardError, read_card

    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ValueError(f"model_file must be an absolute path on the server's machine, got '{text}'.")
    if not path.is_file():
        raise ValueError(f"model_file: {path} does not exist (or is not a file) on the server's machine.")
    if not os.access(path, os.R_OK):
        raise ValueError(f"model_file: {path} is not readable by the user running the server.")
    try:
        read_card(path)
    except (ModelCardError, OSError) as err:
        raise ValueError(f"model_file: {path.name} is not a fluorecon model ({err}).") from None
    return path.resolve()


def _check_predict(inputs: JobInputs, spec: PredictSpec, settings: Settings) -> None:
    raise ValueError("A 'predict' job runs on files of the server's machine: POST /v1/jobs/local with input_path "
                     "and output_path (Fiji: Plugins › fluorecon › Process file…).")


def _run_predict(*args, **kwargs):  # never reached: _check_predict refuses uploads before they are queued
    raise ValueError("A 'predict' job takes local paths only (POST /v1/jobs/local).")


def _stream_predict(source, meta, spec: PredictSpec, out_path, settings: Settings, device: str,
                    progress: Progress, cancel: Cancel) -> None:
    from fluorecon.commands.predict import describe
    from fluorecon.infer import get_predictor, predict_to_zarr

    predictor = get_predictor(spec.model_file, device=device)
    settings_text = {"tile": spec.tile or ",".join(map(str, predictor.card.tile_default)), "device": device,
                     "mode": "block-wise (server, local paths)"}
    predict_to_zarr(predictor, source, meta, out_path, tile=spec.tile or None, progress=progress, cancel=cancel,
                    info=describe(predictor, settings_text), scheduler=settings.dask_scheduler, device=device)


JOB = JobType(
    task="predict", spec=PredictSpec, methods=("model",),
    description="A fluorecon ONNX model (model_file = absolute path) on a local file, block by block, as "
    "`fluorecon predict MODEL IN OUT.zarr|.tif`; local paths only (POST /v1/jobs/local).",
    check=_check_predict, run=_run_predict, cancelled=(BlocksCancelled,), stream=_stream_predict,
)
