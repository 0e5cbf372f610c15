"""The `dip` server job: deep-image-prior denoising of the uploaded image (as `fluorecon dip`), so that
Fiji can run it beside Noise2Void training. No model is saved: the network is fitted to this one image.
Progress is the share of the iteration bound done, the message "iteration I/N, discrepancy D"; the run
usually ends earlier by the discrepancy principle, and the result's info says at which iteration and why."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress
from fluorecon.server.settings import Settings
from fluorecon.tasks.denoise.dip import CITE, DIPCancelled, DIPConfig, deep_image_prior


class DIPSpec(BaseModel):
    """Deep image prior on the uploaded noisy image (one YX plane or ZYX stack)."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["dip"] = Field("dip", description="Task name.")
    num_iter: int = Field(2000, ge=1, le=100_000, description="Upper bound on iterations; the discrepancy principle "
                          "usually stops earlier.")
    tau: float = Field(1.0, gt=0, description="Stop when the residual variance falls to tau × the noise variance "
                       "estimated from the image (larger: smoother, earlier).")
    early_stop: bool = Field(True, description="Apply the discrepancy principle; false runs all iterations.")
    seed: int = Field(0, description="Seed of the random input and the weights.")


def _check(inputs: JobInputs, spec: DIPSpec, settings: Settings) -> None:
    axes = inputs.meta.axes
    if axes not in ("YX", "ZYX"):
        raise ValueError(f"The deep image prior takes one YX plane or ZYX stack; the image has axes {axes!r}. "
                         "Split channels / time points first.")
    if not np.issubdtype(inputs.image.dtype, np.number) or not np.isfinite(inputs.image).all():
        raise ValueError("Image contains NaN or infinite pixels; remove them (Process › Math › Remove NaNs…) first.")


def _run(inputs: JobInputs, spec: DIPSpec, settings: Settings, device: str, progress: Progress,
         cancel: Cancel) -> JobOutput:
    config = DIPConfig(num_iter=spec.num_iter, tau=spec.tau, early_stop=spec.early_stop, seed=spec.seed,
                       device=device)
    progress(0, spec.num_iter, f"iteration 0/{spec.num_iter}: starting")

    def on_check(it: int, total: int, ratio: float) -> None:
        progress(it, total, f"iteration {it}/{total}, discrepancy {ratio:.3g}")
    result = deep_image_prior(inputs.image, config=config, progress=on_check, cancel=cancel)
    progress(spec.num_iter, spec.num_iter, "done")
    info = (f"fluorecon dip\nmethod = deep image prior ({CITE})\nsetting.config = {config.model_dump_json()}\n"
            f"stopped_at = {result.stopped_at}\nstop_reason = {result.reason}\n"
            f"noise_model = a={result.noise.a:.5g}, b={result.noise.b:.5g}")
    return JobOutput(np.asarray(result.image, np.float32), inputs.meta, info,
                     message=f"Done. Stopped at iteration {result.stopped_at}: {result.reason}.")


JOB = JobType(
    task="dip", spec=DIPSpec, methods=("dip",),
    description="Deep image prior (no training data): a U-Net fitted to the uploaded image alone, stopped by the "
    "discrepancy principle against the noise estimated from the image; the result is the denoised image.",
    check=_check, run=_run, cancelled=(DIPCancelled,),
)
