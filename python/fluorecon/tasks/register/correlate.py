"""Sub-pixel cross-correlation kernels for registration: phase correlation of one pair (the result
of scikit-image's ``phase_cross_correlation``) and the batched template aligner behind
:func:`fluorecon.tasks.register.classical.estimate_drift` (whole frames through one batched real FFT,
peaks refined by a matrix-multiply upsampled DFT only around each peak, Guizar-Sicairos 2008).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.fft
from scipy import ndimage

__all__ = ["phase_correlation"]


def _spectrum(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return scipy.fft.fftn(image - image.mean())


def _upsampled_dft(data: np.ndarray, region: int, upsample: int, offsets: np.ndarray) -> np.ndarray:
    """Inverse DFT of `data` evaluated only on a `region`-sized grid around `offsets`, at
    1/`upsample` pixel spacing, by one small matrix product per axis (Guizar-Sicairos 2008)."""
    for axis, (n, offset) in reversed(list(enumerate(zip(data.shape, offsets)))):
        freqs = np.fft.ifftshift(np.arange(n)) - n // 2
        sample = np.arange(region) - offset
        kernel = np.exp(-1j * 2 * np.pi / (n * upsample) * sample[:, None] * freqs[None, :]).astype(np.complex64)
        data = np.moveaxis(np.tensordot(kernel, data, axes=([1], [axis])), 0, axis)
    return data


def _correlate(ref_spectrum: np.ndarray, moving_spectrum: np.ndarray, *, upsample: int,
               normalization: str | None) -> np.ndarray:
    product = ref_spectrum * moving_spectrum.conj()
    if normalization == "phase":
        product = product / np.maximum(np.abs(product), 100 * np.finfo(np.float32).eps)
    cc = scipy.fft.ifftn(product)
    peak = np.array(np.unravel_index(np.argmax(np.abs(cc)), cc.shape), np.float64)
    shape = np.array(cc.shape)
    peak[peak > shape // 2] -= shape[peak > shape // 2]
    if upsample <= 1:
        return peak
    shifts = np.round(peak * upsample) / upsample
    region = int(np.ceil(upsample * 1.5))
    centre = np.fix(region / 2.0)
    offsets = centre - shifts * upsample
    fine = _upsampled_dft(product.conj(), region, upsample, offsets).conj()
    local = np.array(np.unravel_index(np.argmax(np.abs(fine)), fine.shape), np.float64)
    return shifts + (local - centre) / upsample


def phase_correlation(reference: np.ndarray, moving: np.ndarray, *, upsample: int = 20,
                      normalization: Literal["phase"] | None = "phase") -> np.ndarray:
    """Sub-pixel translation that registers `moving` onto `reference`.

    Cross-power spectrum peak, refined by an upsampled DFT in a 1.5-pixel neighbourhood
    (precision 1/`upsample` px) — the convention and result of
    ``skimage.registration.phase_cross_correlation`` (``shift`` applied to `moving` aligns it).

    Parameters
    ----------
    reference, moving : ndarray, same shape, 2D or 3D
    upsample : int
        Upsampling factor of the refinement (1 = whole pixels).
    normalization : "phase" or None
        Phase correlation (robust to intensity changes) or plain cross-correlation (better for
        sparse images such as SMLM renderings).

    Returns
    -------
    ndarray, float64, (ndim,) in pixels.

    References
    ----------
    Guizar-Sicairos, Thurman & Fienup, "Efficient subpixel image registration algorithms",
    Opt. Lett. 33, 156 (2008).
    """
    reference, moving = np.asarray(reference), np.asarray(moving)
    if reference.shape != moving.shape or reference.ndim not in (2, 3):
        raise ValueError(f"reference {reference.shape} and moving {moving.shape} must be 2D or 3D with the same shape.")
    if upsample < 1:
        raise ValueError(f"upsample must be >= 1, got {upsample}.")
    return _correlate(_spectrum(reference), _spectrum(moving), upsample=upsample, normalization=normalization)


def _tukey(shape: Sequence[int], alpha: float = 0.25) -> np.ndarray:
    from scipy.signal.windows import tukey

    window = np.ones((), np.float32)
    for n in shape:
        window = np.multiply.outer(window, tukey(n, alpha).astype(np.float32))
    return window


def _bin(frames: np.ndarray, factor: int) -> np.ndarray:
    """Sum `factor`-pixel blocks of every (T, *spatial) frame (edges that do not fill a block are cut)."""
    # A sum of strided views: NumPy reduces over the small inner axes of a reshape slowly.
    shape = [n // factor for n in frames.shape[1:]]
    out = np.zeros((len(frames), *shape), np.float32)
    for offset in np.ndindex(*(factor,) * len(shape)):
        out += frames[(slice(None), *[slice(o, o + n * factor, factor) for o, n in zip(offset, shape)])]
    return out


def _box_highpass(shape: Sequence[int], size: int) -> np.ndarray:
    """1 − the transfer function of a `size`-wide box filter, on the rfftn grid of `shape`."""
    response = np.ones((), np.float32)
    for axis, n in enumerate(shape):
        omega = 2 * np.pi * (np.fft.rfftfreq(n) if axis == len(shape) - 1 else np.fft.fftfreq(n))
        with np.errstate(invalid="ignore", divide="ignore"):
            box = np.where(omega == 0, 1.0, np.sin(size * omega / 2) / (size * np.sin(omega / 2)))
        response = np.multiply.outer(response, box.astype(np.float32))
    return (1 - response).astype(np.float32)


def _peaks(cc: np.ndarray) -> np.ndarray:
    """Whole-pixel argmax of each (T, *spatial) correlation, as signed (wrapped) offsets."""
    shape = np.array(cc.shape[1:])
    flat = np.argmax(cc.reshape(len(cc), -1), axis=1)
    peak = np.stack(np.unravel_index(flat, cc.shape[1:]), axis=1).astype(np.int64)
    return np.where(peak > shape // 2, peak - shape, peak)


def _dft_peaks(product: np.ndarray, shape: Sequence[int], centres: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Peak of ``irfftn(product, shape)`` for each item of a batch, searched on the grid
    ``centres[i] + steps`` (same steps on every axis): the matrix-multiply DFT of Guizar-Sicairos
    et al. (2008), evaluated only there, on the half spectrum of real data (weight 2 for the
    columns whose mirror rfft dropped), one batched matrix product per axis."""
    n_batch, ndim, region = len(product), len(shape), len(steps)

    def kernel(axis: int) -> np.ndarray:
        n = shape[axis]
        freqs = np.arange(product.shape[1 + axis]) if axis == ndim - 1 else np.fft.fftfreq(n, 1 / n)
        # exp(2πi k (centre + step) / n) = exp(2πi k centre / n) · exp(2πi k step / n): two small tables.
        per_item = np.exp(2j * np.pi / n * freqs[None, :] * centres[:, axis, None]).astype(np.complex64)
        shared = np.exp(2j * np.pi / n * freqs[:, None] * steps[None, :]).astype(np.complex64)
        if axis == ndim - 1:
            weight = np.full(len(freqs), 2, np.float32)
            weight[0] = 1
            if n % 2 == 0:
                weight[-1] = 1
            shared *= weight[:, None]
        return per_item[:, :, None] * shared[None]  # (batch, n_freqs, region)

    data = (product.reshape(n_batch, -1, product.shape[-1]) @ kernel(ndim - 1)).reshape(*product.shape[:-1], region)
    for axis in reversed(range(ndim - 1)):
        moved = np.ascontiguousarray(np.moveaxis(data, 1 + axis, -1))
        moved = (moved.reshape(n_batch, -1, moved.shape[-1]) @ kernel(axis)).reshape(*moved.shape[:-1], region)
        data = np.moveaxis(moved, -1, 1 + axis)
    best = np.argmax(data.real.reshape(n_batch, -1), axis=1)
    return centres + steps[np.stack(np.unravel_index(best, (region,) * ndim), axis=1)]


