"""The ``lightfield`` job type: Richardson–Lucy light-field reconstruction on the server
(:func:`fluorecon.tasks.lightfield.run_job`, as ``fluorecon lightfield reconstruct``). Registered
from here so the task module never imports the server; ``jobtypes`` imports this module last."""

from __future__ import annotations

from fluorecon.server.jobtypes import Cancel, JobInputs, JobOutput, JobType, Progress, register_job_type
from fluorecon.server.settings import Settings
from fluorecon.tasks import lightfield as L


def _check(inputs: JobInputs, spec: L.LightFieldSpec, settings: Settings) -> None:
    L.check_job(inputs.image, inputs.meta.axes, spec)
    voxels = spec.optics.n_planes * inputs.image.shape[-2] * inputs.image.shape[-1]
    if voxels > settings.max_voxels:
        raise ValueError(f"The volume would have about {voxels:,} voxels, more than this server accepts "
                         f"({settings.max_voxels:,}); crop the light field or use fewer z planes.")


def _run(inputs: JobInputs, spec: L.LightFieldSpec, settings: Settings, device: str,
         progress: Progress, cancel: Cancel) -> JobOutput:
    from fluorecon.imaging.lightfield_psf import psf_cache_dir

    if not (psf_cache_dir() / f"lfpsf-{spec.optics.cache_key()}.npy").is_file():
        progress(0, spec.num_iter, "computing the wave-optics light-field PSF (once for these optics; cached)")

    def tick(done: int, total: int) -> None:
        progress(done, total, f"Richardson–Lucy iteration {done}/{total}")

    volume, meta, info = L.run_job(inputs.image, inputs.meta, spec, device=device, progress=tick, cancelled=cancel)
    return JobOutput(volume, meta, info, message=f"Done. {volume.shape[0]} planes, z step {spec.optics.z_step_um:g} µm")


register_job_type(JobType(
    task="lightfield", spec=L.LightFieldSpec, methods=("rl",),
    description="Light-field deconvolution (Richardson–Lucy over a wave-optics light-field PSF); the result is a "
    "z-stack with the voxel size and z step in its calibration.",
    check=_check, run=_run, cancelled=(L.LightFieldCancelled,),
))
