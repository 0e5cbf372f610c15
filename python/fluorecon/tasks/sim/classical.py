"""Classical SIM reconstruction: pattern estimation, band separation, generalised Wiener filter.

``reconstruct_sim(raw, config)`` takes raw frames (canonical ``(A, P, [Z,] H, W)`` or a flat stack
with its ``order``), estimates the pattern of each angle from the data (wave vector → angle and
line spacing, phase, modulation; :mod:`fluorecon.tasks.sim.estimate`), separates the bands,
moves each to its place on the 2× grid with a sub-pixel phase ramp, and combines them with the
generalised Wiener filter (Gustafsson 2000/2008, as fairSIM):

``Ô(f) = A(f) · Σ conj(c H_m(f + m k)) S_m(f) / (Σ |c H_m(f + m k)|² + w²)``

with optional OTF attenuation at each band's centre (suppresses out-of-focus haze) and a
triangular apodization ``A`` up to ``apodization_cutoff`` × the OTF cutoff. 2D SIM of a z-series is
reconstructed plane by plane; 3D SIM with the 3D OTF (orders 0, ±1 with the axial shift, ±2). The
output grid has half the raw pixel; it lines up with the simulated object pixel for pixel.

Beside the image come the widefield equivalent, the estimated parameters (a QC table) and a
modulation contrast-to-noise map (SIMcheck's MCNR idea: the first phase harmonic of each raw
pixel over its shot-noise standard deviation, mean over angles).

References: Gustafsson, J. Microsc. 198, 82 (2000); Gustafsson et al., Biophys. J. 94, 4957
(2008); Müller et al. (fairSIM), Nat. Commun. 7, 10980 (2016); Ball et al. (SIMcheck), Sci. Rep. 5,
15915 (2015).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.fft
import torch

from fluorecon.imaging.forward import ArrayPSF, default_device
from fluorecon.tasks.sim.estimate import (
    OTFModel, PatternEstimate, SIMEstimationError, edge_fade, estimate_pattern_bands, parse_order,
    separation_matrix, to_canonical, to_flat, wiener_filters_2d,
)
from fluorecon.tasks.sim.physics import SIMConfig, SIMPhysics

__all__ = [
    "SIMResult", "SIMCancelled", "SIMEstimationError", "PatternEstimate", "reconstruct_sim", "estimate_pattern",
    "config_for_raw", "widefield_from_raw", "resimulate_raw", "modulation_map", "to_canonical", "to_flat",
    "parse_order",
]


class SIMCancelled(RuntimeError):
    """Raised between angles when the ``cancel`` callback returns True."""


@dataclass
class SIMResult:
    """A reconstruction with what a user checks it by.

    image : (2H, 2W) or (Z, 2H, 2W) float32, pixel ``pixel_size_nm`` (half the raw pixel)
    widefield : (H, W) or (Z, H, W), mean of the raw frames (background subtracted)
    params : one :class:`PatternEstimate` per angle
    modulation_map : (H, W) or (Z, H, W), modulation contrast-to-noise ratio per raw pixel
    config : the SIMConfig with the estimated pattern filled in (for :func:`resimulate_raw`)
    background : the value subtracted from the raw frames
    """

    image: np.ndarray
    widefield: np.ndarray
    params: list[PatternEstimate]
    modulation_map: np.ndarray
    config: SIMConfig
    background: float
    settings: dict = field(default_factory=dict)

    @property
    def pixel_size_nm(self) -> float:
        return self.config.pixel_size_nm / 2

    def qc_table(self) -> list[dict]:
        """One row per angle: angle, line spacing, phase, modulation, k, peak quality, mean MCNR."""
        rows = []
        for p in self.params:
            row = p.as_dict()
            row["angle_index"] = p.angle_index + 1
            row["mcnr_mean"] = float(self.settings.get("mcnr_per_angle", [np.nan] * len(self.params))[p.angle_index])
            rows.append({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
        return rows

    def qc_csv(self, path: str | Path) -> None:
        rows = self.qc_table()
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


# --- layout helpers -----------------------------------------------------------------------------


def _canonical(raw: np.ndarray, config: SIMConfig | None, order: str | None, n_angles: int, n_phases: int) -> np.ndarray:
    raw = np.asarray(raw)
    if not np.issubdtype(raw.dtype, np.number) or np.iscomplexobj(raw):
        raise ValueError(f"The raw stack must be real grey values, got dtype {raw.dtype}.")
    if config is not None:
        n_angles, n_phases = config.n_angles, config.phases
    return to_canonical(raw, order=order or "angle-phase-z", n_angles=n_angles, n_phases=n_phases).astype(np.float32)


def config_for_raw(raw: np.ndarray, *, mode: Literal["2d", "3d"] = "2d", order: str | None = None, n_angles: int = 3,
                   n_phases: int | None = None, **fields) -> SIMConfig:
    """A SIMConfig whose object grid matches ``raw`` (2× laterally); ``fields`` set the optics/pattern."""
    n_phases = n_phases or (5 if mode == "3d" else 3)
    can = _canonical(raw, None, order, n_angles, n_phases)
    z, h, w = can.shape[2:]
    shape = (z, 2 * h, 2 * w) if (mode == "3d" or z > 1) else (2 * h, 2 * w)
    return SIMConfig(mode=mode, image_shape=shape, n_angles=n_angles, n_phases=n_phases, **fields)


def widefield_from_raw(raw: np.ndarray, config: SIMConfig | None = None, *, order: str | None = None,
                       n_angles: int = 3, n_phases: int = 3) -> np.ndarray:
    """Widefield equivalent: the mean over angles and phases, (H, W) or (Z, H, W) float32."""
    can = _canonical(raw, config, order, n_angles, n_phases)
    wf = can.mean(axis=(0, 1))
    return wf[0] if wf.shape[0] == 1 else wf


def resimulate_raw(reconstruction: np.ndarray, config: SIMConfig, *, background: float = 0.0,
                   device: str | torch.device | None = None) -> np.ndarray:
    """Raw frames the reconstruction predicts: ``A(x̂) + background`` in canonical layout.

    Pass ``result.config`` (the estimated pattern) and ``result.background``; the data-consistency
    map is then ``(raw − resimulate_raw(...)) / sqrt(noise variance)``.
    """
    x = np.asarray(reconstruction, np.float32)
    if x.shape != tuple(config.image_shape) and x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.shape != tuple(config.image_shape):
        raise ValueError(f"reconstruction has shape {x.shape} but the config's object grid is {config.image_shape}.")
    out = SIMPhysics(config, device=device).A(torch.from_numpy(x)).cpu().numpy()
    return out + np.float32(background)


def modulation_map(raw: np.ndarray, config: SIMConfig | None = None, *, order: str | None = None,
                   background: float | None = None, gain: float = 1.0, read_noise: float = 0.0,
                   n_angles: int = 3, n_phases: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Modulation contrast-to-noise ratio (MCNR) per raw pixel, after SIMcheck (Ball et al. 2015).

    The amplitude of the first harmonic over the phases, ``(2/P)|Σ_p y_p e^{−2πi p/P}|``, divided by
    its noise standard deviation ``sqrt(2/P)·σ`` with ``σ² = gain·(mean − background) + read_noise²``
    (Poisson–Gaussian). ~1 means no modulation above noise; well-modulated data give ≫ 3.

    Returns ``(map, per_angle_mean)``: map (H, W)/(Z, H, W) = mean over angles; per-angle means over
    pixels brighter than the median widefield.
    """
    can = _canonical(raw, config, order, n_angles, n_phases)
    a, p = can.shape[:2]
    bg = float(np.percentile(can.mean(axis=(0, 1)), 0.5)) if background is None else float(background)
    re = sum(np.float32(np.cos(2 * np.pi * i / p)) * can[:, i] for i in range(p))
    im = sum(np.float32(np.sin(2 * np.pi * i / p)) * can[:, i] for i in range(p))
    harmonic = np.sqrt(re * re + im * im) * np.float32(2.0 / p)
    mean = can.mean(axis=1)
    sigma = np.sqrt(np.maximum(gain * (mean - bg), 0) + read_noise**2 + 1e-6)
    mcnr = harmonic / (np.sqrt(2.0 / p) * sigma)
    wf = mean.mean(axis=0)
    bright = wf > np.median(wf)
    per_angle = [float(mcnr[i][bright].mean()) if bright.any() else float("nan") for i in range(a)]
    out = mcnr.mean(axis=0).astype(np.float32)
    return (out[0] if out.shape[0] == 1 else out), np.asarray(per_angle)


