"""The denoising contracts: the simulation settings and the training config (CARE and the
self-supervised methods of :mod:`.selfsupervised`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorecon.core.normalize import parse_norm
from fluorecon.imaging.noise import SimulatedAcquisition, simulation_shape
from fluorecon.nets.unet import UNetConfig
from fluorecon.train import TrainConfig


CITE = ("Weigert et al., Content-aware image restoration: pushing the limits of fluorescence microscopy, "
        "Nat. Methods 15, 1090 (2018)")


SELF_SUPERVISED = ("n2v", "n2s", "n2v2")

#: structN2V's mask direction in CAREamics' words (``struct_n2v_axis``) → the image axis MaskingConfig hides.
STRUCT_N2V_AXES = {"none": None, "horizontal": -1, "vertical": -2}


def struct_masking(axis: str, span: int) -> "MaskingConfig":
    """The masking of structN2V (Broaddus et al. 2020) for noise correlated along `axis` ("horizontal" = X, as
    the rows of a line-scanning or rolling-shutter camera; "vertical" = Y; "none" = plain N2V), hiding `span`
    pixels (odd) centred on each blind spot. Named as CAREamics' ``struct_n2v_axis`` / ``struct_n2v_span``."""
    if axis not in STRUCT_N2V_AXES:
        raise ValueError(f"struct_n2v_axis = {axis!r}; use none, horizontal (noise correlated along X) or vertical "
                         "(along Y).")
    if span < 3 or span % 2 == 0:
        raise ValueError(f"struct_n2v_span = {span}; give an odd length of at least 3 (the correlation length, "
                         "blind spot included).")
    return MaskingConfig(struct_axis=STRUCT_N2V_AXES[axis], struct_length=span)
#: The network switches N2V2 makes (Höck et al. 2022), applied by DenoiseConfig for method 'n2v2'.
N2V2_UNET = {"pooling": "blurpool", "skip_top": False, "residual": False}


class MaskingConfig(BaseModel):
    """Blind-spot settings of Noise2Void / Noise2Self (ignored by CARE and Noise2Noise)."""

    model_config = ConfigDict(extra="forbid")

    fraction: float = Field(0.015, gt=0, le=0.25, description="N2V: share of pixels masked per patch (one per grid cell).")
    radius: int = Field(2, ge=1, le=5, description="N2V: neighbours are drawn from a (2r+1)^n window around the pixel.")
    replacement: Literal["random", "median"] = Field(
        "random", description="N2V: a random neighbour (Krull 2019) or the neighbours' median (N2V2, Höck 2022).")
    struct_axis: int | None = Field(None, description="structN2V: also hide this spatial axis (−1 = X, −2 = Y) around each blind spot.")
    struct_length: int = Field(5, ge=3, description="structN2V: length (odd) of the hidden line, blind spot included.")
    grid: int = Field(4, ge=2, le=8, description="N2S: one pixel per grid cell of this side is masked (J-invariant grid).")


class PSFSettings(BaseModel):
    """Widefield optics used to blur phantoms (psfmodels vectorial model)."""

    model_config = ConfigDict(extra="forbid")

    na: float = Field(1.2, gt=0, description="Numerical aperture.")
    wavelength_nm: float = Field(520.0, gt=0, description="Emission wavelength, nm.")
    pixel_size_nm: float = Field(100.0, gt=0, description="Pixel size in the sample, nm.")
    z_step_nm: float = Field(300.0, gt=0, description="Axial step, nm (3D).")
    ni: float = Field(1.33, gt=0, description="Immersion refractive index.")
    ns: float = Field(1.33, gt=0, description="Sample refractive index.")
    size: int = Field(21, ge=3, description="PSF side in pixels (odd).")


class DenoiseSimulation(SimulatedAcquisition):
    """How `fluorecon simulate denoise` makes training pairs."""

    ndim: Literal[2, 3] = Field(2, description="2D planes or 3D stacks.")
    shape: tuple[int, ...] | None = Field(None, description="Image shape; default (256, 256) in 2D, (32, 128, 128) in 3D.")
    n_images: int = Field(16, ge=1, description="Number of pairs.")
    photons_low: float = Field(15.0, gt=0, description="Peak photons per pixel of the noisy input.")
    photons_high: float = Field(1000.0, gt=0, description="Peak photons per pixel of the target acquisition.")
    photons_spread: float = Field(2.0, ge=1, description="Each pair's photons are drawn log-uniformly in [p/spread, p·spread].")
    background: float = Field(0.02, ge=0, description="Background photons per pixel as a fraction of the peak.")
    psf: PSFSettings = Field(default_factory=PSFSettings)
    target: Literal["high", "clean"] = Field("high", description="'high': high-photon acquisition; 'clean': noise-free.")
    structure_scale: float = Field(1.0, ge=0.25, le=8.0, description="Structures drawn this many times larger in Y "
                                   "and X (the phantom is drawn on a grid 1/scale the size and interpolated); fitted to "
                                   "a user's image by tasks/denoise/like.py.")

    @property
    def image_shape(self) -> tuple[int, ...]:
        return simulation_shape(self.shape, self.ndim)


