"""Request and response models of API v1. ``JobCreate`` is the union of the tasks' own spec
classes (chosen by ``task``), so the CLI, the server and the result's provenance share one
definition per task."""

from __future__ import annotations

import json
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from fluorecon.server.jobtypes import JOB_TYPES

# Derived from the registry: a new job type needs no edit here.
JobCreate = Annotated[Union[tuple(t.spec for t in JOB_TYPES.values())], Field(discriminator="task")]  # noqa: UP007
_JOB_CREATE = TypeAdapter(JobCreate)
DEFAULT_TASK = "deconvolve"  # API v1 specs written before there were other tasks carry no 'task'


def parse_job_spec(text: str) -> BaseModel:
    """The spec form field → its task's spec object; ValueError (json) or ValidationError (fields)."""
    data = json.loads(text)
    if isinstance(data, dict) and "task" not in data:
        data = {"task": DEFAULT_TASK, **data}
    return _JOB_CREATE.validate_python(data)

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobPublic(BaseModel):
    """What a client sees of a job."""

    model_config = ConfigDict(extra="forbid")
    id: str
    task: str
    state: JobState
    progress: float = Field(ge=0, le=1, description="Fraction done, 0–1.")
    message: str = Field("", description="Why it failed, or what it is doing.")
    created: float = Field(description="Unix time the job was accepted.")
    started: float | None = None
    finished: float | None = None
    result_url: str | None = Field(None, description="Where to GET the result TIFF once succeeded.")

    @classmethod
    def from_row(cls, row: dict) -> "JobPublic":
        return cls(
            id=row["id"],
            task=row["task"],
            state=row["state"],
            progress=min(max(float(row["progress"]), 0.0), 1.0),
            message=row["message"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            result_url=f"/v1/jobs/{row['id']}/result" if row["state"] == "succeeded" else None,
        )


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    device: str
    workers: int
    queued: int
    max_queue: int


class ModelInfo(BaseModel):
    name: str
    task: str
    method: str
    file: str
    axes_in: str
    description: str = ""


class ModelsPublic(BaseModel):
    methods: dict[str, list[str]] = Field(description="Server-side methods per task.")
    models: list[ModelInfo] = Field(description="ONNX models in the server's models folder.")


class ErrorPublic(BaseModel):
    detail: str
