"""Learned light-field reconstruction: a VCD-Net-style network (:mod:`fluorecon.nets.vcd`) turns the
``nnum × nnum`` sub-aperture views of a rectified light field into the volume in one pass
(Wang et al., Nat. Methods 18, 551 (2021)), trained on volumes of beads and filaments projected by
the wave-optics forward model :class:`fluorecon.imaging.lightfield.LightField`.

Units (why the output is what it is): the network sees the light field normalized with its own
percentiles ``(lo, hi)`` (the card's ``norm``) and its output is mapped back with the same
``(lo, hi)``, as for every fluorecon model (DESIGN.md "Normalization"). Training fits the
normalized light field ``y'`` against the projection of the true volume, ``y' ≈ a·A(x) + b``, and
the target is ``a·x``: the background ``b`` belongs to no voxel. A returned volume ``v`` therefore
satisfies ``A(v − lo) ≈ lf − background`` in the light field's own intensity units.

Training (simulation, patches, validation, export) lives in
:mod:`fluorecon.tasks.lightfield_learned_train`.

Views: ``views[v·nnum + u, i, j] = lf[i·nnum + v, j·nnum + u]`` (the core helper's
``extract_views`` flattened over ``(v, u)``); the plugin's ``LightFieldViews.java`` implements the
same and ``tests/vectors/lightfield_views.*`` holds them to it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorecon.core.io import TiffMeta
from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import denormalize, normalize, parse_norm, percentile_range
from fluorecon.nets.vcd import VCDConfig
from fluorecon.train import TrainConfig, match_to_input

REFINE_FLOOR = 1e-6  # start of the empty voxels in refine_learned, as a fraction of the volume's peak

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
        from fluorecon.imaging.lightfield import LightFieldOptics

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


def predict_learned(lf: np.ndarray, model: str | os.PathLike, *, tile: int | None = None, threads: int | None = None,
                    device: str = "auto", progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Reconstruct a volume from a rectified light field with a learned model (ONNX Runtime).

    Parameters
    ----------
    lf : ndarray, (n_ly·nnum, n_lx·nnum)
        Rectified light field (any numeric dtype; computed in float32).
    model : path
        ONNX file with a light-field card (``task = lightfield``).
    tile : int, optional
        Tile side in lenslets (default: the card's); the halo is the card's.

    Returns
    -------
    ndarray, (Z, n_ly·nnum, n_lx·nnum) float32
        In the light field's intensity units (module docstring); calibration: :func:`volume_meta`.

    Examples
    --------
    >>> vol = predict_learned(lf, "models/lightfield_vcd.onnx")  # doctest: +SKIP
    """
    from fluorecon.core.tiling import plan_tiles, predict_tiled
    from fluorecon.infer import get_predictor

    predictor = get_predictor(model, device=device, threads=threads)
    card = predictor.card
    g = card_geometry(card)
    nnum = g["nnum"]
    lf = np.asarray(lf, np.float32)
    check_lightfield_shape(lf.shape, nnum=nnum)
    lo, hi = percentile_range(lf, *parse_norm(card.norm))
    views = views_as_channels(normalize(lf, lo, hi), nnum=nnum)
    plan = plan_tiles(views.shape[1:], tile=tile if tile else card.tile_default, halo=card.tile_halo,
                      multiple=card.tile_multiple, scale=card.scale)
    out = predict_tiled(predictor._run, views, plan, progress=progress)
    return denormalize(out, lo, hi).astype(np.float32)


