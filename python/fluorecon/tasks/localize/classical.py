"""The classical SMLM baseline: spot detection and maximum-likelihood Gaussian fitting.

Detection: difference-of-Gaussians (σ_PSF minus 2.5·σ_PSF) and local maxima above
``threshold`` × the shot-noise standard deviation the filter leaves in the background.
Fitting: pixel-integrated Gaussian + flat background, Poisson maximum likelihood by
Levenberg–Marquardt-damped Fisher scoring, vectorised over all spots (Smith et al., Nat. Methods
7, 373 (2010); Huang et al., Nat. Methods 10, 653 (2013) for sCMOS read noise). Uncertainties are
the Cramér–Rao lower bound (inverse Fisher information at the estimate).

Camera: ADU are converted to "effective counts" that are Poisson-like: electrons divided by the
excess noise factor F (2 with EM gain) plus the read-noise variance in those units (Huang 2013's
σ² shift). Photons and background are reported back in photons at the sample.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.special import erf

from fluorecon.imaging.noise import CameraNoise
from fluorecon.tasks.localize.physics import AstigmaticPSF, empty_table

_SQRT2 = np.sqrt(2.0)
_SQRT2PI = np.sqrt(2.0 * np.pi)


def effective_counts(frames: np.ndarray, camera: CameraNoise) -> tuple[np.ndarray, float, float]:
    """ADU → Poisson-like counts. Returns (counts float32, counts per photon, read-noise shift)."""
    em = camera.em_gain or 1.0
    excess = 2.0 if camera.em_gain and camera.em_gain > 1 else 1.0
    electrons = (np.asarray(frames, np.float32) - np.float32(camera.offset)) / np.float32(camera.gain * em)
    shift = (camera.read_noise_e / em) ** 2 / excess**2
    return (electrons / np.float32(excess) + np.float32(shift)).astype(np.float32), camera.qe / excess, float(shift)


def detect_spots(counts: np.ndarray, *, sigma_px: float, threshold: float = 5.0,
                 min_distance: int = 1) -> np.ndarray:
    """Candidate spots in (T, Y, X) counts: local maxima of the DoG-filtered frames above
    `threshold` × the filter's background noise σ (from each frame's median). Returns (K, 3) int
    array of (frame, row, column)."""
    counts = np.asarray(counts, np.float32)
    if counts.ndim == 2:
        counts = counts[None]
    s1, s2 = (0, sigma_px, sigma_px), (0, 2.5 * sigma_px, 2.5 * sigma_px)
    dog = ndimage.gaussian_filter(counts, s1) - ndimage.gaussian_filter(counts, s2)
    # Noise σ of the DoG in a Poisson background of level b is sqrt(b)·‖kernel‖₂.
    impulse = np.zeros((1, 41, 41), np.float32)
    impulse[0, 20, 20] = 1
    knorm = float(np.linalg.norm(ndimage.gaussian_filter(impulse, s1) - ndimage.gaussian_filter(impulse, s2)))
    level = np.maximum(np.median(counts.reshape(len(counts), -1), axis=1), 1.0)
    noise = (np.sqrt(level) * knorm).astype(np.float32)[:, None, None]
    size = (1, 2 * min_distance + 1, 2 * min_distance + 1)
    peaks = (dog == ndimage.maximum_filter(dog, size=size, mode="nearest")) & (dog > threshold * noise)
    return np.argwhere(peaks)


def extract_rois(counts: np.ndarray, spots: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2r+1, 2r+1) boxes around `spots`, shifted to stay inside the frame; returns (rois, origins (K, 2))."""
    counts = np.asarray(counts, np.float32)
    if counts.ndim == 2:
        counts = counts[None]
    size = 2 * radius + 1
    ny, nx = counts.shape[1:]
    if ny < size or nx < size:
        raise ValueError(f"Frames of {ny}×{nx} pixels are smaller than the fitting box ({size} px); "
                         "use a smaller psf sigma or larger frames.")
    r0 = np.clip(spots[:, 1] - radius, 0, ny - size)
    c0 = np.clip(spots[:, 2] - radius, 0, nx - size)
    ar = np.arange(size)
    rois = counts[spots[:, 0, None, None], (r0[:, None] + ar)[:, :, None], (c0[:, None] + ar)[:, None, :]]
    return rois, np.stack([r0, c0], 1)


def _axis_terms(centre, sigma, n):
    """Pixel integrals and their derivatives w.r.t. centre and sigma, (K, n) each."""
    k = np.arange(n, dtype=np.float64)[None]
    lo = k - centre[:, None]
    hi = lo + 1.0
    s = sigma[:, None]
    e = 0.5 * (erf(hi / (_SQRT2 * s)) - erf(lo / (_SQRT2 * s)))
    glo, ghi = np.exp(-lo**2 / (2 * s**2)), np.exp(-hi**2 / (2 * s**2))
    d_c = (glo - ghi) / (_SQRT2PI * s)
    d_s = (lo * glo - hi * ghi) / (_SQRT2PI * s**2)
    return e, d_c, d_s


