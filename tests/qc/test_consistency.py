import numpy as np
import torch

from fluorecon.imaging.forward import Blur
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.psf import psf_widefield
from fluorecon.qc.consistency import consistency_map, variance_adu


def test_variance_matches_camera_model():
    camera = CameraNoise(photons=50, gain=2.0, offset=100, read_noise_e=1.5, em_gain=30)
    image = np.linspace(0, 1, 11, dtype=np.float32)
    np.testing.assert_allclose(variance_adu(camera.mean(image), camera), camera.variance(image), rtol=1e-4)


def test_consistency_is_standard_normal_for_the_truth_and_flags_a_missing_object():
    rng = np.random.default_rng(0)
    truth = np.zeros((96, 96), np.float32)
    truth[rng.integers(10, 86, 40), rng.integers(10, 86, 40)] = 1.0
    psf = psf_widefield(15, na=1.2, wavelength_nm=520, pixel_size_nm=80)
    camera = CameraNoise(photons=400, background=5, gain=1.7, offset=100, read_noise_e=2)
    physics = Blur(psf, image_shape=truth.shape, device="cpu", noise=camera)
    blurred = physics.A(torch.from_numpy(truth)).numpy()
    measured = apply_noise(blurred, camera, seed=1)
    # Estimate in ADU above the offset: gain · qe · (photons · x + background) before blurring.
    estimate = camera.gain * (camera.photons * truth + camera.background)
    z = consistency_map(measured, estimate, physics)
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05
    missing = estimate.copy()
    missing[truth > 0] = camera.gain * camera.background  # objects dropped
    z_bad = consistency_map(measured, missing, physics)
    assert float(z_bad.max()) > 10 and float(z_bad.std()) > 1.5
