"""The ``unmix`` server job: spectral unmixing (:mod:`.classical`)."""

from __future__ import annotations

import numpy as np

from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress, like as _like
from fluorecon.server.settings import Settings
from fluorecon.tasks.unmix import classical as U


def _check_unmix(inputs: JobInputs, spec: U.UnmixSpec, settings: Settings) -> None:
    U.check_job(inputs.image, inputs.meta.axes, spec)
    if not np.issubdtype(inputs.image.dtype, np.number) or not np.isfinite(inputs.image).all():
        raise ValueError("The image contains NaN or infinite values (or is not grey-level); replace them "
                         "(Process › Math › Remove NaNs…) first.")


def _run_unmix(inputs: JobInputs, spec: U.UnmixSpec, settings: Settings, device: str,
               progress: Progress, cancel: Cancel) -> JobOutput:
    result, axes, info = U.run_job(inputs.image, inputs.meta, spec, progress=progress, cancelled=cancel)
    return JobOutput(result, _like(inputs.meta, axes), info)


JOB = JobType(
    task="unmix", listed=1, spec=U.UnmixSpec, methods=("nnls", "nmf", "learned"),
    description="Spectral unmixing: labels (C) then, optionally, the residual map's channels.",
    check=_check_unmix, run=_run_unmix, cancelled=(U.UnmixCancelled,),
)
