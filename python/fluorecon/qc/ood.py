"""Out-of-distribution warnings: compare an input with the training statistics in the model card.

A network asked to restore an image unlike its training data can still return a confident-looking
result (Belthangady & Royer 2019, "generalization"). Before trusting a result, fluorecon compares
the input with what the model saw in training, all stored in the card under ``qc.*``:

- the intensity scale (log10 of the raw 1–99.8 percentile range, camera units): an image 1000×
  brighter than anything in training is flagged even though the normalized input looks the same,
- the noise level in normalized units (Poisson–Gaussian estimate, qc/noise_estimate.py),
- the intensity distribution after the model's own normalization (quantiles),
- the structure / texture: the share of the image's signal power (white noise floor removed) in
  spatial-frequency bands and the power-spectrum slope; diffuse cytoplasm, filaments, vesicles and
  nuclei, and the same specimen at another pixel size, differ here,
- the scale in pixels: where the signal spectrum falls into the noise floor (moments of the whitened
  spectrum, set by the PSF and the finest structures in pixels: ×2 or ×0.5 the pixel size, ×3 larger
  structures), and the structure tensor's orientation coherence (filaments are line-like, vesicles not),
- the pixel size, when the image is calibrated (a model trained at 100 nm sees structures twice as
  large at 50 nm).

Each feature becomes a z-score against the training inputs (``qc.feature_center`` /
``qc.feature_scale``), and the z-vector a Mahalanobis distance (``qc.feature_precision``: the
inverse of the features' correlation matrix, shrunk towards the identity). The input is flagged
when the distance exceeds ``qc.feature_threshold``, calibrated on a second, held-out set of
simulated training inputs (``THRESHOLD_MARGIN`` × the largest of their distances, at least 4); the
warning names the group of features that strays furthest.
Cards written before these keys existed fall back to the quantile and noise checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from fluorecon.core.normalize import normalize, parse_norm, percentile_range
from fluorecon.qc.noise_estimate import estimate_noise

QUANTILES = (1, 5, 25, 50, 75, 95, 99)
QUANTILE_TOLERANCE = 0.15
NOISE_RATIO_RANGE = (0.5, 2.0)
PIXEL_SIZE_TOLERANCE = 0.2
#: What an out-of-distribution warning offers instead (fluorecon.tasks.denoise.like; the Fiji plugin shows the server's text).
WAY_FORWARD = ("Train for this microscope: fit the simulation to this image and fine-tune the model (fluorecon train "
               "denoise --like IMAGE; Fiji: Denoise › Train for my microscope…), or train Noise2Void on this image.")


@dataclass
class OODReport:
    """Warnings in words, and the figures behind them."""

    warnings: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def in_distribution(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict:
        return {"in_distribution": self.in_distribution, "warnings": self.warnings, "scores": self.scores}


def _fmt(values) -> str:
    return ",".join(f"{v:.6g}" for v in values)


def _parse(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.split(",")], dtype=np.float64)


def _norm_percentiles(norm: str) -> tuple[float, float]:
    """The card's percentile pair; SMLM cards (``photons:…``) are judged on the 1/99.8 percentiles."""
    try:
        return parse_norm(norm)
    except ValueError:
        return 1.0, 99.8


def image_statistics(image: np.ndarray, norm: str) -> tuple[np.ndarray, float]:
    """Normalized-intensity quantiles and noise standard deviation (normalized units) of one image."""
    image = np.asarray(image, dtype=np.float32)
    lo, hi = percentile_range(image, *_norm_percentiles(norm))
    planes = image.reshape((-1,) + image.shape[-2:])
    if planes.size > _MAX_PIXELS:  # a large unit: its windows, as image_features
        planes = _windows(planes)
    quantiles = np.percentile(normalize(planes, lo, hi), QUANTILES)
    model = estimate_noise(planes)
    noise = float(np.sqrt(model.variance(np.median(planes)))) / max(hi - lo, 1e-6)
    return quantiles, noise


# --- features (version 2) -------------------------------------------------------------------

