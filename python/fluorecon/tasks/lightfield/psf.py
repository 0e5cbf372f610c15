"""Wave-optics light-field PSF of an objective + microlens array (after Broxton et al. 2013).

For every z plane and every position ``a = (a_y, a_x)`` of a point inside the central lenslet's
footprint (one sensor pixel = one lateral voxel), the field is followed through the microscope:

1. **Native image plane (NIP).** Scalar Debye integral of a point at defocus ``z`` (Broxton
   eq. 3, Gu 2000), with the aplanatic apodisation ``sqrt(cos θ)`` and the ``(1 + cos θ)``
   obliquity factor of Broxton's implementation:
   ``U(r, z) = ∫₀^α sqrt(cos θ) (1 + cos θ) exp(i k z cos θ) J₀(k r/M sin θ) sin θ dθ``,
   ``k = 2π n / λ``, ``α = asin(NA / n)``; ``r`` is the radius in the NIP (image side), so the
   object radius is ``r / M``. Computed once per z on a radial table (Gauss–Legendre in θ) and
   interpolated onto the fine grid; the field of a point ``a`` pixels off-centre is the same
   field shifted by ``a`` (a whole number of fine samples), so one 2D field per z serves every
   position.
2. **Microlens array** at the NIP: square lenslets of pitch ``p`` (100 % fill factor), each a
   thin paraxial lens ``exp(−i k₀ |x − c|² / (2 f_ml))`` about its centre ``c``.
3. **Propagation** over ``f_ml`` to the sensor with the Fresnel transfer function
   ``exp(−i π λ f_ml (f_x² + f_y²))`` (image side in air, ``k₀ = 2π/λ``).
4. **Sensor**: intensity ``|U|²`` averaged over ``oversampling²`` fine samples per pixel; each
   point's light field is normalised to sum 1 (every photon the objective collects reaches the
   sensor window), so the projector conserves flux.

Simplifications against Broxton's full model (honest list): scalar (not vectorial) Debye field;
paraxial lenslet phase and Fresnel (not Rayleigh–Sommerfeld) propagation; ideal square lenslets
without aberrations or dead space; monochromatic; the sensor sits exactly at the lenslets' back
focal plane and its rectified pixel grid is aligned with the lenslet grid (``nnum`` pixels per
lenslet). The image inversion of the objective is not modelled (object and image share axes).

The PSF is the costly step (seconds to minutes), so :func:`lightfield_psf` caches it on disk
under a file named by the SHA-256 of the optics' JSON, in fluorecon's cache (:mod:`fluorecon.core.cache`:
size cap, least recently used entries removed; ``fluorecon cache list`` / ``clear``).

References
----------
Broxton M. et al. (2013) Wave optics theory and 3-D deconvolution for the light field
microscope. Opt. Express 21, 25418. Prevedel R. et al. (2014) Nat. Methods 11, 727.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.special
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorecon.core import cache

__all__ = ["LightFieldOptics", "lightfield_psf", "psf_cache_dir", "auto_radius", "auto_oversampling"]


class LightFieldOptics(BaseModel):
    """Everything the light-field PSF depends on: objective, microlens array, sampling, z planes.

    Lengths on the sensor side (pitch, focal length) are physical µm; ``z`` is in the sample
    (object space, 0 = native focal plane). The rectified sensor pixel is
    ``lenslet_pitch_um / nnum`` and one lateral voxel is that divided by the magnification.
    """

    model_config = ConfigDict(extra="forbid")
    magnification: float = Field(20.0, gt=0, description="Objective (with tube lens) magnification.")
    na: float = Field(0.5, gt=0, description="Numerical aperture of the objective.")
    n_immersion: float = Field(1.33, gt=0, description="Refractive index of the immersion / sample medium.")
    wavelength_nm: float = Field(520.0, gt=0, description="Emission wavelength, nm.")
    lenslet_pitch_um: float = Field(100.0, gt=0, description="Microlens pitch, µm (sensor side).")
    lenslet_focal_um: float = Field(2000.0, gt=0, description="Microlens focal length = MLA-to-sensor distance, µm.")
    nnum: int = Field(11, ge=3, le=51, description="Pixels per lenslet (each axis) after rectification; odd.")
    z_min_um: float = Field(-16.0, description="First z plane, µm in the sample (0 = focal plane).")
    z_max_um: float = Field(16.0, description="Last z plane, µm (inclusive).")
    z_step_um: float = Field(4.0, gt=0, description="Distance between z planes, µm.")
    oversampling: int | None = Field(None, ge=1, le=15, description="Fine field samples per pixel (odd) for the wave "
                                     "propagation; None picks the smallest odd value >= 3 that samples the field "
                                     "above Nyquist.")
    psf_radius_lenslets: int | None = Field(None, ge=1, le=40, description="Half-width of each point's light field, "
                                            "in lenslets; None derives it from NA, magnification and the z range.")

    @model_validator(mode="after")
    def _check(self) -> "LightFieldOptics":
        if self.nnum % 2 == 0:
            raise ValueError(f"nnum={self.nnum}: use an odd number of pixels per lenslet (rectify to e.g. "
                             f"{self.nnum - 1} or {self.nnum + 1}) so every lenslet has a centre pixel.")
        if self.na >= self.n_immersion:
            raise ValueError(f"na={self.na} must be below the immersion index n_immersion={self.n_immersion}.")
        if self.z_max_um < self.z_min_um:
            raise ValueError(f"z_max_um={self.z_max_um} is below z_min_um={self.z_min_um}; swap them.")
        if self.n_planes > 512:
            raise ValueError(f"{self.n_planes} z planes: use at most 512 (increase z_step_um).")
        if self.oversampling is not None and self.oversampling % 2 == 0:
            raise ValueError(f"oversampling={self.oversampling}: use an odd number (3, 5, …).")
        return self

    @property
    def n_planes(self) -> int:
        return int(round((self.z_max_um - self.z_min_um) / self.z_step_um)) + 1

    @property
    def z_um(self) -> np.ndarray:
        """The z planes, µm in the sample, shape (Z,)."""
        return (self.z_min_um + self.z_step_um * np.arange(self.n_planes)).astype(np.float64)

    @property
    def sensor_pixel_um(self) -> float:
        """Rectified sensor pixel, µm (sensor side)."""
        return self.lenslet_pitch_um / self.nnum

    @property
    def voxel_size_um(self) -> float:
        """Lateral voxel (= LF pixel) size in the sample, µm."""
        return self.sensor_pixel_um / self.magnification

    @property
    def radius_lenslets(self) -> int:
        return self.psf_radius_lenslets or auto_radius(self)

    @property
    def fine_oversampling(self) -> int:
        return self.oversampling or auto_oversampling(self)

    def cache_key(self) -> str:
        """SHA-256 of what the PSF depends on (the JSON, plus the resolved automatic values)."""
        text = self.model_dump_json() + f"|R={self.radius_lenslets}|osr={self.fine_oversampling}|v1"
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def auto_radius(optics: LightFieldOptics) -> int:
    """Lenslets a point's light field reaches from its own lenslet: the defocus cone's radius in
    the NIP (``M |z| tan α``), two Airy radii and one lenslet for the lenslets' own diffraction."""
    alpha = math.asin(optics.na / optics.n_immersion)
    z = max(abs(optics.z_min_um), abs(optics.z_max_um))
    cone = optics.magnification * z * math.tan(alpha)
    airy = 0.61 * optics.wavelength_nm * 1e-3 * optics.magnification / optics.na
    return max(1, math.ceil((cone + 2 * airy) / optics.lenslet_pitch_um + 1.0))