def _refine(product: np.ndarray, shape: Sequence[int], peaks: np.ndarray, upsample: int) -> np.ndarray:
    """Sub-pixel peaks within ±0.75 px of whole-pixel `peaks`, on a 1/`upsample` grid."""
    region = int(np.ceil(upsample * 1.5))
    return _dft_peaks(product, shape, peaks, (np.arange(region) - region // 2) / upsample)


def _chunks(n: int, voxels: int, budget: int = 1 << 23):
    """Frame ranges whose arrays stay near `budget` voxels (batched FFTs without filling memory)."""
    step = max(1, budget // max(voxels, 1))
    return [(s, min(s + step, n)) for s in range(0, n, step)]


class _Aligner:
    """Whole-pixel then sub-pixel alignment of frames onto reference templates.

    Coarse pass: windowed, 2×-binned frames, batched FFT cross-correlation → whole-pixel shifts.
    Fine pass: the reference's central region under a Tukey window (weighted mean removed, so
    offsets and linear backgrounds cancel) is the template; it is correlated with an *unwindowed*
    crop of the moving frame, `pad` px larger on every side and placed by the whole-pixel shift.
    The window travels with the template, so the peak is not pulled towards zero shift by a
    window fixed in both images; one pass suffices. Both sides are high-passed (box filter; in
    real space for the template, in Fourier space for the crops).
    """

    def __init__(self, frames: np.ndarray, *, upsample: int, highpass_px: float, pad: int = 1):
        self.spatial = frames.shape[1:]
        self.ndim = len(self.spatial)
        self.axes = tuple(range(1, self.ndim + 1))
        self.upsample = upsample
        self.box = 2 * int(round(highpass_px)) + 1 if highpass_px > 0 else 0
        self.bin = 2 if min(self.spatial) >= 64 else 1
        self.pad = pad + self.bin  # the coarse pass is right to about one (binned) pixel
        self.coarse_shape = tuple(s // self.bin for s in self.spatial)
        self.coarse_window = _tukey(self.coarse_shape)
        # Width of the box on the binned grid (odd, at least 3).
        self.coarse_hp = _box_highpass(self.coarse_shape, max(3, self.box // self.bin | 1)) if self.box else 1

    def highpassed(self, images: np.ndarray) -> np.ndarray:
        if not self.box:
            return images
        return images - ndimage.uniform_filter(images, size=(1,) + (self.box,) * self.ndim, mode="nearest")

    def _coarse_spectrum(self, images: np.ndarray) -> np.ndarray:
        binned = images if self.bin == 1 else _bin(images, self.bin)
        binned = binned - binned.mean(axis=self.axes, keepdims=True)
        return scipy.fft.rfftn(binned * self.coarse_window, axes=self.axes) * self.coarse_hp

    def coarse(self, references: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """Whole-pixel drift of `moving` (T, ...) relative to `references` (1 or T, ...)."""
        product = self._coarse_spectrum(references) * np.conj(self._coarse_spectrum(moving))
        cc = scipy.fft.irfftn(product, s=self.coarse_shape, axes=self.axes)
        return -self.bin * _peaks(cc)

    def plan(self, whole: np.ndarray) -> None:
        """Template geometry for whole-pixel shifts up to max |`whole`| per axis."""
        margin = np.abs(whole).max(axis=0) + self.pad
        room = [n - 2 * int(m) + 2 * self.pad for n, m in zip(self.spatial, margin)]
        if min(r - 2 * self.pad for r in room) < 8:
            raise ValueError(f"The drift ({int(np.abs(whole).max())} px) is too large for frames of shape "
                             f"{self.spatial}: fewer than 8 pixels overlap. Crop less or register a binned copy first.")
        self.size = [_fast_len_below(r) for r in room]
        self.core = [s - 2 * self.pad for s in self.size]
        self.start = [(n - c) // 2 for n, c in zip(self.spatial, self.core)]
        self.window = _tukey(self.core)
        self.fine_hp = _box_highpass(self.size, self.box) if self.box else None

    def templates(self, images: np.ndarray) -> np.ndarray:
        """rfftn of the windowed, zero-sum, zero-padded central regions of `images` (T, ...)."""
        core = self.highpassed(images[(slice(None), *[slice(s, s + c) for s, c in zip(self.start, self.core)])])
        core = core - (core * self.window).sum(axis=self.axes, keepdims=True) / self.window.sum()
        padded = np.zeros((len(images), *self.size), np.float32)
        padded[(slice(None), *[slice(self.pad, self.pad + c) for c in self.core])] = core * self.window
        return scipy.fft.rfftn(padded, axes=self.axes)

    def fine(self, templates: np.ndarray, moving: np.ndarray, whole: np.ndarray) -> np.ndarray:
        """Sub-pixel drift of `moving` (T, ...) given whole-pixel estimates `whole` (T, ndim)."""
        crops = np.empty((len(moving), *self.size), np.float32)
        for t, frame in enumerate(moving):
            crops[t] = frame[tuple(slice(s + int(w) - self.pad, s + int(w) - self.pad + n)
                                   for s, w, n in zip(self.start, whole[t], self.size))]
        product = scipy.fft.rfftn(crops, axes=self.axes)
        np.conjugate(product, out=product)
        product *= templates
        if self.fine_hp is not None:
            product *= self.fine_hp
        # The peak lies within ±pad of zero (the crop was placed by the whole-pixel shift): evaluate
        # the correlation only there, then refine around its maximum.
        peaks = _dft_peaks(product, self.size, np.zeros_like(whole), np.arange(-self.pad, self.pad + 1.0))
        return whole - _refine(product, self.size, peaks, self.upsample)


def _fast_len_below(n: int) -> int:
    while scipy.fft.next_fast_len(n, real=True) != n:
        n -= 1
    return n
