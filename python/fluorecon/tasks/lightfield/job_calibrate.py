"""The ``lightfield-calibrate`` job type: fit the lenslet grid of a white (radiometry) image
(:func:`fluorecon.tasks.lightfield.calibration.calibrate`, as ``fluorecon lightfield calibrate``)
for the Fiji plugin, which has no Python of its own.. Listed in the task's
``TASK.jobs``; the server collects it by discovery.

The result is the white image rectified with the grid (so a user sees every lenslet as one
``nnum × nnum`` cell); the grid JSON is in the job's message and the result's Info
(``calibration = {...}``), the same JSON the CLI writes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.core.io import TiffMeta
from fluorecon.server.job import JobInputs, JobOutput, JobType
from fluorecon.tasks.lightfield.calibration import calibrate, rectify


class CalibrationCancelled(RuntimeError):
    """Never raised (calibration takes seconds); the job type needs a cancel exception."""


class LightFieldCalibrateSpec(BaseModel):
    """Calibrate a light-field camera from one white image."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["lightfield-calibrate"] = Field("lightfield-calibrate", description="Task name.")
    nnum: int | None = Field(None, ge=3, le=51, description="Pixels per lenslet after rectification (odd); "
                             "None: the odd number closest to the measured pitch.")
    pitch_px: float | None = Field(None, gt=1, description="Approximate lenslet pitch in raw pixels (None: found).")


def _check(inputs: JobInputs, spec: LightFieldCalibrateSpec, settings) -> None:
    if inputs.meta.axes != "YX":
        raise ValueError(f"A white image is one 2D plane (axes YX); got axes {inputs.meta.axes!r}.")
    if not np.issubdtype(inputs.image.dtype, np.number) or not np.isfinite(inputs.image).all():
        raise ValueError("The white image contains NaN or infinite values (or is not grey-level).")
    if spec.nnum is not None and spec.nnum % 2 == 0:
        raise ValueError(f"nnum = {spec.nnum}: use an odd number of pixels per lenslet (e.g. {spec.nnum + 1}).")
    if min(inputs.image.shape) < 16:
        raise ValueError(f"The white image is {inputs.image.shape}; a calibration needs several lenslets "
                         "(at least 16 pixels per side).")


def _run(inputs: JobInputs, spec: LightFieldCalibrateSpec, settings, device: str, progress, cancel) -> JobOutput:

    white = np.asarray(inputs.image, np.float32)
    grid = calibrate(white, nnum=spec.nnum, pitch_px=spec.pitch_px)
    progress(1, 1)
    text = grid.model_dump_json()
    rectified = rectify(white, grid)
    meta = TiffMeta(axes="YX", pixel_size_um=inputs.meta.pixel_size_um, unit=inputs.meta.unit)
    info = f"fluorecon lightfield calibrate\ncalibration = {text}"
    return JobOutput(rectified, meta, info, message=f"Done. calibration = {text}",
                     values={"calibration": grid.model_dump(mode="json")})


JOB = JobType(
    task="lightfield-calibrate", listed=6, spec=LightFieldCalibrateSpec, methods=("lattice",),
    description="Light-field calibration from a white image: the result is the white image rectified to nnum "
    "pixels per lenslet; the lenslet grid JSON is in the job's message (calibration = JSON).",
    check=_check, run=_run, cancelled=(CalibrationCancelled,),
)
