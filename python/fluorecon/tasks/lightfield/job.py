"""The ``lightfield`` job type: Richardson–Lucy light-field reconstruction on the server
(:func:`fluorecon.tasks.lightfield.classical.run_job`, as ``fluorecon lightfield reconstruct``). Listed in the
task's ``TASK.jobs``, so the reconstruction module never imports the server."""

from __future__ import annotations

from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress
from fluorecon.server.settings import Settings
from fluorecon.tasks.lightfield import classical as L
from fluorecon.tasks.lightfield.psf import psf_cache_dir


def _check(inputs: JobInputs, spec: L.LightFieldSpec, settings: Settings) -> None:
    L.check_job(inputs.image, inputs.meta.axes, spec)
    voxels = spec.optics.n_planes * inputs.image.shape[-2] * inputs.image.shape[-1]
    if voxels > settings.max_voxels:
        raise ValueError(f"The volume would have about {voxels:,} voxels, more than this server accepts "
                         f"({settings.max_voxels:,}); crop the light field or use fewer z planes.")


def _run(inputs: JobInputs, spec: L.LightFieldSpec, settings: Settings, device: str,
         progress: Progress, cancel: Cancel) -> JobOutput:
    if not (psf_cache_dir() / f"lfpsf-{spec.optics.cache_key()}.npy").is_file():
        progress(0, spec.num_iter, "computing the wave-optics light-field PSF (once for these optics; cached)")

    def tick(done: int, total: int) -> None:
        progress(done, total, f"Richardson–Lucy iteration {done}/{total}")

    volume, meta, info = L.run_job(inputs.image, inputs.meta, spec, device=device, progress=tick, cancelled=cancel)
    return JobOutput(volume, meta, info, message=f"Done. {volume.shape[0]} planes, z step {spec.optics.z_step_um:g} µm")


JOB = JobType(
    task="lightfield", listed=7, spec=L.LightFieldSpec, methods=("rl",),
    description="Light-field deconvolution (Richardson–Lucy over a wave-optics light-field PSF); the result is a "
    "z-stack with the voxel size and z step in its calibration.",
    check=_check, run=_run, cancelled=(L.LightFieldCancelled,),
)
