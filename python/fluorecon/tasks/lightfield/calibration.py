"""Lenslet-grid calibration and rectification of raw light-field images.

A white (radiometry) image — a uniform sample, or no sample with transmitted light — shows one
bright disc per lenslet (the image of the objective's back aperture). :func:`calibrate` finds the
square lattice of their centres: the lowest-frequency strong peak of the windowed power spectrum
gives the pitch and rotation, both fundamental frequencies are refined by maximising the
windowed DFT's magnitude, and the phases of those two Fourier coefficients give the lattice offset
(for centrally symmetric discs the coefficient's phase is ``−2π g·o``). :func:`rectify` then
resamples the raw image so that every lenslet is exactly ``nnum`` × ``nnum`` pixels (``nnum`` odd)
and its centre falls on a pixel centre: the geometry the projector assumes.

Conventions: pixel ``(y, x)`` has its centre at integer coordinates. Lenslet ``(i, j)`` (row,
column) of the grid has its centre at ``x = ox + j p cos t − i p sin t``,
``y = oy + j p sin t + i p cos t`` (``t`` = ``rotation_deg``; positive turns the lenslet rows from
the +x axis towards +y, i.e. clockwise on screen). Lenslet (0, 0) is the top-left lenslet whose
whole cell lies in the image, and the grid is the largest block of whole cells.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage
import scipy.optimize
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LensletGrid", "calibrate", "rectify", "unrectify", "white_image", "odd_nnum"]


class LensletGrid(BaseModel):
    """A calibrated lenslet grid on a raw sensor image (JSON: ``fluorecon lightfield calibrate``)."""

    model_config = ConfigDict(extra="forbid")
    pitch_px: float = Field(gt=1, description="Lenslet pitch in raw camera pixels.")
    rotation_deg: float = Field(ge=-45, le=45, description="Rotation of the lenslet rows against the x axis, degrees.")
    origin_yx_px: tuple[float, float] = Field(description="Centre of lenslet (0, 0), raw pixels (y, x).")
    n_lenslets: tuple[int, int] = Field(description="Whole lenslets in the grid, (rows, columns).")
    nnum: int = Field(ge=3, le=51, description="Pixels per lenslet after rectification (odd).")
    image_shape: tuple[int, int] = Field(description="Shape (y, x) of the raw images this grid belongs to.")

    def centres(self) -> np.ndarray:
        """Lenslet centres, raw pixels, shape (rows, columns, 2) as (y, x)."""
        i, j = np.meshgrid(np.arange(self.n_lenslets[0]), np.arange(self.n_lenslets[1]), indexing="ij")
        return np.stack(_lattice(self.origin_yx_px, self.pitch_px, self.rotation_deg, i, j), axis=-1)

    @property
    def rectified_shape(self) -> tuple[int, int]:
        return self.n_lenslets[0] * self.nnum, self.n_lenslets[1] * self.nnum


def _lattice(origin, pitch, rotation_deg, i, j):
    t = math.radians(rotation_deg)
    y = origin[0] + pitch * (j * math.sin(t) + i * math.cos(t))
    x = origin[1] + pitch * (j * math.cos(t) - i * math.sin(t))
    return y, x


def odd_nnum(pitch_px: float) -> int:
    """The odd number of pixels per lenslet closest to the measured pitch (at least 3)."""
    return max(3, 2 * int(round((pitch_px - 1) / 2)) + 1)


def white_image(
    shape: tuple[int, int],
    *,
    pitch_px: float,
    rotation_deg: float = 0.0,
    origin_yx_px: tuple[float, float] | None = None,
    disc_fraction: float = 0.85,
    vignetting: float = 0.2,
    photons: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Simulated white image of a lenslet array: one soft-edged disc per lenslet.

    Parameters
    ----------
    shape : (int, int)
        Image size (y, x).
    pitch_px, rotation_deg, origin_yx_px :
        The lattice (conventions of :class:`LensletGrid`; the origin may be any lattice point).
    disc_fraction : float
        Disc diameter / pitch.
    vignetting : float
        Fractional intensity fall-off towards the image corners.
    photons : float, optional
        Peak photons for Poisson noise; None gives the noise-free image.

    Returns
    -------
    ndarray, float32, ``shape``
    """
    origin = origin_yx_px if origin_yx_px is not None else (shape[0] / 2, shape[1] / 2)
    t = math.radians(rotation_deg)
    sub = 3  # pixel integration
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    yy, xx = np.meshgrid(np.arange(shape[0], dtype=np.float64), np.arange(shape[1], dtype=np.float64), indexing="ij")
    image = np.zeros(shape, np.float64)
    radius = disc_fraction * pitch_px / 2
    for dy in offsets:
        for dx in offsets:
            ry, rx = yy + dy - origin[0], xx + dx - origin[1]
            # Lattice coordinates (i rows, j columns) and the distance to the nearest centre.
            j = (rx * math.cos(t) + ry * math.sin(t)) / pitch_px
            i = (-rx * math.sin(t) + ry * math.cos(t)) / pitch_px
            dist = pitch_px * np.hypot(i - np.round(i), j - np.round(j))
            image += 0.5 * (1 - np.tanh((dist - radius) / 0.6))
    image /= sub * sub
    cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    fall = ((yy - cy) / max(cy, 1)) ** 2 + ((xx - cx) / max(cx, 1)) ** 2
    image *= 1 - vignetting * fall / 2
    if photons is not None:
        image = np.random.default_rng(seed).poisson(image * photons).astype(np.float64)
    return image.astype(np.float32)


