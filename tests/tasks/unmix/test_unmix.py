"""Spectral unmixing: NNLS (vs SciPy), blind NMF, phasors, bleed-through, residual map, the
shipped learned model and the CLI."""

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment, nnls
from typer.testing import CliRunner

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.imaging.noise import CameraNoise
from fluorecon.tasks.unmix.physics import Detector, SpectralMixing, mixing_matrix, simulate_labels, simulate_spectral
from fluorecon.tasks.unmix import classical as U

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "models" / "unmix_4label.onnx"
SETS = {3: ["DAPI", "EGFP", "mCherry"], 4: ["DAPI", "EGFP", "tdTomato", "Alexa647"],
        5: ["DAPI", "Alexa488", "Alexa555", "mCherry", "Cy5"]}
DETECTOR = Detector.lambda_stack(start_nm=420, stop_nm=720, channels=16)


def _mixture(labels, *, photons, shape=(96, 96), seed=0, detector=DETECTOR):
    m = mixing_matrix(labels, detector)
    truth = simulate_labels(shape, len(labels), seed=seed)
    y = simulate_spectral(truth, SpectralMixing(m, image_shape=shape, device="cpu"),
                          camera=CameraNoise(photons=photons, offset=100, read_noise_e=1.5), seed=seed + 1)
    return m, truth * photons, y


def test_nnls_equals_scipy_per_pixel():
    rng = np.random.default_rng(0)
    m = mixing_matrix(SETS[5], DETECTOR)
    y = (rng.normal(size=(16, 12, 10)) * 0.05 + rng.random((16, 12, 10)) * 0.1).astype(np.float32)
    got = U.unmix_nnls(y, m)
    want = np.stack([nnls(m.astype(np.float64), y[:, i, j].astype(np.float64))[0]
                     for i in range(12) for j in range(10)], axis=1).reshape(5, 12, 10)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # The projected-gradient path (used above 8 labels) reaches the same optimum.
    flat = y.reshape(16, -1).astype(np.float64)
    gram, b = m.T.astype(np.float64) @ m, m.T.astype(np.float64) @ flat
    np.testing.assert_allclose(U._nnls_projected_gradient(gram, b, num_iter=3000), want.reshape(5, -1), atol=2e-4)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_nnls_recovers_abundances_of_3_to_5_labels(n):
    m, truth, y = _mixture(SETS[n], photons=2000, seed=n)
    x = U.unmix_nnls(y, m, offset=100)
    assert x.shape == truth.shape and x.dtype == np.float32
    # Stated accuracy: < 6 % relative RMS error per label at 2000 photons, 16 channels.
    errors = [U.abundance_error(x[i], truth[i]) for i in range(n)]
    assert max(errors) < 0.06, errors


def test_blind_nmf_finds_the_spectra():
    m, truth, y = _mixture(SETS[4], photons=2000, seed=11)
    abundances, spectra = U.unmix_nmf(y, 4, offset=100, num_iter=1000, seed=0)
    assert abundances.shape == truth.shape and spectra.shape == (16, 4)
    np.testing.assert_allclose(spectra.sum(axis=0), 1, atol=1e-4)
    reference = m / m.sum(axis=0)
    corr = np.corrcoef(np.hstack([reference, spectra]).T)[:4, 4:]
    rows, cols = linear_sum_assignment(-corr)
    assert corr[rows, cols].min() > 0.9, corr[rows, cols]  # NMF is only unique up to mixing of broad spectra (DAPI)
    fit = spectra @ abundances.reshape(4, -1)
    assert np.linalg.norm(fit - (y.reshape(16, -1) - 100)) / np.linalg.norm(y.reshape(16, -1) - 100) < 0.1


def test_phasor_of_pure_spectra_lands_on_theory():
    n = 8
    image = np.zeros((n, n, 3), np.float32)
    for k in range(n):
        image[k, k] = 5.0  # pixel row k: all light in channel k
    g, s, intensity = U.phasor(image)
    k = np.arange(n)
    np.testing.assert_allclose(g[:, 0], np.cos(2 * np.pi * k / n), atol=1e-6)
    np.testing.assert_allclose(s[:, 0], np.sin(2 * np.pi * k / n), atol=1e-6)
    np.testing.assert_allclose(intensity[:, 0], 5.0 / n)
    # A 30/70 mixture of channels 1 and 3 lies 30/70 along the chord between them.
    mix = np.zeros((n, 1, 1), np.float32)
    mix[1], mix[3] = 0.3, 0.7
    gm, sm, _ = U.phasor(mix)
    np.testing.assert_allclose([gm[0, 0], sm[0, 0]], 0.3 * np.array([g[1, 0], s[1, 0]]) + 0.7 * np.array([g[3, 0], s[3, 0]]), atol=1e-6)
    with pytest.raises(ValueError, match="at least 3 spectral channels"):
        U.phasor(np.ones((2, 4, 4)))


