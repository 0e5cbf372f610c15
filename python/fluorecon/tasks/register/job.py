"""The ``register`` server job: translation drift correction of a time series (:mod:`.classical`)."""

from __future__ import annotations

import json

from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress, like as _like
from fluorecon.server.settings import Settings
from fluorecon.tasks.register import classical as R


def _run_register(inputs: JobInputs, spec: R.RegisterSpec, settings: Settings, device: str,
                  progress: Progress, cancel: Cancel) -> JobOutput:
    result, axes, info, values = R.run_job_values(inputs.image, inputs.meta, spec, progress=progress, cancelled=cancel)
    return JobOutput(result, _like(inputs.meta, axes), info, message=f"Done. drift_px = {json.dumps(values['drift_px'])}",
                     values=values)


JOB = JobType(
    task="register", listed=2, spec=R.RegisterSpec, methods=("translation",),
    description="Translation drift correction of a time series; the drift per frame is in the result's Info "
    "and the job's message (drift_px = JSON), and structured in the job's values (drift_axes, drift_px).",
    check=lambda inputs, spec, settings: R.check_job(inputs.image, inputs.meta.axes, spec),
    run=_run_register, cancelled=(R.RegistrationCancelled,),
)
