"""Learned light-field reconstruction: a VCD-Net-style network (:mod:`fluorecon.nets.vcd`) turns the
``nnum × nnum`` sub-aperture views of a rectified light field into the volume in one pass
(Wang et al., Nat. Methods 18, 551 (2021)), trained on volumes of beads and filaments projected by
the wave-optics forward model :class:`fluorecon.tasks.lightfield.physics.LightField`.

Units (why the output is what it is): the network sees the light field normalized with its own
percentiles ``(lo, hi)`` (the card's ``norm``) and its output is mapped back with the same
``(lo, hi)``, as for every fluorecon model (DESIGN.md "Normalization"). Training fits the
normalized light field ``y'`` against the projection of the true volume, ``y' ≈ a·A(x) + b``, and
the target is ``a·x``: the background ``b`` belongs to no voxel. A returned volume ``v`` therefore
satisfies ``A(v − lo) ≈ lf − background`` in the light field's own intensity units.

Training (simulation, patches, validation, export) lives in
:mod:`fluorecon.tasks.lightfield.train`.

Views: ``views[v·nnum + u, i, j] = lf[i·nnum + v, j·nnum + u]`` (the core helper's
``extract_views`` flattened over ``(v, u)``); the plugin's ``LightFieldViews.java`` implements the
same and ``tests/vectors/lightfield_views.*`` holds them to it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from fluorecon import __version__
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import denormalize, normalize, parse_norm, percentile_range
from fluorecon.core.tiling import plan_tiles, predict_tiled
from fluorecon.infer import get_predictor
from fluorecon.tasks.lightfield.classical import richardson_lucy_background
from fluorecon.tasks.lightfield.model import (CITE, views_as_channels, check_lightfield_shape, LearnedLightFieldSimulation, LearnedLightFieldConfig, psnr_fitted, lightfield_card, card_geometry, volume_meta, card_record, optics_json)  # noqa: F401  (re-exported)
from fluorecon.tasks.lightfield.qc import (
    fitted_background, lightfield_consistency, lightfield_ood, lightfield_physics, summary_lines,
)

REFINE_FLOOR = 1e-6  # start of the empty voxels in refine_learned, as a fraction of the volume's peak


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


def read_lightfield(path: str | os.PathLike, *, calibration: str | os.PathLike | None = None) -> tuple[np.ndarray, TiffMeta]:
    """A light-field TIFF as one 2D float32 plane, rectified with a lenslet-grid JSON when given."""
    image, meta = read_tiff(path)
    image = np.asarray(image, np.float32)
    if image.ndim != 2:
        squeezed = np.squeeze(image)
        if squeezed.ndim != 2:
            raise ValueError(f"{Path(path).name} has axes {meta.axes!r} {image.shape}; a light field is one 2D plane "
                             "(save one time point / channel).")
        image = squeezed
    if calibration is not None:
        from fluorecon.tasks.lightfield.classical import LensletGrid, rectify

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
    if refine < 0:
        raise ValueError(f"--refine {refine}: use a non-negative number of Richardson–Lucy iterations (0 = none).")
    if calibration is not None:
        from fluorecon.tasks.lightfield.classical import LensletGrid

        grid = LensletGrid.model_validate_json(Path(calibration).read_text())
        trained = card_geometry(get_predictor(model, device=device, threads=threads).card)["nnum"]
        if grid.nnum != trained:
            raise ValueError(f"Model '{Path(model).name}' was trained for nnum {trained} pixels per lenslet, but the "
                             f"calibration {Path(calibration).name} rectifies to nnum {grid.nnum}. Calibrate again "
                             f"with --nnum {trained} (`fluorecon lightfield calibrate WHITE.tif CAL.json --nnum "
                             f"{trained}`), or train a model for nnum {grid.nnum}.")
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
