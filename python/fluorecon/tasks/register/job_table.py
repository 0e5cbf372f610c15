"""The ``register-table`` job type: drift correction of an SMLM localisation table
(:mod:`fluorecon.tasks.register.table`), listed in the
task's ``TASK.jobs``."""

from __future__ import annotations

from fluorecon.server.job import JobInputs, JobOutput, JobType, like as _like
from fluorecon.tasks.register import table as RT


def _check(inputs: JobInputs, spec: RT.RegisterTableSpec, settings) -> None:
    RT.check_job(inputs.image, inputs.meta.axes, spec)


def _run(inputs: JobInputs, spec: RT.RegisterTableSpec, settings, device: str, progress, cancel) -> JobOutput:
    result, axes, info, message, values = RT.run_job_values(inputs.image, inputs.meta, spec, progress=progress,
                                                            cancelled=cancel)
    return JobOutput(result, _like(inputs.meta, axes), info, message=message, values=values)


JOB = JobType(
    task="register-table", listed=5, spec=RT.RegisterTableSpec, methods=("rcc",),
    description="SMLM drift correction of a localisation table by redundant cross-correlation: upload the N×K "
    "table as float32 CYX with C = (hi, lo) parts and spec.columns; the result is the corrected table in the same "
    "layout, the drift per frame is in its Info (drift_nm = JSON) and the job's values (drift_nm).",
    check=_check, run=_run, cancelled=(RT.TableDriftCancelled,),
)
