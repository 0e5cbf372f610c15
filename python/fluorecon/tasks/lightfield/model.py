"""The learned light-field model's contract: its config, training simulation, card fields and the view ↔
channel layout, shared by training (:mod:`.train`), prediction (:mod:`.learned`) and checks (:mod:`.qc`)."""

from __future__ import annotations

import json
import time
from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorecon.core.io import TiffMeta
from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import parse_norm
from fluorecon.nets.vcd import VCDConfig
from fluorecon.tasks.lightfield.physics import LightFieldOptics
from fluorecon.train import TrainConfig, match_to_input

CITE = ("Wang Z. et al., Real-time volumetric reconstruction of biological dynamics with light-field microscopy "
        "and deep learning, Nat. Methods 18, 551 (2021); Broxton M. et al., Opt. Express 21, 25418 (2013)")


# --- views ----------------------------------------------------------------------------------


def views_as_channels(lf: np.ndarray, *, nnum: int) -> np.ndarray:
    """The sub-aperture views of a rectified light field as channels.

    Parameters
    ----------
    lf : ndarray, (n_ly·nnum, n_lx·nnum)
        Rectified light field: lenslet (i, j) covers pixels ``[i·nnum, (i+1)·nnum)`` × ``[j·nnum, (j+1)·nnum)``.
    nnum : int
        Pixels per lenslet (odd).

    Returns
    -------
    ndarray, (nnum², n_ly, n_lx) float32
        ``out[v·nnum + u, i, j] = lf[i·nnum + v, j·nnum + u]``.
    """
    lf = np.asarray(lf, np.float32)
    check_lightfield_shape(lf.shape, nnum=nnum)
    ny, nx = lf.shape[0] // nnum, lf.shape[1] // nnum
    return np.ascontiguousarray(lf.reshape(ny, nnum, nx, nnum).transpose(1, 3, 0, 2).reshape(nnum * nnum, ny, nx))


def check_lightfield_shape(shape: Sequence[int], *, nnum: int) -> None:
    """Refuse anything but a rectified 2D light field of whole lenslets, in words."""
    if nnum < 3 or nnum % 2 == 0:
        raise ValueError(f"nnum = {nnum}: pixels per lenslet must be odd and at least 3.")
    if len(shape) != 2:
        raise ValueError(f"A light field is one 2D image (Y, X); got shape {tuple(shape)}. "
                         "Give one time point and one channel.")
    if shape[0] % nnum or shape[1] % nnum or min(shape) < nnum:
        raise ValueError(f"Light field {shape[0]}×{shape[1]} is not a whole number of {nnum}×{nnum} lenslets; "
                         "rectify it first (`fluorecon lightfield calibrate` on a white image, then "
                         "--calibration CAL.json).")


# --- configs --------------------------------------------------------------------------------


class LearnedLightFieldSimulation(BaseModel):
    """How training volumes and light fields are drawn."""

    model_config = ConfigDict(extra="forbid")

    n_volumes: int = Field(24, ge=2, description="Simulated (volume, light field) pairs.")
    n_lenslets: tuple[int, int] = Field((12, 12), description="Lenslets (Y, X) of each simulated light field.")
    beads: tuple[int, int] = Field((8, 40), description="Beads per volume, drawn uniformly in this range.")
    bead_sigma_px: tuple[float, float] = Field((1.0, 2.5), description="Lateral bead σ in voxels, uniform per volume "
                                               "(sub-voxel beads are below what a light field resolves laterally).")
    filaments: float = Field(0.5, ge=0, le=1, description="Share of volumes that also hold 3D filaments.")
    photons: tuple[float, float] = Field((300.0, 3000.0), description="Peak photons of the volume, log-uniform in this range.")
    background: float = Field(0.02, ge=0, description="Background photons per pixel as a fraction of the peak photons.")
    read_noise_e: float = Field(1.5, ge=0, description="Camera read noise (electrons).")
    seed: int = Field(0, description="Seed of volumes and noise.")