def refine_learned(lf: np.ndarray, volume: np.ndarray, card: ModelCard, *, num_iter: int, physics=None,
                   progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None
                   ) -> np.ndarray:
    """Richardson–Lucy over the card's wave-optics projector, started from a learned volume
    ("learned + refine"): the network gives a near-solution in one pass, RL iterations make it
    explain the light field to the noise level, which the network alone does not (about 20
    iterations for the shipped model, bench/results/lightfield.md).

    Parameters
    ----------
    lf : ndarray, (n_ly·nnum, n_lx·nnum)
        The rectified light field the volume was predicted from.
    volume : ndarray, (Z, n_ly·nnum, n_lx·nnum)
        :func:`predict_learned`'s output (light-field units above ``lo``).
    card : ModelCard
        The model's card (optics, norm).
    num_iter : int
        RL iterations (0 returns `volume` unchanged).
    physics : LightField, optional
        Default: built from the card's optics for this light field.

    Returns
    -------
    ndarray, (Z, Y, X) float32
        In the same units as `volume` (``A(v − lo) ≈ lf − background``), so the consistency check
        and any comparison treat both alike.
    """
    from fluorecon.tasks.lightfield import richardson_lucy_background
    from fluorecon.tasks.lightfield_learned_qc import fitted_background, lightfield_physics

    if num_iter < 0:
        raise ValueError(f"refine = {num_iter}: use a non-negative number of Richardson–Lucy iterations (0 = none).")
    volume = np.asarray(volume, np.float32)
    if num_iter == 0:
        return volume
    lf = np.asarray(lf, np.float32)
    physics = physics or lightfield_physics(card, lf.shape)
    lo, _ = percentile_range(lf, *parse_norm(card.norm))
    # RL is multiplicative: a voxel started at zero stays zero, so the empty (or negative) voxels
    # start at a floor. It must be tiny: 1e-3 of the peak over every empty voxel already projects
    # to a haze comparable with the background, which RL then removes only slowly.
    start = np.maximum(volume - np.float32(lo), np.float32(REFINE_FLOOR * max(float(volume.max() - lo), 1e-12)))
    background = max(fitted_background(lf, start, physics), 1e-3 * max(float(np.median(lf)), 1e-6))
    refined, _ = richardson_lucy_background(lf, physics, init=start, background=background, num_iter=num_iter,
                                            progress=progress, cancel=cancel)
    return (refined + np.float32(lo)).astype(np.float32)


def card_record(card: ModelCard) -> str:
    """One line summarising a light-field card (for CLI output and Info)."""
    g = card_geometry(card)
    return (f"nnum {g['nnum']}, {g['z_planes']} planes from {g['z_min_um']:g} µm every {g['z_step_um']:g} µm, "
            f"voxel {g['voxel_size_um']:.4g} µm")


def optics_json(card: ModelCard) -> dict:
    return json.loads(card.train.get("optics", "{}"))



def read_lightfield(path: str | os.PathLike, *, calibration: str | os.PathLike | None = None) -> tuple[np.ndarray, TiffMeta]:
    """A light-field TIFF as one 2D float32 plane, rectified with a lenslet-grid JSON when given."""
    from fluorecon.core.io import read_tiff

    image, meta = read_tiff(path)
    image = np.asarray(image, np.float32)
    if image.ndim != 2:
        squeezed = np.squeeze(image)
        if squeezed.ndim != 2:
            raise ValueError(f"{Path(path).name} has axes {meta.axes!r} {image.shape}; a light field is one 2D plane "
                             "(save one time point / channel).")
        image = squeezed
    if calibration is not None:
        from fluorecon.tasks.lightfield import LensletGrid, rectify

        grid = LensletGrid.model_validate_json(Path(calibration).read_text())
        image = np.asarray(rectify(image, grid), np.float32)
    return image, meta


