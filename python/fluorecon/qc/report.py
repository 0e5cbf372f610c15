"""Check a result against the measurement it came from: consistency map, uncertainty, OOD warnings.

Method (documented in qc.json under ``method``):

1. The Poisson–Gaussian noise model ``var = a·mean + b`` is estimated from the INPUT alone
   (fluorecon.qc.noise_estimate; Foi et al. 2008, simplified), unless given.
2. The predicted measurement is the result itself for denoising, or ``A(result)`` when a forward
   model (``physics``, e.g. a blur) is given for deconvolution / super-resolution.
3. ``consistency = (input − predicted) / sqrt(a·predicted + b)``: standard normal white noise where
   the result explains the data. Removed structure leaves positive blobs, invented structure
   negative ones.
4. A local score, ``local = box_mean(consistency) · sqrt(window volume)``, is again N(0, 1) under
   white noise and grows like sqrt(area) for a structure of constant sign: this is the map that
   marks removed or invented structure (|local| > 4 is flagged).
5. Whiteness: the lag-1 autocorrelation of ``consistency`` along each axis (≈ 0 ± 1/sqrt(N) for
   white noise); a denoiser that smooths away real detail or copies noise moves it.
6. Out-of-distribution checks (fluorecon.qc.ood) compare the input with the model card's ``qc.*``
   statistics; their warnings, with reasons, go into qc.json and the CLI output.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise

LOCAL_WINDOW = 7
LOCAL_THRESHOLD = 4.0
#: A connected flagged region warns, whatever its share of the image, when it covers more than the
#: PSF's area and its peak |local| exceeds this (|local| > 4 alone occurs in pure noise on large
#: images; > 5.5 has a per-pixel chance of 4e-8 under white noise).
REGION_PEAK = 5.5
METHOD = ("consistency = (input - A(result)) / sqrt(a*A(result) + b), A = identity for denoising; "
          "a, b: Poisson-Gaussian model estimated from the input (fluorecon.qc.noise_estimate, after Foi et al. 2008); "
          f"local = box mean of consistency over {LOCAL_WINDOW}^n pixels times sqrt({LOCAL_WINDOW}^n), "
          f"flagged where |local| > {LOCAL_THRESHOLD}; whiteness = lag-1 autocorrelation per axis; "
          "OOD: fluorecon.qc.ood against the model card's qc.* statistics")


@dataclass
class QCReport:
    """Maps and figures of one checked result; :meth:`write` saves them."""

    consistency: np.ndarray
    local: np.ndarray
    uncertainty: np.ndarray | None = None
    disagreement: np.ndarray | None = None  # re-noise reproducibility map (fluorecon.qc.disagreement)
    invented: np.ndarray | None = None  # invented-detail map (fluorecon.qc.disagreement.invented_detail)
    summary: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**self.summary, "warnings": self.warnings}

    def write(self, out_dir: str | os.PathLike, meta=None) -> Path:
        """Write DIR/consistency.tif, DIR/consistency_local.tif, DIR/uncertainty.tif, disagreement.tif and
        invented.tif (when available) and DIR/qc.json; `meta` (TiffMeta) carries the calibration."""
        from fluorecon.core.io import TiffMeta, write_tiff

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if meta is None:
            meta = TiffMeta(axes="YX" if self.consistency.ndim == 2 else "ZYX")
        info = "fluorecon qc: " + METHOD
        write_tiff(out / "consistency.tif", self.consistency, meta, info=info)
        write_tiff(out / "consistency_local.tif", self.local, meta, info=info)
        if self.uncertainty is not None:
            write_tiff(out / "uncertainty.tif", self.uncertainty.astype(np.float32), meta,
                       info="fluorecon qc: per-pixel uncertainty (Laplace scale or ensemble spread), input units")
        if self.disagreement is not None:
            write_tiff(out / "disagreement.tif", self.disagreement.astype(np.float32), meta,
                       info="fluorecon qc: non-reproducible share of the result's fine detail under re-noising "
                            "(0 = read from the data, >= 1 = read from the noise; fluorecon.qc.disagreement)")
        if self.invented is not None:
            write_tiff(out / "invented.tif", self.invented.astype(np.float32), meta,
                       info="fluorecon qc: power of the result's fine detail that an independent noise draw does not "
                            "reproduce, in units of the noise variance (0 = none; fluorecon.qc.disagreement."
                            "invented_detail)")
        (out / "qc.json").write_text(json.dumps(self.to_dict(), indent=2))
        return out


def standardized_residual(image: np.ndarray, result: np.ndarray, *, noise: NoiseModel, physics=None) -> np.ndarray:
    """``(image − A(result)) / sqrt(noise.variance(A(result)))``, float32 (A = identity without physics)."""
    y = np.asarray(image, np.float32)
    predicted = np.asarray(result, np.float32)
    if physics is not None:
        import torch

        predicted = physics.A(torch.as_tensor(predicted)).cpu().numpy().astype(np.float32)
    if predicted.shape != y.shape:
        raise ValueError(f"The result (shape {predicted.shape}{' after the forward model' if physics else ''}) "
                         f"does not match the input (shape {y.shape}); give the input the result was made from.")
    return ((y - predicted) / np.sqrt(noise.variance(predicted))).astype(np.float32)


def local_deviation(consistency: np.ndarray, *, window: int = LOCAL_WINDOW) -> np.ndarray:
    """Box mean of the standardised residual times sqrt(window volume): N(0, 1) where it is white."""
    z = np.asarray(consistency, np.float32)
    return (ndimage.uniform_filter(z, window, mode="reflect") * np.sqrt(float(window) ** z.ndim)).astype(np.float32)


def psf_area_px(card=None) -> float:
    """Area (pixels) of the PSF's half-maximum disc: from the card's recorded PSF (Gaussian
    approximation σ = 0.21 λ / NA) when it has one, else σ = 1 pixel."""
    import json

    sigma = 1.0
    if card is not None and "psf" in card.train:
        try:
            p = json.loads(card.train["psf"])
            sigma = 0.21 * p["wavelength_nm"] / p["na"] / p["pixel_size_nm"]
        except (ValueError, KeyError, TypeError):
            pass
    return float(np.pi * (1.1774 * sigma) ** 2)


def flagged_regions(local: np.ndarray, *, psf_area_px: float, peak: float = REGION_PEAK) -> list[dict]:
    """Connected regions of |local| > LOCAL_THRESHOLD larger than the PSF whose peak exceeds `peak`."""
    labels, n = ndimage.label(np.abs(local) > LOCAL_THRESHOLD)
    out = []
    if n == 0:
        return out
    idx = np.arange(1, n + 1)
    areas = ndimage.sum_labels(np.ones_like(local), labels, idx)
    peaks = ndimage.maximum(np.abs(local), labels, idx)
    for i, area, pk in zip(idx, areas, peaks):
        if area > psf_area_px and pk > peak:
            where = np.argwhere(labels == i)
            centre = [int(v) for v in where.mean(axis=0).round()]
            sign = float(np.sign(local[tuple(where[np.argmax(np.abs(local[labels == i]))])]))
            out.append({"area_px": int(area), "peak_abs_local": float(pk), "centre": centre, "sign": sign})
    return out


def lag1_autocorrelation(consistency: np.ndarray) -> list[float]:
    """Lag-1 autocorrelation of the (centred) map along each axis."""
    z = np.asarray(consistency, np.float64)
    z = z - z.mean()
    denom = max(float(np.mean(z * z)), 1e-12)
    out = []
    for axis in range(z.ndim):
        a = np.take(z, np.arange(z.shape[axis] - 1), axis=axis)
        b = np.take(z, np.arange(1, z.shape[axis]), axis=axis)
        out.append(float(np.mean(a * b) / denom))
    return out


def check_result(input: np.ndarray, result: np.ndarray, *, card=None, uncertainty: np.ndarray | None = None,
                 physics=None, noise: NoiseModel | None = None, pixel_size_nm: float | None = None,
                 out_dir: str | os.PathLike | None = None, meta=None) -> QCReport:
    """Check a result against its raw input (see the module docstring for the method).

    Parameters
    ----------
    input : ndarray (Y, X) or (Z, Y, X)
        The raw measurement (camera units, not normalized).
    result : ndarray
        The reconstruction in the input's units; the input's shape (or, with `physics`, A(result) has it).
    card : ModelCard, optional
        Model that made the result: its ``qc.*`` statistics drive the out-of-distribution checks.
    uncertainty : ndarray, optional
        Per-pixel scale or ensemble spread, written as uncertainty.tif and summarised.
    physics : forward model with ``A``, optional
        For deconvolution / super-resolution; identity (denoising) when None.
    noise : NoiseModel, optional
        Poisson–Gaussian model of the input; estimated from it when None.
    pixel_size_nm : float, optional
        Input pixel size, compared with the card's training pixel size.
    out_dir : path, optional
        Write consistency.tif, consistency_local.tif, uncertainty.tif and qc.json there.

    Returns
    -------
    QCReport
    """
    y = np.asarray(input, np.float32)
    if y.ndim not in (2, 3):
        raise ValueError(f"check_result takes a (Y, X) or (Z, Y, X) input, got shape {y.shape}; "
                         "check one plane or stack at a time.")
    noise = noise or estimate_noise(y)
    z = standardized_residual(y, result, noise=noise, physics=physics)
    local = local_deviation(z)
    flagged = np.abs(local) > LOCAL_THRESHOLD
    summary = {
        "method": METHOD,
        "noise_model": {"a": noise.a, "b": noise.b, "variance": "a*mean + b (ADU^2)"},
        "residual_mean": float(z.mean()),
        "residual_std": float(z.std()),
        "lag1_autocorrelation": lag1_autocorrelation(z),
        "local_max_abs": float(np.abs(local).max()),
        "local_flagged_fraction": float(flagged.mean()),
        "local_threshold": LOCAL_THRESHOLD,
        "local_window": LOCAL_WINDOW,
    }
    warnings: list[str] = []
    if abs(summary["residual_std"] - 1) > 0.3:
        word = "explains the input worse than" if summary["residual_std"] > 1 else "follows the noise more closely than"
        warnings.append(f"The result {word} the noise model allows (standardised residual std "
                        f"{summary['residual_std']:.2f}, expected ≈ 1); see consistency.tif.")
    if summary["local_flagged_fraction"] > 0.01:
        warnings.append(f"{100 * summary['local_flagged_fraction']:.1f}% of pixels disagree locally with the input "
                        f"(|local| > {LOCAL_THRESHOLD:g}): structure was removed or invented there; see consistency_local.tif.")
    regions = flagged_regions(local, psf_area_px=psf_area_px(card))
    summary["regions_flagged"] = regions
    if regions:
        worst = max(regions, key=lambda r: r["peak_abs_local"])
        kind = "invented" if worst["sign"] < 0 else "removed"
        warnings.append(f"{len(regions)} connected region(s) larger than the PSF disagree with the input (largest "
                        f"|local| {worst['peak_abs_local']:.1f} at {worst['centre']}, {worst['area_px']} px): structure "
                        f"was likely {kind} there, however small its share of the image; see consistency_local.tif.")
    if card is not None:
        from fluorecon.qc.ood import check_input

        ood = check_input(y, card.qc, norm=card.norm, pixel_size_nm=pixel_size_nm)
        summary["ood"] = ood.to_dict()
        warnings += [f"Out of distribution: {w}" for w in ood.warnings]
        summary["model"] = {"name": card.name, "task": card.task, "method": card.method}
    if uncertainty is not None:
        u = np.asarray(uncertainty, np.float32)
        if u.shape != np.shape(result):
            raise ValueError(f"uncertainty has shape {u.shape} but the result has {np.shape(result)}.")
        summary["uncertainty"] = {"median": float(np.median(u)), "p99": float(np.percentile(u, 99)),
                                  "median_over_noise_std": float(np.median(u) / np.sqrt(max(float(
                                      np.median(noise.variance(np.asarray(result)))), 1e-12)))}
    report = QCReport(consistency=z, local=local, uncertainty=uncertainty, summary=summary, warnings=warnings)
    if out_dir is not None:
        report.write(out_dir, meta)
    return report


def check_units(axes: str, *, ndim: int = 2) -> str:
    """The axes one check covers: ``YX`` for a 2D model, ``ZYX`` for a 3D model when the image has Z."""
    return "ZYX" if ndim == 3 and "Z" in axes else "YX"


def iter_units(data: np.ndarray, axes: str, unit_axes: str):
    """Yield (label, index, sub-array) for every unit (e.g. every YX plane of every channel and
    frame) of an image with `axes`; `index` selects the unit in `data` (a tuple of ints and slices)."""
    other = [i for i, a in enumerate(axes) if a not in unit_axes]
    names = {"T": "frame", "C": "channel", "Z": "plane"}
    for pos in np.ndindex(*[data.shape[i] for i in other]):
        index = [slice(None)] * data.ndim
        for i, p in zip(other, pos):
            index[i] = p
        label = ", ".join(f"{names.get(axes[i], axes[i])} {p + 1}" for i, p in zip(other, pos))
        yield label, tuple(index), data[tuple(index)]


def check_hyperstack(input: np.ndarray, result: np.ndarray, *, axes: str, card=None, ndim: int = 2,
                     pixel_size_nm: float | None = None, out_dir=None, meta=None) -> QCReport:
    """:func:`check_result` for every channel and frame (and, for a 2D model, every z plane) of a
    hyperstack; the maps keep the input's shape and axes, qc.json lists each unit's figures and
    every warning names its channel / frame."""
    unit_axes = check_units(axes, ndim=ndim)
    if axes == unit_axes or (axes == "ZYX" and ndim == 2):
        return check_result(input, result, card=card, pixel_size_nm=pixel_size_nm, out_dir=out_dir, meta=meta)
    y, r = np.asarray(input, np.float32), np.asarray(result, np.float32)
    if y.shape != r.shape:
        raise ValueError(f"The result (shape {r.shape}) does not match the input (shape {y.shape}).")
    z_map, local_map = np.zeros_like(y), np.zeros_like(y)
    units, warnings = {}, []
    for label, index, unit in iter_units(y, axes, unit_axes):
        rep = check_result(unit, r[index], card=card, pixel_size_nm=pixel_size_nm)
        z_map[index], local_map[index] = rep.consistency, rep.local
        units[label] = {k: v for k, v in rep.summary.items() if k not in ("method", "model")}
        warnings += [f"{label}: {w}" for w in rep.warnings]
    flagged = np.abs(local_map) > LOCAL_THRESHOLD
    summary = {"method": METHOD + "; checked per " + ("stack" if unit_axes == "ZYX" else "plane") +
                         " for every channel and frame", "axes": axes, "units_checked": len(units),
               "residual_mean": float(z_map.mean()), "residual_std": float(z_map.std()),
               "local_max_abs": float(np.abs(local_map).max()), "local_flagged_fraction": float(flagged.mean()),
               "local_threshold": LOCAL_THRESHOLD, "local_window": LOCAL_WINDOW, "units": units}
    if card is not None:
        summary["model"] = {"name": card.name, "task": card.task, "method": card.method}
        summary["ood"] = {"in_distribution": all(u.get("ood", {}).get("in_distribution", True) for u in units.values())}
    report = QCReport(consistency=z_map, local=local_map, summary=summary, warnings=warnings)
    if out_dir is not None:
        report.write(out_dir, meta)
    return report


def compare_classical(input: np.ndarray, report: QCReport, *, method: str = "vst-bm3d",
                      max_pixels: int = 4_000_000) -> str | None:
    """Run the strongest classical denoiser on `input` and compare its data consistency with the
    learned result's (`report`, from :func:`check_result`): the figures go into
    ``report.summary["classical"]``; returns a sentence when the classical result is as good
    (standardised residual std as close to 1, no more pixels flagged, no flagged region), else None."""
    from fluorecon.qc.classical import denoise_vst

    y = np.asarray(input, np.float32)
    if y.size > max_pixels:
        report.summary["classical"] = {"method": method, "skipped": f"image larger than {max_pixels} pixels"}
        return None
    recorded = report.summary.get("noise_model", {})
    noise = NoiseModel(a=recorded["a"], b=recorded["b"]) if "a" in recorded else estimate_noise(y)
    classical = check_result(y, denoise_vst(y, method=method, noise=noise), noise=noise)
    s, c = report.summary, classical.summary
    as_good = (abs(c["residual_std"] - 1) <= abs(s["residual_std"] - 1) + 0.02
               and c["local_flagged_fraction"] <= s["local_flagged_fraction"] + 1e-4 and not c["regions_flagged"])
    s["classical"] = {"method": method, "residual_std": c["residual_std"],
                      "local_flagged_fraction": c["local_flagged_fraction"], "as_good": bool(as_good)}
    if not as_good:
        return None
    return (f"The classical {method} result explains the input as well as the model's (standardised residual std "
            f"{c['residual_std']:.2f} vs {s['residual_std']:.2f}, {100 * c['local_flagged_fraction']:.2f}% vs "
            f"{100 * s['local_flagged_fraction']:.2f}% of pixels flagged): prefer it when the model is out of "
            f"distribution (fluorecon denoise-classical --method {method}).")