class LearnedLightFieldConfig(BaseModel):
    """Everything that defines a learned light-field model (CLI options, card record)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["lightfield"] = "lightfield"
    method: Literal["vcd"] = Field("vcd", description="'vcd': views as channels → volume (VCD-Net style).")
    name: str = Field("VCD light-field reconstruction", description="Model name shown in Fiji.")
    optics: dict = Field(default_factory=dict, description="LightFieldOptics fields (defaults: the core model's).")
    net: VCDConfig | None = Field(None, description="Network; nnum and z_planes come from the optics.")
    train: TrainConfig | None = Field(None, description="Optimisation; patch_size in LENSLETS (multiples of 2**depth).")
    simulation: LearnedLightFieldSimulation = Field(default_factory=LearnedLightFieldSimulation)
    norm: str = Field("percentile:1:99.8", description="Light-field normalization recorded in the card.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Share of pairs held out for validation metrics.")
    rl_iter: int = Field(8, ge=0, description="Richardson–Lucy iterations of the validation baseline (0 = skip).")

    @model_validator(mode="after")
    def _defaults(self) -> "LearnedLightFieldConfig":
        optics = self.lightfield_optics()
        net = self.net or VCDConfig(nnum=optics.nnum, z_planes=optics.n_planes)
        if (net.nnum, net.z_planes) != (optics.nnum, optics.n_planes):
            net = net.model_copy(update={"nnum": optics.nnum, "z_planes": optics.n_planes})
        self.net = net
        if self.train is None:
            # L2, not L1: volumes are mostly empty and L1 pulls faint beads to zero.
            self.train = TrainConfig(patch_size=(12, 12), batch_size=8, steps=600, lr=3e-3, loss="l2")
        if len(self.train.patch_size) != 2 or any(p % net.multiple for p in self.train.patch_size):
            raise ValueError(f"train.patch_size {self.train.patch_size} must be two multiples of {net.multiple} lenslets.")
        if any(p > n for p, n in zip(self.train.patch_size, self.simulation.n_lenslets)):
            raise ValueError(f"train.patch_size {self.train.patch_size} is larger than the simulated light fields "
                             f"({self.simulation.n_lenslets} lenslets).")
        parse_norm(self.norm)
        return self

    def lightfield_optics(self):
        return LightFieldOptics(**self.optics)


# --- metrics --------------------------------------------------------------------------------


def psnr_fitted(estimate: np.ndarray, truth: np.ndarray) -> float:
    """PSNR (dB, the truth's range) after the least-squares affine map of `estimate` onto `truth`:
    reconstructions in different units (photons, normalized, a·x) are compared on equal terms."""
    est = np.asarray(estimate, np.float64).ravel()
    ref = np.asarray(truth, np.float64).ravel()
    a, b = match_to_input(est, ref)
    mse = float(np.mean((a * est + b - ref) ** 2))
    span = float(ref.max() - ref.min())
    return float(10 * np.log10(span**2 / max(mse, 1e-20)))


# --- card, export, prediction ---------------------------------------------------------------


def lightfield_card(net: VCDConfig, optics, *, name: str, norm: str, train: dict[str, str] | None = None,
                    metrics: dict[str, str] | None = None, qc: dict[str, str] | None = None,
                    tile_default: int = 48) -> ModelCard:
    """The card of a view → volume model: channels in = nnum², out = z planes, ``scale`` = nnum
    (tiles count lenslets), ``train.*`` recording nnum, the z planes and step and the optics."""
    m, halo = net.multiple, net.halo()
    tile = max(tile_default, 2 * halo + m)
    tile = -(-tile // m) * m
    record = {
        "nnum": str(net.nnum), "z_planes": str(net.z_planes), "z_step_um": repr(float(optics.z_step_um)),
        "z_min_um": repr(float(optics.z_min_um)), "z_max_um": repr(float(optics.z_max_um)),
        "voxel_size_um": repr(float(optics.voxel_size_um)), "optics": optics.model_dump_json(),
        "net": net.model_dump_json(), "views": "channel v*nnum+u = lf[i*nnum+v, j*nnum+u] (rectified light field)",
        "output_units": "light-field intensity above its low percentile: A(volume - lo) ~ lf - background",
    }
    record.update(train or {})
    return ModelCard(
        task="lightfield", method="vcd", name=name, axes_in="bcyx", axes_out="bcyx",
        channels_in=net.nnum**2, channels_out=net.z_planes, tile_multiple=(m, m), tile_halo=(halo, halo),
        tile_default=(tile, tile), scale=(net.nnum, net.nnum), norm=norm, outputs="mean", cite=CITE,
        description=(f"VCD-style light-field reconstruction: {net.nnum}×{net.nnum} views → {net.z_planes} z planes "
                     f"({optics.z_min_um:g}…{optics.z_max_um:g} µm, step {optics.z_step_um:g} µm) on the light field's "
                     "lateral grid."),
        train=record, metrics=metrics or {}, qc=qc or {},
    )


def card_geometry(card: ModelCard) -> dict:
    """nnum, z planes, z step and voxel size recorded in a light-field card; a clear error otherwise."""
    if card.task != "lightfield":
        raise ValueError(f"Model '{card.name}' is a '{card.task}' model, not a light-field model (task = lightfield).")
    try:
        return {"nnum": int(card.train["nnum"]), "z_planes": int(card.train["z_planes"]),
                "z_step_um": float(card.train["z_step_um"]), "z_min_um": float(card.train["z_min_um"]),
                "voxel_size_um": float(card.train["voxel_size_um"])}
    except KeyError as err:
        raise ValueError(f"Model '{card.name}' card lacks train.{err.args[0]}; re-export it with "
                         "`fluorecon lightfield-learned train`.") from None


def volume_meta(card: ModelCard) -> TiffMeta:
    """ZYX calibration of a predicted volume: lateral voxel and z step from the card (µm)."""
    g = card_geometry(card)
    return TiffMeta(axes="ZYX", pixel_size_um=g["voxel_size_um"], z_step_um=g["z_step_um"])


def card_record(card: ModelCard) -> str:
    """One line summarising a light-field card (for CLI output and Info)."""
    g = card_geometry(card)
    return (f"nnum {g['nnum']}, {g['z_planes']} planes from {g['z_min_um']:g} µm every {g['z_step_um']:g} µm, "
            f"voxel {g['voxel_size_um']:.4g} µm")


def optics_json(card: ModelCard) -> dict:
    return json.loads(card.train.get("optics", "{}"))
