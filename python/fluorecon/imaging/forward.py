"""Forward models: one physics object per acquisition, with ``A``, ``A_adjoint`` and a noise slot.

Every reconstruction (Richardson–Lucy, RL-TV, Wiener, learned) and the data-consistency map is
written once against this interface. A physics object travels as a typed config (``name`` +
parameters, pydantic, JSON) — never pickled — so the server, a dask worker and the model card can
rebuild it with :func:`build_physics`.

Operators register themselves with :func:`register_operator`; the test suite runs the same checks
(adjoint identity, shapes, dtype, CPU vs CUDA) on every registered operator through its
``example`` factory, so a new operator gets those tests without new test code.

Blur boundary handling
----------------------
``Blur.A`` is the zero-padded *linear* convolution cropped to the input grid, exactly
``scipy.signal.convolve(x, psf, mode="same")`` for an odd-sized PSF (centre ``k // 2``): the
object is taken as zero outside the image, nothing wraps around. It is computed with real FFTs of
length ``L >= n + (k - 1 - k // 2)`` per axis: circular wrap-around then only lands in the part
that the crop discards (half the padding of a full linear convolution). An even-sized PSF is
padded with a zero plane at the end of each even axis, which keeps its centre at ``k // 2``.
``A_adjoint`` is the exact adjoint (correlation with the PSF), i.e. convolution with the mirrored
PSF in ``mode="same"`` for odd sizes — what ``skimage.restoration.richardson_lucy`` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Literal, Union

import ducc0
import numpy as np
import scipy.fft
import torch
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.imaging.noise import CameraNoise
from fluorecon.imaging.psf import psf_confocal, psf_widefield

__all__ = [
    "Blur",
    "BlurConfig",
    "WidefieldPSF",
    "ConfocalPSF",
    "ArrayPSF",
    "OPERATORS",
    "register_operator",
    "load_operators",
    "build_physics",
    "default_device",
]


def default_device() -> torch.device:
    """CUDA when present, CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def checked_operand(x, shape: tuple[int, ...], name: str, device) -> torch.Tensor:
    """An operator's argument `x` as float32 on `device`; ValueError naming `name` unless its shape is `shape`."""
    x = torch.as_tensor(x)
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(x.shape)}, expected {tuple(shape)}.")
    return x.to(device=device, dtype=torch.float32)


# --- typed configs -------------------------------------------------------------------------


class WidefieldPSF(BaseModel):
    """Theoretical widefield PSF (see :func:`fluorecon.imaging.psf.psf_widefield`)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["widefield"] = "widefield"
    shape: tuple[int, ...] = Field(description="PSF size in pixels, (ny, nx) or (nz, ny, nx); odd sizes centre exactly.")
    na: float = Field(gt=0, description="Numerical aperture of the objective.")
    wavelength_nm: float = Field(gt=0, description="Emission wavelength, nm.")
    pixel_size_nm: float = Field(gt=0, description="Lateral pixel size in sample space, nm.")
    z_step_nm: float | None = Field(None, gt=0, description="Axial step, nm (3D only).")
    ni: float = Field(1.515, gt=0, description="Immersion refractive index.")
    ns: float = Field(1.33, gt=0, description="Sample refractive index.")

    def build(self) -> np.ndarray:
        return psf_widefield(
            self.shape, **self.model_dump(exclude={"kind", "shape"})
        )


class ConfocalPSF(WidefieldPSF):
    """Theoretical point-scanning confocal PSF (see :func:`fluorecon.imaging.psf.psf_confocal`)."""

    kind: Literal["confocal"] = "confocal"  # type: ignore[assignment]
    excitation_nm: float = Field(gt=0, description="Excitation wavelength, nm.")
    pinhole_au: float = Field(0.0, ge=0, description="Pinhole diameter in Airy units; 0 = point detector.")

    def build(self) -> np.ndarray:
        return psf_confocal(self.shape, **self.model_dump(exclude={"kind", "shape"}))


class ArrayPSF(BaseModel):
    """A PSF given as numbers (a measured, already prepared PSF). Small PSFs only: the values
    travel in the JSON, which keeps the config self-contained for workers and model cards."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["array"] = "array"
    shape: tuple[int, ...]
    values: list[float] = Field(description="PSF values in C order.")

    @classmethod
    def from_array(cls, psf: np.ndarray) -> "ArrayPSF":
        psf = np.asarray(psf, dtype=np.float32)
        return cls(shape=psf.shape, values=psf.ravel().tolist())

    def build(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float32).reshape(self.shape)