def _model(theta, size, astig):
    """Expected counts (K, n, n) and Jacobian (K, n, n, P) for θ = (x, y, N, b, σ) or (x, y, N, b, σx, σy)."""
    x, y, n, b = theta[:, 0], theta[:, 1], theta[:, 2], theta[:, 3]
    sx = theta[:, 4]
    sy = theta[:, 5] if astig else sx
    ex, dex, dsx = _axis_terms(x, sx, size)
    ey, dey, dsy = _axis_terms(y, sy, size)
    psf = ey[:, :, None] * ex[:, None, :]
    mu = b[:, None, None] + n[:, None, None] * psf
    jac = [n[:, None, None] * ey[:, :, None] * dex[:, None, :],
           n[:, None, None] * dey[:, :, None] * ex[:, None, :],
           psf, np.ones_like(psf)]
    if astig:
        jac += [n[:, None, None] * ey[:, :, None] * dsx[:, None, :], n[:, None, None] * dsy[:, :, None] * ex[:, None, :]]
    else:
        jac += [n[:, None, None] * (dsy[:, :, None] * ex[:, None, :] + ey[:, :, None] * dsx[:, None, :])]
    return mu, np.stack(jac, -1)


def _loglik(data, mu):
    return np.sum(data * np.log(mu) - mu, axis=(1, 2))


