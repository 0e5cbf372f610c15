"""The deconvolution contract: :class:`DeconvolveSpec` (and its :class:`PSFParams`), written once. The server
validates jobs with it, ``fluorecon deconvolve`` generates its options from it (:func:`fluorecon.commands.spec_option`),
and ``scripts/make_spec_resources.py`` writes its defaults and bounds as JSON Schema for the Fiji plugin
(``java-plugin/src/main/resources/org/fluorecon/specs/deconvolve.json``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class PSFParams(BaseModel):
    """Theoretical PSF parameters; pixel size and z step default to the image calibration."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["widefield", "confocal"] = Field("widefield", description="Microscope type.")
    na: float = Field(gt=0, le=1.7, examples=[1.4], description="Numerical aperture of the objective.")
    wavelength_nm: float = Field(gt=200, lt=2000, examples=[520], description="Emission wavelength, nm.")
    excitation_nm: float | None = Field(None, gt=200, lt=2000, description="Excitation wavelength, nm (confocal).")
    pinhole_au: float = Field(0.0, ge=0, le=10, description="Confocal pinhole diameter, Airy units.")
    ni: float = Field(1.515, ge=1.0, le=2.0, description="Immersion refractive index.")
    ns: float = Field(1.33, ge=1.0, le=2.0, description="Sample refractive index.")
    pixel_size_nm: float | None = Field(None, gt=0, le=100000, description="Lateral pixel size, nm; default: image calibration.")
    z_step_nm: float | None = Field(None, gt=0, le=100000, description="Z step, nm; default: image calibration.")

    @model_validator(mode="after")
    def _check(self) -> "PSFParams":
        if self.na >= self.ni:
            raise ValueError(f"na={self.na} must be below the immersion index ni={self.ni}.")
        if self.kind == "confocal" and self.excitation_nm is None:
            raise ValueError("A confocal PSF needs excitation_nm (e.g. 488).")
        return self


class DeconvolveSpec(BaseModel):
    """A deconvolution job: method, iterations and where the PSF comes from.

    With an uploaded/measured PSF image, ``psf`` is ignored and ``psf_pixel_size_nm`` (default:
    the PSF image's calibration, else the image's) gives its sampling.
    """

    model_config = ConfigDict(extra="forbid")
    task: Literal["deconvolve"] = Field("deconvolve", description="Task name.")
    method: Literal["rl", "rl-accel", "rltv", "wiener"] = Field(
        "rl-accel", description="rl: Richardson–Lucy; rl-accel: Biggs–Andrews accelerated RL; rltv: RL + total variation; wiener: Wiener/Tikhonov."
    )
    num_iter: int = Field(20, ge=1, le=1000, description="Iterations (iterative methods).")
    stop: Literal["discrepancy", "none"] = Field(
        "discrepancy", description="discrepancy: end RL at the first iteration whose re-blurred estimate explains the "
        "image to its noise level (noise model estimated from the image), num_iter being the cap; none: run all "
        "num_iter iterations (warns when they fit the noise). The Info says which.",
    )
    tv_lambda: float = Field(0.002, ge=0, lt=1, description="Total-variation weight (rltv).")
    balance: float = Field(0.01, gt=0, le=1e6, description="Regularisation weight (wiener).")
    background: float = Field(0.0, ge=0, le=1e9, description="Offset + background subtracted before deconvolution, in image units.")
    psf: PSFParams | None = Field(None, description="Theoretical PSF; omit when a PSF image is given.")
    psf_energy: float = Field(
        0.99, gt=0.5, le=1.0, description="3D theoretical PSF: keep the z span holding this fraction of its light "
        "within the in-focus core (4 Airy radii), so the PSF and the blocks' halo stay bounded however deep the stack; "
        "1 keeps the whole stack. The output's Info says where it was cropped.")
    psf_extent_um: float | None = Field(
        None, gt=0, le=100000, description="3D theoretical PSF: its largest z extent, µm (instead of psf_energy).")
    psf_pixel_size_nm: tuple[Annotated[float, Field(gt=0, le=1e6)], ...] | None = Field(
        None, min_length=1, max_length=3, description="Sampling of a measured PSF, nm: (xy), (z, xy) or (z, y, x)."
    )
    psf_background: str = Field(
        "auto", examples=["auto", "none", "100"],
        description="Background subtracted from a measured PSF: auto (the border's level, only when the border is a "
                    "pedestal well above zero; a clean or prepared PSF is left as it is), none, or a value in the PSF "
                    "image's units. The Info of the output says what was subtracted.",
    )

    @field_validator("psf_background", mode="before")
    @classmethod
    def _psf_background(cls, value):
        text = str(value).strip().lower()
        if text in ("auto", "none"):
            return text
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"psf_background {value!r}: give auto, none or a number (PSF image units).") from None
        if not (number >= 0 and number < float("inf")):
            raise ValueError(f"psf_background {value!r}: give a finite value >= 0, auto or none.")
        return f"{number:g}"
