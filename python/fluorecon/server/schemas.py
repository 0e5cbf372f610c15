"""Request and response models of API v1. ``JobCreate`` is the union of the tasks' own spec
classes (chosen by ``task``), so the CLI, the server and the result's provenance share one
definition per task."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from fluorecon.server.jobtypes import JOB_TYPES

# Derived from the registry: a new job type needs no edit here.
JobCreate = Annotated[Union[tuple(t.spec for t in JOB_TYPES.values())], Field(discriminator="task")]  # noqa: UP007
_JOB_CREATE = TypeAdapter(JobCreate)
DEFAULT_TASK = "deconvolve"  # API v1 specs written before there were other tasks carry no 'task'


# A spec is a small object: bounded before json.loads, whose recursion a deeply nested document exhausts.
MAX_SPEC_CHARS = 64 * 1024
MAX_SPEC_DEPTH = 32


class SpecError(ValueError):
    """A spec that is not JSON, or too large or too deeply nested to read."""


def _nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside JSON strings, in one linear pass (no regex backtracking)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_job_spec(text: str) -> BaseModel:
    """The spec form field → its task's spec object; SpecError (size, depth, JSON) or ValidationError (fields)."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"spec has {len(text)} characters; a job spec has at most {MAX_SPEC_CHARS}.")
    if _nesting_depth(text) > MAX_SPEC_DEPTH:
        raise SpecError(f"spec is nested more than {MAX_SPEC_DEPTH} levels deep; a job spec is a flat JSON object "
                        "with a few small objects inside (see GET /v1/models for the tasks).")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise SpecError(f"spec is not valid JSON ({err}).") from None
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
    values: dict[str, Any] = Field(default_factory=dict, description="Structured results of a succeeded job, e.g. "
                                   "drift_px (register), shifts_px (fuse), drift_nm (register-table), sim_params (sim), "
                                   "qc (qc), model_file (train-denoise), channels: the figures the message and the "
                                   "result's Info show as text.")

    @classmethod
    def from_row(cls, row: dict) -> "JobPublic":
        values = json.loads(row.get("result_values") or "{}")
        return cls(
            id=row["id"],
            task=row["task"],
            state=row["state"],
            progress=min(max(float(row["progress"]), 0.0), 1.0),
            message=row["message"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            # a local-path job wrote its output where the client asked (values.output_path): nothing to download
            result_url=f"/v1/jobs/{row['id']}/result" if row["state"] == "succeeded" and "output_path" not in values
            else None,
            values=values,
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
    detail: str = Field(description="What went wrong and what to change, in words.")


_ERROR_WORDS = {
    400: "The upload is not a usable TIFF.",
    401: "Missing or wrong bearer token.",
    403: "A local path is not readable (input) or its folder not writable (output) by the server's user.",
    404: "No such job (never submitted, or deleted).",
    409: "The job has no result (yet).",
    413: "The upload, or the image it declares, is larger than this server's limits.",
    422: "The spec or the image cannot make a job; the message says what to change.",
    503: "The job queue is full; retry after Retry-After seconds.",
}


def error_responses(*codes: int) -> dict:
    """OpenAPI ``responses`` for these error statuses (each a JSON ``{"detail": …}``)."""
    return {code: {"model": ErrorPublic, "description": _ERROR_WORDS[code]} for code in codes}
