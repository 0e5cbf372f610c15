"""The SIM job: one typed spec shared by ``fluorecon sim reconstruct``, the server's ``"sim"`` job
type and the plugin; a raw TIFF in (frames along any non-YX axes, in the spec's ``order``), the
reconstruction out (pixel halved, QC table in Info)."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

import fluorecon
from fluorecon.core.io import TiffMeta
from fluorecon.server.job import Cancel, JobInputs, JobOutput, JobType, Progress
from fluorecon.server.settings import Settings
from fluorecon.tasks.sim.classical import SIMCancelled, config_for_raw, reconstruct_sim
from fluorecon.tasks.sim.estimate import to_canonical

__all__ = ["SimSpec", "check_job", "run_job", "flat_frames", "pixel_size_nm_from_meta", "config_from_spec",
           "psf_for_config"]


class SimSpec(BaseModel):
    """A classical SIM reconstruction; the same choices as ``fluorecon sim reconstruct``."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["sim"] = Field("sim", description="Task name.")
    method: Literal["wiener"] = Field("wiener", description="Generalised Wiener filter (fairSIM-style).")
    mode: Literal["2d", "3d"] = Field("2d", description="2d: two-beam SIM (per plane); 3d: three-beam 3D SIM.")
    order: str = Field("angle-phase-z", description="Frame order of the raw stack, outermost first.")
    n_angles: int = Field(3, ge=1, le=12, description="Pattern orientations.")
    n_phases: int | None = Field(None, ge=3, le=15, description="Phases per angle (default 3 for 2d, 5 for 3d).")
    pixel_size_nm: float | None = Field(None, gt=0, le=10000, description="Raw pixel, nm; default: the TIFF's calibration.")
    z_step_nm: float | None = Field(None, gt=0, le=100000, description="z step, nm (3d); default: the TIFF's.")
    na: float = Field(1.4, gt=0, lt=1.7, description="Numerical aperture.")
    wavelength_nm: float = Field(520.0, gt=200, lt=2000, description="Emission wavelength, nm.")
    excitation_nm: float = Field(488.0, gt=200, lt=2000, description="Excitation wavelength, nm (3d).")
    ni: float = Field(1.515, gt=1, lt=2, description="Immersion refractive index.")
    line_spacing_nm: float = Field(210.0, gt=50, lt=5000, description="Expected pattern period (searched ±25 %), nm.")
    angle_offset_deg: float = Field(8.0, ge=-360, le=360, description="First pattern angle when estimate is off.")
    estimate: bool = Field(True, description="Estimate the pattern from the data (else use the given one).")
    wiener: float = Field(0.05, gt=0, le=10, description="Wiener parameter.")
    apodization_cutoff: float = Field(2.0, gt=0, le=4, description="Apodization cutoff in OTF cutoffs.")
    apodization_bend: float = Field(0.9, gt=0, le=4, description="Apodization exponent.")
    otf_attenuation: float = Field(0.0, ge=0, lt=1, description="OTF attenuation strength (0 = off).")
    attenuation_fwhm_per_um: float = Field(1.2, gt=0, le=20, description="OTF attenuation width, cycles/µm.")
    background: float | None = Field(None, ge=-1e9, le=1e9, description="Offset + background to subtract (default: auto).")


def flat_frames(image: np.ndarray, axes: str) -> np.ndarray:
    """All non-YX axes flattened in C order into frames: (N, Y, X)."""
    image = np.asarray(image)
    if "Y" not in axes or "X" not in axes or image.ndim != len(axes):
        raise ValueError(f"The raw stack has axes {axes!r}; it needs Y and X (a stack of 2D frames).")
    if "S" in axes:
        raise ValueError("The raw stack is RGB; convert it with Image › Type › 32-bit first.")
    lead = [i for i, a in enumerate(axes) if a not in "YX"]
    moved = np.transpose(image, lead + [axes.index("Y"), axes.index("X")])
    return moved.reshape((-1,) + moved.shape[-2:])


def pixel_size_nm_from_meta(meta, given: float | None) -> float:
    if given is not None:
        return float(given)
    # TiffMeta holds µm whatever unit the file stated (fluorecon.core.io converts on reading)
    if not meta.pixel_size_um:
        raise ValueError("The raw stack has no pixel size (uncalibrated), and SIM reconstruction depends on it: give "
                         "it with --pixel-size-nm (server: pixel_size_nm) or set it in Fiji with Image › Properties….")
    return float(meta.pixel_size_um) * 1000.0


def psf_for_config(psf: np.ndarray, psf_meta, config) -> np.ndarray:
    """A measured PSF (a bead image, centred) resampled to the reconstruction grid: lateral pixel
    ``pixel_size_nm / 2``, z step ``config.z_step`` (3d); a 3D PSF for 2d SIM gives its brightest plane.
    Background (the median of the border) is removed and the sum set to 1."""
    from scipy import ndimage

    psf = np.asarray(psf, np.float32)
    axes = psf_meta.axes if psf_meta is not None else ("ZYX" if psf.ndim == 3 else "YX")
    if psf.ndim != len(axes) or psf.ndim not in (2, 3) or not set(axes) <= set("ZYX"):
        raise ValueError(f"The PSF has axes {axes!r}; give a single-channel 2D (YX) or 3D (ZYX) bead image.")
    if config.mode == "2d" and psf.ndim == 3:
        psf = psf[int(np.argmax(psf.reshape(psf.shape[0], -1).sum(axis=1)))]
    if config.mode == "3d" and psf.ndim != 3:
        raise ValueError("3d SIM needs a 3D (ZYX) PSF.")
    px = pixel_size_nm_from_meta(psf_meta, None) if psf_meta is not None and psf_meta.pixel_size_um else None
    zoom = [1.0] * psf.ndim
    if px is not None:
        zoom[-1] = zoom[-2] = px / config.object_pixel_nm
    if psf.ndim == 3 and psf_meta is not None and psf_meta.z_step_um:
        zoom[0] = psf_meta.z_step_um * 1000.0 / config.z_step
    edge = np.concatenate([psf[..., 0, :].ravel(), psf[..., -1, :].ravel(), psf[..., :, 0].ravel(), psf[..., :, -1].ravel()])
    psf = np.clip(psf - np.median(edge), 0, None)
    if any(abs(z - 1) > 1e-3 for z in zoom):
        psf = np.clip(ndimage.zoom(psf, zoom, order=1), 0, None)
    if not psf.sum() > 0:
        raise ValueError("The PSF image is empty after background removal; check the bead image.")
    return (psf / psf.sum()).astype(np.float32)


