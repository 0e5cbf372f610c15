"""Seeded images shared by the `--like` tests (the CLI's, the train-like job's, Fiji's Train for my microscope…)."""

import numpy as np
from scipy.ndimage import gaussian_filter

from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom


def bead_stack(seed: int, planes: int = 21, side: int = 64) -> np.ndarray:
    """A light-sheet bead stack as a camera with gain 2, offset 100 and 2 e- read noise records it: one bead
    defocusing along z over the sheet's illumination profile (≤ 100 photons), mostly background."""
    z = np.arange(planes) - planes // 2
    yy, xx = np.mgrid[:side, :side] - side / 2 + 0.3
    sigma = 1.3 * np.sqrt(1 + (z / 3.0) ** 2)[:, None, None]
    bead = np.exp(-(yy**2 + xx**2)[None] / (2 * sigma**2)) * (1.69 / sigma**2)
    sheet = 0.01 + 0.08 * np.exp(-(yy / 24.0) ** 2)
    camera = CameraNoise(photons=1000, gain=2.0, offset=100.0, read_noise_e=2.0)
    return np.stack([apply_noise(b + sheet, camera, seed=seed * 100 + i) for i, b in enumerate(bead)])


def widefield_frame(camera: CameraNoise, seed: int) -> np.ndarray:
    """A user's raw widefield frame: the same blurred 96² mixed phantom seen by `camera` (noise drawn with `seed`)."""
    obj = gaussian_filter(phantom((96, 96), kind="mixed", seed=2), 1.5)
    return apply_noise(obj / obj.max(), camera, seed=seed)
