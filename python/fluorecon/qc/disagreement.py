"""Model disagreement: does the network's texture come from the data or from the noise?

Two checks. **Re-noise reproducibility** (``renoise_disagreement``, the one `predict --qc` runs for
denoisers) catches the failure that matters on real data: a model trained on filaments, shown diffuse
signal, paints filament-like "worm" texture that the averaged reference does not show. That texture is
read out of the noise realisation, so it is the same under flips and rotations (test-time
augmentation sees 0.03–0.08 of the noise there) and lies within the noise level (data consistency
passes). What gives it away: the prediction is re-noised ``members`` times with the Poisson–Gaussian
noise estimated from the input (``pred + sqrt(a·pred + b)·N(0,1)``) and predicted again; the fine
detail of each answer (the result minus its Gaussian blur, σ = 2 px) is compared across the
re-noisings. Detail the data determine comes back every time (real filaments: reproducible fraction
≈ 0.9); detail invented from the noise comes back different each time. The **map** is the local
non-reproducible fraction of the detail, ``1 − ρ`` over ``WINDOW``² pixels, where
``ρ = (box(|Σ_k h_k|²) − Σ_k box(h_k²)) / ((K − 1)·Σ_k box(h_k²))`` is the unbiased estimate of the
reproducible share of the detail power from K re-noisings (0: all reproducible, ≥ 1: none). The
**warning** fires when more than ``AREA_THRESHOLD`` of the image has a map above
``UNREPRODUCIBLE_THRESHOLD`` (most of the image's texture is the noise's), calibrated on fresh
in-distribution simulation of the shipped 2D CARE model (see the constants).
The same warning is the parametric bootstrap of Efron applied to the network as an estimator.

The second check, **test-time augmentation** (``tta_disagreement``): where a network reads the data, its answer does
not depend on how the image is presented; where it invents structure, rotating or flipping the
input changes what it invents.

``tta_disagreement`` runs an image-to-image predictor on the 8 flips/90° rotations of the YX plane
(the dihedral group; any model, learned equivariance or not), maps each answer back and returns the
per-pixel mean and spread (standard deviation over the 8). The spread is compared with the noise
level of the input (Poisson–Gaussian model estimated from it, ``sqrt(a·mean + b)``): over a window
of ``WINDOW``² pixels the root-mean-square spread divided by the RMS noise is the **disagreement
map**; connected regions where it exceeds ``THRESHOLD`` (the spread is as large as the noise the
model removed) and that are larger than the PSF area raise a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import ndimage

from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise

WINDOW = 9
THRESHOLD = 1.0
#: Re-noisings per check (each is one more prediction of the image).
MEMBERS = 4
#: Detail scale: the detail of a result is the result minus its Gaussian blur of this σ (pixels).
DETAIL_SIGMA = 2.0
#: A pixel is flagged where more than this share of its local detail is not reproducible.
UNREPRODUCIBLE_THRESHOLD = 0.5
#: `renoise_disagreement` warns when more than this share of the image is flagged (equivalently: the
#: map's median exceeds UNREPRODUCIBLE_THRESHOLD). Calibrated with `care_denoise_2d` on 40 fresh
#: in-distribution draws of its training simulation (seeds 901+, never trained on; bench/disagreement.py):
#: map median 0.05–0.42 (95th percentile 0.37), so none warns; diffuse cytoplasm-like signal (20 draws):
#: 0.79–0.97, all warn. (The whole-image energy-weighted fraction, also reported, separates worse:
#: in distribution up to 0.33, diffuse from 0.16.)
AREA_THRESHOLD = 0.5
#: Independent-noise pairs of the invented-detail map (each pair is two more predictions).
PAIRS = 2
#: invented.tif marks a pixel where the result's fine detail that a second, independent noise draw does not
#: reproduce has more power than this share of the noise variance (RMS above 0.14 of the noise). Set from
#: the shipped CARE on diffuse cytoplasm-like simulation, where all of its fine detail is invented: 99th
#: percentile 0.012-0.032 over 20 draws (bench/disagreement.py, `diffuse.diffuse_invented_p99`).
INVENTED_THRESHOLD = 0.02


def _transforms():
    for k in range(4):
        for flip in (False, True):
            yield k, flip


def _apply(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    x = np.rot90(x, k, axes=(-2, -1))
    return np.flip(x, axis=-1) if flip else x


def _invert(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    x = np.flip(x, axis=-1) if flip else x
    return np.rot90(x, -k, axes=(-2, -1))


@dataclass
class Disagreement:
    mean: np.ndarray
    spread: np.ndarray
    map: np.ndarray
    summary: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def tta_disagreement(predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *,
                     noise: NoiseModel | None = None, psf_area_px: float = 4.4,
                     window: int = WINDOW, threshold: float = THRESHOLD) -> Disagreement:
    """Test-time-augmentation spread of `predict` (raw image in → result in the image's units, same
    shape; square YX planes or not) on `image` (..., Y, X), and its disagreement map (RMS spread /
    RMS noise over `window`² pixels)."""
    y = np.asarray(image, np.float32)
    noise = noise or estimate_noise(y)
    preds = np.stack([_invert(np.asarray(predict(np.ascontiguousarray(_apply(y, k, f))), np.float32), k, f)
                      for k, f in _transforms()])
    mean, spread = preds.mean(axis=0), preds.std(axis=0)
    size = (1,) * (y.ndim - 2) + (window, window)
    ratio = np.sqrt(ndimage.uniform_filter(spread.astype(np.float64) ** 2, size) /
                    ndimage.uniform_filter(noise.variance(mean).astype(np.float64), size)).astype(np.float32)
    labels, n = ndimage.label(ratio > threshold)
    areas = ndimage.sum_labels(np.ones_like(ratio), labels, np.arange(1, n + 1)) if n else np.array([])
    big = [int(a) for a in areas if a > psf_area_px]
    summary = {"method": f"8 flips/rotations of the YX plane; map = sqrt(box{window}(spread^2) / box{window}(a*mean+b)); "
                         f"flagged where > {threshold:g}", "median_ratio": float(np.median(ratio)),
               "p99_ratio": float(np.percentile(ratio, 99)), "flagged_fraction": float((ratio > threshold).mean()),
               "regions_flagged": len(big), "noise_model": noise.to_dict()}
    warnings = []
    if big:
        warnings.append(f"The model's answer changes with the image's orientation by more than the noise level over "
                        f"{100 * summary['flagged_fraction']:.1f}% of the image ({len(big)} region(s) larger than the "
                        "PSF): it is inventing structure there, not reading it from the data (see disagreement.tif). "
                        "Compare with a classical result or train on this image (Noise2Void).")
    return Disagreement(mean=mean, spread=spread, map=ratio, summary=summary, warnings=warnings)


def _detail(x: np.ndarray) -> np.ndarray:
    sigma = (0.0,) * (x.ndim - 2) + (DETAIL_SIGMA, DETAIL_SIGMA)
    return x - ndimage.gaussian_filter(x, sigma)


def _checked(predict, image, prediction, noise, check: str):
    """The input (float32), its noise model (estimated unless given), the result (predicted unless given;
    on the input's grid) and the noise standard deviation at the result."""
    y = np.asarray(image, np.float32)
    noise = noise or estimate_noise(y)
    pred = np.asarray(predict(y) if prediction is None else prediction, np.float32)
    if pred.shape != y.shape:
        raise ValueError(f"The {check} needs a result on the input's grid; got {pred.shape} for {y.shape}.")
    return y, noise, pred, np.sqrt(np.maximum(noise.variance(np.maximum(pred, 0.0)), 1e-12)).astype(np.float32)


def renoise_disagreement(predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *,
                         prediction: np.ndarray | None = None, noise: NoiseModel | None = None,
                         members: int = MEMBERS, seed: int = 0, window: int = WINDOW,
                         threshold: float = UNREPRODUCIBLE_THRESHOLD, area: float = AREA_THRESHOLD) -> Disagreement:
    """Re-noise reproducibility of `predict` (raw image in → result in the image's units, same shape)
    on `image` (..., Y, X): `members` predictions of the re-noised `prediction` (computed if not
    given); returns the mean of the re-predictions, their per-pixel spread, and the map of the local
    non-reproducible detail fraction (0 = the data determine the texture, ≥ 1 = the noise does)."""
    if members < 2:
        raise ValueError(f"members must be at least 2 (the reproducibility compares re-noisings), got {members}.")
    y, noise, pred, sd = _checked(predict, image, prediction, noise, "re-noise check")
    rng = np.random.default_rng(seed)
    again = np.stack([np.asarray(predict(pred + sd * rng.standard_normal(pred.shape, dtype=np.float32)), np.float32)
                      for _ in range(members)])
    detail = np.stack([_detail(a.astype(np.float64)) for a in again])
    total, energy = detail.sum(axis=0), (detail ** 2).sum(axis=0)
    size = (1,) * (y.ndim - 2) + (window, window)
    local_energy = ndimage.uniform_filter(energy, size)
    floor = 1e-12 + 1e-9 * float(energy.mean())  # a flat result has no texture to judge
    rho = (ndimage.uniform_filter(total ** 2, size) - local_energy) / ((members - 1) * local_energy + floor)
    unrepro = np.clip(1.0 - rho, 0.0, 2.0).astype(np.float32)
    whole = float(energy.sum())
    fraction = 0.0 if whole <= floor * energy.size else float(
        np.clip(1.0 - (float((total ** 2).sum()) - whole) / ((members - 1) * whole), 0.0, 2.0))
    flagged = float((unrepro > threshold).mean())
    detail_vs_noise = float(np.sqrt(energy.mean() / members / np.mean(sd.astype(np.float64) ** 2)))
    summary = {"method": f"re-noise reproducibility: {members} predictions of prediction + sqrt(a*prediction+b)*N(0,1); "
                         f"detail = result - gaussian(sigma {DETAIL_SIGMA:g} px); map = 1 - reproducible share of the "
                         f"detail power over {window}x{window} px; flagged where > {threshold:g}; warns when more "
                         f"than {100 * area:g}% of the image is flagged",
               "flagged_fraction": round(flagged, 4), "threshold": threshold, "area_threshold": area,
               "median_map": round(float(np.median(unrepro)), 4), "unreproducible_fraction": round(fraction, 4), "detail_rms_over_noise": round(detail_vs_noise, 4),
               "members": members, "noise_model": noise.to_dict()}
    warnings = []
    if flagged > area:
        warnings.append(f"Invented texture: over {100 * flagged:.0f}% of the image most of the result's fine detail "
                        f"changes when the image is re-noised (in-distribution images: under {100 * area:.0f}%): the "
                        "model reads that texture out of the noise, not the sample (see disagreement.tif; bright = "
                        "not reproducible). Do not read fine texture there as structure: the image is probably unlike the "
                        "model's training data. Way forward: Noise2Void trained on this image (fluorecon train denoise "
                        "--method n2v; Fiji: Denoise › Train on this image…) learns this image instead of the "
                        "training phantoms; where the signal's detail is below the noise its fine detail is not "
                        "determined by the data either (this check says so for it too), so compare at a coarser "
                        "scale or with the classical result.")
    return Disagreement(mean=again.mean(axis=0), spread=again.std(axis=0), map=unrepro, summary=summary,
                        warnings=warnings)


def _regions(mask: np.ndarray, psf_area_px: float, score: np.ndarray) -> list[dict]:
    labels, n = ndimage.label(mask)
    if n == 0:
        return []
    idx = np.arange(1, n + 1)
    areas = ndimage.sum_labels(np.ones(mask.shape), labels, idx)
    peaks = ndimage.maximum(score, labels, idx)
    centres = ndimage.center_of_mass(mask, labels, idx)
    big = [(int(a), float(pk), [int(round(c)) for c in ctr]) for a, pk, ctr in zip(areas, peaks, centres)
           if a > psf_area_px]
    return [{"area_px": a, "peak": round(pk, 4), "centre": c} for a, pk, c in sorted(big, reverse=True)]


def invented_detail(predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *,
                    prediction: np.ndarray | None = None, noise: NoiseModel | None = None, pairs: int = PAIRS,
                    seed: int = 0, window: int = WINDOW, threshold: float = INVENTED_THRESHOLD,
                    psf_area_px: float = 4.4) -> Disagreement:
    """Per-pixel map of the result's fine detail that the data do not determine, in units of the noise
    variance (``invented.tif``).

    Re-noising the *result* (:func:`renoise_disagreement`) feeds the model its own invented texture as
    if it were signal, so strong worms come back and score as reproducible. Here the *input* is split
    instead (recorrupted pairs, as in Recorrupted-to-Recorrupted, Pang et al. 2021): with
    ``z ~ N(0, a·result + b)``, ``image + z`` and ``image − z`` carry uncorrelated (Gaussian:
    independent) noise of twice the variance over the same signal. Detail the signal sets is in both
    predictions; detail read out of the noise is not. Per pixel, over ``window``² pixels: ρ = local
    correlation of the two predictions' fine detail (result − Gaussian σ ``DETAIL_SIGMA``; summed over
    ``pairs``), map = (1 − ρ)·box(h²)/box(var) with h the checked result's fine detail: how much of
    the result's detail power is not reproducible, relative to the noise. 0 = no fine detail or all of it
    reproducible. Connected regions above ``threshold`` larger than ``psf_area_px`` are listed. Returns the
    result as ``mean`` and the noise standard deviation at it as ``spread``."""
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1 (each pair is two predictions), got {pairs}.")
    y, noise, pred, sd = _checked(predict, image, prediction, noise, "invented-detail check")
    var = sd.astype(np.float64) ** 2
    rng = np.random.default_rng(seed)
    size = (1,) * (y.ndim - 2) + (window, window)
    cross = np.zeros(y.shape)
    power1 = np.zeros(y.shape)
    power2 = np.zeros(y.shape)
    for _ in range(pairs):
        z = sd * rng.standard_normal(y.shape, dtype=np.float32)
        h1 = _detail(np.asarray(predict(y + z), np.float64))
        h2 = _detail(np.asarray(predict(y - z), np.float64))
        cross += h1 * h2
        power1 += h1 ** 2
        power2 += h2 ** 2
    cross, power1, power2 = (ndimage.uniform_filter(v, size) for v in (cross, power1, power2))
    rho = np.clip(cross / np.sqrt(power1 * power2 + 1e-24), 0.0, 1.0)
    h = _detail(pred.astype(np.float64))
    invented = ((1.0 - rho) * ndimage.uniform_filter(h ** 2, size) /
                ndimage.uniform_filter(var, size)).astype(np.float32)
    regions = _regions(invented > threshold, psf_area_px, invented)
    summary = {"method": f"{pairs} recorrupted pair(s) image +/- z, z ~ N(0, a*result+b); map = (1 - local correlation "
                         f"of the pair's fine detail) * box{window}(detail^2) / box{window}(a*result+b), detail = "
                         f"result - gaussian(sigma {DETAIL_SIGMA:g} px); marked where > {threshold:g}",
               "threshold": threshold, "marked_fraction": round(float((invented > threshold).mean()), 4),
               "p99": round(float(np.percentile(invented, 99)), 4), "max": round(float(invented.max()), 4),
               "psf_area_px": round(float(psf_area_px), 2), "regions": len(regions),
               "largest_regions": regions[:5], "pairs": pairs}
    return Disagreement(mean=pred, spread=sd, map=invented,
                        summary=summary)


def add_to_report(report, predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, result: np.ndarray, *,
                  noise: NoiseModel | None = None, psf_area_px: float = 4.4) -> Disagreement:
    """Run :func:`renoise_disagreement` and :func:`invented_detail` for a checked result (a QCReport from
    fluorecon.qc.report): the maps become ``report.disagreement`` and ``report.invented`` (written as
    disagreement.tif and invented.tif), the figures ``report.summary["disagreement"]`` and
    ``["invented"]``, and the warnings join ``report.warnings``. Where invented texture lies is named
    (regions of invented.tif larger than the PSF) only when the whole-image check warns: the region
    threshold alone would also mark fine real structure the model resolves in distribution
    (bench/disagreement.py, `in_distribution.invented_regions`)."""
    d = renoise_disagreement(predict, image, prediction=result, noise=noise)
    inv = invented_detail(predict, image, prediction=result, noise=noise, psf_area_px=psf_area_px)
    report.disagreement = d.map
    report.invented = inv.map
    report.summary["disagreement"] = d.summary
    report.summary["invented"] = inv.summary
    report.warnings += d.warnings
    regions = inv.summary["largest_regions"]
    if d.warnings and regions:
        where = ", ".join(f"{r['area_px']} px at (y, x) = ({r['centre'][-2]}, {r['centre'][-1]})" for r in regions[:3])
        report.warnings.append(f"Invented texture marked in {inv.summary['regions']} region(s) larger than the PSF "
                               f"(invented.tif: fine detail a second noise draw does not reproduce, above "
                               f"{inv.summary['threshold']:g} of the noise variance); largest: {where}.")
    return d


def add_for_denoiser(report, predictor, image: np.ndarray, result: np.ndarray, *, axes: str,
                     tile=None) -> Disagreement | None:
    """The check every denoiser result gets (`predict --qc`, `qc --model`, the server's qc job):
    :func:`add_to_report` with `predictor` (fluorecon.infer.Predictor) on one YX plane or ZYX stack
    of the input's size; None (nothing added) for other tasks or shapes, and for 3D models (the
    thresholds are calibrated on a 2D model; a 2D model on a ZYX stack is checked plane by plane)."""
    if (predictor.card.task != "denoise" or predictor.card.ndim != 2 or np.shape(image) != np.shape(result)
            or axes not in ("YX", "ZYX")):
        return None
    from fluorecon.qc.report import psf_area_px

    return add_to_report(report, lambda x: predictor.predict(x, axes=axes, tile=tile), image, result,
                         psf_area_px=psf_area_px(predictor.card))
