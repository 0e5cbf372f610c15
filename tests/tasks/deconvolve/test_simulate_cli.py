"""`fluorecon simulate deconvolve` (issue 16): inputs, ground truth, PSF and the parameters used; the
parameters reproduce the data exactly, and the inputs are the truth blurred by the written PSF."""

import json

import numpy as np
from scipy.signal import fftconvolve
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_tiff
from fluorecon.tasks.deconvolve.learned import simulate_deconvolution_pairs
from fluorecon.tasks.denoise.spec import DenoiseSimulation


def test_simulate_deconvolve_writes_inputs_truth_psf_and_parameters(tmp_path):
    r = CliRunner().invoke(app, ["simulate", "deconvolve", "--out", str(tmp_path / "d"), "--n", "2", "--size", "64",
                                 "--photons", "200", "--seed", "4"])
    assert r.exit_code == 0, r.output
    params = json.loads((tmp_path / "d" / "simulation.json").read_text())
    assert params["task"] == "deconvolve" and params["seed"] == 4
    sim = DenoiseSimulation.model_validate(params["simulation"])
    pairs, psf = simulate_deconvolution_pairs(sim, n=params["n"], seed=params["seed"])
    for i, (low, clean) in enumerate(pairs):
        got_low, meta = read_tiff(tmp_path / "d" / "low" / f"{i:03d}.tif")
        np.testing.assert_array_equal(got_low, low)
        np.testing.assert_array_equal(read_tiff(tmp_path / "d" / "clean" / f"{i:03d}.tif")[0], clean)
        assert got_low.shape == (64, 64) and abs(meta.pixel_size_um - 0.1) < 1e-9
    written_psf = read_tiff(tmp_path / "d" / "psf.tif")[0]
    np.testing.assert_allclose(written_psf, psf, rtol=1e-6)
    # the input is the truth blurred by that PSF (plus offset and noise): correlation with the blurred truth
    # beats correlation with the sharp truth
    low, clean = pairs[0]
    blurred = fftconvolve(clean, written_psf, mode="same")
    assert np.corrcoef(low.ravel(), blurred.ravel())[0, 1] > np.corrcoef(low.ravel(), clean.ravel())[0, 1]


def test_simulate_help_lists_deconvolve_sim_and_lightfield():
    r = CliRunner().invoke(app, ["simulate", "--help"], terminal_width=200)
    listed = {line.split()[1] for line in r.output.splitlines() if line.startswith("│ ") and len(line.split()) > 1}
    assert r.exit_code == 0 and {"deconvolve", "denoise", "sim", "lightfield"} <= listed, listed


def test_simulate_sim_is_sim_simulate(tmp_path):
    args = ["--size", "64", "--photons", "800", "--pixel-size-nm", "80"]
    assert CliRunner().invoke(app, ["simulate", "sim", str(tmp_path / "a.tif"), *args]).exit_code == 0
    assert CliRunner().invoke(app, ["sim", "simulate", str(tmp_path / "b.tif"), *args]).exit_code == 0
    np.testing.assert_array_equal(read_tiff(tmp_path / "a.tif")[0], read_tiff(tmp_path / "b.tif")[0])


def test_train_deconvolve_writes_a_carded_model_that_predict_runs(tmp_path):
    """Fiji's error text tells users to run `fluorecon train deconvolve`; it now exists (issue 16)."""
    from fluorecon.core.modelcard import read_card
    from fluorecon.core.io import TiffMeta, write_tiff

    r = CliRunner().invoke(app, ["train", "deconvolve", "--out", str(tmp_path / "d.onnx"), "--steps", "2", "--n", "2",
                                 "--size", "64", "--filters", "4", "--na", "1.4", "--ni", "1.515"])
    assert r.exit_code == 0, r.output
    card = read_card(tmp_path / "d.onnx")
    assert card.task == "deconvolve" and '"na":1.4' in card.train["psf"].replace(" ", "")
    assert "val_psnr_rl" in card.metrics and "Richardson–Lucy" in r.output
    write_tiff(tmp_path / "in.tif", np.random.default_rng(0).poisson(50, (64, 64)).astype(np.float32) + 100,
               TiffMeta(axes="YX", pixel_size_um=0.1))
    p = CliRunner().invoke(app, ["predict", str(tmp_path / "d.onnx"), str(tmp_path / "in.tif"), str(tmp_path / "o.tif")])
    assert p.exit_code == 0, p.output
    assert read_tiff(tmp_path / "o.tif")[0].shape == (64, 64)
    bad = CliRunner().invoke(app, ["train", "deconvolve", "--out", str(tmp_path / "x.onnx"), "--size", "32"])
    assert bad.exit_code == 2 and "--size 64 or more" in bad.output and not (tmp_path / "x.onnx").exists()


def test_train_help_lists_deconvolve_and_lightfield():
    r = CliRunner().invoke(app, ["train", "--help"], terminal_width=200)
    listed = {line.split()[1] for line in r.output.splitlines() if line.startswith("│ ") and len(line.split()) > 1}
    assert r.exit_code == 0 and {"deconvolve", "denoise", "lightfield", "upsample"} <= listed, listed
