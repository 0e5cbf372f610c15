"""What a server job is: :class:`JobType` (spec, submit-time check, run function) and the inputs and
output it works on. Each task's ``job.py`` defines its job types with these; :mod:`fluorecon.server.jobtypes`
collects them from the tasks by discovery. This module imports no task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from fluorecon.core.io import TiffMeta
from fluorecon.server.settings import Settings

Progress = Callable[..., None]  # progress(done, total[, message])
Cancel = Callable[[], bool]


@dataclass(frozen=True)
class JobInputs:
    """What a job gets: the image, its calibration and an optional uploaded PSF."""

    image: np.ndarray
    meta: TiffMeta
    psf_image: np.ndarray | None = None
    psf_meta: TiffMeta | None = None


@dataclass(frozen=True)
class JobOutput:
    result: np.ndarray
    meta: TiffMeta
    info: str
    message: str = "Done."
    #: Structured results (JSON-serialisable: numbers, lists, dicts), e.g. ``{"drift_px": [[…], …]}``; the job's
    #: status carries them as ``values``, so a client never parses them back out of ``message`` or ``info``.
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class JobType:
    """One task the server runs.

    ``check(inputs, spec, settings)`` raises ValueError (→ 422) before a job is queued;
    ``run(inputs, spec, settings, device, progress, cancel)`` returns a :class:`JobOutput` and
    raises one of ``cancelled`` when ``cancel()`` turned True.
    """

    task: str
    spec: type[BaseModel]
    methods: tuple[str, ...]
    description: str
    check: Callable[[JobInputs, BaseModel, Settings], None]
    run: Callable[..., JobOutput]
    cancelled: tuple[type[BaseException], ...]
    accepts_psf: bool = False
    #: Block-wise run on local paths (server.local): ``stream(source, meta, spec, out_path, settings, device, progress,
    #: cancel)`` with a lazy source, writing `out_path` itself; None for job types that take uploads only.
    stream: Callable[..., None] | None = None
    #: Place in the server's listings (the 422 'tasks this server runs' list, JobCreate, GET /v1/models): the
    #: order in which job types were added, which clients have seen since; new job types list after them by name.
    listed: int = 100


def like(meta: TiffMeta, axes: str) -> TiffMeta:
    return TiffMeta(axes=axes, pixel_size_um=meta.pixel_size_um, z_step_um=meta.z_step_um, unit=meta.unit,
                    frame_interval_s=meta.frame_interval_s)


def models_folder(settings: Settings):
    """Where the server lists models and saves trained ones: --models-dir, else <data dir>/models."""
    return Path(settings.models_dir) if settings.models_dir is not None else settings.data_dir / "models"

