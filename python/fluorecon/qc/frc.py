"""Fourier ring correlation (FRC): resolution from two independent images of the same object.

``FRC(q) = Σ_ring F1·F2* / sqrt(Σ_ring |F1|² · Σ_ring |F2|²)`` over rings of spatial frequency q;
the resolution is 1/q where the curve first drops below a threshold, 1/7 by default (Nieuwenhuizen
et al., "Measuring image resolution in optical nanoscopy", Nat. Methods 10, 557 (2013); Banterle et
al., J. Struct. Biol. 183, 363 (2013)). For SMLM the two images are renderings of two halves of
the localisations (:func:`frc_resolution_localizations`).

Images are multiplied by a Tukey window before the transform so the image border does not add a
cross of spurious correlation; rings are one frequency step (1/(N·pixel)) wide, N the shorter side.
"""

from __future__ import annotations

import numpy as np

FRC_THRESHOLD = 1.0 / 7.0


def _tukey(n: int, alpha: float = 0.25) -> np.ndarray:
    w = np.ones(n)
    edge = int(np.floor(alpha * (n - 1) / 2))
    if edge > 0:
        ramp = 0.5 * (1 + np.cos(np.pi * (2 * np.arange(edge) / (alpha * (n - 1)) - 1)))
        w[:edge] = ramp
        w[-edge:] = ramp[::-1]
    return w


def frc_curve(image1: np.ndarray, image2: np.ndarray, *, pixel_size_nm: float = 1.0,
              window: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """FRC of two 2D images.

    Parameters
    ----------
    image1, image2 : ndarray (Y, X), same shape, any real dtype
    pixel_size_nm : float
        Pixel size; frequencies come back in cycles per nm.
    window : bool
        Apply a Tukey window (α = 0.25) to both images first.

    Returns
    -------
    frequency : (R,) float64, ring centres in 1/nm, up to Nyquist 1/(2·pixel)
    frc : (R,) float64, correlation per ring (NaN where a ring is empty of power)

    Examples
    --------
    >>> q, c = frc_curve(a, b, pixel_size_nm=10)  # doctest: +SKIP
    """
    q, frc, _ = _frc(image1, image2, pixel_size_nm=pixel_size_nm, window=window)
    return q, frc


def _frc(image1, image2, *, pixel_size_nm: float, window: bool = True):
    """(frequencies, FRC, pixels per ring)."""
    a = np.asarray(image1, np.float64)
    b = np.asarray(image2, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"FRC needs two 2D images of the same shape, got {a.shape} and {b.shape}.")
    if min(a.shape) < 8:
        raise ValueError(f"FRC needs images of at least 8×8 pixels, got {a.shape}.")
    if pixel_size_nm <= 0:
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm}.")
    a, b = a - a.mean(), b - b.mean()
    if window:
        w = np.outer(_tukey(a.shape[0]), _tukey(a.shape[1]))
        a, b = a * w, b * w
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    qy = np.fft.fftfreq(a.shape[0], d=pixel_size_nm)
    qx = np.fft.fftfreq(a.shape[1], d=pixel_size_nm)
    q = np.hypot(qy[:, None], qx[None, :])
    step = 1.0 / (min(a.shape) * pixel_size_nm)
    ring = np.rint(q / step).astype(int).ravel()
    nrings = int(np.floor(0.5 / pixel_size_nm / step)) + 1
    keep = ring < nrings
    ring = ring[keep]
    num = np.bincount(ring, (fa * np.conj(fb)).real.ravel()[keep], nrings)
    pa = np.bincount(ring, (np.abs(fa) ** 2).ravel()[keep], nrings)
    pb = np.bincount(ring, (np.abs(fb) ** 2).ravel()[keep], nrings)
    with np.errstate(invalid="ignore", divide="ignore"):
        frc = num / np.sqrt(pa * pb)
    return np.arange(nrings) * step, frc, np.bincount(ring, minlength=nrings)


def frc_resolution(image1: np.ndarray, image2: np.ndarray, *, pixel_size_nm: float = 1.0,
                   threshold: float = FRC_THRESHOLD, smooth: int = 3) -> float:
    """FRC resolution in nm: 1/q at the first crossing of `threshold` (1/7) by the FRC curve.

    The curve is smoothed with a `smooth`-ring running mean (the raw curve is noisy ring to ring)
    and the crossing is interpolated linearly. Returns NaN when the curve never rises above the
    threshold (no shared signal), and the Nyquist limit 2·pixel when it never falls below.
    "Shared signal" means at least one ring above both the threshold and 3/sqrt(pixels in the
    ring), the 3σ scatter of the FRC of unrelated images — the few-pixel rings near zero
    frequency would otherwise cross 1/7 by chance.
    """
    q, frc, count = _frc(image1, image2, pixel_size_nm=pixel_size_nm)
    frc = np.nan_to_num(frc, nan=0.0)
    if not np.any((frc[1:] > threshold) & (frc[1:] > 3.0 / np.sqrt(np.maximum(count[1:], 1)))):
        return float("nan")
    if smooth > 1:
        kernel = np.ones(smooth) / smooth
        frc = np.convolve(np.pad(frc, smooth // 2, mode="edge"), kernel, mode="valid")[: len(q)]
    # Skip the DC ring (mean removed, so 0 there by construction).
    above = frc[1:] >= threshold
    if not above.any():
        return float("nan")
    below = np.nonzero(~above)[0]
    below = below[below > np.argmax(above)]
    if len(below) == 0:
        return 2.0 * pixel_size_nm
    i = below[0] + 1  # index in the full curve of the first ring under the threshold
    f0, f1 = frc[i - 1], frc[i]
    qc = q[i - 1] + (f0 - threshold) / (f0 - f1) * (q[i] - q[i - 1])
    return float(1.0 / qc)


def frc_resolution_localizations(table: np.ndarray, *, shape_nm: tuple[float, float], pixel_size_nm: float = 10.0,
                                 sigma_nm: float | None = None, seed: int = 0) -> float:
    """FRC resolution (nm) of an SMLM data set: the localisations are split at random into two halves
    (blocks of whole frames, so one blink's repeated localisations stay together), each half is
    rendered (:func:`fluorecon.tasks.localize.physics.render_localizations`) and the two renderings compared."""
    from fluorecon.tasks.localize.physics import render_localizations

    rng = np.random.default_rng(seed)
    frames = np.unique(table["frame"])
    blocks = frames // 50
    chosen = rng.random(int(blocks.max()) + 1 if len(blocks) else 0) < 0.5
    half = chosen[table["frame"] // 50]
    imgs = [render_localizations(table[m], shape_nm=shape_nm, pixel_size_nm=pixel_size_nm, sigma_nm=sigma_nm)
            for m in (half, ~half)]
    return frc_resolution(imgs[0], imgs[1], pixel_size_nm=pixel_size_nm)