# --- estimation -------------------------------------------------------------------------------


def _prepare(can: np.ndarray, background: float | None) -> tuple[np.ndarray, float]:
    bg = float(np.percentile(can.mean(axis=(0, 1)), 0.5)) if background is None else float(background)
    fade = edge_fade(can.shape[-2:])
    return ((can - bg) * fade).astype(np.float32), bg


def _estimate(prepared: np.ndarray, config: SIMConfig, otf: OTFModel,
              spacing_tolerance: float) -> tuple[list[PatternEstimate], np.ndarray, np.ndarray]:
    summed = prepared.sum(axis=2)  # z-sum = the fz = 0 plane of a 3D spectrum
    spectra = scipy.fft.fft2(summed, workers=-1)
    sep = separation_matrix(config.phases, config.orders)
    bands = np.einsum("mp,aphw->amhw", sep, spectra)
    found = estimate_pattern_bands(bands, config, otf, spacing_tolerance=spacing_tolerance)
    weights = config.band_weights()
    params, ks, coeffs = [], [], []
    for i, (k1, cs, quality) in enumerate(found):
        k_top = k1 * config.orders
        angle = float(np.degrees(np.arctan2(k_top[0], k_top[1])))
        spacing = config.pixel_size_nm / float(np.hypot(*k_top))
        params.append(PatternEstimate(
            angle_index=i, angle_deg=angle, line_spacing_nm=spacing,
            phase_deg=float(np.degrees(np.angle(cs[0])) % 360), modulation=float(abs(cs[0]) / weights[0]),
            modulation_order2=float(abs(cs[1]) / weights[1]) if len(cs) > 1 else None,
            k_y=float(k1[0]), k_x=float(k1[1]), peak_quality=quality))
        ks.append(k1)
        coeffs.append(cs)
    return params, np.asarray(ks), np.asarray(coeffs, np.complex128)


