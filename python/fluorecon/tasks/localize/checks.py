"""Self-checks of a network localisation (issue 13: "SMLM networks invent emitters").

A Deep-STORM or DECODE network asked about frames unlike its training data (another pixel size,
PSF width in pixels, background or emitter density) invents or loses emitters without any sign
in its output. :func:`network_self_checks` compares the input with the training settings the
card records (``train.pixel_size_nm``, ``psf_sigma_nm``, ``background_photons``,
``density_per_um2``) and runs the classical MLE fit beside the network on a sample of frames.

Checks and tolerances (each failed one adds a sentence to ``warnings``):

* pixel size: the input's differs from the card's by more than :data:`PIXEL_TOLERANCE` (relative);
* PSF width in camera pixels (the median σ the MLE fit measures; the configured ``sigma_nm`` when
  fewer than 5 fits): off the training σ/pixel by more than :data:`PSF_TOLERANCE` (relative);
* background (median photons per pixel of the sampled frames): outside the training value
  ×/÷ :data:`BACKGROUND_FACTOR`;
* density (MLE localisations per µm² per frame): outside the card's range, widened by
  :data:`DENSITY_MARGIN` (the fit misses emitters in dense frames, so it reads low there);
* counts: the network's localisations on the sampled frames and the MLE fit's differ by more
  than the factor :data:`COUNT_FACTOR` (either way; +1 on both sides so empty frames compare).
"""

from __future__ import annotations

import numpy as np

from fluorecon.core.modelcard import ModelCard
from fluorecon.imaging.noise import CameraNoise
from fluorecon.tasks.localize.classical import localize_mle
from fluorecon.tasks.localize.physics import photons_from_adu

SAMPLE_FRAMES = 10
COUNT_FACTOR = 3.0
PIXEL_TOLERANCE = 0.15
PSF_TOLERANCE = 0.25
BACKGROUND_FACTOR = 3.0
DENSITY_MARGIN = 1.5


def _card_float(card: ModelCard, key: str) -> float | None:
    try:
        return float(card.train[key])
    except (KeyError, TypeError, ValueError):
        return None


def _card_range(card: ModelCard, key: str) -> tuple[float, float] | None:
    value = card.train.get(key)
    if not value:
        return None
    try:
        lo, _, hi = value.partition("-")
        return float(lo), float(hi or lo)
    except ValueError:
        return None


def sample_frame_indices(n_frames: int, n: int = SAMPLE_FRAMES) -> np.ndarray:
    """Up to `n` frame indices spread evenly over the stack (first and last included)."""
    return np.unique(np.linspace(0, n_frames - 1, min(n, n_frames)).round().astype(int))


def network_self_checks(frames: np.ndarray, table: np.ndarray, card: ModelCard, *, camera: CameraNoise,
                        pixel_size_nm: float, sigma_nm: float, sample_frames: int = SAMPLE_FRAMES,
                        count_factor: float = COUNT_FACTOR) -> dict:
    """Checks of a network's localisation `table` of `frames` (T, Y, X, ADU); see the module doc.

    Returns a JSON-ready dict: ``warnings`` (list of sentences, empty when every check passes),
    ``sampled_frames``, ``counts`` ({network, mle, ratio, factor}) and ``input`` / ``training``
    figures (pixel size, PSF σ in pixels, background, density).
    """
    frames = np.asarray(frames, np.float32)
    idx = sample_frame_indices(len(frames), sample_frames)
    sample = frames[idx]
    mle = localize_mle(sample, camera=camera, pixel_size_nm=pixel_size_nm, sigma_nm=sigma_nm)
    n_net = int(np.isin(np.asarray(table["frame"]), idx).sum())
    n_mle = len(mle)
    ratio = (n_net + 1) / (n_mle + 1)
    area_um2 = frames.shape[1] * frames.shape[2] * (pixel_size_nm / 1000.0) ** 2
    fitted_sigma = np.asarray(mle["sigma_nm"], np.float64)
    fitted_sigma = fitted_sigma[np.isfinite(fitted_sigma)]
    sigma_in_nm = float(np.median(fitted_sigma)) if len(fitted_sigma) >= 5 else float(sigma_nm)
    observed = {
        "pixel_size_nm": float(pixel_size_nm),
        "psf_sigma_px": sigma_in_nm / pixel_size_nm,
        "psf_sigma_source": "MLE fit (median)" if len(fitted_sigma) >= 5 else "configured sigma_nm",
        "background_photons": float(np.median(photons_from_adu(sample, camera))),
        "density_per_um2": n_mle / len(idx) / area_um2,
    }
    train_px = _card_float(card, "pixel_size_nm")
    train_sigma = _card_float(card, "psf_sigma_nm")
    train_bg = _card_float(card, "background_photons")
    train_density = _card_range(card, "density_per_um2")
    training = {"pixel_size_nm": train_px,
                "psf_sigma_px": train_sigma / train_px if train_sigma and train_px else None,
                "background_photons": train_bg, "density_per_um2": list(train_density) if train_density else None}
    warnings = []
    if train_px and abs(pixel_size_nm / train_px - 1) > PIXEL_TOLERANCE:
        warnings.append(f"pixel size {pixel_size_nm:g} nm, the model was trained at {train_px:g} nm "
                        f"(more than {PIXEL_TOLERANCE:.0%} off): positions and detections are unreliable.")
    if training["psf_sigma_px"] and abs(observed["psf_sigma_px"] / training["psf_sigma_px"] - 1) > PSF_TOLERANCE:
        warnings.append(f"PSF width {observed['psf_sigma_px']:.2f} px ({observed['psf_sigma_source']}), the model "
                        f"was trained at {training['psf_sigma_px']:.2f} px (more than {PSF_TOLERANCE:.0%} off).")
    if train_bg and not (train_bg / BACKGROUND_FACTOR <= observed["background_photons"] <= train_bg * BACKGROUND_FACTOR):
        warnings.append(f"background {observed['background_photons']:.3g} photons/pixel, the model was trained at "
                        f"{train_bg:g} (outside ×/÷{BACKGROUND_FACTOR:g}); check the camera offset/gain or use "
                        "--method mle.")
    if train_density:
        lo, hi = train_density[0] / DENSITY_MARGIN, train_density[1] * DENSITY_MARGIN
        if not lo <= observed["density_per_um2"] <= hi:
            warnings.append(f"density {observed['density_per_um2']:.3g} emitters/µm² per frame (MLE fit), the model "
                            f"was trained at {train_density[0]:g}–{train_density[1]:g}.")
    if not 1 / count_factor <= ratio <= count_factor:
        warnings.append(f"the network found {n_net} localisations in {len(idx)} sampled frames, the MLE fit "
                        f"{n_mle} (ratio {ratio:.2g}, more than ×/÷{count_factor:g}): the network may be "
                        f"{'inventing' if ratio > 1 else 'missing'} emitters; compare with --method mle.")
    return {"warnings": warnings, "sampled_frames": [int(i) for i in idx],
            "counts": {"network": n_net, "mle": n_mle, "ratio": ratio, "factor": count_factor},
            "input": observed, "training": training}