def predict_to_file(image_path: str | os.PathLike, out_path: str | os.PathLike, *, model: str | os.PathLike,
                    calibration: str | os.PathLike | None = None, tile: int | None = None, threads: int | None = None,
                    device: str = "auto", consistency: str | os.PathLike | None = None, refine: int = 0) -> str:
    """`fluorecon lightfield-learned predict`: read, (rectify,) predict, (refine with `refine`
    Richardson–Lucy iterations, :func:`refine_learned`,) write a z-calibrated TIFF whose description
    records the model, its sha256, the provider that ran, the refinement and the out-of-distribution
    check; with `consistency`, also the data-consistency map of the written volume
    (:func:`lightfield_consistency`). Returns the lines to print."""
    from fluorecon import __version__
    from fluorecon.core.io import TiffMeta, write_tiff
    from fluorecon.infer import get_predictor
    from fluorecon.tasks.lightfield_learned_qc import lightfield_consistency, lightfield_ood, summary_lines

    from fluorecon.tasks.lightfield_learned_qc import lightfield_physics

    if refine < 0:
        raise ValueError(f"--refine {refine}: use a non-negative number of Richardson–Lucy iterations (0 = none).")
    lf, in_meta = read_lightfield(image_path, calibration=calibration)
    start = time.perf_counter()
    volume = predict_learned(lf, model, tile=tile, threads=threads, device=device)
    seconds = time.perf_counter() - start
    predictor = get_predictor(model, device=device, threads=threads)
    card = predictor.card
    physics = None
    if refine or consistency is not None:
        physics = lightfield_physics(card, lf.shape, device=None if device == "auto" else device)
    refine_seconds = 0.0
    if refine:
        start = time.perf_counter()
        volume = refine_learned(lf, volume, card, num_iter=refine, physics=physics)
        refine_seconds = time.perf_counter() - start
    meta = volume_meta(card)
    # A rectified raw frame's pixel no longer has the camera's size: compare pixel sizes only when
    # the input came rectified.
    pixel_nm = in_meta.pixel_size_um * 1000 if in_meta.pixel_size_um and calibration is None else None
    ood = lightfield_ood(lf, card, pixel_size_nm=pixel_nm)
    check = lightfield_consistency(lf, volume, card, physics=physics) if consistency is not None else None
    qc_lines = summary_lines(ood, check)
    info = "\n".join([
        "fluorecon.command = lightfield-learned predict", f"fluorecon.version = {__version__}",
        "lightfield.method = learned", f"lightfield.refine_iterations = {refine} (Richardson–Lucy from the learned volume)",
        f"model.name = {card.name}", f"model.file = {Path(model).name}",
        f"model.sha256 = {predictor.sha256}", f"lightfield.geometry = {card_record(card)}",
        f"lightfield.z_min_um = {card.train.get('z_min_um')}", f"execution.provider = {predictor.provider}",
        f"calibration = {calibration or 'none (input already rectified)'}", *qc_lines,
    ])
    write_tiff(out_path, volume, meta, info=info)
    lines = [f"Wrote {out_path}: {volume.shape[0]} planes {volume.shape[1]}×{volume.shape[2]} "
             f"({card_record(card)}) in {seconds:.2f} s on {predictor.provider}"
             + (f", refined by {refine} Richardson–Lucy iterations in {refine_seconds:.2f} s." if refine else ".")]
    if check is not None:
        write_tiff(consistency, check.consistency, TiffMeta(axes="YX", pixel_size_um=meta.pixel_size_um),
                   info=info + "\noutput = data consistency (rectified light field - A(volume - lo) - background) / sigma")
        lines.append(f"Wrote {consistency} (data consistency on the rectified light field's grid).")
    return "\n".join(lines + qc_lines)


def _register() -> None:
    """Add the learned method to the ``lightfield`` task (the iterative core module may register
    the task itself; whichever loads first, the entry ends up with both methods)."""
    from dataclasses import replace

    from fluorecon.tasks import _REGISTRY, Task, register_task

    from fluorecon.tasks.lightfield_learned_train import train_lightfield_learned

    existing = _REGISTRY.get("lightfield")
    learned = {"predict": predict_learned, "output_meta": volume_meta, "train_config": LearnedLightFieldConfig}
    if existing is not None:
        register_task(replace(existing, methods=tuple(dict.fromkeys((*existing.methods, "vcd"))),
                              train=existing.train or train_lightfield_learned, extra={**existing.extra, **learned}))
        return
    from fluorecon.tasks.lightfield import backproject, simulate

    register_task(Task(
        key="lightfield", name="Light-field reconstruction",
        description="Volume from one light-field image: Richardson–Lucy over the wave-optics projector, or a "
                    "VCD-style view → volume network (one pass).",
        config=LearnedLightFieldConfig, methods=("rl", "vcd"), simulate=simulate, train=train_lightfield_learned,
        baseline=backproject, extra=learned,
    ))


_register()
