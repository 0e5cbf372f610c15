"""Point spread functions: theoretical (widefield, confocal) from ``psfmodels`` (else the built-in scalar model
of :mod:`fluorecon.imaging.psf_scalar`) and measured.

Conventions shared by every function here (and by :mod:`fluorecon.imaging.forward`):

* float32, normalised to sum 1;
* the PSF centre (the focus, or the bead's centroid) sits at index ``n // 2`` on every axis,
  so an odd-sized PSF is centred exactly and convolution with ``mode="same"`` does not shift;
* 2D PSFs are the in-focus plane of the 3D model (what a single widefield plane records of a
  thin object at focus).
"""

from __future__ import annotations

from collections.abc import Sequence

import warnings

import numpy as np
from scipy import ndimage

from fluorecon.imaging.psf_scalar import scalar_psf

try:  # wheels for CPython 3.10 and 3.11 only (psfmodels 0.3.3); elsewhere the built-in scalar model stands in
    import psfmodels
except ImportError:  # pragma: no cover - depends on the environment
    psfmodels = None

__all__ = ["psf_widefield", "psf_confocal", "psf_from_image", "psf_border_background", "airy_units_nm",
           "axial_energy_extent"]


def _shape_tuple(shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (int(shape),) * 2 if np.isscalar(shape) else tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(
            f"shape={shape!r}: give (ny, nx) for a 2D PSF or (nz, ny, nx) for a 3D PSF, "
            "all sizes >= 1."
        )
    return shape


def _check_optics(na: float, wavelength_nm: float, pixel_size_nm: float, ni: float) -> None:
    if not 0 < na < ni:
        raise ValueError(
            f"na={na}: the numerical aperture must be positive and below the immersion index "
            f"ni={ni} (e.g. na=1.4 with oil ni=1.515, na=0.8 with air ni=1.0)."
        )
    if not wavelength_nm > 0:
        raise ValueError(f"wavelength_nm={wavelength_nm}: give the emission wavelength in nm, e.g. 520.")
    if not pixel_size_nm > 0:
        raise ValueError(
            f"pixel_size_nm={pixel_size_nm}: give the pixel size in sample space in nm, e.g. 65."
        )


def _model_psf(
    shape: tuple[int, ...],
    *,
    na: float,
    wavelength_nm: float,
    pixel_size_nm: float,
    z_step_nm: float | None,
    ni: float,
    ns: float,
    depth_nm: float,
    model: str,
) -> np.ndarray:
    """Unnormalised psfmodels PSF of ``shape`` with the focus at index ``n // 2``."""
    _check_optics(na, wavelength_nm, pixel_size_nm, ni)
    if len(shape) == 3:
        if z_step_nm is None or not z_step_nm > 0:
            raise ValueError(
                f"z_step_nm={z_step_nm}: a 3D PSF needs the z step in nm (e.g. 200)."
            )
        nz = shape[0]
    else:
        nz = 1
    # psfmodels centres the focus on the middle of an odd-sized grid; compute odd sizes and
    # crop the last row/plane so the focus lands on n // 2 for even sizes too.
    nz_odd = 2 * (nz // 2) + 1
    nxy = 2 * (max(shape[-2:]) // 2) + 1
    if psfmodels is not None:
        kernel = psfmodels.make_psf(
            nz_odd,
            nxy,
            dxy=pixel_size_nm / 1000.0,
            dz=(z_step_nm or pixel_size_nm) / 1000.0,
            pz=depth_nm / 1000.0,
            NA=na,
            wvl=wavelength_nm / 1000.0,
            ns=ns,
            ni=ni,
            ni0=ni,
            model=model,
        )
    else:
        kernel = _builtin_psf(nz_odd, nxy, na=na, wavelength_nm=wavelength_nm, pixel_size_nm=pixel_size_nm,
                              z_step_nm=z_step_nm, ni=ni, ns=ns, depth_nm=depth_nm, model=model)
    cz, cxy = nz_odd // 2, nxy // 2
    ny, nx = shape[-2:]
    planes = slice(cz - nz // 2, cz - nz // 2 + nz)
    kernel = kernel[planes, cxy - ny // 2 : cxy - ny // 2 + ny, cxy - nx // 2 : cxy - nx // 2 + nx]
    return kernel if len(shape) == 3 else kernel[0]


def _builtin_psf(nz: int, nxy: int, *, na: float, wavelength_nm: float, pixel_size_nm: float,
                 z_step_nm: float | None, ni: float, ns: float, depth_nm: float, model: str) -> np.ndarray:
    """The scalar model of :mod:`fluorecon.imaging.psf_scalar`, where psfmodels is not installed."""
    if model == "gaussian" or (depth_nm > 0 and ns != ni):
        raise ValueError(
            f"model={model!r}, depth_nm={depth_nm}: needs the psfmodels package, which has wheels for Python 3.10 "
            "and 3.11 only; install it (pip install psfmodels) or use the built-in scalar model at depth_nm=0."
        )
    if model == "vectorial":
        warnings.warn("psfmodels is not installed: using the built-in scalar PSF model instead of the vectorial one "
                      "(slightly narrower at high NA).", stacklevel=4)
    return scalar_psf(nz, nxy, dxy_um=pixel_size_nm / 1000.0, dz_um=(z_step_nm or pixel_size_nm) / 1000.0,
                      pz_um=depth_nm / 1000.0, na=na, wavelength_um=wavelength_nm / 1000.0, ni=ni, ns=ns)


def _normalised(kernel: np.ndarray) -> np.ndarray:
    kernel = np.clip(np.asarray(kernel, dtype=np.float64), 0, None)
    total = kernel.sum()
    if not total > 0:
        raise ValueError("The PSF sums to zero after background subtraction; check the PSF image.")
    return (kernel / total).astype(np.float32)


def psf_widefield(
    shape: int | Sequence[int],
    *,
    na: float,
    wavelength_nm: float,
    pixel_size_nm: float,
    z_step_nm: float | None = None,
    ni: float = 1.515,
    ns: float = 1.33,
    depth_nm: float = 0.0,
    model: str = "vectorial",
) -> np.ndarray:
    """Widefield PSF (Gibson–Lanni / Aguet vectorial model via ``psfmodels``).

    Parameters
    ----------
    shape : int or (ny, nx) or (nz, ny, nx)
        Output size in pixels; an int gives a square 2D PSF. Odd sizes are centred exactly.
    na : float
        Numerical aperture of the objective.
    wavelength_nm : float
        Emission wavelength in nm.
    pixel_size_nm : float
        Lateral pixel size in sample space, nm.
    z_step_nm : float, optional
        Axial step in nm; required for a 3D shape.
    ni, ns : float
        Refractive index of the immersion medium (design = actual) and of the sample.
    depth_nm : float
        Depth of the emitter above the coverslip; > 0 adds the spherical aberration of an
        index mismatch ``ni != ns``.
    model : {"vectorial", "scalar", "gaussian"}
        psfmodels model.

    Returns
    -------
    psf : ndarray, float32, ``shape``
        Sums to 1; focus at index ``n // 2`` on every axis. A 2D PSF is the in-focus plane.

    Examples
    --------
    >>> psf = psf_widefield((33, 33), na=1.4, wavelength_nm=520, pixel_size_nm=40)
    >>> float(psf.sum())  # doctest: +ELLIPSIS
    1.0...

    References
    ----------
    Aguet F. (2009) Super-resolution fluorescence microscopy based on physical models, EPFL thesis.
    Gibson S.F., Lanni F. (1991) J. Opt. Soc. Am. A 8, 1601.
    """
    shape = _shape_tuple(shape)
    kernel = _model_psf(
        shape,
        na=na,
        wavelength_nm=wavelength_nm,
        pixel_size_nm=pixel_size_nm,
        z_step_nm=z_step_nm,
        ni=ni,
        ns=ns,
        depth_nm=depth_nm,
        model=model,
    )
    return _normalised(kernel)


def airy_units_nm(*, na: float, wavelength_nm: float) -> float:
    """Diameter of one Airy unit (first dark ring), ``1.22 * wavelength / na``, in nm."""
    return 1.22 * wavelength_nm / na


def _pinhole_disk(pinhole_au: float, *, na: float, wavelength_nm: float, pixel_size_nm: float):
    radius_px = 0.5 * pinhole_au * airy_units_nm(na=na, wavelength_nm=wavelength_nm) / pixel_size_nm
    half = int(np.ceil(radius_px))
    # Supersampled disk so sub-pixel pinholes still weigh the right area.
    sub = 5
    grid = (np.arange((2 * half + 1) * sub) + 0.5) / sub - (half + 0.5)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    inside = (yy**2 + xx**2 <= radius_px**2).astype(np.float64)
    disk = inside.reshape(2 * half + 1, sub, 2 * half + 1, sub).mean(axis=(1, 3))
    return disk / disk.sum() if disk.sum() > 0 else None


def psf_confocal(
    shape: int | Sequence[int],
    *,
    na: float,
    wavelength_nm: float,
    excitation_nm: float,
    pixel_size_nm: float,
    z_step_nm: float | None = None,
    pinhole_au: float = 0.0,
    ni: float = 1.515,
    ns: float = 1.33,
    depth_nm: float = 0.0,
    model: str = "vectorial",
) -> np.ndarray:
    """Point-scanning confocal PSF: excitation PSF × (emission PSF ⊛ pinhole).

    The pinhole approximation: the detection PSF is the widefield emission PSF convolved,
    plane by plane, with a uniform disk of diameter ``pinhole_au`` Airy units
    (``1.22·λ_em/NA``) projected into the sample. ``pinhole_au=0`` is the ideal point
    detector (excitation × emission); this ignores the Stokes-shift dependence of the
    pinhole's back-projection beyond the Airy unit and any scan-lens aberrations.

    Parameters
    ----------
    shape, na, pixel_size_nm, z_step_nm, ni, ns, depth_nm, model
        As in :func:`psf_widefield`.
    wavelength_nm : float
        Emission wavelength in nm.
    excitation_nm : float
        Excitation wavelength in nm.
    pinhole_au : float
        Pinhole diameter in Airy units of the emission light; 0 for a point detector.

    Returns
    -------
    psf : ndarray, float32, ``shape``
        Sums to 1, centre at ``n // 2``.
    """
    shape = _shape_tuple(shape)
    if not excitation_nm > 0:
        raise ValueError(f"excitation_nm={excitation_nm}: give the excitation wavelength in nm, e.g. 488.")
    if pinhole_au < 0:
        raise ValueError(f"pinhole_au={pinhole_au}: the pinhole diameter must be >= 0 Airy units.")
    common = dict(
        pixel_size_nm=pixel_size_nm, z_step_nm=z_step_nm, ni=ni, ns=ns, depth_nm=depth_nm, model=model
    )
    excitation = _model_psf(shape, na=na, wavelength_nm=excitation_nm, **common)
    emission = _model_psf(shape, na=na, wavelength_nm=wavelength_nm, **common)
    if pinhole_au > 0:
        disk = _pinhole_disk(pinhole_au, na=na, wavelength_nm=wavelength_nm, pixel_size_nm=pixel_size_nm)
        if disk is not None:
            kernel = disk if emission.ndim == 2 else disk[None]
            emission = ndimage.convolve(emission, kernel, mode="constant")
    return _normalised(excitation * emission)


def _per_axis(value: float | Sequence[float], ndim: int, name: str) -> tuple[float, ...]:
    values = (float(value),) * ndim if np.isscalar(value) else tuple(float(v) for v in value)
    if ndim == 3 and len(values) == 2:
        raise ValueError(f"{name}={value!r}: a 3D PSF needs (z_step, y, x) sizes in nm.")
    if len(values) != ndim or min(values) <= 0:
        raise ValueError(
            f"{name}={value!r}: give one positive size in nm, or one per axis ({ndim} values)."
        )
    return values


def _centred_box(width: float) -> np.ndarray:
    half = int(np.ceil(width / 2 - 0.5))
    offsets = np.arange(-half, half + 1)
    overlap = np.clip(np.minimum(offsets + 0.5, width / 2) - np.maximum(offsets - 0.5, -width / 2), 0, 1)
    return overlap / overlap.sum()


MIN_SHIFT_PX = 0.05


def psf_border_background(data: np.ndarray) -> tuple[float, str]:
    """The background ``"auto"`` subtracts from a bead image, and why, in words.

    The lateral (y, x) border (a z-cropped widefield bead still has signal in its end planes) is
    a pedestal — camera offset or background — when its 10th percentile is above zero by more
    than 3 × (median − 10th percentile), i.e. the border sits well above zero compared with how
    much it varies (noise, PSF tails); the median of the border is then subtracted. Otherwise
    (a clean or already prepared PSF: its border is PSF tails and noise around zero) nothing is
    subtracted, so no PSF energy is lost and preparing twice changes nothing.
    """
    border = np.concatenate(
        [np.moveaxis(data, ax, 0)[[0, -1]].ravel() for ax in (data.ndim - 2, data.ndim - 1)]
    ).astype(np.float64)
    median = float(np.median(border))
    low = float(np.percentile(border, 10))
    if low > 0 and low > 3 * (median - low):
        # Pedestal = 10th percentile + 1.2816 σ (σ of the noise from second differences along the
        # border): the median for a flat noisy border, lower where PSF tails lift part of it.
        faces = [np.moveaxis(data, ax, -1)[..., [0, -1]] for ax in (data.ndim - 2, data.ndim - 1)]
        d2 = np.concatenate([np.diff(np.moveaxis(f, -1, 0), 2, axis=-1).ravel() for f in faces])
        sigma = 1.4826 * float(np.median(np.abs(d2 - np.median(d2)))) / np.sqrt(6) if d2.size else 0.0
        value = min(median, low + 1.2816 * sigma)
        return value, (f"{value:.6g} subtracted (auto: the border is a pedestal — its 10th percentile "
                       f"{low:.6g} is above zero by more than 3x its spread {median - low:.3g}; value = 10th "
                       f"percentile + 1.28 x noise σ {sigma:.3g})")
    return 0.0, (f"none subtracted (auto: border median {median:.3g}, 10th percentile {low:.3g} — not a "
                 "pedestal above zero; give --psf-background VALUE to subtract one)")


def psf_from_image(
    image: np.ndarray,
    *,
    image_pixel_size_nm: float | Sequence[float],
    psf_pixel_size_nm: float | Sequence[float],
    background: float | str | None = "auto",
    shape: Sequence[int] | None = None,
    report: dict | None = None,
) -> np.ndarray:
    """A measured PSF (a bead image) made ready for deconvolution.

    Steps: subtract the background (``background``: a value, ``"none"``, or ``"auto"``/None —
    see :func:`psf_border_background`), clip negatives, shift by the centroid of the core above
    half maximum (linear interpolation; skipped when under :data:`MIN_SHIFT_PX` on every axis, so
    preparing a prepared PSF changes nothing) so the bead sits at ``n // 2``, resample from
    ``psf_pixel_size_nm`` to ``image_pixel_size_nm`` (box-averaging first when the target pixels
    are coarser), normalise to sum 1.

    Parameters
    ----------
    image : ndarray, (ny, nx) or (nz, ny, nx)
        The recorded bead, any numeric dtype.
    image_pixel_size_nm : float or per-axis sequence
        Pixel size (and z step, for 3D) of the images to deconvolve.
    psf_pixel_size_nm : float or per-axis sequence
        Pixel size (and z step) at which the bead was recorded.
    background : float, "auto", "none" or None
        Camera offset + background to subtract; "auto" (or None) subtracts the border median only
        when the border is a pedestal (:func:`psf_border_background`); "none" subtracts nothing.
    shape : sequence of int, optional
        Output shape; by default the resampled size made odd on every axis (an odd size at the
        same sampling is kept).
    report : dict, optional
        Filled with ``background`` (the value subtracted) and ``background_reason`` (in words).

    Returns
    -------
    psf : ndarray, float32
        Sums to 1, centroid at ``n // 2``.
    """
    data = np.asarray(image)
    if data.ndim not in (2, 3) or data.size < 9:
        raise ValueError(
            f"PSF image of shape {data.shape}: give a 2D (y, x) or 3D (z, y, x) bead image "
            "with at least 3 pixels per axis."
        )
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise ValueError(f"PSF image has dtype {data.dtype}; give a real-valued grey-level image.")
    data = data.astype(np.float64)
    if not np.isfinite(data).all():
        raise ValueError("The PSF image contains NaN or infinite values; crop or repair it first.")
    target = _per_axis(image_pixel_size_nm, data.ndim, "image_pixel_size_nm")
    source = _per_axis(psf_pixel_size_nm, data.ndim, "psf_pixel_size_nm")

    if background is None or (isinstance(background, str) and background.strip().lower() == "auto"):
        background, reason = psf_border_background(data)
    elif isinstance(background, str) and background.strip().lower() == "none":
        background, reason = 0.0, "none subtracted (background 'none')"
    else:
        try:
            background = float(background)
        except (TypeError, ValueError):
            raise ValueError(f"PSF background {background!r}: give 'auto', 'none' or a number (image units).") from None
        reason = f"{background:g} subtracted (given)"
    if report is not None:
        report["background"] = float(background)
        report["background_reason"] = reason
    data = np.clip(data - background, 0, None) if background else np.clip(data, 0, None)
    total = data.sum()
    if not total > 0:
        raise ValueError(
            f"The PSF image has no signal above the background {background:g}; "
            "give a bead image or a lower background."
        )
    # Centroid of the core (above half maximum) only: a widefield bead carries the same energy
    # in every defocused plane, so a whole-stack centroid follows the crop, not the bead.
    core = np.clip(data - 0.5 * data.max(), 0, None)
    grids = np.indices(data.shape, dtype=np.float64)
    centroid = np.array([(g * core).sum() / core.sum() for g in grids])
    centre = np.array([n // 2 for n in data.shape], dtype=np.float64)
    if np.abs(centre - centroid).max() >= MIN_SHIFT_PX:
        data = ndimage.shift(data, centre - centroid, order=1, mode="constant")

    zoom = np.array(source) / np.array(target)
    if shape is None:
        shape = tuple(n if z == 1 and n % 2 else 2 * int(round(n * z / 2)) + 1 for n, z in zip(data.shape, zoom))
    shape = tuple(int(s) for s in shape)
    if min(shape) < 1 or max(shape) > 4097 or int(np.prod(shape, dtype=np.int64)) > 2**27:
        raise ValueError(
            f"The resampled PSF would have shape {shape}: check psf_pixel_size_nm={psf_pixel_size_nm!r} "
            f"against image_pixel_size_nm={image_pixel_size_nm!r} (both in nm)."
        )
    if len(shape) != data.ndim:
        raise ValueError(f"shape={shape!r}: give {data.ndim} sizes for a {data.ndim}D PSF.")
    # Output pixel i sits at source coordinate (i - out_c) / zoom + in_c: centres map to centres.
    in_c = np.array([n // 2 for n in data.shape], dtype=np.float64)
    out_c = np.array([n // 2 for n in shape], dtype=np.float64)
    coords = [(np.arange(n) - oc) / z + ic for n, oc, z, ic in zip(shape, out_c, zoom, in_c)]
    mesh = np.meshgrid(*coords, indexing="ij")
    # Coarser target pixels integrate over several source pixels: average over a centred box
    # one target pixel wide before sampling (an even-sized uniform_filter would shift by 1/2).
    for axis, z in enumerate(zoom):
        if z < 1:
            data = ndimage.convolve1d(data, _centred_box(1 / z), axis=axis, mode="constant")
    resampled = ndimage.map_coordinates(data, mesh, order=1, mode="constant", cval=0.0)
    return _normalised(resampled)


def axial_energy_extent(
    energy: float,
    *,
    max_half_planes: int,
    core_radius_px: int,
    kind: str = "widefield",
    **optics,
) -> tuple[int, float]:
    """The half-depth (planes either side of focus) holding `energy` of a 3D PSF's light within its in-focus core.

    A widefield PSF carries the same light in every defocused plane (the missing cone), so "a fraction of its energy"
    has no bounded support over all space; within a fixed lateral window it has: the light of a plane at defocus z
    that stays within the core (radius `core_radius_px`) falls like (core / (z tan θ))², so the fraction beyond ±Z
    falls like 1/Z. The reference is the PSF over ±`max_half_planes` (the stack), `core_radius_px` wide: cheap even
    for thousands of planes. `optics` are those of :func:`psf_widefield` (plus ``excitation_nm``/``pinhole_au`` for
    ``kind="confocal"``). Returns (half-depth in planes, fraction actually held).
    """
    if not 0 < energy <= 1:
        raise ValueError(f"energy={energy}: give the fraction of the PSF's light to keep, e.g. 0.99.")
    shape = (2 * max_half_planes + 1, 2 * core_radius_px + 1, 2 * core_radius_px + 1)
    reference = psf_confocal(shape, **optics) if kind == "confocal" else psf_widefield(shape, **optics)
    planes = reference.astype(np.float64).sum(axis=(1, 2))
    centre = max_half_planes
    # Light within ±h planes, for h = 0 … max_half_planes.
    held = np.cumsum(np.concatenate([[planes[centre]], planes[centre + 1:] + planes[centre - 1::-1]]))
    held /= held[-1]
    half = int(np.argmax(held >= energy - 1e-12))
    return half, float(held[half])
