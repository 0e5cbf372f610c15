"""The job types the server runs, in one registry collected by discovery: every task's
``TASK.jobs`` (:mod:`fluorecon.tasks`) and the cross-task ``qc`` and ``predict`` jobs. Routes, the worker,
``JobCreate`` and ``GET /v1/models`` are derived from ``JOB_TYPES``; adding a task's job is
defining it in ``tasks/<key>/job.py`` and listing it in the task's ``TASK``, no list to edit here."""

from __future__ import annotations

from fluorecon.server import predict_job, qc_job
from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress, models_folder
from fluorecon.tasks import all_tasks

__all__ = ["JOB_TYPES", "JobInputs", "JobOutput", "JobType", "Progress", "Cancel", "models_folder", "collect_job_types"]


def collect_job_types() -> dict[str, JobType]:
    """Every task's jobs, then the cross-task ones; a job-type name given twice is an error."""
    types: dict[str, JobType] = {}
    found = [*(j for task in all_tasks() for j in task.jobs), qc_job.JOB, predict_job.JOB]
    for job_type in sorted(found, key=lambda j: (j.listed, j.task)):
        if job_type.task in types:
            raise ValueError(f"Job type {job_type.task!r} is defined twice.")
        types[job_type.task] = job_type
    return types


JOB_TYPES: dict[str, JobType] = collect_job_types()