PSFConfig = Annotated[Union[WidefieldPSF, ConfocalPSF, ArrayPSF], Field(discriminator="kind")]


class BlurConfig(BaseModel):
    """Physics of a widefield/confocal acquisition: ``y ~ noise(psf ⊛ x)`` on ``image_shape``."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["blur"] = "blur"
    image_shape: tuple[int, ...] = Field(description="Shape of object and measurement, (y, x) or (z, y, x).")
    psf: PSFConfig
    noise: CameraNoise | None = Field(None, description="Camera noise model (Poisson–Gaussian).")


# --- registry ------------------------------------------------------------------------------

OPERATORS: dict[str, type] = {}

# Operators register themselves with @register_operator where they are defined: the shared ones in
# imaging/ (sampling), the task-specific ones in each task's ``physics.py``. load_operators() imports
# those modules by discovery, so adding an operator edits no list.


def load_operators() -> dict[str, type]:
    """Import every module that may register operators (imaging/*, tasks/*/physics) so that
    :data:`OPERATORS` is complete; returns it."""
    import importlib
    import importlib.util
    import pkgutil

    import fluorecon.imaging as imaging
    import fluorecon.tasks as tasks

    for info in pkgutil.iter_modules(imaging.__path__, imaging.__name__ + "."):
        importlib.import_module(info.name)
    for info in pkgutil.iter_modules(tasks.__path__, tasks.__name__ + "."):
        if info.ispkg and importlib.util.find_spec(info.name + ".physics") is not None:
            importlib.import_module(info.name + ".physics")
    return OPERATORS


def register_operator(name: str) -> Callable[[type], type]:
    """Class decorator: make an operator buildable from its config's ``name`` and testable."""

    def wrap(cls: type) -> type:
        if name in OPERATORS:
            raise ValueError(f"Operator name {name!r} is registered twice.")
        OPERATORS[name] = cls
        cls.operator_name = name
        return cls

    return wrap


def build_physics(config: BaseModel | dict, *, device: str | torch.device | None = None):
    """Rebuild a physics object from its config (a pydantic model or its JSON dict)."""
    name = config["name"] if isinstance(config, dict) else config.name
    if name not in OPERATORS:
        load_operators()
    if name not in OPERATORS:
        raise ValueError(f"Unknown forward model {name!r}; known: {sorted(OPERATORS)}.")
    return OPERATORS[name].from_config(config, device=device)


# --- blur ----------------------------------------------------------------------------------


def _odd_psf(psf: np.ndarray) -> np.ndarray:
    pad = [(0, 1 - k % 2) for k in psf.shape]
    return np.pad(psf, pad) if any(p for _, p in pad) else psf