def auto_oversampling(optics: LightFieldOptics) -> int:
    """Smallest odd fine sampling >= 3 that resolves the NIP field times the lenslet phase."""
    lam = optics.wavelength_nm * 1e-3
    f_max = (optics.na / optics.magnification + optics.lenslet_pitch_um / (2 * optics.lenslet_focal_um)) / lam
    need = optics.sensor_pixel_um * 2 * f_max
    osr = max(3, math.ceil(need))
    return osr + 1 - osr % 2


def psf_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else the ``lightfield`` folder of fluorecon's cache (:mod:`fluorecon.core.cache`:
    ``$FLUORECON_CACHE_DIR``, ``$XDG_CACHE_HOME/fluorecon`` or ``~/.cache/fluorecon``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    return cache.cache_dir("lightfield")


def _debye_table(optics: LightFieldOptics, z_um: float, r_um: np.ndarray) -> np.ndarray:
    """Scalar Debye field in the NIP at image-side radii ``r_um`` for a point at defocus ``z_um``."""
    lam = optics.wavelength_nm * 1e-3
    n, m = optics.n_immersion, optics.magnification
    k = 2 * np.pi * n / lam
    alpha = math.asin(optics.na / n)
    # Enough nodes for the defocus phase and the Bessel oscillations over [0, α].
    span = k * abs(z_um) * (1 - math.cos(alpha)) + k * float(r_um.max()) / m * math.sin(alpha)
    nodes, weights = np.polynomial.legendre.leggauss(int(64 + 2 * span))
    theta = 0.5 * alpha * (nodes + 1)
    weights = 0.5 * alpha * weights
    amplitude = np.sqrt(np.cos(theta)) * (1 + np.cos(theta)) * np.sin(theta) * weights
    phase = np.exp(1j * k * z_um * np.cos(theta))
    bessel = scipy.special.j0(np.outer(r_um / m, k * np.sin(theta)))
    return bessel @ (amplitude * phase)