def config_from_spec(frames: np.ndarray, meta, spec: SimSpec):
    z_step = spec.z_step_nm
    if z_step is None and spec.mode == "3d" and meta.z_step_um:
        z_step = float(meta.z_step_um) * 1000.0
    return config_for_raw(
        frames, mode=spec.mode, order=spec.order, n_angles=spec.n_angles, n_phases=spec.n_phases,
        pixel_size_nm=pixel_size_nm_from_meta(meta, spec.pixel_size_nm), z_step_nm=z_step, na=spec.na,
        wavelength_nm=spec.wavelength_nm, excitation_nm=spec.excitation_nm, ni=spec.ni,
        line_spacing_nm=spec.line_spacing_nm, angle_offset_deg=spec.angle_offset_deg,
    )


def check_job(image: np.ndarray, axes: str, spec: SimSpec, meta=None) -> None:
    """Cheap checks before a job is queued; ValueError says what to change."""
    frames = flat_frames(image, axes)
    if not np.issubdtype(frames.dtype, np.number) or not np.isfinite(frames).all():
        raise ValueError("The raw stack contains NaN or infinite values (or is not grey-level); replace them first.")
    if min(frames.shape[-2:]) < 16:
        raise ValueError(f"Raw frames of {frames.shape[-2]}×{frames.shape[-1]} pixels are too small for SIM (≥ 16).")
    if meta is not None:
        config_from_spec(frames, meta, spec)
    else:
        to_canonical(frames, order=spec.order, n_angles=spec.n_angles,
                     n_phases=spec.n_phases or (5 if spec.mode == "3d" else 3))


def run_job(image: np.ndarray, meta, spec: SimSpec, progress=None, cancelled=None, device=None,
            psf_image: np.ndarray | None = None, psf_meta=None):
    """Reconstruct a raw SIM TIFF (the server's job function; equal to ``fluorecon sim reconstruct``).

    Returns ``(result, meta_out, info, params)``: result float32 (Y, X) or (Z, Y, X) on the 2× grid,
    ``meta_out`` with the pixel halved, ``info`` with the settings and the QC table as JSON.
    """
    frames = flat_frames(image, meta.axes).astype(np.float32)
    config = config_from_spec(frames, meta, spec)
    psf = psf_for_config(psf_image, psf_meta, config) if psf_image is not None else None
    result = reconstruct_sim(frames, config, order=spec.order, psf=psf, estimate=spec.estimate, wiener=spec.wiener,
                             apodization_cutoff=spec.apodization_cutoff, apodization_bend=spec.apodization_bend,
                             otf_attenuation=spec.otf_attenuation,
                             attenuation_fwhm_per_um=spec.attenuation_fwhm_per_um, background=spec.background,
                             device=device, progress=progress, cancel=cancelled)
    px_um = config.pixel_size_nm / 2 / 1000.0
    z_um = (config.z_step_nm or (meta.z_step_um * 1000 if meta.z_step_um else None))
    out_meta = TiffMeta(axes="ZYX" if result.image.ndim == 3 else "YX", pixel_size_um=px_um,
                        z_step_um=(z_um / 1000.0 if (z_um and result.image.ndim == 3 and config.z_step_nm) else meta.z_step_um),
                        unit="micron")
    table = result.qc_table()
    info = (f"fluorecon {fluorecon.__version__} sim method=wiener\n"
            f"settings = {spec.model_dump_json()}\n"
            f"background = {result.background:.6g}\n"
            f"pixel_size_nm = {px_um * 1000:.6g}\n"
            f"sim_params = {json.dumps(table)}")
    return result.image, out_meta, info, table


# --- the server job -------------------------------------------------------------------------


def _check_sim(inputs: JobInputs, spec, settings: Settings) -> None:
    check_job(inputs.image, inputs.meta.axes, spec, inputs.meta)
    if inputs.psf_image is not None:
        frames = flat_frames(inputs.image, inputs.meta.axes)
        psf_for_config(inputs.psf_image, inputs.psf_meta, config_from_spec(frames, inputs.meta, spec))


def _run_sim(inputs: JobInputs, spec, settings: Settings, device: str, progress: Progress, cancel: Cancel) -> JobOutput:
    result, meta, info, table = run_job(inputs.image, inputs.meta, spec, progress=progress, cancelled=cancel,
                         device=device, psf_image=inputs.psf_image, psf_meta=inputs.psf_meta)
    return JobOutput(result, meta, info, message=f"Done. sim_params = {json.dumps(table)}",
                     values={"sim_params": table})


JOB = JobType(
    task="sim", listed=9, spec=SimSpec, methods=("wiener",), accepts_psf=True,
    description="Classical SIM (2D per plane or 3D): pattern estimated from the data, generalised Wiener filter; "
    "result on the 2× grid, the pattern parameters as JSON in Info and the job's message (sim_params = …).",
    check=_check_sim, run=_run_sim, cancelled=(SIMCancelled,),
)
