"""Light-field forward model: volume (Z, Y, X) → rectified light-field image (Y, X).

Geometry. The rectified sensor has ``nnum`` × ``nnum`` pixels per lenslet (``nnum`` odd); lenslet
``(i, j)`` covers pixels ``[i·nnum, (i+1)·nnum) × [j·nnum, (j+1)·nnum)``. The volume shares that
lateral grid (full resolution: one voxel per sensor pixel, ``voxel_size_um = pitch / (nnum·M)``),
with the z planes of :class:`LightFieldOptics`. Sub-aperture view ``(v, u)`` is the image made of
pixel ``(v, u)`` of every lenslet (:func:`extract_views`).

The projector. The light field of a point depends on its z plane and on its position ``a`` within
its lenslet, and is otherwise shift-invariant by whole lenslets (Broxton et al. 2013). Split the
volume into its ``Z·nnum²`` lenslet-grid sub-images ("phases") ``x_c[i] = x[z, i·nnum + a]`` and the
light field into its ``nnum²`` views; then every view is a sum of 2D convolutions *on the lenslet
grid*, ``view_u = Σ_c K_{u,c} ⊛ x_c``, with small kernels (``2R + 1`` lenslets wide). In the
Fourier domain of the lenslet grid this is one (nnum² × Z·nnum²) complex matrix per frequency:
``A`` is a batched matrix product between two small real FFTs, ``A_adjoint`` the conjugate
transpose, so the adjoint is exact and no full-resolution FFT is ever taken. Zero padding as in
:class:`~fluorecon.imaging.forward.Blur` (FFT length ``>= n_lenslets + R``): the volume is zero
outside its grid and nothing wraps around. When the kernel spectra would exceed
``memory_budget`` bytes, the same convolution runs directly (``torch.nn.functional.conv2d`` and
``conv_transpose2d``; fewer bytes, more arithmetic, good on a GPU).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.imaging.forward import default_device, register_operator
from fluorecon.imaging.noise import CameraNoise
from fluorecon.tasks.lightfield.psf import LightFieldOptics, lightfield_psf, psf_cache_dir

__all__ = [
    "LightFieldOptics",
    "LightFieldConfig",
    "LightField",
    "lightfield_psf",
    "psf_cache_dir",
    "extract_views",
    "views_to_lightfield",
]

DEFAULT_MEMORY_BUDGET = 2 * 1024**3


def _default_budget(device: torch.device) -> int:
    """Bytes the kernel spectra may take: a quarter of a GPU's memory, 2 GiB on the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // 4
    return DEFAULT_MEMORY_BUDGET


