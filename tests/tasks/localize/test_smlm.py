"""SMLM simulation: statistics of blinking, photons and density; PSF rendering; camera units."""

import numpy as np
import pytest

from fluorecon.tasks.localize.physics import (AstigmaticPSF, SMLMConfig, blink, empty_table, make_table, photons_from_adu,
                                    render_emitters, render_localizations, simulate_smlm)


def test_density_photons_and_table_columns():
    cfg = SMLMConfig(shape=(64, 64), num_frames=200, density=1.0, structure="uniform", photons=1500,
                     photons_log_sigma=0.4, camera="ideal", seed=3)
    data = simulate_smlm(cfg)
    area_um2 = (6.4 * 6.4)
    per_frame = np.bincount(data.truth["frame"], minlength=cfg.num_frames)
    assert per_frame.mean() / area_um2 == pytest.approx(1.0, rel=0.1)
    assert data.truth["photons"].mean() == pytest.approx(1500, rel=0.05)  # log-normal mean, not median
    assert np.std(np.log(data.truth["photons"])) == pytest.approx(0.4, rel=0.1)
    assert data.frames.shape == (200, 64, 64) and data.frames.dtype == np.float32
    assert set(data.truth.dtype.names) >= {"frame", "x_nm", "y_nm", "z_nm", "photons"}
    assert (data.truth["x_nm"] >= 0).all() and (data.truth["x_nm"] < 6400).all()
    assert np.all(data.truth["z_nm"] == 0)


def test_blinking_on_time_and_duty_cycle():
    states = blink(4000, 300, on_time_frames=3.0, duty_cycle=0.1, rng=np.random.default_rng(0))
    assert states.mean() == pytest.approx(0.1, rel=0.05)
    # Mean length of uninterrupted on-runs = 1 / p_off.
    s = states.T.astype(np.int8)
    starts = np.sum(np.diff(s, axis=1) == 1)
    assert states[1:-1].sum() / max(starts, 1) == pytest.approx(3.0, rel=0.1)


def test_same_seed_same_data_and_other_seed_differs():
    a = simulate_smlm(shape=(32, 32), num_frames=5, density=2.0, seed=7)
    b = simulate_smlm(shape=(32, 32), num_frames=5, density=2.0, seed=7)
    c = simulate_smlm(shape=(32, 32), num_frames=5, density=2.0, seed=8)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.truth.tobytes() == b.truth.tobytes()
    assert not np.array_equal(a.frames, c.frames)


def test_expected_image_holds_the_photons_and_camera_units_invert():
    data = simulate_smlm(shape=(48, 48), num_frames=50, density=0.3, structure="uniform", background=10,
                         camera="scmos", seed=1)
    cfg = data.config
    # Emitters well inside the field put all their photons in the frame.
    inside = ((data.truth["x_nm"] > 600) & (data.truth["x_nm"] < 4200) & (data.truth["y_nm"] > 600)
              & (data.truth["y_nm"] < 4200))
    assert inside.sum() > 20
    photons = photons_from_adu(data.frames, cfg.camera_model())
    expected_total = data.truth["photons"].sum() + 10 * 48 * 48 * 50
    assert photons.sum() == pytest.approx(expected_total, rel=0.03)
    assert data.expected.sum() == pytest.approx(expected_total, rel=0.03)


def test_emccd_noise_doubles_the_shot_noise():
    data = simulate_smlm(shape=(64, 64), num_frames=20, density=0.0, background=50, camera="emccd", seed=2)
    ph = photons_from_adu(data.frames, data.config.camera_model())
    qe = 0.9
    # Electrons ~ Poisson(qe·b), EM excess factor 2: var(photons) = 2·b/qe.
    assert ph.mean() == pytest.approx(50, rel=0.02)
    assert ph.var() == pytest.approx(2 * 50 / qe, rel=0.08)


def test_render_emitters_integrates_photons_and_centres_on_pixel_convention():
    img = render_emitters([650.0], [750.0], [1000.0], shape=(16, 16), pixel_size_nm=100, sigma_x_nm=80, sigma_y_nm=80)
    assert img.sum() == pytest.approx(1000, rel=1e-4)
    # Pixel (row 7, column 6) has its centre at (650, 750) nm: it holds the peak, and the spot is symmetric.
    assert np.unravel_index(np.argmax(img), img.shape) == (7, 6)
    assert img[7, 5] == pytest.approx(img[7, 7], rel=1e-5)


def test_astigmatic_psf_and_z_lookup_round_trip():
    astig = AstigmaticPSF(sigma0_nm=120, focal_offset_nm=200, depth_nm=400)
    z = np.linspace(-500, 500, 21)
    sx, sy = astig.sigmas_nm(z)
    assert (sx[z > 0] < sy[z > 0]).all() and (sx[z < 0] > sy[z < 0]).all()
    np.testing.assert_allclose(astig.z_from_sigmas(sx, sy), z, atol=1.0)
    data = simulate_smlm(shape=(32, 32), num_frames=20, density=1.0, psf="astigmatic", z_range_nm=300, seed=4)
    assert np.abs(data.truth["z_nm"]).max() <= 300 and np.std(data.truth["z_nm"]) > 100


def test_rings_and_filaments_are_structured():
    from scipy.spatial import cKDTree

    def median_nn(structure):
        e = simulate_smlm(shape=(64, 64), num_frames=1, density=0.5, structure=structure, seed=5).emitters_nm[:, :2]
        return np.median(cKDTree(e).query(e, k=2)[0][:, 1])

    uniform = median_nn("uniform")
    # Emitters on lines and rims have much closer neighbours than the same number spread uniformly.
    assert median_nn("rings") < 0.5 * uniform
    assert median_nn("filaments") < 0.5 * uniform


def test_render_localizations_counts_and_validates():
    table = make_table(frame=np.zeros(3, int), x_nm=[500.0, 1000, 1500], y_nm=[500.0, 500, 500],
                       uncertainty_nm=[10.0, 20, np.nan])
    img = render_localizations(table, shape_nm=(2000, 2000), pixel_size_nm=10)
    assert img.shape == (200, 200)
    assert img.sum() == pytest.approx(3, rel=1e-3)
    assert render_localizations(empty_table(0), shape_nm=(100, 100), pixel_size_nm=10).sum() == 0
    with pytest.raises(ValueError, match="pixel_size_nm"):
        render_localizations(table, shape_nm=(100, 100), pixel_size_nm=0)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="shape"):
        SMLMConfig(shape=(2, 64))
    with pytest.raises(ValueError, match="duty_cycle"):
        blink(10, 5, on_time_frames=1.0, duty_cycle=0.9, rng=np.random.default_rng(0))
