"""The ``fuse`` job type: multiview Richardson–Lucy fusion (:mod:`fluorecon.tasks.fuse.classical`), listed in the
task's ``TASK.jobs``. The views travel as the channels of one image (CZYX); the PSFs are theoretical
(``psf`` + ``view_axes``) or uploaded as one stack with one PSF per channel."""

from __future__ import annotations

import json

from fluorecon.server.job import JobInputs, JobOutput, JobType, like as _like
from fluorecon.tasks.fuse import classical as FU


def _check(inputs: JobInputs, spec: FU.FuseSpec, settings) -> None:
    if settings.max_voxels is not None and inputs.image.size > settings.max_voxels:
        raise ValueError(f"Image has {inputs.image.size} voxels, more than this server's limit of {settings.max_voxels}.")
    FU.check_job(inputs.image, inputs.meta, spec, inputs.psf_image, inputs.psf_meta)


def _run(inputs: JobInputs, spec: FU.FuseSpec, settings, device: str, progress, cancel) -> JobOutput:
    fused, axes, info, values = FU.run_job_values(inputs.image, inputs.meta, spec, inputs.psf_image, inputs.psf_meta,
                                                  device=device, progress=progress, cancelled=cancel)
    return JobOutput(fused, _like(inputs.meta, axes), info,
                     message=f"Done. shifts_px = {json.dumps(values['shifts_px'])}", values=values)


JOB = JobType(
    task="fuse", listed=8, spec=FU.FuseSpec, methods=("multiview-rl",), accepts_psf=True,
    description="Multiview fusion (Preibisch et al. 2014): upload the views as channels (CZYX) on one grid, with "
    "psf + view_axes (theoretical PSF per view along its detection axis) or a 'psf' stack with one PSF per channel; "
    "the result is the fused ZYX stack, the view shifts are in the job's message (shifts_px = JSON) and values (shifts_px).",
    check=_check, run=_run, cancelled=(FU.FusionCancelled,),
)