def test_phasor_plot_and_roi_selection():
    labels = ["EGFP", "mCherry"]
    m = mixing_matrix(labels, DETECTOR)
    truth = np.zeros((2, 40, 40), np.float32)
    truth[0, :, :20], truth[1, :, 20:] = 1, 1
    y = simulate_spectral(truth, SpectralMixing(m, image_shape=(40, 40), device="cpu"),
                          camera=CameraNoise(photons=3000, offset=100), seed=3)
    g, s, intensity = U.phasor(y, offset=100)
    centre = U.phasor(m[:, :1, None])[0][0, 0], U.phasor(m[:, :1, None])[1][0, 0]
    mask = U.phasor_mask(g, s, (centre, 0.05))
    assert mask[:, :20].mean() > 0.95 and mask[:, 20:].mean() < 0.01
    polygon = [(centre[0] - 0.05, centre[1] - 0.05), (centre[0] + 0.05, centre[1] - 0.05),
               (centre[0] + 0.05, centre[1] + 0.05), (centre[0] - 0.05, centre[1] + 0.05)]
    assert (U.phasor_mask(g, s, polygon) == (np.abs(g - centre[0]) <= 0.05) & (np.abs(s - centre[1]) <= 0.05)).all()
    plot = U.phasor_plot(g, s, intensity=intensity, bins=128, circle=False)
    assert plot.shape == (128, 128) and plot.dtype == np.float32
    row, col = (int(round(v)) for v in U.phasor_to_plot_pixels(centre[0], centre[1], bins=128))
    assert plot[row - 2:row + 3, col - 2:col + 3].max() == plot.max() or plot[row - 2:row + 3, col - 2:col + 3].max() > 0.8 * plot.max()
    assert plot[row - 4:row + 5, col - 4:col + 5].sum() > 0.25 * plot.sum()  # half the pixels are EGFP
    assert np.isclose(np.expm1(plot).sum(), 1600)


def test_bleedthrough_correction_from_controls():
    rng = np.random.default_rng(2)
    matrix = np.array([[1.0, 0.05], [0.3, 1.0]], np.float32)  # 30 % of label 1 bleeds into channel 2
    a, b = rng.random((2, 32, 32)).astype(np.float32) * 1000
    controls = [np.tensordot(matrix, np.stack([a, 0 * b]), axes=1) + 100,
                np.tensordot(matrix, np.stack([0 * a, b]), axes=1) + 100]
    estimated = U.bleedthrough_from_controls(controls, offset=100)
    np.testing.assert_allclose(estimated, matrix, atol=1e-4)
    image = np.tensordot(matrix, np.stack([a, b]), axes=1) + 100
    corrected = U.correct_bleedthrough(image, estimated, offset=100)
    np.testing.assert_allclose(corrected, np.stack([a, b]), rtol=1e-3, atol=0.05)


def test_residual_map_is_standard_normal_and_flags_a_missing_label():
    m, truth, y = _mixture(SETS[3], photons=500, seed=5)
    r = U.residual_map(y, truth, m, offset=100, read_noise=1.5)
    assert r.shape == y.shape and abs(float(r.mean())) < 0.05 and 0.9 < float(r.std()) < 1.1
    x = U.unmix_nnls(y[:, :, :], m[:, :2], offset=100)  # mCherry left out of the model
    missing = U.residual_map(y, x, m[:, :2], offset=100, read_noise=1.5)
    where = truth[2] > 0.5 * truth[2].max()
    assert np.abs(missing[:, where]).mean() > 3 * np.abs(missing[:, ~where]).mean()


def test_unmixing_errors_are_explained():
    m = mixing_matrix(SETS[4], Detector.lambda_stack(start_nm=420, stop_nm=720, channels=3))
    with pytest.raises(ValueError, match="4 labels cannot be unmixed from 3 channels"):
        U.unmix_nnls(np.ones((3, 8, 8)), m)
    with pytest.raises(ValueError, match="one row per channel"):
        U.unmix_nnls(np.ones((5, 8, 8)), mixing_matrix(SETS[3], DETECTOR))
    with pytest.raises(ValueError, match="indistinguishable"):
        U.unmix_nnls(np.ones((16, 4, 4)), np.repeat(mixing_matrix(["EGFP"], DETECTOR), 2, axis=1))