class DenoiseConfig(BaseModel):
    """Everything that defines a denoising model: the CLI's options, the server's request body and
    what the card records."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["denoise"] = "denoise"
    method: Literal["care", "n2n", "n2v", "n2s", "n2v2"] = Field(
        "care", description="'care': supervised on low/high pairs; 'n2n': pairs of noisy acquisitions; "
                            "'n2v'/'n2s'/'n2v2': single noisy images (blind-spot masking; tasks/selfsupervised.py; "
                            "n2v2 = Noise2Void with blur-pool, no top skip and median replacement).")
    name: str = Field("CARE denoising", description="Model name shown in Fiji.")
    ndim: Literal[2, 3] = Field(2, description="2D (per plane) or 3D (per stack) model.")
    unet: UNetConfig | None = Field(None, description="Network; default depth 2, 16 filters, residual, of `ndim`.")
    train: TrainConfig | None = Field(None, description="Optimisation; default patches 64² (2D) or 32×64² (3D).")
    simulation: DenoiseSimulation | None = Field(None, description="Simulation settings (for simulated data).")
    norm: str = Field("percentile:1:99.8", description="Input normalization recorded in the card.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Share of pairs held out for validation metrics.")
    nlm_baseline: bool = Field(True, description="Evaluate non-local means on the validation pairs too.")
    masking: MaskingConfig = Field(default_factory=MaskingConfig, description="Blind-spot masking (n2v, n2s only).")

    @model_validator(mode="after")
    def _defaults(self) -> "DenoiseConfig":
        if self.unet is None:
            # Blind-spot methods must not pass the pixel's own value through a residual connection.
            self.unet = UNetConfig(ndim=self.ndim, depth=2, filters=16, residual=self.method in ("care", "n2n"))
        if self.method == "n2v2":
            self._apply_n2v2()
        if self.method in SELF_SUPERVISED and self.unet.residual:
            raise ValueError(f"method '{self.method}' needs unet.residual=False (a residual connection would show "
                             "each blind-spot pixel its own noise).")
        if self.unet.ndim != self.ndim:
            raise ValueError(f"unet.ndim ({self.unet.ndim}) must equal ndim ({self.ndim}).")
        if self.train is None:
            patch = (64, 64) if self.ndim == 2 else (32, 64, 64)
            self.train = TrainConfig(patch_size=patch, batch_size=16 if self.ndim == 2 else 4,
                                     loss="laplace" if self.unet.probabilistic else
                                     ("l1" if self.method == "care" else "l2"))
        if self.masking.struct_axis is not None:
            if self.method not in ("n2v", "n2v2"):
                raise ValueError(f"structN2V masking (struct_n2v_axis) is for methods n2v and n2v2, not "
                                 f"'{self.method}'.")
            # A 90° rotation would turn noise correlated along X into noise along Y, which the mask does not hide.
            if self.train.augment and "augment" in self.train.model_fields_set:
                raise ValueError("structN2V needs train.augment=False: rotating patches turns the noise correlation "
                                 "away from the masked axis.")
            self.train = self.train.model_copy(update={"augment": False})
        if len(self.train.patch_size) != self.ndim:
            raise ValueError(f"train.patch_size {self.train.patch_size} needs {self.ndim} entries.")
        bad = [p for p in self.train.patch_size if p % self.unet.multiple]
        if bad:
            raise ValueError(f"train.patch_size {self.train.patch_size} must be multiples of {self.unet.multiple} (2**depth).")
        if self.simulation is None:
            self.simulation = DenoiseSimulation(ndim=self.ndim)
        parse_norm(self.norm)
        return self


    def _apply_n2v2(self) -> None:
        """N2V2's switches (tasks/selfsupervised.N2V2_UNET, median replacement) wherever the user
        did not set them; set to something else they are refused, since the result would not be N2V2."""
        given = self.unet.model_fields_set
        clash = {k: getattr(self.unet, k) for k, v in N2V2_UNET.items() if k in given and getattr(self.unet, k) != v}
        if clash:
            raise ValueError(f"method 'n2v2' needs the U-Net {N2V2_UNET}, but unet sets {clash}; drop those fields or "
                             "use method 'n2v'.")
        self.unet = self.unet.model_copy(update=N2V2_UNET)
        if "replacement" not in self.masking.model_fields_set:
            self.masking = self.masking.model_copy(update={"replacement": "median"})
