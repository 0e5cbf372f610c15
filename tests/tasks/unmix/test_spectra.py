"""Spectral physics: reference table, detector bands, mixing matrix, the SpectralMixing operator."""

import json

import numpy as np
import pytest
import torch

from fluorecon.imaging.forward import build_physics
from fluorecon.imaging.noise import CameraNoise
from fluorecon.tasks.unmix.physics import (
    WAVELENGTHS_NM, Detector, SpectralMixing, emission_spectrum, mixing_matrix, reference_spectra,
    simulate_labels, simulate_spectral, spectra_from_rois,
)

NAMES = ["DAPI", "Hoechst", "EGFP", "mNeonGreen", "Alexa488", "Alexa555", "Alexa568", "Alexa647", "mCherry",
         "tdTomato", "Cy5"]


def test_reference_table_peaks_widths_and_area():
    table = reference_spectra()
    assert sorted(table) == sorted(NAMES)
    step = WAVELENGTHS_NM[1] - WAVELENGTHS_NM[0]
    for name, params in table.items():
        s = emission_spectrum(name)
        assert abs(s.sum() * step - 1) < 1e-6
        assert abs(WAVELENGTHS_NM[s.argmax()] - params.emission_peak_nm) <= step
        above = WAVELENGTHS_NM[s >= s.max() / 2]
        assert abs((above[-1] - above[0]) - params.emission_fwhm_nm) <= 2 * step
        # Emission tails to the red: more area above the peak than below it.
        assert s[WAVELENGTHS_NM > params.emission_peak_nm].sum() > s[WAVELENGTHS_NM < params.emission_peak_nm].sum()
    assert emission_spectrum("alexa 488").argmax() == emission_spectrum("Alexa488").argmax()


def test_unknown_spectrum_and_bad_bands_are_explained():
    with pytest.raises(ValueError, match="Unknown spectrum 'GFPX'.*EGFP"):
        emission_spectrum("GFPX")
    with pytest.raises(ValueError, match="low must be below high"):
        Detector(bands_nm=[(500, 450)])
    with pytest.raises(ValueError, match="emit nothing"):
        mixing_matrix(["DAPI", "Cy5"], Detector(bands_nm=[(400, 520)]))


def test_mixing_matrix_is_the_collected_fraction():
    full = Detector.lambda_stack(start_nm=350, stop_nm=850, channels=25)
    m = mixing_matrix(["DAPI", "EGFP", "mCherry"], full)
    assert m.shape == (25, 3) and m.dtype == np.float32
    np.testing.assert_allclose(m.sum(axis=0), 1.0, atol=1e-3)  # every photon lands in some band
    narrow = mixing_matrix(["EGFP"], Detector(bands_nm=[(500, 515)]))
    assert 0.2 < narrow[0, 0] < 0.5
    bright = mixing_matrix(["DAPI", "EGFP", "mCherry"], full, brightness=[1, 2, 0.5])
    np.testing.assert_allclose(bright, m * np.array([1, 2, 0.5], np.float32), rtol=1e-6, atol=1e-9)


def test_spectral_operator_adjoint_shapes_and_config():
    detector = Detector.lambda_stack(start_nm=420, stop_nm=700, channels=8)
    m = mixing_matrix(["DAPI", "EGFP", "tdTomato", "mCherry"], detector)
    op = SpectralMixing(m, image_shape=(9, 11), labels=["a", "b", "c", "d"], device="cpu", noise=CameraNoise(photons=20))
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal(op.image_shape)).double()
    y = torch.from_numpy(rng.standard_normal(op.measurement_shape)).double()
    ax, aty = op.A(x), op.A_adjoint(y)
    assert tuple(ax.shape) == (8, 9, 11) and tuple(aty.shape) == (4, 9, 11) and ax.dtype == torch.float32
    lhs, rhs = float((ax.double() * y).sum()), float((x * aty.double()).sum())
    assert abs(lhs - rhs) <= 1e-5 * max(abs(lhs), 1.0)
    np.testing.assert_allclose(ax.numpy(), np.einsum("cl,lyx->cyx", m, x.numpy()), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        op.A(torch.zeros(8, 9, 11))
    rebuilt = build_physics(json.loads(op.config.model_dump_json()), device="cpu")
    assert rebuilt.labels == ["a", "b", "c", "d"] and rebuilt.noise.photons == 20
    torch.testing.assert_close(rebuilt.A(x), op.A(x))
    square = SpectralMixing.example(ndim=3, device="cpu")
    assert square.image_shape == square.measurement_shape


def test_simulated_specimen_and_spectra_from_rois():
    labels = simulate_labels((64, 64), 3, seed=4)
    assert labels.shape == (3, 64, 64) and labels.dtype == np.float32
    np.testing.assert_array_equal(labels, simulate_labels((64, 64), 3, seed=4))
    assert all(0.99 <= labels[i].max() <= 1.0 for i in range(3))
    # Single-label regions: the measured spectra equal the mixing columns (normalised to sum 1).
    detector = Detector.lambda_stack(start_nm=430, stop_nm=710, channels=8)
    m = mixing_matrix(["EGFP", "tdTomato", "Cy5"], detector)
    pure = np.zeros((3, 48, 48), np.float32)
    pure[0, :16], pure[1, 16:32], pure[2, 32:] = 1, 1, 1
    physics = SpectralMixing(m, image_shape=(48, 48), device="cpu")
    y = simulate_spectral(pure, physics, camera=CameraNoise(photons=5000, offset=100), seed=1)
    masks = [pure[i] > 0 for i in range(3)]
    measured = spectra_from_rois(y, masks, offset=100)
    np.testing.assert_allclose(measured, m / m.sum(axis=0), atol=0.01)
    with pytest.raises(ValueError, match="ROI 2 is empty"):
        spectra_from_rois(y, [masks[0], np.zeros((48, 48), bool)])
