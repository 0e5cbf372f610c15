"""The ``localize`` server job: the classical MLE fit (:func:`fluorecon.tasks.localize.classical.localize_mle`, as
``fluorecon localize --method mle``) on an uploaded time stack, for Fiji's *Localize (SMLM)…* ``model=mle``.

The result is the localisation table, not an image: it travels packed as register-table's does
(:func:`fluorecon.tasks.register.table.pack_table`, float32 CYX with C = (hi, lo), one row per localisation,
one column per :data:`RESULT_COLUMNS` name, ThunderSTORM's units and 1-based frames). A TIFF cannot have 0 rows,
so a table without localisations is sent as one NaN row; ``localizations = N`` in the Info (and the job's
values) says how many rows are real."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from pydantic import Field

from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress, like
from fluorecon.server.settings import Settings
from fluorecon.tasks.localize.learned import LocalizeConfig, localize, time_series
from fluorecon.tasks.register.table import pack_table

#: The packed result's columns (image x order): ThunderSTORM's, without its "id".
RESULT_COLUMNS = ("frame", "x [nm]", "y [nm]", "z [nm]", "intensity [photon]", "offset [photon]", "bkgstd [photon]",
                  "sigma [nm]", "uncertainty [nm]")
_FIELDS = ("x_nm", "y_nm", "z_nm", "photons", "background", "bkgstd", "sigma_nm", "uncertainty_nm")


class LocalizeCancelled(RuntimeError):
    """The user cancelled a localize job (checked between chunks of frames)."""


class LocalizeJobSpec(LocalizeConfig):
    """`fluorecon localize --method mle` on the uploaded (T, Y, X) ADU stack (a plain stack's slices are frames)."""

    method: Literal["mle"] = Field("mle", description="'mle': Poisson MLE Gaussian fit (networks run in Fiji).")
    model: None = Field(None, description="Not used: the MLE fit needs no model.")
    pixel_size_nm: float | None = Field(None, gt=0, description="Camera pixel size in the sample plane, nm; "
                                        "default: the uploaded image's calibration.")


def _pixel_nm(inputs: JobInputs, spec: LocalizeJobSpec) -> float:
    if spec.pixel_size_nm is not None:
        return spec.pixel_size_nm
    if inputs.meta.pixel_size_nm:
        return float(inputs.meta.pixel_size_nm)
    raise ValueError("The stack has no pixel size and positions in nm depend on it: set it in Image › Properties… "
                     "or give the camera pixel size (spec pixel_size_nm).")


def _check(inputs: JobInputs, spec: LocalizeJobSpec, settings: Settings) -> None:
    time_series(inputs.image, inputs.meta.axes, "The uploaded stack")
    _pixel_nm(inputs, spec)


def result_table(table: np.ndarray) -> np.ndarray:
    """(N, 9) float64 in :data:`RESULT_COLUMNS` order from a localisation table (frames made 1-based)."""
    return np.column_stack([np.asarray(table["frame"], np.float64) + 1,
                            *(np.asarray(table[f], np.float64) for f in _FIELDS)]).reshape(len(table), 9)


def _run(inputs: JobInputs, spec: LocalizeJobSpec, settings: Settings, device: str, progress: Progress,
         cancel: Cancel) -> JobOutput:
    frames = time_series(inputs.image, inputs.meta.axes, "The uploaded stack")
    config = LocalizeConfig.model_validate({**spec.model_dump(exclude={"pixel_size_nm"}),
                                            "pixel_size_nm": _pixel_nm(inputs, spec)})

    def step(done: int, total: int) -> None:
        if cancel():
            raise LocalizeCancelled("Localisation was cancelled.")
        progress(done, total, f"{done}/{total} frames")

    if cancel():
        raise LocalizeCancelled("Localisation was cancelled before it started.")
    table = localize(frames, config, progress=step)
    values = result_table(table)
    packed = pack_table(values if len(values) else np.full((1, len(RESULT_COLUMNS)), np.nan))
    n = len(table)
    info = (f"fluorecon localize\nlocalize.spec = {config.model_dump_json()}\nlocalizations = {n}\n"
            f"columns = {json.dumps(list(RESULT_COLUMNS))}\nframes = {len(frames)}")
    return JobOutput(packed, like(inputs.meta, "CYX"), info, message=f"Done. {n} localisations in {len(frames)} frames.",
                     values={"localizations": n, "frames": len(frames), "columns": list(RESULT_COLUMNS)})


JOB = JobType(
    task="localize", spec=LocalizeJobSpec, methods=("mle",),
    description="SMLM localisation by the Poisson MLE Gaussian fit (as `fluorecon localize --method mle`) of the "
    "uploaded ADU time stack; the result is the table packed as float32 CYX, C = (hi, lo), X = the columns "
    "(frame, x [nm], …, uncertainty [nm]; in the Info and values), one row per localisation (localizations = N).",
    check=_check, run=_run, cancelled=(LocalizeCancelled,),
)