def mle_fit(rois: np.ndarray, *, sigma_px: float, astigmatic: bool = False, num_iter: int = 30,
            shift: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson MLE of a pixel-integrated Gaussian + background on each ROI.

    Parameters
    ----------
    rois : ndarray (K, n, n)
        Poisson-like counts (see :func:`effective_counts`), the read-noise `shift` included.
    sigma_px : float
        Starting PSF width in pixels (the width is fitted; per axis when `astigmatic`).
    num_iter : int
        Damped Fisher-scoring iterations.
    shift : float
        Constant read-noise shift inside the counts (part of the model, not of the background).

    Returns
    -------
    theta : (K, P) float64 — x, y (pixels inside the ROI, pixel centres at i+0.5), N, b, σ[, σy]
    crlb : (K, P) float64 — Cramér–Rao variances of each parameter
    loglik : (K,) float64
    """
    data = np.asarray(rois, np.float64)
    k, size = data.shape[0], data.shape[1]
    p = 6 if astigmatic else 5
    if k == 0:
        return np.zeros((0, p)), np.zeros((0, p)), np.zeros(0)
    data = np.maximum(data, 1e-6)
    # Start: background from the box edge, photons from the excess, centre from the centroid.
    edge = np.concatenate([data[:, 0], data[:, -1], data[:, 1:-1, 0], data[:, 1:-1, -1]], axis=1)
    b0 = np.maximum(np.median(edge, axis=1) - shift, 0.5)
    excess = np.clip(data - shift - b0[:, None, None], 0, None)
    n0 = np.maximum(excess.sum(axis=(1, 2)), 10.0)
    grid = np.arange(size) + 0.5
    wsum = excess.sum(axis=(1, 2)) + 1e-9
    x0 = np.where(wsum > 1e-6, (excess.sum(axis=1) * grid).sum(1) / wsum, size / 2)
    y0 = np.where(wsum > 1e-6, (excess.sum(axis=2) * grid).sum(1) / wsum, size / 2)
    theta = np.column_stack([x0, y0, n0, b0] + [np.full(k, float(sigma_px))] * (p - 4))
    lower = np.array([-1.0, -1.0, 1.0, 1e-3] + [0.3] * (p - 4))
    upper = np.array([size + 1.0, size + 1.0, np.inf, np.inf] + [max(4.0, 3 * sigma_px)] * (p - 4))
    lam = np.full(k, 1e-3)

    def evaluate(th):
        mu, jac = _model(th, size, astigmatic)
        mu = mu + shift
        return mu, jac, _loglik(data, mu)

    mu, jac, ll = evaluate(theta)
    eye = np.eye(p)
    for _ in range(num_iter):
        w = (data / mu - 1.0)[..., None]
        grad = np.sum(w * jac, axis=(1, 2))
        fisher = np.einsum("kyxp,kyxq->kpq", jac / mu[..., None], jac)
        damp = fisher + lam[:, None, None] * fisher * eye
        try:
            step = np.linalg.solve(damp + 1e-9 * eye, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(damp[0], grad[0], rcond=None)[0][None] if k == 1 else np.zeros_like(grad)
        candidate = np.clip(theta + step, lower, upper)
        mu_c, jac_c, ll_c = evaluate(candidate)
        better = ll_c >= ll
        theta = np.where(better[:, None], candidate, theta)
        mu = np.where(better[:, None, None], mu_c, mu)
        jac = np.where(better[:, None, None, None], jac_c, jac)
        ll = np.where(better, ll_c, ll)
        lam = np.where(better, lam * 0.3, lam * 10.0).clip(1e-7, 1e7)
    fisher = np.einsum("kyxp,kyxq->kpq", jac / mu[..., None], jac)
    try:
        cov = np.linalg.inv(fisher + 1e-12 * eye)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(fisher)
    crlb = np.abs(np.diagonal(cov, axis1=1, axis2=2))
    return theta, crlb, ll


def localize_mle(frames: np.ndarray, *, camera: CameraNoise, pixel_size_nm: float, sigma_nm: float = 130.0,
                 astigmatism: AstigmaticPSF | None = None, threshold: float = 5.0, min_distance: int = 1,
                 num_iter: int = 30, chunk_frames: int = 256, progress=None) -> np.ndarray:
    """Localise single molecules in an ADU stack by detection + Poisson MLE Gaussian fitting.

    Parameters
    ----------
    frames : ndarray (T, Y, X) or (Y, X), camera ADU
    camera : CameraNoise
        Offset, gain (ADU/e⁻), EM gain, QE and read noise of the camera.
    pixel_size_nm : float
        Camera pixel size in the sample plane.
    sigma_nm : float
        PSF width σ (the starting value of the fit and the detection filter's scale); for an
        astigmatic PSF its in-focus width is used.
    astigmatism : AstigmaticPSF, optional
        Calibration curve; when given, σx and σy are fitted and z follows from the curve.
    threshold : float
        Detection threshold in background-noise σ of the DoG filter (raise it for fewer false spots).
    progress : callable(done, total), optional

    Returns
    -------
    Localisation table (see :func:`fluorecon.tasks.localize.physics.empty_table`), lateral CRLB in
    ``uncertainty_nm``; fits that ran off their box or to implausible widths are dropped.
    """
    frames = np.asarray(frames, np.float32)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise ValueError(f"frames must be (T, Y, X) or (Y, X), got shape {frames.shape}.")
    if pixel_size_nm <= 0:
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm}.")
    astig = astigmatism is not None
    sigma_px = (astigmatism.sigma0_nm if astig else sigma_nm) / pixel_size_nm
    radius = max(2, int(np.ceil(3 * sigma_px * (1.5 if astig else 1.0))))
    tables = []
    total = len(frames)
    for start in range(0, total, chunk_frames):
        counts, per_photon, shift = effective_counts(frames[start:start + chunk_frames], camera)
        spots = detect_spots(counts, sigma_px=sigma_px, threshold=threshold, min_distance=min_distance)
        rois, origin = extract_rois(counts, spots, radius)
        theta, crlb, _ = mle_fit(rois, sigma_px=sigma_px, astigmatic=astig, num_iter=num_iter, shift=shift)
        size = 2 * radius + 1
        ok = np.all(np.isfinite(theta), 1) & (theta[:, 0] > 0) & (theta[:, 0] < size) & \
            (theta[:, 1] > 0) & (theta[:, 1] < size) & (theta[:, 4:] < 0.999 * max(4.0, 3 * sigma_px)).all(1) & \
            (theta[:, 4:] > 0.31).all(1)
        theta, crlb, spots, origin = theta[ok], crlb[ok], spots[ok], origin[ok]
        t = empty_table(len(theta))
        t["frame"] = spots[:, 0] + start
        t["x_nm"] = (origin[:, 1] + theta[:, 0]) * pixel_size_nm
        t["y_nm"] = (origin[:, 0] + theta[:, 1]) * pixel_size_nm
        t["photons"] = theta[:, 2] / per_photon
        t["background"] = theta[:, 3] / per_photon
        t["bkgstd"] = np.sqrt(theta[:, 3] + shift) / per_photon
        t["uncertainty_nm"] = np.sqrt((crlb[:, 0] + crlb[:, 1]) / 2) * pixel_size_nm
        if astig:
            sx, sy = theta[:, 4] * pixel_size_nm, theta[:, 5] * pixel_size_nm
            t["sigma_nm"] = np.sqrt(sx * sy)
            t["z_nm"] = astigmatism.z_from_sigmas(sx, sy)
            # Fisher information on z from both widths (error propagation through the curve).
            z = t["z_nm"].astype(np.float64)
            h = 1.0
            dsx = (astigmatism.sigmas_nm(z + h)[0] - astigmatism.sigmas_nm(z - h)[0]) / (2 * h)
            dsy = (astigmatism.sigmas_nm(z + h)[1] - astigmatism.sigmas_nm(z - h)[1]) / (2 * h)
            info = dsx**2 / (crlb[:, 4] * pixel_size_nm**2) + dsy**2 / (crlb[:, 5] * pixel_size_nm**2)
            t["uncertainty_z_nm"] = 1.0 / np.sqrt(np.maximum(info, 1e-12))
        else:
            t["sigma_nm"] = theta[:, 4] * pixel_size_nm
            t["z_nm"] = 0.0
        tables.append(t)
        if progress is not None:
            progress(min(start + chunk_frames, total), total)
    return np.concatenate(tables) if tables else empty_table(0)