#: Spatial-frequency bands (cycles per pixel) whose share of the signal power describes structure.
BANDS = ((0.01, 0.03), (0.03, 0.06), (0.06, 0.12), (0.12, 0.25))
FEATURE_QUANTILES = (5, 25, 50, 75, 95)
#: Feature name → (group shown in the warning, smallest robust scale: a floor for near-constant features).
FEATURES: dict[str, tuple[str, float]] = {
    "log10_range": ("intensity scale", 0.05),
    "log10_noise": ("noise level", 0.03),
    **{f"q{q}": ("intensity distribution", 0.02) for q in FEATURE_QUANTILES},
    **{f"band_{lo:g}_{hi:g}": ("structure", 0.05) for lo, hi in BANDS},
    "spectral_slope": ("structure", 0.1),
    **{f"acf_{k}px": ("structure", 0.02) for k in (1, 2, 4, 8, 16)},
    **{f"log10_gradient_s{s:g}": ("structure", 0.05) for s in (1.0, 2.0)},
    **{f"log10_{m}_s{s:g}": ("structure", 0.02) for s in (1.0, 1.5) for m in ("freq2", "freq4_freq2")},
    "log10_high_mid": ("structure", 0.05),
    "coherence_r4": ("structure", 0.02),
}
#: Smoothing scales (px) of the spectral moments. How fast the signal spectrum falls is set by the PSF and the
#: finest structures *in pixels*: another pixel size or structure scale moves these even when the varied mix of
#: phantoms hides it in the band shares.
MOMENT_SIGMAS = (1.0, 1.5)
#: Added to the whitened signal spectrum (units of the noise floor) so that a nearly empty field gives the moments
#: of a flat spectrum instead of ratios of noise (a sparse vesicle field blew a log ratio up to −250 SD).
MOMENT_FLOOR = 0.02
#: Radial bin width (cycles/px) of the whitened spectrum; each bin is averaged and clipped at zero before use.
PROFILE_BIN = 0.01
#: Integration scale (px) of the structure tensor: over 4 px a filament keeps its orientation, a vesicle's
#: rim (radius 2–8 px) turns, so line-like and blob-like specimens differ in coherence.
COHERENCE_RHO = 4.0
SHRINKAGE = 0.1
THRESHOLD_MIN = 4.0
#: Threshold = this × the largest held-out distance. 1.25 left ×2 / ×0.5 pixel sizes undetected at ≤ 1.1× the
#: held-out maximum; at 1.1 no fresh in-distribution input of the 2D denoiser was flagged in bench/ood.py's runs.
THRESHOLD_MARGIN = 1.1
_MAX_PLANES = 16
#: A unit with more pixels than one 2048² plane is examined on windows of ``_WINDOW``² (at most ``_MAX_PLANES``,
#: evenly spread), so the check costs at most what a 2048² plane costs: on an 8192² plane the whole-plane FFTs and
#: sorts took 76 s and 3 GiB in Fiji, as long as the model itself. Training inputs (256²) are far below it.
_MAX_PIXELS = 2048 * 2048
_WINDOW = 512