def _fine_grid(optics: LightFieldOptics) -> tuple[np.ndarray, int, int]:
    """Fine sample positions (pixels, pixel 0's centre = 0) over the window ``[-(R+1)N, (R+2)N)``."""
    n_pix, osr, r = optics.nnum, optics.fine_oversampling, optics.radius_lenslets
    count = (2 * r + 3) * n_pix * osr
    x = -(r + 1) * n_pix - 0.5 + (np.arange(count) + 0.5) / osr
    return x, count, osr


def _compute(optics: LightFieldOptics, device: torch.device, progress=None) -> np.ndarray:
    nnum, r = optics.nnum, optics.radius_lenslets
    x, count, osr = _fine_grid(optics)
    dx_um = optics.sensor_pixel_um / osr
    lam = optics.wavelength_nm * 1e-3
    # Lenslet phase on the fine grid (separable: the lenslets are square).
    lenslet = np.floor((x + 0.5) / nnum)
    local = (x - (lenslet * nnum + (nnum - 1) / 2)) * optics.sensor_pixel_um
    k0 = 2 * np.pi / lam
    mla_1d = np.exp(-1j * k0 * local**2 / (2 * optics.lenslet_focal_um))
    mla = torch.from_numpy(np.outer(mla_1d, mla_1d).astype(np.complex64)).to(device)
    freq = np.fft.fftfreq(count, d=dx_um)
    fresnel_1d = np.exp(-1j * np.pi * lam * optics.lenslet_focal_um * freq**2)
    fresnel = torch.from_numpy(np.outer(fresnel_1d, fresnel_1d).astype(np.complex64)).to(device)
    # One NIP field per z on a grid wider by one lenslet; point a = crop at offset a*osr.
    wide = count + nnum * osr
    xw = -(r + 1) * nnum - 0.5 + (np.arange(wide) + 0.5) / osr - (nnum - 1)  # centred so crop a reaches offset a
    r_max = float(np.hypot(np.abs(xw).max(), np.abs(xw).max())) * optics.sensor_pixel_um
    step = dx_um / 4
    r_table = np.arange(0.0, r_max + 2 * step, step)
    rr = np.hypot(xw[:, None], xw[None, :]) * optics.sensor_pixel_um
    keep = (2 * r + 1) * nnum
    start = nnum  # fine window starts one lenslet before the kept window
    # Mirror and transpose symmetry of the lenslet about its centre pixel: only positions with
    # a_y <= a_x <= centre are propagated (21 of 121 for nnum 11); the others are flips of them.
    centre = (nnum - 1) // 2
    positions = [(ay, ax) for ay in range(centre + 1) for ax in range(ay, centre + 1)]
    index = {p: i for i, p in enumerate(positions)}
    planes = []
    chunk = max(1, int(2**27 // (count * count * 8)))  # ~128 MB of complex fields per batch
    for iz, z in enumerate(optics.z_um):
        table = _debye_table(optics, float(z), r_table)
        field = (np.interp(rr, r_table, table.real) + 1j * np.interp(rr, r_table, table.imag)).astype(np.complex64)
        field_t = torch.from_numpy(field).to(device)
        base = torch.empty((len(positions), keep, keep), dtype=torch.float32)
        for lo in range(0, len(positions), chunk):
            batch = positions[lo: lo + chunk]
            # Point at pixel a sits at field centre + a: crop the wide field starting (N-1-a)*osr.
            fields = torch.stack([
                field_t[(nnum - 1 - ay) * osr: (nnum - 1 - ay) * osr + count,
                        (nnum - 1 - ax) * osr: (nnum - 1 - ax) * osr + count] for ay, ax in batch
            ])
            sensor = torch.fft.ifft2(torch.fft.fft2(fields * mla) * fresnel)
            intensity = sensor.real.square() + sensor.imag.square()
            binned = intensity.reshape(len(batch), count // osr, osr, count // osr, osr).mean(dim=(2, 4))
            kept = binned[:, start: start + keep, start: start + keep]
            kept = kept / kept.sum(dim=(1, 2), keepdim=True).clamp_min(1e-30)
            base[lo: lo + len(batch)] = kept.cpu()
        base_np = base.numpy()
        plane = np.empty((nnum, nnum, keep, keep), dtype=np.float32)
        for ay in range(nnum):
            for ax in range(nnum):
                by, bx = min(ay, nnum - 1 - ay), min(ax, nnum - 1 - ax)
                image = base_np[index[(min(by, bx), max(by, bx))]]
                if by > bx:
                    image = image.T
                if ay > centre:
                    image = image[::-1, :]
                if ax > centre:
                    image = image[:, ::-1]
                plane[ay, ax] = image
        planes.append(plane)
        if progress is not None:
            progress(iz + 1, optics.n_planes)
    return np.stack(planes).astype(np.float32)


def lightfield_psf(
    optics: LightFieldOptics,
    *,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    progress=None,
) -> np.ndarray:
    """The light-field PSF: for each z plane and each pixel ``a`` of lenslet (0, 0), the image a
    unit point there makes on the rectified sensor.

    Parameters
    ----------
    optics : LightFieldOptics
    cache_dir : path, optional
        Where computed PSFs are kept (see :func:`psf_cache_dir`); the file is named by
        :meth:`LightFieldOptics.cache_key`, so a changed optic never reads a stale PSF.
    device : str or torch.device, optional
        Where the FFT propagation runs (CUDA when present by default).
    progress : callable(done, total), optional
        Called after each z plane of a fresh computation.

    Returns
    -------
    ndarray, float32, (Z, nnum, nnum, K, K), ``K = (2R + 1) nnum``
        ``psf[z, a_y, a_x, Y, X]`` is the sensor pixel ``(Y − R·nnum, X − R·nnum)`` (relative to
        lenslet (0, 0)'s first pixel); every ``psf[z, a_y, a_x]`` sums to 1.
    """
    folder = psf_cache_dir(cache_dir)
    path = folder / f"lfpsf-{optics.cache_key()}.npy"
    if path.is_file():
        try:
            psf = np.load(path)
            cache.touch(path)
            return psf
        except (OSError, ValueError):
            pass  # a truncated cache file: recompute and replace it
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    psf = _compute(optics, torch.device(device), progress)
    folder.mkdir(parents=True, exist_ok=True)
    # A unique temporary name: server workers (threads) and other processes may build the same PSF.
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, psf)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The size cap (LRU): over the whole cache, or over the folder the caller chose.
    cache.enforce_cap(cache.cache_root() if cache_dir is None else folder, keep=path)
    return psf
