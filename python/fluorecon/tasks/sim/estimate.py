"""SIM building blocks: raw-stack orders, the OTF model, band separation and pattern estimation.

Pattern estimation follows fairSIM (Müller et al., Nat. Commun. 7, 10980, 2016) and Gustafsson
(2000): the phases of each angle are separated into bands ``D_m(f) = c_m H_m(f) O(f − m k)``;
the wave vector ``k`` is the peak of the cross-correlation of band 0 with the highest band,
found on the pixel grid and refined to 1/100 of a frequency pixel with a local (matrix) DFT;
the complex coefficient ``c_m`` (modulation × phase) is the least-squares ratio of the shifted
band to band 0 where their OTFs overlap. Raw frames are faded to zero at the border first, so the
sub-pixel shifts do not smear edge discontinuities over the spectrum.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import scipy.fft
from scipy import ndimage

from fluorecon.tasks.sim.physics import SIMConfig

__all__ = ["SIMEstimationError", "PatternEstimate", "parse_order", "to_canonical", "to_flat", "edge_fade",
           "separation_matrix", "OTFModel", "estimate_pattern_bands", "band_coefficient", "MIN_PEAK_QUALITY",
           "WienerFilters2D", "wiener_filters_2d"]

_AXIS_NAMES = {"angle": "angle", "angles": "angle", "a": "angle", "phase": "phase", "phases": "phase", "p": "phase",
               "z": "z", "slice": "z", "slices": "z"}
MIN_PEAK_QUALITY = 8.0


class SIMEstimationError(ValueError):
    """The pattern could not be found in the raw data (no peak stands out of the background)."""


@dataclass
class PatternEstimate:
    """The illumination pattern of one angle, as estimated from the data (or as given)."""

    angle_index: int
    angle_deg: float
    line_spacing_nm: float
    phase_deg: float
    modulation: float
    modulation_order2: float | None
    k_y: float
    k_x: float
    peak_quality: float

    def as_dict(self) -> dict:
        return asdict(self)


# --- stack orders -------------------------------------------------------------------------------


def parse_order(order: str) -> tuple[str, str, str]:
    """``"angle-phase-z"`` (outermost → innermost; also ``"z,angle,phase"``, ``"apz"``) → axis names.
    A missing ``z`` is taken as the outermost axis."""
    text = order.strip().lower()
    parts = [p for p in text.replace(",", "-").replace(" ", "-").split("-") if p]
    if len(parts) == 1 and set(parts[0]) <= set("apz") and len(parts[0]) <= 3:
        parts = list(parts[0])
    try:
        names = [_AXIS_NAMES[p] for p in parts]
    except KeyError:
        names = []
    if "z" not in names:
        names = ["z"] + names
    if sorted(names) != ["angle", "phase", "z"]:
        raise ValueError(f"order={order!r}: list angle, phase and z once each, outermost first, e.g. "
                         "'angle-phase-z' or 'z-angle-phase'.")
    return tuple(names)  # type: ignore[return-value]


def to_canonical(stack: np.ndarray, *, order: str = "angle-phase-z", n_angles: int = 3, n_phases: int = 3,
                 n_z: int | None = None) -> np.ndarray:
    """A raw SIM stack as ``(A, P, Z, H, W)``.

    Parameters
    ----------
    stack : ndarray
        Flat ``(N, H, W)`` frames in ``order``, or already canonical ``(A, P, H, W)`` / ``(A, P, Z, H, W)``.
    order : str
        Frame order of a flat stack, outermost first (``"angle-phase-z"``, ``"z-angle-phase"``, …).
    n_angles, n_phases : int
    n_z : int, optional
        Number of z planes; default ``N / (A·P)``.
    """
    stack = np.asarray(stack)
    a, p = int(n_angles), int(n_phases)
    if stack.ndim in (4, 5) and stack.shape[:2] == (a, p):
        return stack if stack.ndim == 5 else stack[:, :, None]
    if stack.ndim != 3:
        raise ValueError(f"The raw stack has shape {stack.shape}; give frames as (N, Y, X) with N = angles × phases "
                         "× z, or (angles, phases, [z,] Y, X).")
    n = stack.shape[0]
    per = a * p
    z = n_z if n_z is not None else n // per
    if z < 1 or n != per * z:
        raise ValueError(
            f"The raw stack has {n} frames, which is not angles × phases × z = {a} × {p} × "
            f"{n_z if n_z is not None else 'Z'} for any whole number of z planes (order {order!r}). Check the "
            f"number of angles and phases (2D SIM: usually 3 × 3 = 9 frames per plane, 3D SIM: 3 × 5 = 15).")
    names = parse_order(order)
    sizes = {"angle": a, "phase": p, "z": z}
    shaped = stack.reshape(tuple(sizes[k] for k in names) + stack.shape[1:])
    return np.transpose(shaped, [names.index(k) for k in ("angle", "phase", "z")] + [3, 4])


def to_flat(raw: np.ndarray, *, order: str = "angle-phase-z") -> np.ndarray:
    """Inverse of :func:`to_canonical`: ``(A, P, [Z,] H, W)`` → ``(N, H, W)`` in ``order``."""
    raw = np.asarray(raw)
    if raw.ndim == 4:
        raw = raw[:, :, None]
    names = parse_order(order)
    pos = {"angle": 0, "phase": 1, "z": 2}
    moved = np.transpose(raw, [pos[k] for k in names] + [3, 4])
    return np.ascontiguousarray(moved.reshape((-1,) + raw.shape[-2:]))


# --- spectra ------------------------------------------------------------------------------------


def edge_fade(shape: tuple[int, int], width: int | None = None) -> np.ndarray:
    """Cosine fade from 0 at the border to 1 inside, ``width`` px (default ~1/16 of the side)."""
    out = np.ones(shape, np.float32)
    for axis, n in enumerate(shape):
        w = width if width is not None else max(3, n // 16)
        w = min(w, n // 4)
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(w) + 0.5) / w)
        prof = np.ones(n, np.float32)
        prof[:w], prof[n - w:] = ramp, ramp[::-1]
        out *= prof[:, None] if axis == 0 else prof[None, :]
    return out


def separation_matrix(n_phases: int, orders: int) -> np.ndarray:
    """``(2M+1, P)`` matrix taking the P phase frames to bands m = −M..M (equidistant phases)."""
    steps = 2 * np.pi * np.arange(n_phases) / n_phases
    m = np.arange(-orders, orders + 1)
    forward = np.exp(1j * steps[:, None] * m[None, :])
    return np.linalg.pinv(forward).astype(np.complex64)


class OTFModel:
    """Detection OTF of the raw data, rotationally symmetric: a table over lateral frequency ρ
    (cycles per raw pixel) and, in 3D, axial frequency index; includes the camera pixel's 2-px box.

    ``band(m, gy, gx, fz_index)`` gives ``H_m`` at lateral frequencies ``(gy, gx)`` (cycles per raw
    pixel, any shape) for band order ``m``: order ±1 of 3D SIM averages ``H`` at ``fz ± kz``.
    """

    def __init__(self, config: SIMConfig, *, psf: np.ndarray | None = None, n_z: int = 1) -> None:
        psf = config.build_psf() if psf is None else np.asarray(psf, np.float32)
        self.three_d = config.mode == "3d"
        if self.three_d and psf.ndim != 3:
            raise ValueError(f"3d SIM needs a 3D PSF, got shape {psf.shape}.")
        if not self.three_d and psf.ndim == 3:
            psf = psf[psf.shape[0] // 2]
        psf = psf / psf.sum()
        self.cutoff = 2 * config.na / config.wavelength_nm * config.pixel_size_nm  # cycles per raw px
        n_lat = int(max(256, 2 ** np.ceil(np.log2(max(psf.shape[-2:]) * 2))))
        n_z = n_z if self.three_d else 1
        if self.three_d and psf.shape[0] > n_z:
            c = psf.shape[0] // 2
            psf = psf[c - n_z // 2: c - n_z // 2 + n_z]
        full = np.zeros(((n_z,) if self.three_d else ()) + (n_lat, n_lat), np.float32)
        centre = tuple(s // 2 for s in psf.shape)
        idx = np.ix_(*[(np.arange(s) - c) % n for s, c, n in zip(psf.shape, centre, full.shape)])
        full[idx] = psf
        otf = np.abs(np.fft.fftn(full)) if self.three_d else np.abs(_fft2(full))
        otf = otf.reshape((-1, n_lat, n_lat))
        fy = np.fft.fftfreq(n_lat)  # cycles per fine px
        rho = np.hypot(fy[:, None], fy[None, :]) * n_lat
        ring = np.rint(rho).astype(int).ravel()
        nr = n_lat // 2 + 1
        keep = ring < nr
        count = np.bincount(ring[keep], minlength=nr)
        table = np.stack([np.bincount(ring[keep], o.ravel()[keep], minlength=nr) / np.maximum(count, 1) for o in otf])
        table /= table[0, 0]
        # ρ bins are 1/n_lat cycles per fine px = 2/n_lat cycles per raw px.
        self.drho = 2.0 / n_lat
        self.table = np.concatenate([table, np.zeros((table.shape[0], 2))], axis=1).astype(np.float32)  # (Z, nr+2)
        beyond = np.arange(self.table.shape[1]) * self.drho > 1.02 * self.cutoff
        self.table[:, beyond] = 0.0
        self.n_z = n_z
        self.kz_index = config.kz() * config.z_step * n_z if self.three_d else 0.0
        # Hashable identity of this OTF, for caching the filters built from it.
        self.key = (self.three_d, float(self.cutoff), float(self.drho), float(self.kz_index), self.table.shape,
                    self.table.tobytes())

    def _radial(self, table: np.ndarray, rho: np.ndarray) -> np.ndarray:
        grid = np.arange(table.shape[-1], dtype=np.float64) * self.drho
        if table.ndim == 1:
            return np.interp(rho, grid, table).astype(np.float32)
        return np.stack([np.interp(rho, grid, row).astype(np.float32) for row in table])

    def axial_table(self, m: int) -> np.ndarray:
        """(Z, nρ) table of band ``m``: H, or for 3D order ±1 the mean of H at fz ∓ kz."""
        if not self.three_d or abs(m) != 1:
            return self.table
        fz = np.fft.fftfreq(self.n_z) * self.n_z
        out = np.zeros_like(self.table)
        for shift in (-self.kz_index, self.kz_index):
            src = (fz + shift) % self.n_z
            i = np.floor(src).astype(int)
            w = (src - i)[:, None]
            out += 0.5 * (self.table[i % self.n_z] * (1 - w) + self.table[(i + 1) % self.n_z] * w)
        return out

    def band(self, m: int, gy: np.ndarray, gx: np.ndarray, *, projected: bool = False) -> np.ndarray:
        """``H_m`` × pixel box on the grid of lateral frequencies ``gy`` (H,) × ``gx`` (W,) (cycles/raw
        px): shape ``(Z, H, W)``, or ``(H, W)`` when ``projected`` (the fz = 0 plane: the OTF of
        z-summed data), float32."""
        table = self.axial_table(m)
        if projected:
            table = table[0]
        gy = np.asarray(gy, np.float32).reshape(-1)
        gx = np.asarray(gx, np.float32).reshape(-1)
        rho = np.sqrt(gy[:, None] ** 2 + gx[None, :] ** 2)
        box = np.cos(np.pi * gy / 2)[:, None] * np.cos(np.pi * gx / 2)[None, :]
        return self._radial(table, rho) * box


# --- 2D Wiener filters (cached) ---------------------------------------------------------------


class WienerFilters2D(NamedTuple):
    """Everything of a 2D reconstruction that depends on the parameters, not on the data (2× grid
    (2H, 2W) in FFT order). Shared by the cache: treat as read-only.

    weight0 : (2H, 2W) float32, ``H_0·D`` for the sum of the angles' band 0
    weight1 : (A, 2H, 2W) complex64, ``2·conj(c_a)·H_1(f + k_a)·D``; the factor 2 stands for band −1
        (its term is the mirror image, and the real part of the inverse FFT counts it once more)
    ramp_y, ramp_x : (A, 2H), (A, 2W) complex64, the separable phase ramp ``e^{−2πi k·r}``
    align : (H, W) complex64, the quarter-raw-pixel shift onto the 2× grid
    """

    weight0: np.ndarray
    weight1: np.ndarray
    ramp_y: np.ndarray
    ramp_x: np.ndarray
    align: np.ndarray


def wiener_filters_2d(otf: OTFModel, shape: tuple[int, int], ks: np.ndarray, coeffs: np.ndarray, *, wiener: float,
                      apodization_cutoff: float, apodization_bend: float, attenuation: float = 0.0,
                      attenuation_sigma: float = 1.0) -> WienerFilters2D:
    """Filters of the generalised Wiener reconstruction of 2D SIM (orders 0, ±1) for raw frames of
    ``shape`` (H, W), order-1 wave vectors ``ks`` (A, 2) (cycles per raw px) and band coefficients
    ``coeffs`` (A, ≥1) complex; ``attenuation_sigma`` in cycles per raw px.

    ``D = A(f) / (Σ_a [H_0² + |c_a|²(H_1(f + k_a)² + H_1(f − k_a)²)] + w²)``. Cached on every
    argument (a time series reuses them), so the call only builds them once per parameter set.
    """
    if otf.three_d:
        raise ValueError("wiener_filters_2d needs a 2D OTFModel.")
    ks = np.asarray(ks, np.float64).reshape(-1, 2)
    c1 = np.asarray(coeffs).reshape(len(ks), -1)[:, 0]
    return _wiener_filters_2d(otf.table[0].tobytes(), float(otf.drho), float(otf.cutoff),
                              (int(shape[0]), int(shape[1])), tuple(map(float, ks.ravel())),
                              tuple(complex(c) for c in c1), float(wiener), float(apodization_cutoff),
                              float(apodization_bend), float(attenuation), float(attenuation_sigma))


def _mirror_np(x: np.ndarray) -> np.ndarray:
    """``x(−f)`` on an FFT grid (last two axes)."""
    return np.roll(np.flip(x, (-2, -1)), 1, axis=(-2, -1))


@lru_cache(maxsize=8)
def _wiener_filters_2d(table_bytes: bytes, drho: float, cutoff: float, shape: tuple[int, int], ks: tuple,
                       coeffs: tuple, wiener: float, apod_cutoff: float, apod_bend: float, attenuation: float,
                       att_sigma: float) -> WienerFilters2D:
    table = np.frombuffer(table_bytes, np.float32)
    grid = np.arange(table.size, dtype=np.float64) * drho
    h, w = shape
    gy, gx = np.fft.fftfreq(2 * h, d=0.5), np.fft.fftfreq(2 * w, d=0.5)  # cycles per raw px on the 2× grid

    def otf_at(sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
        # Same arithmetic as OTFModel.band (float32 ρ, pixel box) so results match it bit for bit.
        y32, x32 = sy.astype(np.float32), sx.astype(np.float32)
        rho = np.sqrt(y32[:, None] ** 2 + x32[None, :] ** 2)
        out = np.interp(rho, grid, table).astype(np.float32)
        out *= np.cos(np.pi * y32 / 2)[:, None]
        out *= np.cos(np.pi * x32 / 2)[None, :]
        if attenuation > 0:
            out *= (1 - attenuation * np.exp(-(sy[:, None] ** 2 + sx[None, :] ** 2) / (2 * att_sigma**2))).astype(np.float32)
        return out

    k = np.asarray(ks).reshape(-1, 2)
    h0 = otf_at(gy, gx)
    den = np.float32(len(k)) * h0 * h0
    side = np.zeros_like(den)
    weight1 = np.empty((len(k), 2 * h, 2 * w), np.complex64)
    for a, (ky, kx) in enumerate(k):
        h1 = otf_at(gy + ky, gx + kx)
        c = coeffs[a]
        side += np.float32(abs(c) ** 2) * h1 * h1
        np.multiply(h1, np.complex64(2 * np.conj(c)), out=weight1[a])
    den += side + _mirror_np(side)  # band −1 of angle a sits at f − k_a: the mirror image of band +1
    rho = np.hypot(gy[:, None], gx[None, :]) / (apod_cutoff * cutoff)
    apod = (np.clip(1 - rho, 0, None) ** apod_bend).astype(np.float32)
    filt = apod / (den + np.float32(wiener**2))
    weight1 *= filt
    ry, rx = np.arange(2 * h) / 2 - 0.25, np.arange(2 * w) / 2 - 0.25
    ramp_y = np.exp(-2j * np.pi * k[:, :1] * ry[None]).astype(np.complex64)
    ramp_x = np.exp(-2j * np.pi * k[:, 1:] * rx[None]).astype(np.complex64)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    align = np.exp(-2j * np.pi * 0.25 * (fy + fx)).astype(np.complex64)
    return WienerFilters2D(h0 * filt, weight1, ramp_y, ramp_x, align)


# --- estimation ---------------------------------------------------------------------------------


def _fft2(x):
    return scipy.fft.fft2(x, workers=-1)


def _ifft2(x):
    return scipy.fft.ifft2(x, workers=-1)


def _local_dft(p: np.ndarray, centre: tuple[float, float], half: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """|DFT| of ``p`` (H, W) at frequencies centre ± half (in frequency pixels), n × n points."""
    h, w = p.shape
    off = np.linspace(-half, half, n)
    sy, sx = centre[0] + off, centre[1] + off
    ey = np.exp(-2j * np.pi * np.outer(sy / h, np.arange(h)))
    ex = np.exp(-2j * np.pi * np.outer(np.arange(w), sx / w))
    return np.abs(ey @ p @ ex), off


def estimate_pattern_bands(bands: np.ndarray, config: SIMConfig, otf: OTFModel, *,
                           spacing_tolerance: float = 0.25,
                           min_quality: float = MIN_PEAK_QUALITY,
                           regularisation: float = 0.05, n_candidates: int = 4) -> list[tuple[np.ndarray, list[complex], float]]:
    """Wave vector and band coefficients per angle from separated 2D band spectra.

    Parameters
    ----------
    bands : complex ndarray (A, 2M+1, H, W)
        Spectra (``fft2``) of the separated bands of the edge-faded, z-summed raw frames.
    config : SIMConfig
        Gives the optics, and the expected spacing (the search is limited to ±``spacing_tolerance``).

    Returns
    -------
    list of ``(k1, [c_1, …, c_M], quality)`` per angle: ``k1`` (ky, kx) order-1 wave vector in cycles
    per raw px, ``c_m`` complex band coefficient, quality = correlation peak / median in the search ring.
    """
    a_n, nb, h, w = bands.shape
    top = config.orders
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    rho = np.hypot(fy[:, None], fx[None, :])
    support = (rho < otf.cutoff).astype(np.float32)
    h0 = otf.band(0, fy, fx, projected=True)
    # k is searched on band 1 (in 3D, order 2 sits where the z-summed OTF is ~0.006, order 1 ~0.05).
    h_one = otf.band(1, fy, fx, projected=True)
    inverse_one = h_one / (h_one**2 + (regularisation * h_one.max()) ** 2)
    out = []
    for a in range(a_n):
        expected = config.pixel_size_nm / config.spacings()[a] / top
        lo = max(0.06 * otf.cutoff, expected * (1 - spacing_tolerance))
        hi = min(otf.cutoff, expected * (1 + spacing_tolerance))
        ring = (rho >= lo) & (rho <= hi)
        # Band M divided by its OTF (Wiener-regularised): otherwise the OTF's slope pulls the
        # correlation peak toward lower |k| by ~0.1 frequency pixel (measured), i.e. tens of degrees
        # of phase across a frame.
        d0 = _ifft2(bands[a, top] * support)
        dm = _ifft2(bands[a, top + 1] * inverse_one)
        corr = _fft2(np.conj(d0) * dm)
        mag = np.abs(corr)
        vals = mag[ring]
        if vals.size == 0:
            raise SIMEstimationError(f"Angle {a + 1}: no frequencies to search at spacing "
                                     f"{config.spacings()[a]:.0f} nm; check the pixel size and line spacing.")
        # Candidates: the strongest local maxima of the coarse map; each is scored on the matched
        # correlation (weights of its own k), which concentrates the pattern's energy, so the real
        # peak stands ≥ 10× over the ring median while noise's best stays near 4 (measured). On
        # small frames the coarse map's maximum alone was sometimes a noise peak.
        dm_raw = _ifft2(bands[a, top + 1])
        masked = np.where(ring, mag, -1.0)
        local = (masked == ndimage.maximum_filter(masked, size=5, mode="wrap")) & ring
        cand = np.flatnonzero(local)
        cand = cand[np.argsort(masked.ravel()[cand])[::-1][:n_candidates]]
        best = None
        for flat in cand:
            iy, ix = np.unravel_index(flat, mag.shape)
            cy = float(iy if iy < h // 2 else iy - h)
            cx = float(ix if ix < w // 2 else ix - w)
            hm = otf.band(1, fy + cy / h, fx + cx / w, projected=True)
            weight = h0 * hm * ((h0 > 0.05 * h0.max()) & (hm > 0.05 * hm.max()))
            matched = np.abs(_fft2(np.conj(_ifft2(bands[a, top] * weight)) * dm_raw))
            score = float(matched[iy, ix] / max(np.median(matched[ring]), 1e-30))
            if best is None or score > best[0]:
                best = (score, cy, cx, weight)
            if score >= 2 * min_quality:  # noise never scored above ~4 (measured): no need to look further
                break
        quality, cy, cx, weight = best if best is not None else (0.0, 0.0, 0.0, None)
        dm = dm_raw
        if not np.isfinite(quality) or quality < min_quality:
            raise SIMEstimationError(
                f"No illumination pattern found for angle {a + 1}: the strongest peak is only {quality:.1f}× the "
                f"background (need ≥ {min_quality:g}). Check that this is raw SIM data, the stack order, the numbers "
                f"of angles and phases, and the line spacing ({config.spacings()[a]:.0f} nm), or reconstruct with "
                "the pattern given (estimate off).")
        # Refine on the matched (overlap-weighted) correlation: |Σ conj(D0 H_M(f+k) H_0) D_M(f+k)|, the
        # numerator of the band coefficient, with the weights frozen at the current k (they vary slowly).
        prod = np.conj(_ifft2(bands[a, top] * weight)) * dm
        for half in (1.0, 0.1, 0.02):
            if half == 0.02:  # weights once more at the refined k for the last step
                hm = otf.band(1, fy + cy / h, fx + cx / w, projected=True)
                weight = h0 * hm * ((h0 > 0.05 * h0.max()) & (hm > 0.05 * hm.max()))
                prod = np.conj(_ifft2(bands[a, top] * weight)) * dm
            mag_local, off = _local_dft(prod, (cy, cx), half, 11)
            j = np.unravel_index(np.argmax(mag_local), mag_local.shape)
            cy, cx = cy + off[j[0]], cx + off[j[1]]
        k1 = np.array([cy / h, cx / w])
        coeffs = [band_coefficient(bands[a], m, k1, otf) for m in range(1, top + 1)]
        out.append((k1, coeffs, quality))
    return out


def band_coefficient(bands: np.ndarray, m: int, k1: np.ndarray, otf: OTFModel, *, threshold: float = 0.02) -> complex:
    """Least-squares ``c_m``: band ``m`` moved back by ``m·k1`` against band 0, where both OTFs exceed
    ``threshold`` (``bands`` (2M+1, H, W) spectra of one angle)."""
    nb, h, w = bands.shape
    top = nb // 2
    ry = np.arange(h)[:, None]
    rx = np.arange(w)[None, :]
    ramp = (np.exp(-2j * np.pi * m * k1[0] * ry) * np.exp(-2j * np.pi * m * k1[1] * rx)).astype(np.complex64)
    shifted = _fft2(_ifft2(bands[top + m]) * ramp)
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    h0 = otf.band(0, fy, fx, projected=True)
    hm = otf.band(m, fy + m * k1[0], fx + m * k1[1], projected=True)
    region = (h0 > threshold * h0.max()) & (hm > threshold * hm.max()) & (np.hypot(fy[:, None], fx[None, :]) > 0.02 * otf.cutoff)
    a = bands[top][region] * hm[region]
    b = shifted[region] * h0[region]
    denom = float(np.sum(np.abs(a) ** 2))
    # Noise in band 0 inflates Σ|a|² and biased |c| low by ~10 % at 400 photons (measured); its power
    # is flat, so it is measured where the OTF is zero (beyond the cutoff, inside the raw Nyquist).
    rho = np.hypot(fy[:, None], fx[None, :])
    outside = rho > 1.05 * otf.cutoff
    if outside.sum() > 100:
        noise = float(np.mean(np.abs(bands[top][outside]) ** 2)) * float(np.sum(hm[region] ** 2))
        denom = max(denom - noise, 0.5 * denom)
    return complex(np.sum(np.conj(a) * b) / denom) if denom > 0 else 0j