RATIO_TOL = 0.07


def test_learned_unmixing_beats_nnls_at_low_photons():
    from fluorecon.core.modelcard import read_card

    assert MODEL.is_file(), "models/unmix_4label.onnx is missing: run U.build_unmix_model"
    assert MODEL.stat().st_size < 10 * 2**20
    card = read_card(MODEL)
    assert card.task == "unmix" and card.channels_in == 8 and card.channels_out == 4
    mixing = np.array([[float(v) for v in row.split(",")] for row in card.train["mixing"].split(";")], np.float32)
    spec = U.UNMIX_4LABEL
    detector = Detector.lambda_stack(start_nm=spec["start_nm"], stop_nm=spec["stop_nm"], channels=spec["channels"])
    np.testing.assert_allclose(mixing, mixing_matrix(spec["labels"], detector), rtol=1e-5)
    m, truth, y = _mixture(spec["labels"], photons=20, shape=(128, 128), seed=77, detector=detector)
    learned = U.unmix_learned(y, MODEL)
    assert learned.shape == truth.shape
    linear = U.unmix_nnls(y, m, offset=100)
    e_learned, e_nnls = U.abundance_error(learned, truth), U.abundance_error(linear, truth)
    # Published (models/README, bench/results/unmix.md): at 20 photons the network's abundance error is
    # 0.25 vs NNLS 0.66, 0.38x (measured here: 0.237 vs 0.603, 0.39x). Asserted: 0.38 + RATIO_TOL.
    assert e_learned <= (0.38 + RATIO_TOL) * e_nnls, (e_learned, e_nnls)
    # The card's own figures (seeds 1001, 1002) recomputed on fresh specimens (seed 4242): each error within
    # 20 % of the card's (one 128² specimen varies ~10 %), and the card's ratio to NNLS + RATIO_TOL.
    for photons in (10, 30):
        e_l, e_n = U._evaluate(MODEL, m, photons=photons, seeds=(4242,))
        card_l, card_n = (float(card.metrics[f"error_{k}_{photons}ph"]) for k in ("learned", "nnls"))
        assert e_l == pytest.approx(card_l, rel=0.2) and e_n == pytest.approx(card_n, rel=0.2), (photons, e_l, e_n)
        assert e_l <= (card_l / card_n + RATIO_TOL) * e_n, (photons, e_l, e_n, card_l, card_n)
    with pytest.raises(ValueError, match="trained for 8 spectral channels"):
        U.unmix_learned(y[:5], MODEL)


def test_cli_unmix_writes_labels_and_residual(tmp_path):
    from fluorecon.cli import app

    m, truth, y = _mixture(SETS[3], photons=1000, shape=(32, 40), seed=9)
    series = np.stack([y, y[:, ::-1]])  # T, C, Y, X
    write_tiff(tmp_path / "in.tif", series, TiffMeta(axes="TCYX", pixel_size_um=0.1))
    result = CliRunner().invoke(app, ["unmix", str(tmp_path / "in.tif"), str(tmp_path / "out.tif"),
                                      "--spectra", ",".join(SETS[3]), "--lambda-start", "420", "--lambda-stop", "720",
                                      "--background", "100", "--residual", str(tmp_path / "res.tif")])
    assert result.exit_code == 0, result.output
    out, meta = read_tiff(tmp_path / "out.tif")
    assert meta.axes == "TCYX" and out.shape == (2, 3, 32, 40) and abs(meta.pixel_size_um - 0.1) < 1e-6
    np.testing.assert_allclose(out[0], U.unmix_nnls(y, m, offset=100), rtol=1e-5, atol=1e-3)
    res, _ = read_tiff(tmp_path / "res.tif")
    assert res.shape == (2, 16, 32, 40)
    write_tiff(tmp_path / "gray.tif", y[0], TiffMeta(axes="YX"))
    bad = CliRunner().invoke(app, ["unmix", str(tmp_path / "gray.tif"), str(tmp_path / "o.tif"), "--spectra", "EGFP"])
    assert bad.exit_code != 0 and "no channel axis" in bad.output