def _given(config: SIMConfig) -> tuple[list[PatternEstimate], np.ndarray, np.ndarray]:
    ks = config.k_vectors()
    phi = config.phase_offsets()
    m = np.asarray(config.modulations())
    weights = config.band_weights()
    coeffs = np.stack([w * m * np.exp(1j * (o + 1) * phi) for o, w in enumerate(weights)], axis=1)
    params = [PatternEstimate(i, float(np.degrees(config.angles()[i])), config.spacings()[i],
                              float(np.degrees(phi[i]) % 360), float(m[i]), float(m[i]) if config.orders > 1 else None,
                              float(ks[i, 0]), float(ks[i, 1]), float("nan")) for i in range(config.n_angles)]
    return params, ks, coeffs


def estimate_pattern(raw: np.ndarray, config: SIMConfig, *, order: str | None = None,
                     background: float | None = None, psf: np.ndarray | None = None,
                     spacing_tolerance: float = 0.25) -> list[PatternEstimate]:
    """Estimate angle, line spacing, phase and modulation of each angle from raw frames.

    Parameters
    ----------
    raw : ndarray, (A, P, [Z,] H, W) or flat (N, H, W) with ``order``
    config : SIMConfig
        Optics and the expected line spacing (searched within ±``spacing_tolerance``).

    Raises
    ------
    SIMEstimationError
        When no pattern peak stands out (not SIM data, wrong order or numbers of angles/phases).
    """
    can = _canonical(raw, config, order, config.n_angles, config.phases)
    prepared, _ = _prepare(can, background)
    otf = OTFModel(config, psf=psf, n_z=can.shape[2])
    return _estimate(prepared, config, otf, spacing_tolerance)[0]