class LightFieldConfig(BaseModel):
    """Physics of a light-field acquisition: ``lf ~ noise(A volume)`` on ``n_lenslets`` lenslets."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["lightfield"] = "lightfield"
    n_lenslets: tuple[int, int] = Field(description="Lenslets in the rectified light field, (rows, columns).")
    optics: LightFieldOptics = Field(default_factory=LightFieldOptics, description="Objective, microlenses, z planes.")
    noise: CameraNoise | None = Field(None, description="Camera noise model (Poisson–Gaussian).")


def extract_views(lf, nnum: int):
    """Sub-aperture views of a rectified light field.

    Parameters
    ----------
    lf : ndarray or tensor, (..., n_ly·nnum, n_lx·nnum)
    nnum : int
        Pixels per lenslet.

    Returns
    -------
    Same type, (..., nnum, nnum, n_ly, n_lx): ``views[..., v, u, i, j] = lf[..., i·nnum + v, j·nnum + u]``.
    """
    *lead, h, w = lf.shape
    if h % nnum or w % nnum:
        raise ValueError(f"Light field of shape {(h, w)} is not a whole number of {nnum}-pixel lenslets; "
                         "rectify it first (fluorecon lightfield calibrate / rectify).")
    grid = lf.reshape(*lead, h // nnum, nnum, w // nnum, nnum)
    k = len(lead)
    order = list(range(k)) + [k + 1, k + 3, k, k + 2]
    return grid.permute(*order) if isinstance(grid, torch.Tensor) else np.transpose(grid, order)


def views_to_lightfield(views):
    """Inverse of :func:`extract_views`: (..., nnum, nnum, n_ly, n_lx) → (..., n_ly·nnum, n_lx·nnum)."""
    *lead, nv, nu, ny, nx = views.shape
    k = len(lead)
    order = list(range(k)) + [k + 2, k, k + 3, k + 1]
    grid = views.permute(*order) if isinstance(views, torch.Tensor) else np.transpose(views, order)
    return grid.reshape(*lead, ny * nv, nx * nu)


@register_operator("lightfield")
class LightField:
    """Wave-optics light-field projector (Broxton et al. 2013) over a rectified sensor.

    Parameters
    ----------
    psf : ndarray, (Z, nnum, nnum, K, K), ``K = (2R + 1) nnum``
        From :func:`lightfield_psf` (or measured in the same layout).
    n_lenslets : (int, int)
        Lenslets of the light field, rows and columns.
    optics : LightFieldOptics, optional
        Recorded in :attr:`config`; gives ``z_um`` and ``voxel_size_um``.
    device : str or torch.device, optional
        CUDA when present by default.
    noise : CameraNoise, optional
    memory_budget : int, optional
        Bytes allowed for the kernel spectra before the direct convolution is used (default a
        quarter of the GPU's memory, 2 GiB on the CPU).
    method : {"auto", "fft", "direct"}
        "auto": the Fourier path when its spectra fit ``memory_budget``.

    Examples
    --------
    >>> physics = build_physics(LightFieldConfig(n_lenslets=(9, 9)))
    >>> lf = physics.A(torch.as_tensor(volume))          # (Z, 99, 99) -> (99, 99)
    """

    operator_name = "lightfield"

    def __init__(
        self,
        psf: np.ndarray,
        *,
        n_lenslets: tuple[int, int],
        optics: LightFieldOptics | None = None,
        device: str | torch.device | None = None,
        noise: CameraNoise | None = None,
        memory_budget: int | None = None,
        method: Literal["auto", "fft", "direct"] = "auto",
    ) -> None:
        psf = np.asarray(psf, dtype=np.float32)
        if psf.ndim != 5 or psf.shape[1] != psf.shape[2] or psf.shape[3] != psf.shape[4]:
            raise ValueError(f"psf has shape {psf.shape}; expected (Z, nnum, nnum, K, K) from lightfield_psf().")
        n_planes, nnum, _, k, _ = psf.shape
        if nnum % 2 == 0 or k % nnum or (k // nnum) % 2 == 0:
            raise ValueError(f"psf shape {psf.shape}: nnum must be odd and K an odd multiple of nnum.")
        if optics is not None and (optics.nnum != nnum or optics.n_planes != n_planes):
            raise ValueError(f"psf shape {psf.shape} does not match the optics (nnum={optics.nnum}, "
                             f"{optics.n_planes} planes).")
        n_ly, n_lx = (int(v) for v in n_lenslets)
        if n_ly < 1 or n_lx < 1:
            raise ValueError(f"n_lenslets={n_lenslets}: need at least one lenslet per axis.")
        self.device = torch.device(device) if device is not None else default_device()
        self.optics = optics
        self.noise = noise
        self.nnum = nnum
        self.n_lenslets = (n_ly, n_lx)
        self.radius = r = (k // nnum - 1) // 2
        self.image_shape = (n_planes, n_ly * nnum, n_lx * nnum)
        self.measurement_shape = (n_ly * nnum, n_lx * nnum)
        self.psf = psf
        self.n_in, self.n_out = n_planes * nnum * nnum, nnum * nnum
        # kernel[u, c, d] = psf[z, a, d*nnum + u]: view u, phase c = (z, a_y, a_x), lenslet offset d.
        kernel = psf.reshape(n_planes, nnum, nnum, 2 * r + 1, nnum, 2 * r + 1, nnum)
        kernel = np.ascontiguousarray(kernel.transpose(4, 6, 0, 1, 2, 3, 5)).reshape(
            self.n_out, self.n_in, 2 * r + 1, 2 * r + 1)
        self.fft_shape = tuple(scipy.fft.next_fast_len(n + r, real=True) for n in (n_ly, n_lx))
        n_freq = self.fft_shape[0] * (self.fft_shape[1] // 2 + 1)
        spectra_bytes = n_freq * self.n_in * self.n_out * 8
        if method == "auto":
            budget = memory_budget if memory_budget is not None else _default_budget(self.device)
            method = "fft" if spectra_bytes <= budget else "direct"
        self.method = method
        weight = torch.from_numpy(kernel).to(self.device)
        if method == "fft":
            padded = torch.zeros((self.n_out, self.n_in, *self.fft_shape), dtype=torch.float32, device=self.device)
            padded[..., : 2 * r + 1, : 2 * r + 1] = weight
            spectra = torch.fft.rfft2(padded)
            del padded
            # (freq, views, phases), contiguous for one batched matrix product per frequency.
            self._spectra = spectra.reshape(self.n_out, self.n_in, n_freq).permute(2, 0, 1).contiguous()
            self._spectra_t = self._spectra.transpose(1, 2)
        elif method == "direct":
            # conv2d correlates: flip so that view_u[j] = Σ_c Σ_d K[u, c, d] x_c[j - d + R].
            self._weight = torch.flip(weight, dims=(-2, -1)).contiguous()
        else:
            raise ValueError(f"method={method!r}: use 'auto', 'fft' or 'direct'.")
        self.spectra_bytes = spectra_bytes

    # -- config -----------------------------------------------------------------------------
    @property
    def z_um(self) -> np.ndarray:
        if self.optics is None:
            raise ValueError("This LightField was built without optics; its z planes are unknown.")
        return self.optics.z_um

    @property
    def voxel_size_um(self) -> float | None:
        return self.optics.voxel_size_um if self.optics is not None else None

    @property
    def config(self) -> LightFieldConfig:
        if self.optics is None:
            raise ValueError("A LightField built from a bare PSF array has no config; build it from LightFieldConfig.")
        return LightFieldConfig(n_lenslets=self.n_lenslets, optics=self.optics, noise=self.noise)

    @classmethod
    def from_config(cls, config: LightFieldConfig | dict, *, device=None, cache_dir=None, **options) -> "LightField":
        config = LightFieldConfig.model_validate(config)
        psf = lightfield_psf(config.optics, cache_dir=cache_dir, device=device)
        return cls(psf, n_lenslets=config.n_lenslets, optics=config.optics, device=device, noise=config.noise,
                   **options)

    @classmethod
    def example(cls, *, ndim: int = 2, device=None) -> "LightField":
        """A tiny instance for the registry's shared tests (ndim 2: one z plane, 3: three)."""
        optics = LightFieldOptics(nnum=5, lenslet_pitch_um=50, lenslet_focal_um=1000, z_min_um=0 if ndim == 2 else -4,
                                  z_max_um=0 if ndim == 2 else 4, z_step_um=4, psf_radius_lenslets=2)
        return cls.from_config(LightFieldConfig(n_lenslets=(4, 3), optics=optics), device=device)

    # -- operators --------------------------------------------------------------------------
    def _check(self, t, shape: tuple[int, ...], name: str) -> torch.Tensor:
        t = torch.as_tensor(t)
        if t.ndim < len(shape) or tuple(t.shape[-len(shape):]) != shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, expected (..., {', '.join(map(str, shape))}).")
        return t.to(device=self.device, dtype=torch.float32)

    def A(self, x) -> torch.Tensor:
        """Project a volume ``(..., Z, Y, X)`` to its light field ``(..., Y, X)`` (float32)."""
        x = self._check(x, self.image_shape, "x")
        lead = x.shape[:-3]
        nnum, (n_ly, n_lx), r = self.nnum, self.n_lenslets, self.radius
        batch = x.reshape(-1, *self.image_shape).shape[0]
        phases = x.reshape(batch, -1, n_ly, nnum, n_lx, nnum).permute(0, 1, 3, 5, 2, 4).reshape(
            batch, self.n_in, n_ly, n_lx)
        if self.method == "fft":
            spectrum = torch.fft.rfft2(phases, s=self.fft_shape)  # zero-padded at the end
            fy, fx = spectrum.shape[-2:]
            vec = spectrum.reshape(batch, self.n_in, fy * fx).permute(2, 1, 0)
            out = torch.bmm(self._spectra, vec).permute(2, 1, 0).reshape(batch, self.n_out, fy, fx)
            views = torch.fft.irfft2(out, s=self.fft_shape)[..., r: r + n_ly, r: r + n_lx]
        else:
            views = F.conv2d(phases, self._weight, padding=r)
        lf = views.reshape(batch, nnum, nnum, n_ly, n_lx).permute(0, 3, 1, 4, 2)
        return lf.reshape(*lead, n_ly * nnum, n_lx * nnum)

    def A_adjoint(self, y) -> torch.Tensor:
        """Back-project a light field ``(..., Y, X)`` to a volume ``(..., Z, Y, X)``: the exact adjoint."""
        y = self._check(y, self.measurement_shape, "y")
        lead = y.shape[:-2]
        nnum, (n_ly, n_lx), r = self.nnum, self.n_lenslets, self.radius
        batch = y.reshape(-1, *self.measurement_shape).shape[0]
        views = y.reshape(batch, n_ly, nnum, n_lx, nnum).permute(0, 2, 4, 1, 3).reshape(batch, self.n_out, n_ly, n_lx)
        if self.method == "fft":
            padded = torch.zeros((batch, self.n_out, *self.fft_shape), dtype=torch.float32, device=self.device)
            padded[..., r: r + n_ly, r: r + n_lx] = views
            spectrum = torch.fft.rfft2(padded)
            fy, fx = spectrum.shape[-2:]
            # K^H y = conj(K^T conj(y)): no conjugated copy of the large spectra is needed.
            vec = spectrum.reshape(batch, self.n_out, fy * fx).permute(2, 1, 0).conj()
            out = torch.bmm(self._spectra_t, vec).conj().permute(2, 1, 0).reshape(batch, self.n_in, fy, fx)
            phases = torch.fft.irfft2(out, s=self.fft_shape)[..., :n_ly, :n_lx]
        else:
            phases = F.conv_transpose2d(views, self._weight, padding=r)
        volume = phases.reshape(batch, -1, nnum, nnum, n_ly, n_lx).permute(0, 1, 4, 2, 5, 3)
        return volume.reshape(*lead, *self.image_shape)