def _dft(weighted: np.ndarray, g: np.ndarray) -> complex:
    """Windowed DFT of the image at frequency ``g = (gy, gx)`` cycles/pixel (any real value)."""
    ey = np.exp(-2j * np.pi * g[0] * np.arange(weighted.shape[0]))
    ex = np.exp(-2j * np.pi * g[1] * np.arange(weighted.shape[1]))
    return complex(ey @ weighted @ ex)


def _refine(weighted: np.ndarray, g0: np.ndarray, step: float) -> np.ndarray:
    result = scipy.optimize.minimize(lambda g: -abs(_dft(weighted, g)), g0, method="Nelder-Mead",
                                     options={"xatol": 1e-7, "fatol": 1e-9, "initial_simplex":
                                              [g0, g0 + [step, 0], g0 + [0, step]], "maxiter": 400})
    return result.x


def _coarse_peak(weighted: np.ndarray, pitch_px: float | None) -> np.ndarray:
    h, w = weighted.shape
    power = np.abs(np.fft.rfft2(weighted)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.hypot(fy, fx)
    lowest = 3.0 / min(h, w)  # at least three lenslets across the image
    if pitch_px is not None:
        band = (radius > 0.7 / pitch_px) & (radius < 1.3 / pitch_px)
    else:
        band = (radius >= lowest) & (radius < 0.5)
    power = np.where(band, power, 0)
    if not power.any():
        raise ValueError("The white image shows no lenslet pattern; check it is a white/radiometry image of the "
                         "light-field camera (uniform light through the microlenses).")
    peaks = (power == scipy.ndimage.maximum_filter(power, size=3)) & (power > 0.1 * power.max())
    ky, kx = np.nonzero(peaks)
    # The fundamental is the strong peak of lowest frequency (harmonics sit at multiples).
    k = np.argmin(radius[ky, kx])
    return np.array([fy[ky[k], 0], fx[0, kx[k]]])


def calibrate(white, *, nnum: int | None = None, pitch_px: float | None = None) -> LensletGrid:
    """Find the lenslet grid in a white (radiometry) light-field image.

    Parameters
    ----------
    white : ndarray, (y, x)
        White image, any real dtype (averaging several frames helps).
    nnum : int, optional
        Pixels per lenslet after rectification (odd); default the odd number closest to the pitch.
    pitch_px : float, optional
        Expected pitch in pixels, to guide the search (±30 %); found automatically otherwise.

    Returns
    -------
    LensletGrid

    Examples
    --------
    >>> grid = calibrate(white)
    >>> lf = rectify(raw, grid)        # (rows·nnum, columns·nnum)
    """
    image = np.asarray(white, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"The white image has shape {image.shape}; give one 2D plane (average a stack first).")
    if not np.isfinite(image).all():
        raise ValueError("The white image contains NaN or infinite values.")
    if min(image.shape) < 16:
        raise ValueError(f"The white image is {image.shape} pixels; calibration needs at least 16 × 16.")
    if nnum is not None and (nnum < 3 or nnum % 2 == 0):
        raise ValueError(f"nnum={nnum}: use an odd number of pixels per lenslet, at least 3.")
    h, w = image.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    weighted = (image - image.mean()) * window
    g = _coarse_peak(weighted, pitch_px)
    # Lattice directions: g_j (columns) near the +x axis, g_i (rows) near +y.
    g_a = g if abs(g[1]) >= abs(g[0]) else np.array([-g[1], g[0]])
    if g_a[1] < 0:
        g_a = -g_a
    g_j = _refine(weighted, g_a, 0.2 / max(h, w))
    g_i = _refine(weighted, np.array([g_j[1], -g_j[0]]), 0.2 / max(h, w))
    if g_i[0] < 0:
        g_i = -g_i
    pitch = 2 / (np.hypot(*g_j) + np.hypot(*g_i))
    angle_j = math.atan2(g_j[0], g_j[1])
    angle_i = math.atan2(g_i[0], g_i[1]) - math.pi / 2
    rotation = math.degrees(math.atan2(math.sin(angle_j) + math.sin(angle_i), math.cos(angle_j) + math.cos(angle_i)))
    # Offset from the Fourier phases: g·o = −φ/2π (mod 1) along both reciprocal vectors.
    frac_j = -np.angle(_dft(weighted, g_j)) / (2 * np.pi)
    frac_i = -np.angle(_dft(weighted, g_i)) / (2 * np.pi)
    o = np.array(_lattice((0.0, 0.0), pitch, rotation, frac_i, frac_j))
    return _whole_cells(o, pitch, rotation, (h, w), nnum or odd_nnum(pitch))


def _whole_cells(origin, pitch, rotation, shape, nnum) -> LensletGrid:
    h, w = shape
    span = int(math.ceil(max(h, w) / pitch)) + 2
    i, j = np.meshgrid(np.arange(-span, span + 1), np.arange(-span, span + 1), indexing="ij")
    inside = np.ones(i.shape, bool)
    for di in (-0.5, 0.5):
        for dj in (-0.5, 0.5):
            y, x = _lattice(origin, pitch, rotation, i + di, j + dj)
            inside &= (y >= -0.5) & (y <= h - 0.5) & (x >= -0.5) & (x <= w - 0.5)
    if not inside.any():
        raise ValueError(f"No whole lenslet fits in the {shape} image with a pitch of {pitch:.2f} px.")
    rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
    r0, r1, c0, c1 = rows[0], rows[-1], cols[0], cols[-1]
    while not inside[r0: r1 + 1, c0: c1 + 1].all():  # shrink the side with most missing cells
        block = inside[r0: r1 + 1, c0: c1 + 1]
        sides = {"top": (~block[0]).sum(), "bottom": (~block[-1]).sum(), "left": (~block[:, 0]).sum(),
                 "right": (~block[:, -1]).sum()}
        side = max(sides, key=sides.get)
        r0, r1, c0, c1 = r0 + (side == "top"), r1 - (side == "bottom"), c0 + (side == "left"), c1 - (side == "right")
    start = _lattice(origin, pitch, rotation, i[r0, c0], j[r0, c0])
    return LensletGrid(pitch_px=float(pitch), rotation_deg=float(rotation),
                       origin_yx_px=(float(start[0]), float(start[1])),
                       n_lenslets=(int(r1 - r0 + 1), int(c1 - c0 + 1)), nnum=int(nnum), image_shape=(h, w))


def rectify(image, grid: LensletGrid, *, order: int = 1) -> np.ndarray:
    """Resample a raw light-field image onto ``grid.nnum`` pixels per lenslet.

    Parameters
    ----------
    image : ndarray, (y, x) or (..., y, x)
        Raw image(s) of the shape the grid was calibrated on.
    grid : LensletGrid
    order : int
        Spline order of the interpolation (1 = bilinear, keeps values non-negative).

    Returns
    -------
    ndarray, float32, (..., rows·nnum, columns·nnum)
        Lenslet ``(i, j)``'s centre is pixel ``(i·nnum + nnum//2, j·nnum + nnum//2)``. Values are
        interpolated, not re-integrated: a pixel keeps the raw image's units per raw pixel.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.ndim < 2 or tuple(array.shape[-2:]) != tuple(grid.image_shape):
        raise ValueError(f"The image has shape {array.shape} but the calibration is for {tuple(grid.image_shape)} "
                         "images; calibrate with a white image from the same camera settings.")
    n = grid.nnum
    ny, nx = grid.rectified_shape
    # Lattice coordinates of every output pixel: lenslet index + offset from its centre pixel.
    si, sj = np.meshgrid(np.arange(ny) // n + (np.arange(ny) % n - (n - 1) / 2) / n,
                         np.arange(nx) // n + (np.arange(nx) % n - (n - 1) / 2) / n, indexing="ij")
    y, x = _lattice(grid.origin_yx_px, grid.pitch_px, grid.rotation_deg, si, sj)
    flat = array.reshape(-1, *array.shape[-2:])
    out = np.stack([scipy.ndimage.map_coordinates(plane, [y, x], order=order, mode="nearest") for plane in flat])
    return out.reshape(*array.shape[:-2], ny, nx).astype(np.float32)


def unrectify(lf, grid: LensletGrid, *, order: int = 1) -> np.ndarray:
    """Render a rectified light field onto the raw sensor of ``grid`` (the inverse of :func:`rectify`,
    for simulations): raw pixels outside the grid's lenslets are 0.

    Parameters
    ----------
    lf : ndarray, (rows·nnum, columns·nnum)
    grid : LensletGrid

    Returns
    -------
    ndarray, float32, ``grid.image_shape``
    """
    array = np.asarray(lf, dtype=np.float32)
    if array.shape != grid.rectified_shape:
        raise ValueError(f"The light field has shape {array.shape}; the grid expects {grid.rectified_shape}.")
    n, t = grid.nnum, math.radians(grid.rotation_deg)
    yy, xx = np.meshgrid(np.arange(grid.image_shape[0], dtype=np.float64),
                         np.arange(grid.image_shape[1], dtype=np.float64), indexing="ij")
    ry, rx = yy - grid.origin_yx_px[0], xx - grid.origin_yx_px[1]
    j = (rx * math.cos(t) + ry * math.sin(t)) / grid.pitch_px
    i = (-rx * math.sin(t) + ry * math.cos(t)) / grid.pitch_px
    coords = [i * n + (n - 1) / 2, j * n + (n - 1) / 2]
    return scipy.ndimage.map_coordinates(array, coords, order=order, mode="constant", cval=0.0).astype(np.float32)