# --- reconstruction ---------------------------------------------------------------------------


def _pad_spectrum(spec):
    """Zero-pad the last two (FFT-ordered) axes from (H, W) to (2H, 2W); the Nyquist row/column is dropped."""
    h, w = spec.shape[-2:]
    if isinstance(spec, np.ndarray):
        out = np.zeros(spec.shape[:-2] + (2 * h, 2 * w), spec.dtype)
    else:
        out = torch.zeros(spec.shape[:-2] + (2 * h, 2 * w), dtype=spec.dtype, device=spec.device)
    hy, hx = (h + 1) // 2, (w + 1) // 2  # non-negative frequencies incl. 0
    ny, nx = h // 2, w // 2  # negative frequencies (minus the Nyquist one for even sizes)
    ny, nx = ny - (1 - h % 2), nx - (1 - w % 2)
    for ys, yd in ((slice(0, hy), slice(0, hy)), (slice(h - ny, h), slice(2 * h - ny, 2 * h))):
        for xs, xd in ((slice(0, hx), slice(0, hx)), (slice(w - nx, w), slice(2 * w - nx, 2 * w))):
            out[..., yd, xd] = spec[..., ys, xs]
    return out


def _mirror(spec: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``conj(S(−f))`` on an FFT grid: the band of order −m from the band of order m."""
    return torch.roll(torch.flip(spec, dims), shifts=[1] * len(dims), dims=dims).conj()


def reconstruct_sim(raw: np.ndarray, config: SIMConfig, *, order: str | None = None, estimate: bool = True,
                    wiener: float = 0.05, apodization_cutoff: float = 2.0, apodization_bend: float = 0.9,
                    otf_attenuation: float = 0.0, attenuation_fwhm_per_um: float = 1.2,
                    background: float | None = None, psf: np.ndarray | None = None, gain: float = 1.0,
                    read_noise: float = 0.0, spacing_tolerance: float = 0.25,
                    device: str | torch.device | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    cancel: Callable[[], bool] | None = None) -> SIMResult:
    """Reconstruct SIM raw frames on the 2× grid (generalised Wiener filter).

    Parameters
    ----------
    raw : ndarray
        Canonical ``(A, P, H, W)`` / ``(A, P, Z, H, W)``, or flat ``(N, H, W)`` frames in ``order``.
    config : SIMConfig
        Optics (na, wavelength, pixel size, z step), mode, numbers of angles/phases, and the pattern
        (used as is when ``estimate`` is False; otherwise only the expected line spacing).
        ``config.image_shape`` must be the 2× grid of the raw frames (see :func:`config_for_raw`).
    estimate : bool
        Estimate the pattern from the data (default), or use the config's.
    wiener : float
        Wiener parameter w (larger: smoother, less noise).
    apodization_cutoff, apodization_bend : float
        Apodization reaches zero at ``cutoff`` × the OTF cutoff; ``bend`` is its exponent.
    otf_attenuation, attenuation_fwhm_per_um : float
        Strength (0 = off, ~0.99 strong) and width (cycles/µm) of the notch at each band's centre.
    background : float, optional
        Camera offset + background to subtract (default: 0.5th percentile of the widefield).
    psf : ndarray, optional
        Measured PSF on the fine grid (pixel ``pixel_size_nm/2``; 3D for 3d SIM); default: the config's.
    gain, read_noise : float
        Camera ADU per electron and read noise (ADU), for the modulation map.
    device : str or torch.device, optional
    progress, cancel : callables, optional
        ``progress(done, total)`` per angle; ``cancel()`` True stops with :class:`SIMCancelled`.

    Returns
    -------
    SIMResult

    Examples
    --------
    >>> cfg = config_for_raw(raw, pixel_size_nm=80, na=1.4, wavelength_nm=520)
    >>> result = reconstruct_sim(raw, cfg)
    >>> result.image.shape, result.pixel_size_nm   # (2H, 2W), 40.0
    """
    if wiener <= 0:
        raise ValueError(f"wiener={wiener}: give a positive Wiener parameter, e.g. 0.05.")
    if apodization_cutoff <= 0 or apodization_bend <= 0:
        raise ValueError("apodization_cutoff and apodization_bend must be positive (e.g. 2.0 and 0.9).")
    can = _canonical(raw, config, order, config.n_angles, config.phases)
    a_n, p_n, z_n, h, w = can.shape
    want = (z_n, 2 * h, 2 * w) if (config.mode == "3d" or z_n > 1) else (2 * h, 2 * w)
    if tuple(config.image_shape) != want:
        raise ValueError(f"The raw frames ({z_n} × {h} × {w}) need config.image_shape {want}, got "
                         f"{tuple(config.image_shape)}; make the config with config_for_raw(raw, ...).")
    if config.mode == "3d" and z_n < 4:
        raise ValueError(f"3d SIM needs a z-stack (at least 4 planes), got {z_n}; use mode '2d' for single planes.")
    dev = torch.device(device) if device is not None else default_device()
    prepared, bg = _prepare(can, background)
    otf = OTFModel(config, psf=psf, n_z=z_n)
    if estimate:
        params, ks, coeffs = _estimate(prepared, config, otf, spacing_tolerance)
    else:
        params, ks, coeffs = _given(config)
    three_d = config.mode == "3d"
    att_sigma = attenuation_fwhm_per_um / 1000.0 * config.pixel_size_nm / 2.355  # cycles per raw px
    if three_d:
        spectrum = _reconstruct_3d(prepared, config, otf, ks, coeffs, dev, otf_attenuation=otf_attenuation,
                                   att_sigma=att_sigma, progress=progress, cancel=cancel)
        apod = _apodization(config, otf, np.fft.fftfreq(2 * h, d=0.5), np.fft.fftfreq(2 * w, d=0.5), z_n,
                            apodization_cutoff, apodization_bend)
        spectrum = spectrum[0] / (spectrum[1] + wiener**2) * torch.from_numpy(apod).to(dev)
        image = (torch.fft.ifftn(spectrum, dim=(-3, -2, -1)).real * 4.0).cpu().numpy()
    else:
        filters = wiener_filters_2d(otf, (h, w), ks, coeffs, wiener=wiener, apodization_cutoff=apodization_cutoff,
                                    apodization_bend=apodization_bend, attenuation=otf_attenuation,
                                    attenuation_sigma=att_sigma)
        image = _reconstruct_2d(prepared, config, filters, dev, progress=progress, cancel=cancel)
    image = np.asarray(image, np.float32)
    if len(want) == 2:
        image = image[0]
    filled = _filled_config(config, params, psf)
    mcnr, per_angle = modulation_map(can, config, background=bg, gain=gain, read_noise=read_noise)
    wf = can.mean(axis=(0, 1)) - bg
    if progress is not None:
        progress(a_n + 1, a_n + 1)
    settings = dict(estimate=estimate, wiener=wiener, apodization_cutoff=apodization_cutoff,
                    apodization_bend=apodization_bend, otf_attenuation=otf_attenuation,
                    attenuation_fwhm_per_um=attenuation_fwhm_per_um, background=bg, device=str(dev),
                    mcnr_per_angle=per_angle.tolist())
    return SIMResult(image=image, widefield=(wf[0] if wf.shape[0] == 1 else wf).astype(np.float32), params=params,
                     modulation_map=mcnr, config=filled, background=bg, settings=settings)


def _reconstruct_2d(prepared: np.ndarray, config: SIMConfig, filters, dev: torch.device, *,
                    progress: Callable[[int, int], None] | None,
                    cancel: Callable[[], bool] | None) -> np.ndarray:
    """2D SIM (orders 0, ±1) of prepared frames (A, P, Z, H, W) → (Z, 2H, 2W) real float32.

    Linear algebra that makes it cheap (results equal the band-by-band filter within float32):
    bands are separated in real space (one FFT per band instead of one per frame); band 0 of every
    angle is the same widefield spectrum, so the angles' band 0 are summed before one FFT; band −1
    is never formed: its filtered term is the frequency mirror (f → −f, conjugated) of band +1's,
    and the inverse FFT of a mirrored spectrum is the complex conjugate, so the real part of the
    result counts band +1's term twice (the factor 2 in ``weight1``). That holds because ``D`` and
    the apodization are symmetric in f, which they are except on the Nyquist row/column, where the
    apodization is zero for any raw pixel finer than λ/(4 NA).
    """
    a_n, _, z_n, h, w = prepared.shape
    if dev.type == "cpu":
        # numpy + scipy.fft (pocketfft, complex64): on CPU 5–10× faster than torch's FFT and complex
        # elementwise ops here (measured, 512² on 2 busy cores); torch is kept for CUDA.
        workers = torch.get_num_threads()
        xp, fft2 = np, (lambda x: scipy.fft.fft2(x, workers=workers, overwrite_x=True))
        ifft2 = (lambda x: scipy.fft.ifft2(x, workers=workers, overwrite_x=True))
        put = (lambda x: x)
        data = prepared
    else:
        xp, fft2, ifft2 = torch, torch.fft.fft2, torch.fft.ifft2
        put = (lambda x: torch.from_numpy(x).to(dev))
        data = put(prepared)
    sep = separation_matrix(config.phases, 1)  # rows: m = −1, 0, +1
    align = put(filters.align)
    # Real-space separation: Σ_p s_p y_p is real for band 0 (s_0p = 1/P up to rounding), complex for band +1.
    band0 = xp.einsum("apzhw,p->zhw", data, put(np.ascontiguousarray(sep[1].real)))
    spectrum = _pad_spectrum(fft2(band0.astype(np.complex64) if xp is np else band0.to(torch.complex64)) * align)
    spectrum *= put(filters.weight0)
    for a in range(a_n):
        if cancel is not None and cancel():
            raise SIMCancelled(f"Cancelled after {a} of {a_n} angles.")
        band1 = (xp.einsum("pzhw,p->zhw", data[a], put(np.ascontiguousarray(sep[2].real)))
                 + 1j * xp.einsum("pzhw,p->zhw", data[a], put(np.ascontiguousarray(sep[2].imag))))
        moved = ifft2(_pad_spectrum(fft2(band1) * align))
        moved *= put(filters.ramp_y[a])[:, None]
        moved *= put(filters.ramp_x[a])[None, :]
        moved = fft2(moved)
        moved *= put(filters.weight1[a])
        spectrum += moved
        if progress is not None:
            progress(a + 1, a_n + 1)
    image = ifft2(spectrum).real
    image *= 4.0
    return image if xp is np else image.cpu().numpy()


def _reconstruct_3d(prepared: np.ndarray, config: SIMConfig, otf: OTFModel, ks: np.ndarray, coeffs: np.ndarray,
                    dev: torch.device, *, otf_attenuation: float, att_sigma: float,
                    progress: Callable[[int, int], None] | None,
                    cancel: Callable[[], bool] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """3D SIM, band by band: the Wiener numerator and denominator on (Z, 2H, 2W)."""
    a_n, _, z_n, h, w = prepared.shape
    dims = (-3, -2, -1)
    top = config.orders

    # Raw spectra, band separation, alignment (sample j of the 2× grid sits at raw coordinate j/2 − 1/4).
    data = torch.from_numpy(prepared).to(dev)
    spectra = torch.fft.fftn(data, dim=dims)
    sep = torch.from_numpy(separation_matrix(config.phases, top)).to(dev)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    align = torch.from_numpy(np.exp(-2j * np.pi * 0.25 * (fy + fx)).astype(np.complex64)).to(dev)
    gy = np.fft.fftfreq(2 * h, d=0.5)  # cycles per raw px on the 2× grid
    gx = np.fft.fftfreq(2 * w, d=0.5)
    ry = torch.from_numpy((np.arange(2 * h) / 2 - 0.25)[:, None]).to(dev)
    rx = torch.from_numpy((np.arange(2 * w) / 2 - 0.25)[None, :]).to(dev)
    out_shape = (z_n, 2 * h, 2 * w)
    num = torch.zeros(out_shape, dtype=torch.complex64, device=dev)
    den = torch.zeros(out_shape, dtype=torch.float32, device=dev)
    for a in range(a_n):
        if cancel is not None and cancel():
            raise SIMCancelled(f"Cancelled after {a} of {a_n} angles.")
        bands = torch.einsum("mp,p...->m...", sep, spectra[a]) * align  # (2M+1, Z, H, W)
        for m in range(0, top + 1):
            padded = _pad_spectrum(bands[top + m])
            if m == 0:
                shifted = [(0, padded)]
            else:
                # Separable ramp: two 1D exponentials instead of one over the whole 2× grid.
                ramp = (torch.exp(-2j * np.pi * m * float(ks[a, 0]) * ry).to(torch.complex64)
                        * torch.exp(-2j * np.pi * m * float(ks[a, 1]) * rx).to(torch.complex64))
                moved = torch.fft.fftn(torch.fft.ifftn(padded, dim=(-2, -1)) * ramp, dim=(-2, -1))
                shifted = [(m, moved), (-m, _mirror(moved, dims))]
            for mm, band in shifted:
                c = 1.0 if mm == 0 else (coeffs[a, abs(mm) - 1] if mm > 0 else np.conj(coeffs[a, abs(mm) - 1]))
                sy, sx = gy + mm * ks[a, 0], gx + mm * ks[a, 1]
                h_m = otf.band(mm, sy, sx)  # (Zt, 2H, 2W) real
                if otf_attenuation > 0:
                    h_m = h_m * (1 - otf_attenuation * np.exp(-(sy[:, None] ** 2 + sx[None, :] ** 2)
                                                              / (2 * att_sigma**2))).astype(np.float32)
                h_t = torch.from_numpy(h_m).to(dev)
                num += (complex(np.conj(c)) * h_t) * band
                den += float(abs(c) ** 2) * h_t * h_t
        if progress is not None:
            progress(a + 1, a_n + 1)
    return num, den


def _apodization(config: SIMConfig, otf: OTFModel, gy, gx, z_n: int, cutoff: float, bend: float) -> np.ndarray:
    rho = np.hypot(gy[:, None], gx[None, :]) / (cutoff * otf.cutoff)
    if config.mode != "3d":
        return (np.clip(1 - rho, 0, None) ** bend).astype(np.float32)[None]
    n = config.ni
    fz_wf = (n - np.sqrt(max(n**2 - config.na**2, 0.0))) / config.wavelength_nm  # cycles/nm
    fz_max = (fz_wf + config.kz()) * config.z_step * z_n  # in frequency-index units
    fz = (np.fft.fftfreq(z_n) * z_n)[:, None, None] / max(fz_max, 1e-6)
    return (np.clip(1 - np.sqrt(rho[None] ** 2 + fz**2), 0, None) ** bend).astype(np.float32)


def _filled_config(config: SIMConfig, params: list[PatternEstimate], psf: np.ndarray | None) -> SIMConfig:
    """The config with the estimated pattern (per-angle angles, spacings, phases, modulation)."""
    update = dict(
        angles_deg=[p.angle_deg for p in params], line_spacings_nm=[p.line_spacing_nm for p in params],
        phase_offsets_deg=[p.phase_deg for p in params],
        modulation=[float(np.clip(p.modulation, 1e-3, 1.0)) for p in params],
    )
    if psf is not None:
        update["psf"] = ArrayPSF.from_array(psf)
    return SIMConfig.model_validate({**config.model_dump(), **update})


