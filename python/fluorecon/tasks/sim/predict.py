"""Learned SIM at use time: where each raw frame sits in a flat stack (frame order, the model's
frames, full or reduced stacks), tiled prediction with one percentile pair over all frames of a z
plane, and the data-consistency map against re-simulated raw frames. Mirrors the plugin's
``org.fluorecon.tasks.sim.SimStack`` and ``SimLearnedJob``; training lives in
:mod:`fluorecon.tasks.sim.learned`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import denormalize, normalize, parse_norm, percentile_range
from fluorecon.core.tiling import plan_tiles, predict_tiled
from fluorecon.imaging.noise import CameraNoise
from fluorecon.qc.consistency import variance_adu
from fluorecon.qc.ood import check_input, training_statistics
from fluorecon.tasks.sim.classical import config_for_raw, reconstruct_sim, resimulate_raw

TASK = "sim"


def normalize_frames(frames: np.ndarray, *, norm: str) -> tuple[np.ndarray, float, float]:
    """All frames of one z plane normalized with ONE percentile pair over the whole (n, H, W) block
    (the plugin does the same; per-frame percentiles would erase the pattern's intensity steps)."""
    frames = np.asarray(frames, np.float32)
    lo, hi = percentile_range(frames, *parse_norm(norm))
    return normalize(frames, lo, hi), lo, hi


# --- prediction -----------------------------------------------------------------------------


def _axes_order(order: str) -> list[str]:
    parts = [p.strip().lower() for p in order.replace("_", "-").split("-") if p.strip()]
    if "z" not in parts:
        parts.append("z")
    if sorted(parts) != ["angle", "phase", "z"]:
        raise ValueError(f"order = {order!r} is not a frame order; use a permutation of angle, phase and z, "
                         "e.g. 'angle-phase-z' or 'z-angle-phase'.")
    return parts


def frame_index(order: str, angle: int, phase: int, z: int, *, n_angles: int, n_phases: int, n_z: int) -> int:
    """Index in a flat raw stack of frame (angle, phase, z) for `order` (axes outermost → innermost).
    Mirrors ``org.fluorecon.tasks.sim.SimStack.frameIndex``."""
    sizes = {"angle": n_angles, "phase": n_phases, "z": n_z}
    pos = {"angle": angle, "phase": phase, "z": z}
    index = 0
    for axis in _axes_order(order):
        index = index * sizes[axis] + pos[axis]
    return index


def stack_layout(n_images: int, *, n_frames: int, n_angles: int, n_phases: int) -> tuple[str, int]:
    """('full', Z) when the stack holds whole A·P sets (preferred), ('reduced', Z) when it holds only
    the model's `n_frames` frames per plane; ValueError naming the sizes otherwise."""
    full = n_angles * n_phases
    if n_images >= full and n_images % full == 0:
        return "full", n_images // full
    if n_frames < full and n_images % n_frames == 0:
        return "reduced", n_images // n_frames
    raise ValueError(f"The stack has {n_images} images, which is neither a multiple of {n_angles} angles × "
                     f"{n_phases} phases = {full} nor of the model's {n_frames} frames; check angles, phases "
                     "and that every z plane is complete.")


def select_planes(stack: np.ndarray, *, order: str, frames: Sequence[int], n_angles: int,
                  n_phases: int) -> np.ndarray:
    """(Z, n_frames, H, W): the model's frames of each z plane from a flat (N, H, W) raw stack in `order`."""
    stack = np.asarray(stack, np.float32)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3:
        raise ValueError(f"The raw stack must be (N, Y, X), got shape {stack.shape}.")
    layout, n_z = stack_layout(len(stack), n_frames=len(frames), n_angles=n_angles, n_phases=n_phases)
    out = np.empty((n_z, len(frames)) + stack.shape[1:], np.float32)
    outer_frames = _axes_order(order)[0] != "z"
    for z in range(n_z):
        for k, f in enumerate(frames):
            if layout == "full":
                idx = frame_index(order, f // n_phases, f % n_phases, z, n_angles=n_angles, n_phases=n_phases, n_z=n_z)
            else:  # the reduced set: the model's frames in their listed order, z inside or outside
                idx = k * n_z + z if outer_frames else z * len(frames) + k
            out[z, k] = stack[idx]
    return out


def card_frames(card: ModelCard) -> tuple[list[int], int, int]:
    """(frames, n_angles, n_phases) from a SIM card."""
    if card.task != TASK:
        raise ValueError(f"Model '{card.name}' is a '{card.task}' model; learned SIM needs task=sim.")
    try:
        frames = [int(v) for v in card.train["frames"].split(",")]
        return frames, int(card.train["n_angles"]), int(card.train["n_phases"])
    except (KeyError, ValueError):
        raise ValueError(f"Model '{card.name}' records no train.frames / n_angles / n_phases; "
                         "it is not a learned SIM model made by fluorecon.") from None


def predict_sim(image: np.ndarray, predictor, *, order: str = "angle-phase-z", tile: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Learned SIM reconstruction of a flat raw stack.

    Parameters
    ----------
    image : ndarray, (N, H, W)
        Raw frames; N = A·P·Z (full sets, the model's frames are picked) or n_frames·Z (only the
        model's frames, in the card's listed order).
    predictor : :class:`fluorecon.infer.Predictor` of a card with ``task = sim``
    order : str
        Axes outermost → innermost: 'angle-phase-z' or 'z-angle-phase' (any permutation).

    Returns
    -------
    ndarray, (Z, 2H, 2W) float32 in the raw frames' units (pixel size / 2).
    """
    card = predictor.card
    frames, n_angles, n_phases = card_frames(card)
    planes = select_planes(image, order=order, frames=frames, n_angles=n_angles, n_phases=n_phases)
    if not np.all(np.isfinite(planes)):
        raise ValueError("The raw stack contains NaN or infinite pixels; replace them first.")
    h, w = planes.shape[-2:]
    if min(h, w) < card.tile_multiple[0]:
        raise ValueError(f"Raw frames of {h}×{w} pixels are smaller than the model's tile multiple "
                         f"{card.tile_multiple[0]}; use larger frames.")
    t = tile if tile is not None else card.tile_default
    plan = plan_tiles((h, w), tile=t, halo=card.tile_halo, multiple=card.tile_multiple, scale=card.scale)
    out = np.empty((len(planes), 2 * h, 2 * w), np.float32)
    total = len(planes) * plan.num_tiles
    for z, frames_z in enumerate(planes):
        xn, lo, hi = normalize_frames(frames_z, norm=card.norm)
        tick = (lambda i, n, z=z: progress(z * plan.num_tiles + i, total)) if progress else None
        result = predict_tiled(predictor._run, xn, plan, progress=tick)
        out[z] = denormalize(result[0], lo, hi)
    return out


# --- out of distribution -------------------------------------------------------------------


def sim_ood(planes: np.ndarray, card: ModelCard, *, pixel_size_nm: float | None = None):
    """:func:`fluorecon.qc.ood.check_input` of the model's frames of one z plane (n, H, W), normalized
    as the model sees them (one percentile pair over all frames), against the card's ``qc.*``
    statistics of the training inputs; `pixel_size_nm` is the raw camera pixel in sample space."""
    return check_input(np.asarray(planes, np.float32), card.qc, norm=card.norm, pixel_size_nm=pixel_size_nm)


def sim_training_statistics(triples, frames: Sequence[int], *, norm: str, pixel_size_nm: float) -> dict[str, str]:
    """``qc.*`` entries of a model's training inputs: the `frames` of each raw stack in `triples`."""
    return training_statistics([t.raw[list(frames)] for t in triples], norm=norm, pixel_size_nm=pixel_size_nm)


# --- data consistency -----------------------------------------------------------------------


def sim_consistency(raw: np.ndarray, result: np.ndarray, config, *, frames: Sequence[int] | None = None,
                    noise: CameraNoise | None = None, background: float | None = None) -> np.ndarray:
    """Data-consistency map of a SIM result: ``(y − (A x̂ + b)) / sqrt(var)`` per raw frame.

    Parameters
    ----------
    raw : ndarray, (n, H, W)
        Measured frames (ADU), the model's `frames` of the full set (default all A·P, angle-major).
    result : ndarray, (2H, 2W)
        Reconstruction in the raw frames' units (learned: ADU, offset included).
    config : SIMConfig
        The pattern of THIS acquisition (angles, spacing, phases, modulation), e.g.
        ``reconstruct_sim(...).config`` (estimated) or a simulation's config.
    noise : CameraNoise, optional
        Camera; default ``config.noise``, else a Poisson–Gaussian model estimated from the frames.
    background : float, optional
        Unmodulated level (offset + background, ADU) removed before re-simulation; default the 1st
        percentile of `result`.

    Returns
    -------
    ndarray, (n, H, W) float32: ≈ N(0, 1) where the result explains the measured frames.
    """
    raw = np.asarray(raw, np.float32)
    result = np.asarray(result, np.float32)
    b = float(np.percentile(result, 1)) if background is None else float(background)
    resim = np.asarray(resimulate_raw(result - b, config, background=b, device="cpu"), np.float32)
    resim = resim.reshape((-1,) + resim.shape[-2:])
    if frames is not None:
        resim = resim[list(frames)]
    if resim.shape != raw.shape:
        raise ValueError(f"raw has shape {raw.shape} but the re-simulated frames have {resim.shape}; "
                         "pass the frames the result was made from.")
    noise = noise or getattr(config, "noise", None)
    if noise is not None:
        var = variance_adu(resim, noise)
    else:
        from fluorecon.qc.noise_estimate import estimate_noise

        model = estimate_noise(raw[0])  # one frame: the mean of n frames has n× less variance
        var = model.variance(resim)
    return ((raw - resim) / np.sqrt(np.maximum(var, 1e-12))).astype(np.float32)


def pattern_from_data(frames: np.ndarray, card: ModelCard, *, pixel_size_nm: float):
    """The pattern of one acquisition (angles, spacing, phases, modulation), estimated from a full
    (A·P, H, W) angle-major set by the classical module with the optics the card records; the config
    :func:`sim_consistency` needs for a learned result. SIMEstimationError (a ValueError) at too low light."""
    t = card.train
    n_angles, n_phases = int(t["n_angles"]), int(t["n_phases"])
    if len(frames) != n_angles * n_phases:
        raise ValueError(f"Estimating the pattern needs all {n_angles * n_phases} frames of a plane; "
                         f"got {len(frames)} (a reduced acquisition has too few to fit the phases).")
    cfg = config_for_raw(frames, order="angle-phase-z", n_angles=n_angles, n_phases=n_phases,
                         pixel_size_nm=pixel_size_nm, na=float(t["na"]), wavelength_nm=float(t["wavelength_nm"]),
                         line_spacing_nm=float(t["line_spacing_nm"]), angle_offset_deg=float(t["angle_offset_deg"]))
    return reconstruct_sim(frames, cfg, order="angle-phase-z", estimate=True, device="cpu").config
