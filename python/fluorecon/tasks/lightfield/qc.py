"""Checks of a learned light-field volume (DESIGN.md "Trust"): the data-consistency map and the
out-of-distribution test against the card's training statistics.

Consistency: the network's volume ``v`` is in the light field's units above its low percentile
``lo`` (:mod:`fluorecon.tasks.lightfield.learned`), so the wave-optics projector built from the
card's optics predicts ``A(v − lo) + background``. The background, which belongs to no voxel, is
the one fitted number: the median of ``lf − A(v − lo)``. The comparison itself is
:func:`fluorecon.qc.report.check_result` with that projector as the forward model and the
Poisson–Gaussian model of the light field (:mod:`fluorecon.qc.noise_estimate`) shifted by the
background, so the map is ``(lf − background − A(v − lo)) / sqrt(a·(A(v − lo) + background) + b)``:
≈ N(0, 1) and white where the volume explains the light field; a voxel the data do not support
projects to a negative patch, a missing one to a positive patch.
"""

from __future__ import annotations

import numpy as np
import torch

from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import parse_norm, percentile_range
from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise
from fluorecon.qc.ood import check_input, training_statistics
from fluorecon.qc.report import check_result
from fluorecon.tasks.lightfield.model import (
    LearnedLightFieldSimulation, card_geometry, check_lightfield_shape, optics_json,
)
from fluorecon.tasks.lightfield.physics import LightField, LightFieldConfig, LightFieldOptics
from fluorecon.tasks.lightfield.train import simulate_training_pairs

__all__ = ["lightfield_physics", "fitted_background", "lightfield_consistency", "lightfield_ood", "summary_lines",
           "training_inputs_statistics"]


def lightfield_physics(card: ModelCard, shape, *, device=None, cache_dir=None):
    """The wave-optics projector of a card's optics for a rectified light field of `shape` (Y, X)."""
    nnum = card_geometry(card)["nnum"]
    check_lightfield_shape(shape, nnum=nnum)
    optics = LightFieldOptics(**optics_json(card))
    return LightField.from_config(LightFieldConfig(n_lenslets=(shape[0] // nnum, shape[1] // nnum), optics=optics),
                                  device=device, cache_dir=cache_dir)


def fitted_background(lf: np.ndarray, above: np.ndarray, physics) -> float:
    """The background that no voxel explains: median of ``lf − A(above)``, `above` = volume − lo."""
    with torch.no_grad():
        projected = physics.A(torch.as_tensor(np.asarray(above, np.float32), device=physics.device)).cpu().numpy()
    return float(np.median(np.asarray(lf, np.float32) - projected))


def lightfield_consistency(lf: np.ndarray, volume: np.ndarray, card: ModelCard, *, physics=None, noise=None,
                           pixel_size_nm: float | None = None):
    """Data-consistency check of a learned volume against the light field it came from.

    Parameters
    ----------
    lf : ndarray, (n_ly·nnum, n_lx·nnum)
        The rectified light field the volume was predicted from (camera units).
    volume : ndarray, (Z, n_ly·nnum, n_lx·nnum)
        The learned volume (:func:`~fluorecon.tasks.lightfield.learned.predict_learned`).
    card : ModelCard
        The model's card: optics, norm and the ``qc.*`` training statistics.
    physics : LightField, optional
        Projector; default built from the card's optics (:func:`lightfield_physics`).
    noise : NoiseModel, optional
        Poisson–Gaussian model of `lf`; estimated from it when None.

    Returns
    -------
    fluorecon.qc.report.QCReport
        ``consistency`` (Y, X) on the light field's grid, ``local`` (its 7×7 box score), the
        summary (residual mean/std, lag-1 autocorrelation, flagged fraction, OOD) with
        ``background`` and ``lo`` added.
    """
    lf = np.asarray(lf, np.float32)
    volume = np.asarray(volume, np.float32)
    physics = physics or lightfield_physics(card, lf.shape)
    if volume.shape != tuple(physics.image_shape):
        raise ValueError(f"volume has shape {volume.shape}, but the card's optics need {tuple(physics.image_shape)} "
                         "for this light field; check the volume against the light field it was predicted from.")
    lo, _ = percentile_range(lf, *parse_norm(card.norm))
    above = volume - np.float32(lo)
    background = fitted_background(lf, above, physics)
    noise = noise or estimate_noise(lf)
    # var(lf) = a·E[lf] + b and E[lf] = A(v − lo) + background: the same model on lf − background.
    shifted = NoiseModel(a=noise.a, b=noise.b + noise.a * background)
    report = check_result(lf - np.float32(background), above, card=card, physics=physics, noise=shifted,
                          pixel_size_nm=pixel_size_nm)
    report.summary["background"] = background
    report.summary["lo"] = float(lo)
    report.summary["noise_model"] = {**report.summary["noise_model"], "a": noise.a, "b": noise.b,
                                     "background_removed": background}
    return report


def lightfield_ood(lf: np.ndarray, card: ModelCard, *, pixel_size_nm: float | None = None):
    """:func:`fluorecon.qc.ood.check_input` of a rectified light field against the card's ``qc.*``."""
    return check_input(np.asarray(lf, np.float32), card.qc, norm=card.norm, pixel_size_nm=pixel_size_nm)


def summary_lines(ood, check=None) -> list[str]:
    """``key = value`` lines for the CLI output and the TIFF Info: OOD verdict and warnings, and the
    consistency figures when checked."""
    lines = [f"qc.in_distribution = {str(ood.in_distribution).lower()}"]
    lines += [f"qc.ood.{k} = {v:.4g}" for k, v in ood.scores.items()]
    lines += [f"WARNING (out of distribution): {w}" for w in ood.warnings]
    if check is not None:
        s = check.summary
        lines += [f"qc.consistency.mean = {s['residual_mean']:.4f}",
                  f"qc.consistency.var = {s['residual_std'] ** 2:.4f}",
                  f"qc.consistency.lag1 = {','.join(f'{v:.3f}' for v in s['lag1_autocorrelation'])}",
                  f"qc.consistency.flagged_fraction = {s['local_flagged_fraction']:.5f} "
                  f"(|7x7 local score| > {s['local_threshold']:g})",
                  f"qc.consistency.background = {s['background']:.4g}"]
        lines += [f"WARNING (consistency): {w}" for w in check.warnings if not w.startswith("Out of distribution")]
    return lines


def training_inputs_statistics(card: ModelCard, *, n: int = 8, seed: int = 20261126, cache_dir=None) -> dict[str, str]:
    """``qc.*`` statistics of light fields simulated with the card's recorded training settings
    (``train.simulation``, optics): the model's training inputs redrawn, not the model retrained."""
    sim = LearnedLightFieldSimulation.model_validate_json(card.train["simulation"])
    g = card_geometry(card)
    physics = lightfield_physics(card, (sim.n_lenslets[0] * g["nnum"], sim.n_lenslets[1] * g["nnum"]),
                                 cache_dir=cache_dir)
    pairs = simulate_training_pairs(physics, sim, n=n, seed=seed)
    return training_statistics([lf for lf, _ in pairs], norm=card.norm, pixel_size_nm=g["voxel_size_um"] * 1000)