@register_operator("blur")
class Blur:
    """Convolution with a PSF on a fixed image grid, zero outside (nothing wraps around).

    Parameters
    ----------
    psf : ndarray, (ky, kx) or (kz, ky, kx)
        Centre at index ``k // 2``; used as given (normalise to sum 1 for flux conservation).
    image_shape : tuple of int
        Shape of the object/measurement; same number of axes as ``psf``.
    device : str or torch.device, optional
        Where ``A``/``A_adjoint`` run; CUDA when present by default.
    noise : CameraNoise, optional
        Noise model of the measurement.
    config : BlurConfig, optional
        The config this object was built from (kept for :attr:`config`).
    workers : int, optional
        CPU FFT threads (default: ``torch.get_num_threads()``).

    Examples
    --------
    >>> physics = Blur(psf, image_shape=image.shape)
    >>> y = physics.A(torch.as_tensor(x))
    """

    operator_name = "blur"

    def __init__(
        self,
        psf: np.ndarray,
        *,
        image_shape: Sequence[int],
        device: str | torch.device | None = None,
        noise: CameraNoise | None = None,
        config: BlurConfig | None = None,
        workers: int | None = None,
    ) -> None:
        psf = np.asarray(psf, dtype=np.float32)
        image_shape = tuple(int(s) for s in image_shape)
        if psf.ndim != len(image_shape) or psf.ndim not in (2, 3):
            raise ValueError(
                f"psf has shape {psf.shape} but the image has shape {image_shape}: give a 2D PSF "
                "for a 2D image and a 3D (z, y, x) PSF for a 3D stack."
            )
        if not np.isfinite(psf).all() or psf.sum() <= 0 or psf.min() < 0:
            raise ValueError("psf must be finite, non-negative and not all zero.")
        self.device = torch.device(device) if device is not None else default_device()
        self.image_shape = image_shape
        self.noise = noise
        self._config = config
        self.psf = psf
        kernel = _odd_psf(psf)
        self.kernel_shape = kernel.shape
        self.centre = tuple(k // 2 for k in kernel.shape)
        # Wrap-around only reaches the discarded part when L >= n + (k - 1 - c).
        self.fft_shape = tuple(
            scipy.fft.next_fast_len(n + k - 1 - c, real=True)
            for n, k, c in zip(image_shape, kernel.shape, self.centre)
        )
        self.dims = tuple(range(-len(image_shape), 0))
        self.workers = workers or torch.get_num_threads()
        self._crop_a = tuple(slice(c, c + n) for c, n in zip(self.centre, image_shape))
        self._head = tuple(slice(0, n) for n in image_shape)
        kernel_box = tuple(slice(0, k) for k in kernel.shape)
        if self.device.type == "cpu":
            # Set-up counts in every run (RL builds its operator per call): zero-filled buffers from calloc (pages
            # come lazily, the padding is only ever read) and the OTF from the same FFT as the iterations.
            # The inverse transform is left unnormalised (the pruned passes of _convolve), so 1/N goes into the OTF.
            padded = np.zeros(self.fft_shape, np.float32)
            padded[kernel_box] = kernel / np.float32(np.prod(self.fft_shape))
            self._transfer = torch.from_numpy(ducc0.fft.r2c(padded, axes=list(self.dims), nthreads=self.workers))
            self._spectrum = np.empty(tuple(self._transfer.shape), np.complex64)
            # Reused zero-padded buffers: only the image region is ever written, the rest stays 0.
            self._buf_a = torch.from_numpy(np.zeros(self.fft_shape, np.float32))
            self._buf_t = torch.from_numpy(np.zeros(self.fft_shape, np.float32))
        else:
            padded = torch.zeros(self.fft_shape, dtype=torch.float32, device=self.device)
            padded[kernel_box] = torch.from_numpy(np.ascontiguousarray(kernel))
            self._transfer = torch.fft.rfftn(padded, dim=self.dims)
            self._buf_a = torch.zeros(self.fft_shape, dtype=torch.float32, device=self.device)
            self._buf_t = torch.zeros(self.fft_shape, dtype=torch.float32, device=self.device)
        self._adjoint = None

    @property
    def otf(self) -> torch.Tensor:
        """The optical transfer function on the padded grid (real FFT of the PSF with its centre at the origin)."""
        return self._transfer * float(np.prod(self.fft_shape)) if self.device.type == "cpu" else self._transfer

    @property
    def _transfer_adjoint(self) -> torch.Tensor:
        # The adjoint's transfer function, made on first use (forward-only users such as simulation never pay).
        if self._adjoint is None:
            self._adjoint = self._transfer.conj().resolve_conj()
        return self._adjoint

    # -- config -----------------------------------------------------------------------------
    @property
    def config(self) -> BlurConfig:
        if self._config is not None:
            return self._config
        return BlurConfig(image_shape=self.image_shape, psf=ArrayPSF.from_array(self.psf), noise=self.noise)

    @classmethod
    def from_config(cls, config: BlurConfig | dict, *, device=None) -> "Blur":
        config = BlurConfig.model_validate(config)
        return cls(config.psf.build(), image_shape=config.image_shape, device=device, noise=config.noise, config=config)

    @classmethod
    def example(cls, *, ndim: int = 2, device=None) -> "Blur":
        """A small instance for the registry's shared tests."""
        shape = (20, 23) if ndim == 2 else (9, 16, 13)
        psf_shape = (7, 6) if ndim == 2 else (5, 4, 7)
        psf = np.random.default_rng(1).random(psf_shape).astype(np.float32)
        return cls(psf / psf.sum(), image_shape=shape, device=device)

    # -- operators --------------------------------------------------------------------------
    def _check(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if tuple(x.shape) != self.image_shape:
            raise ValueError(f"{name} has shape {tuple(x.shape)}, expected {self.image_shape}.")
        return x.to(device=self.device, dtype=torch.float32)

    def _convolve(self, buf: torch.Tensor, otf: torch.Tensor, box_in: tuple, box_out: tuple) -> torch.Tensor:
        """Multiply the padded `buf` (zero outside `box_in`) by `otf` in Fourier space; the result on `box_out`."""
        if self.device.type != "cpu":
            spectrum = torch.fft.rfftn(buf, dim=self.dims)
            spectrum.mul_(otf)
            return torch.fft.irfftn(spectrum, s=self.fft_shape, dim=self.dims)[box_out]
        # ducc0 (pocketfft's successor) in float32, axis by axis: about twice as fast per real FFT as scipy.fft's
        # pocketfft and 1.5× torch's MKL FFT here (docs/DESIGN.md, "Forward-model registry"). Each pass transforms
        # only the lines the data reaches (the forward passes skip the zero padding, the inverse passes compute only
        # what `box_out` keeps): a quarter less work in 3D, where z is padded by half the PSF. The 1/N of the inverse
        # is in the OTF (`_transfer`).
        spectrum, last, threads = self._spectrum, len(self.fft_shape) - 1, self.workers
        rows = box_in[:-1] + (slice(None),)
        ducc0.fft.r2c(buf.numpy()[rows], axes=[last], out=spectrum[rows], nthreads=threads)
        for axis in range(last - 1, -1, -1):
            reached, inside = box_in[:axis], box_in[axis]
            spectrum[reached + (slice(0, inside.start),)] = 0  # left by the previous call
            spectrum[reached + (slice(inside.stop, None),)] = 0
            ducc0.fft.c2c(spectrum[reached], axes=[axis], out=spectrum[reached], nthreads=threads)
        torch.from_numpy(spectrum).mul_(otf)
        for axis in range(last):
            kept = spectrum[box_out[:axis]]
            ducc0.fft.c2c(kept, axes=[axis], out=kept, forward=False, nthreads=threads)
        rows = box_out[:-1] + (slice(None),)
        out = np.empty(tuple(b.stop - b.start for b in box_out[:-1]) + (self.fft_shape[-1],), np.float32)
        ducc0.fft.c2r(spectrum[rows], axes=[last], lastsize=self.fft_shape[-1], out=out, forward=False,
                      nthreads=threads, allow_overwriting_input=True)
        return torch.from_numpy(out)[..., box_out[-1]]

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Blur: ``scipy.signal.convolve(x, psf, mode="same")`` (odd PSF), float32, same shape."""
        x = self._check(torch.as_tensor(x), "x")
        self._buf_a[self._head] = x
        return self._convolve(self._buf_a, self._transfer, self._head, self._crop_a)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`A`: correlation with the PSF, same shape."""
        y = self._check(torch.as_tensor(y), "y")
        self._buf_t[self._crop_a] = y
        return self._convolve(self._buf_t, self._transfer_adjoint, self._crop_a, self._head)
