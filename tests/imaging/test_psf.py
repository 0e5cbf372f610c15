import numpy as np
import pytest

from fluorecon.imaging.psf import psf_confocal, psf_from_image, psf_widefield


def fwhm_px(profile: np.ndarray) -> float:
    """Full width at half maximum of a single-peaked profile, linear interpolation."""
    profile = profile / profile.max()
    above = np.where(profile >= 0.5)[0]
    lo, hi = above[0], above[-1]
    left = lo - 1 + (0.5 - profile[lo - 1]) / (profile[lo] - profile[lo - 1])
    right = hi + (profile[hi] - 0.5) / (profile[hi] - profile[hi + 1])
    return right - left


@pytest.mark.parametrize("shape", [(33, 33), (32, 40), (9, 33, 33), (8, 32, 32)])
def test_widefield_sum_dtype_centre(shape):
    psf = psf_widefield(shape, na=1.2, wavelength_nm=520, pixel_size_nm=50, z_step_nm=200)
    assert psf.shape == shape and psf.dtype == np.float32
    assert abs(float(psf.sum(dtype=np.float64)) - 1) < 1e-5
    assert np.unravel_index(psf.argmax(), shape) == tuple(n // 2 for n in shape)


def test_widefield_symmetry():
    psf = psf_widefield(
        (9, 33, 33), na=1.4, wavelength_nm=520, pixel_size_nm=40, z_step_nm=150, ns=1.515
    )
    np.testing.assert_allclose(psf, psf[:, ::-1, :], atol=1e-6 * psf.max())
    np.testing.assert_allclose(psf, psf[:, :, ::-1], atol=1e-6 * psf.max())
    np.testing.assert_allclose(psf, np.swapaxes(psf, 1, 2), atol=1e-5 * psf.max())
    # Matched indices (ns = ni), no aberration: symmetric about the focal plane.
    np.testing.assert_allclose(psf, psf[::-1], atol=1e-3 * psf.max())


@pytest.mark.parametrize("na,wavelength", [(1.4, 520), (0.8, 600)])
def test_widefield_fwhm_close_to_theory(na, wavelength):
    # 0.51·λ/NA is the scalar Airy-disk FWHM: the scalar model must agree within 3 %.
    # The vectorial model is wider at high NA (depolarisation), by up to 25 % at NA 1.4.
    pixel = 10.0
    ni = 1.515 if na > 1 else 1.0
    expected = 0.51 * wavelength / na
    kw = dict(na=na, wavelength_nm=wavelength, pixel_size_nm=pixel, ni=ni)
    scalar = fwhm_px(psf_widefield(65, model="scalar", **kw)[32].astype(np.float64)) * pixel
    vectorial = fwhm_px(psf_widefield(65, **kw)[32].astype(np.float64)) * pixel
    assert abs(scalar - expected) / expected < 0.03, (scalar, expected)
    assert 1.0 <= vectorial / expected < 1.25, (vectorial, expected)


def test_confocal_narrower_than_widefield():
    kw = dict(na=1.4, wavelength_nm=520, pixel_size_nm=20)
    wide = psf_widefield(65, **kw)
    conf = psf_confocal(65, excitation_nm=488, **kw)
    open_pinhole = psf_confocal(65, excitation_nm=488, pinhole_au=1.0, **kw)
    assert abs(float(conf.sum()) - 1) < 1e-5
    w, c, o = (fwhm_px(p[32].astype(np.float64)) for p in (wide, conf, open_pinhole))
    # Ideal confocal ≈ 1/√2 of widefield (λ_ex ≈ λ_em); a 1 AU pinhole sits in between.
    assert 0.6 < c / w < 0.8
    assert c < o < w


def test_psf_bad_parameters_name_the_value():
    with pytest.raises(ValueError, match="na=1.6"):
        psf_widefield(33, na=1.6, wavelength_nm=520, pixel_size_nm=50)
    with pytest.raises(ValueError, match="z_step_nm"):
        psf_widefield((9, 33, 33), na=1.2, wavelength_nm=520, pixel_size_nm=50)
    with pytest.raises(ValueError, match="pixel_size_nm"):
        psf_widefield(33, na=1.2, wavelength_nm=520, pixel_size_nm=0)


def test_psf_from_image_recovers_model():
    rng = np.random.default_rng(0)
    optics = dict(na=1.2, wavelength_nm=520, ns=1.515)  # axially symmetric: centroid = focus
    truth = psf_widefield((13, 69, 69), pixel_size_nm=25, z_step_nm=200, **optics).astype(np.float64)
    # A bead recorded off-centre at half the target lateral pixel size, with offset and noise.
    bead = truth[1:, 3:, :-2] * 1e7 + 100  # bead off the n // 2 centre on every axis
    bead += rng.normal(0, 0.5, bead.shape)
    psf = psf_from_image(
        bead,
        image_pixel_size_nm=(200, 50, 50),
        psf_pixel_size_nm=(200, 25, 25),
        shape=(9, 33, 33),
        background=100,
    )
    assert psf.dtype == np.float32 and psf.shape == (9, 33, 33)
    assert abs(float(psf.sum()) - 1) < 1e-5
    assert np.unravel_index(psf.argmax(), psf.shape) == (4, 16, 16)
    expected = psf_widefield((9, 33, 33), pixel_size_nm=50, z_step_nm=200, **optics)
    assert np.abs(psf - expected).max() < 0.05 * expected.max()
    assert abs(fwhm_px(psf[4, 16].astype(np.float64)) - fwhm_px(expected[4, 16].astype(np.float64))) < 0.4


def test_psf_from_image_2d_auto_background():
    truth = psf_widefield(129, na=1.0, wavelength_nm=600, pixel_size_nm=20, ni=1.33).astype(np.float64)
    bead = np.roll(truth, (2, -1), axis=(0, 1)) * 1e6 + 300
    psf = psf_from_image(bead, image_pixel_size_nm=40, psf_pixel_size_nm=20)
    assert psf.shape == (65, 65)
    expected = psf_widefield(65, na=1.0, wavelength_nm=600, pixel_size_nm=40, ni=1.33)
    assert np.unravel_index(psf.argmax(), psf.shape) == (32, 32)
    assert np.abs(psf - expected).max() < 0.05 * expected.max()


def test_psf_from_image_errors():
    with pytest.raises(ValueError, match="NaN"):
        psf_from_image(np.full((9, 9), np.nan), image_pixel_size_nm=50, psf_pixel_size_nm=50)
    with pytest.raises(ValueError, match="no signal"):
        psf_from_image(np.ones((9, 9)), image_pixel_size_nm=50, psf_pixel_size_nm=50, background=5)
    with pytest.raises(ValueError, match="2D"):
        psf_from_image(np.ones(9), image_pixel_size_nm=50, psf_pixel_size_nm=50)