def _radial_spectrum(planes: np.ndarray, noise_var: float, clip_each: bool
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Radius (cycles/px), mean power spectrum (Hann-windowed) of YX planes, that spectrum less the white-noise
    floor and clipped at zero, and the window, from one FFT per plane. With `clip_each` (windows of one large
    plane) each plane's spectrum is clipped before the mean, which then keeps the bias of a single plane's
    periodogram (the training inputs are single planes); pooled before the floor is removed, the high band of a
    2176² field moved 5 SD."""
    ny, nx = planes.shape[-2:]
    window = np.outer(np.hanning(ny), np.hanning(nx))
    floor = noise_var * float(np.sum(window ** 2))
    power = np.zeros((ny, nx))
    clipped = np.zeros((ny, nx))
    for plane in planes:
        p = np.abs(np.fft.fft2((plane - plane.mean()) * window)) ** 2
        power += p
        if clip_each:
            clipped += np.maximum(p - floor, 0.0)
    power /= len(planes)
    clipped = clipped / len(planes) if clip_each else np.maximum(power - floor, 0.0)
    fy = np.fft.fftfreq(ny)[:, None]
    fx = np.fft.fftfreq(nx)[None, :]
    radius = np.sqrt(fy ** 2 + fx ** 2)
    return radius.ravel(), power.ravel(), clipped.ravel(), window


def _windows(planes: np.ndarray) -> np.ndarray:
    """``_WINDOW``² windows of (N, Y, X) planes: a grid of ceil(Y / W) × ceil(X / W) per plane at evenly spaced
    (rounded) offsets, then at most ``_MAX_PLANES`` of all windows in (plane, row, column) order, evenly spaced."""
    ny, nx = planes.shape[-2:]
    wy, wx = min(_WINDOW, ny), min(_WINDOW, nx)
    ys = np.linspace(0, ny - wy, -(-ny // wy)).round().astype(int)
    xs = np.linspace(0, nx - wx, -(-nx // wx)).round().astype(int)
    per_plane = len(ys) * len(xs)
    n = len(planes) * per_plane
    out = []
    for i in np.linspace(0, n - 1, min(n, _MAX_PLANES)).round().astype(int):
        p, r = divmod(int(i), per_plane)
        y, x = ys[r // len(xs)], xs[r % len(xs)]
        out.append(planes[p, y:y + wy, x:x + wx])
    return np.stack(out)


def _whitened_profile(radius: np.ndarray, power: np.ndarray, floor: float) -> np.ndarray:
    """Signal power over the noise floor per pixel of the spectrum, averaged in radial bins of ``PROFILE_BIN``
    and clipped at zero (a per-frequency value fluctuates by 100 %; a bin's mean does not)."""
    bins = np.minimum((radius / PROFILE_BIN).astype(int), int(0.75 / PROFILE_BIN))
    white = power / max(floor, 1e-30) - 1.0
    sums = np.bincount(bins, white, minlength=bins.max() + 1)
    counts = np.bincount(bins, minlength=bins.max() + 1)
    return np.maximum(sums / np.maximum(counts, 1), 0.0)[bins]


def image_features(image: np.ndarray, norm: str) -> dict[str, float]:
    """The OOD features (``FEATURES``) of one model input: a (Y, X) plane, or a stack (..., Y, X)
    whose planes are pooled (a ZYX volume, or the channels a multi-channel model takes together). Long stacks
    are examined on ``_MAX_PLANES`` evenly spaced planes, units above ``_MAX_PIXELS`` on ``_windows`` of them;
    the intensity range always comes from the whole unit (subsampled as the normalization's)."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim < 2:
        raise ValueError(f"OOD features need an image with Y and X axes, got shape {image.shape}.")
    planes = image.reshape((-1,) + image.shape[-2:])
    if len(planes) > _MAX_PLANES:  # a long stack: evenly spaced planes describe it
        planes = planes[np.linspace(0, len(planes) - 1, _MAX_PLANES).round().astype(int)]
    windowed = planes.size > _MAX_PIXELS
    if windowed:
        planes = _windows(planes)
    lo, hi = percentile_range(image, *_norm_percentiles(norm))
    scale = max(hi - lo, 1e-6)
    noise = estimate_noise(planes)
    sigma_median = float(np.sqrt(noise.variance(np.median(planes)))) / scale
    feats = {"log10_range": float(np.log10(scale)), "log10_noise": float(np.log10(max(sigma_median, 1e-6)))}
    xn = (planes - np.float32(lo)) / np.float32(scale)
    for q, v in zip(FEATURE_QUANTILES, np.percentile(xn, FEATURE_QUANTILES)):
        feats[f"q{q}"] = float(v)
    noise_var = float(np.mean(noise.variance(planes))) / scale ** 2
    radius, raw_power, power, window = _radial_spectrum(xn.astype(np.float64), noise_var, clip_each=windowed)
    inside = (radius >= BANDS[0][0]) & (radius < BANDS[-1][1])
    total = max(float(power[inside].sum()), 1e-12)
    for lo_f, hi_f in BANDS:
        share = float(power[(radius >= lo_f) & (radius < hi_f)].sum()) / total
        feats[f"band_{lo_f:g}_{hi_f:g}"] = float(np.log10(max(share, 1e-4)))
    # Slope of log power against log frequency between 0.02 and 0.2 cycles/pixel (binned).
    edges = np.geomspace(0.02, 0.2, 9)
    fx, py = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (radius >= a) & (radius < b)
        if sel.any():
            fx.append(np.log10(np.sqrt(a * b)))
            py.append(np.log10(max(float(power[sel].mean()), 1e-12)))
    feats["spectral_slope"] = float(np.polyfit(fx, py, 1)[0]) if len(fx) >= 2 else 0.0
    # Signal autocorrelation (the white noise only adds to lag 0) at lags of 1–16 pixels, and the
    # gradient energy of the smoothed image relative to its variance: the structures' size in pixels.
    acf = np.zeros(planes.shape[-2:])
    grads = {1.0: 0.0, 2.0: 0.0}
    tensor = [0.0, 0.0]  # Σ (λ1 − λ2), Σ (λ1 + λ2) of the structure tensor
    for plane in xn.astype(np.float64):
        x = plane - plane.mean()
        acf += np.real(np.fft.ifft2(np.abs(np.fft.fft2(x)) ** 2)) / x.size
        for s in grads:
            g = ndimage.gaussian_filter(plane, s)
            gy, gx = np.gradient(g)
            grads[s] += float(np.mean(gy ** 2 + gx ** 2)) / max(float(g.var()), 1e-12)
            if s == 1.0:
                jyy, jxx, jxy = (ndimage.gaussian_filter(v, COHERENCE_RHO) for v in (gy * gy, gx * gx, gy * gx))
                tensor[0] += float(np.sum(np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2)))
                tensor[1] += float(np.sum(jxx + jyy))
    acf /= len(xn)
    signal_var = max(float(acf[0, 0]) - noise_var, 1e-12)
    for k in (1, 2, 4, 8, 16):
        k_y, k_x = min(k, acf.shape[0] - 1), min(k, acf.shape[1] - 1)
        feats[f"acf_{k}px"] = float(np.clip((acf[k_y, 0] + acf[0, k_x]) / 2 / signal_var, -2, 2))
    for s, v in grads.items():
        feats[f"log10_gradient_s{s:g}"] = float(np.log10(max(v / len(xn), 1e-12)))
    # Where the signal spectrum falls into the noise: moments of the whitened spectrum (noise floor from the
    # noise model under the window, pixel by pixel: Poisson noise is larger on the structures) under a Gaussian
    # taper, i.e. the energy of the smoothed image's 1st and 2nd derivatives relative to its own.
    floor = float(np.mean([np.sum(window ** 2 * noise.variance(p)) for p in planes])) / scale ** 2
    white = _whitened_profile(radius, raw_power, floor) + MOMENT_FLOOR
    w2 = (2 * np.pi * radius) ** 2
    for s in MOMENT_SIGMAS:
        taper = np.exp(-w2 * s ** 2) * white
        m0, m1, m2 = (float(np.sum(w2 ** k * taper)) for k in range(3))
        feats[f"log10_freq2_s{s:g}"] = float(np.log10(m1 / m0))
        feats[f"log10_freq4_freq2_s{s:g}"] = float(np.log10(m2 / m1))
    high, mid = (float(white[band].mean()) if band.any() else MOMENT_FLOOR  # a tiny plane: no pixel in the band
                 for band in ((radius >= 0.2) & (radius < 0.3), (radius >= 0.05) & (radius < 0.1)))
    feats["log10_high_mid"] = float(np.log10(high / mid))
    # Orientation coherence of the structure tensor (gradients at 1 px, integrated over COHERENCE_RHO), energy-weighted.
    feats["coherence_r4"] = tensor[0] / max(tensor[1], 1e-12)
    return feats


def _zscores(feats: dict[str, float], names: list[str], center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.array([(feats[n] - c) / s for n, c, s in zip(names, center, scale)])


def _distance(z: np.ndarray, precision: np.ndarray) -> float:
    return float(np.sqrt(max(float(z @ precision @ z), 0.0)))


def feature_statistics(images: list[np.ndarray], *, norm: str, calibration: list[np.ndarray] | None = None,
                       exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """``qc.feature_*`` entries: mean and standard deviation of each feature over `images`, the
    inverse of their correlation matrix (shrunk towards the identity by ``SHRINKAGE``), and the
    threshold on the Mahalanobis distance calibrated on `calibration` (held-out inputs from the
    same distribution; without them the second half of `images` is held out)."""
    if calibration is None:
        if len(images) < 8:
            raise ValueError(f"Need at least 8 training inputs to calibrate the OOD check, got {len(images)}.")
        images, calibration = images[: len(images) // 2], images[len(images) // 2:]
    names = [n for n in FEATURES if n not in exclude]
    ref = np.array([[f[n] for n in names] for f in (image_features(im, norm) for im in images)])
    center = ref.mean(axis=0)
    floor = np.array([FEATURES[n][1] for n in names])
    scale = np.maximum(ref.std(axis=0), floor)
    corr = np.atleast_2d(np.cov(((ref - center) / scale).T))
    precision = np.linalg.inv((1 - SHRINKAGE) * corr + SHRINKAGE * np.eye(len(names)))
    cal = [_distance(_zscores(image_features(im, norm), names, center, scale), precision) for im in calibration]
    threshold = max(THRESHOLD_MIN, THRESHOLD_MARGIN * float(np.max(cal)))
    return {"features": ",".join(names), "feature_center": _fmt(center), "feature_scale": _fmt(scale),
            "feature_precision": _fmt(precision.ravel()), "feature_threshold": f"{threshold:.4g}",
            "feature_calibration": f"Mahalanobis distance over {len(names)} features; {len(images)} reference + "
                                   f"{len(calibration)} held-out inputs; threshold {THRESHOLD_MARGIN:g} x the held-out maximum "
                                   f"(held-out median {np.median(cal):.3g}, max {np.max(cal):.3g})"}


def training_statistics(images: list[np.ndarray], *, norm: str, pixel_size_nm: float | None = None,
                        calibration: list[np.ndarray] | None = None, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """The ``qc.*`` card entries for a set of raw training inputs: quantiles and noise, and, given a
    held-out `calibration` set from the same distribution, the calibrated features (as
    scripts/add_qc_stats.py does for the shipped models)."""
    stats = [image_statistics(im, norm) for im in images]
    out = {
        "input_quantiles": _fmt(np.mean([q for q, _ in stats], axis=0)),
        "quantile_levels": _fmt(QUANTILES),
        "noise_std_norm": f"{float(np.median([n for _, n in stats])):.6g}",
    }
    if pixel_size_nm:
        out["pixel_size_nm"] = f"{pixel_size_nm:.6g}"
    if calibration is not None:
        out.update(feature_statistics(images, norm=norm, calibration=calibration, exclude=exclude))
    return out


_ADVICE = {
    "intensity scale": "the camera, gain or exposure differs from training (e.g. far brighter); "
                       "the model was trained on other photon counts",
    "noise level": "the model may remove real structure or leave noise",
    "intensity distribution": "e.g. much more background or saturated regions than in training",
    "structure": "the texture (spatial-frequency content) is unlike the training phantoms (filaments, vesicles, "
                 "membranes, nuclei at the training pixel size): the model may invent or remove structure",
}


def check_input(image: np.ndarray, qc: dict[str, str], *, norm: str, pixel_size_nm: float | None = None) -> OODReport:
    """Compare one raw input with a card's ``qc`` statistics; the report says what differs and by how much."""
    report = OODReport()
    if "input_quantiles" not in qc and "features" not in qc:
        report.warnings.append("The model card has no training statistics; this input cannot be checked "
                               "against the training data (re-export the model with fluorecon ≥ 0.1).")
        return report
    if "features" in qc:
        names = qc["features"].split(",")
        center, scale = _parse(qc["feature_center"]), _parse(qc["feature_scale"])
        threshold = float(qc["feature_threshold"])
        feats = image_features(image, norm)
        z = _zscores(feats, names, center, scale)
        precision = _parse(qc["feature_precision"]).reshape(len(names), len(names))
        distance = _distance(z, precision)
        report.scores["distance"] = distance
        report.scores["threshold"] = threshold
        groups: dict[str, list[tuple[str, float]]] = {}
        for n, v in zip(names, z):
            report.scores[f"z.{n}"] = float(v)
            if distance > threshold:
                groups.setdefault(FEATURES.get(n, ("other", 0))[0], []).append((n, float(v)))
        if "input_quantiles" in qc:  # the older figures, for reference (the distance decides)
            quantiles, noise = image_statistics(image, norm)
            report.scores["quantile_shift"] = float(np.max(np.abs(quantiles - _parse(qc["input_quantiles"]))))
            report.scores["noise_ratio"] = noise / max(float(qc.get("noise_std_norm", "nan")), 1e-12)
        # Name every group with a feature 3 SD or more off (and always the one that strays furthest).
        top = max((abs(v) for items in groups.values() for _, v in items), default=0.0)
        groups = {g: items for g, items in groups.items() if max(abs(v) for _, v in items) >= min(3.0, top)}
        for group, items in groups.items():
            n, v = max(items, key=lambda t: abs(t[1]))
            detail = (f"distance {distance:.1f} > {threshold:.2g} from the training inputs; largest: {n} "
                      f"{'above' if v > 0 else 'below'} the training mean by {abs(v):.1f} SD")
            if n == "log10_range":
                detail += f"; intensity range {10 ** feats[n]:.4g} vs training {10 ** center[names.index(n)]:.4g}"
            if n == "log10_noise":
                detail += f"; noise {10 ** (feats[n] - center[names.index(n)]):.2f}× that of training"
            report.warnings.append(f"{group[0].upper() + group[1:]} differs from the training data ({detail}): "
                                   f"{_ADVICE.get(group, '')}. {WAY_FORWARD}")
    else:
        quantiles, noise = image_statistics(image, norm)
        train_q = _parse(qc["input_quantiles"])
        shift = float(np.max(np.abs(quantiles - train_q)))
        report.scores["quantile_shift"] = shift
        if shift > QUANTILE_TOLERANCE:
            report.warnings.append(f"Intensity distribution differs from the training data (normalized quantiles "
                                   f"differ by up to {shift:.2f}, tolerance {QUANTILE_TOLERANCE}); e.g. much more "
                                   "background or saturated regions than in training.")
        if "noise_std_norm" in qc:
            ratio = noise / max(float(qc["noise_std_norm"]), 1e-12)
            report.scores["noise_ratio"] = ratio
            if not NOISE_RATIO_RANGE[0] <= ratio <= NOISE_RATIO_RANGE[1]:
                report.warnings.append(f"Noise level is {ratio:.2f}× that of the training data (accepted "
                                       f"{NOISE_RATIO_RANGE[0]}–{NOISE_RATIO_RANGE[1]}×); the model may remove real "
                                       "structure or leave noise. " + WAY_FORWARD)
    if pixel_size_nm and "pixel_size_nm" in qc:
        rel = pixel_size_nm / float(qc["pixel_size_nm"])
        report.scores["pixel_size_ratio"] = rel
        if abs(rel - 1) > PIXEL_SIZE_TOLERANCE:
            report.warnings.append(f"Pixel size {pixel_size_nm:g} nm differs from training ({qc['pixel_size_nm']} nm) "
                                   f"by {abs(rel - 1) * 100:.0f}%; structures appear at another scale than the model learned.")
    return report


def ensemble_disagreement(predictions: np.ndarray, *, noise_std: float) -> tuple[np.ndarray, float]:
    """Per-pixel spread of K ensemble predictions (K, ...) and its median relative to the noise level.

    Members trained from different seeds agree where the data determine the answer and disagree
    where they guess (Lakshminarayanan et al. 2017)."""
    spread = np.asarray(predictions, dtype=np.float32).std(axis=0)
    return spread, float(np.median(spread) / max(noise_std, 1e-12))
