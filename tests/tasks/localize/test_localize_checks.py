"""Issue 13 (SMLM): Deep-STORM sub-pixel bias and the self-checks that warn when a network's
localisations disagree with the model card or with the classical fit."""

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

import typer

from fluorecon.tasks.localize.cli import register
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.tasks.localize.learned import (DEFAULT_MODELS, LocalizationModel, localize, localize_checked,
                                              localize_network)
from fluorecon.tasks.localize.physics import render_emitters, simulate_smlm


def _uniform_frames(n_frames=30, seed=100):
    """Single frames with fresh emitters at uniform random positions (no emitter repeats across frames)."""
    frames, truths = [], []
    for i in range(n_frames):
        d = simulate_smlm(shape=(64, 64), num_frames=1, structure="uniform", density=0.8, duty_cycle=0.5,
                          seed=seed + i)
        frames.append(d.frames[0])
        truths.append(d.truth)
    return np.stack(frames), np.concatenate(truths), d.config.camera_model()


def test_deepstorm_subpixel_positions_are_uniform():
    frames, truth, camera = _uniform_frames()
    for ax in ("x_nm", "y_nm"):  # the truth itself passes the test
        assert stats.chisquare(np.histogram(np.mod(truth[ax] / 100, 1), 10, (0, 1))[0]).pvalue > 0.01
    table = localize_network(frames, LocalizationModel(DEFAULT_MODELS["deepstorm"]), camera=camera,
                             pixel_size_nm=100)
    assert abs(len(table) - len(truth)) < 0.05 * len(truth)
    for ax in ("x_nm", "y_nm"):
        hist = np.histogram(np.mod(table[ax] / 100, 1), 10, (0, 1))[0]
        # Before the fix (3×3 centroid on the ×4 grid) p ≈ 1e-108 and one bin held 0.1 % of the positions.
        assert stats.chisquare(hist).pvalue > 0.01, (ax, hist)
        assert hist.min() > 0.6 * hist.mean(), (ax, hist)


def _real_like_frame(tmp_path=None, seed=13):
    """One frame at 150 nm pixels with 49 emitters (σ = 130 nm, 1000 photons) on a background of
    100 photons/pixel, sCMOS-like (offset 100 ADU, 1 ADU/e⁻): the issue's case, out of the shipped
    networks' training range (100 nm pixels, 20 photons background)."""
    rng = np.random.default_rng(seed)
    shape, px = (64, 64), 150.0
    x, y = rng.uniform(300, 64 * px - 300, (2, 49))
    expected = render_emitters(x, y, np.full(49, 1000.0), shape=shape, pixel_size_nm=px, sigma_x_nm=130.0,
                               sigma_y_nm=130.0) + 100.0
    frame = (rng.poisson(expected) + 100 + rng.normal(0, 1.5, shape)).astype(np.float32)
    return frame, dict(pixel_size_nm=px, camera_offset=100.0, camera_gain=1.0, qe=1.0, read_noise_e=1.5)


@pytest.mark.parametrize("method", ["deepstorm", "decode"])
def test_network_out_of_training_range_warns(method):
    frame, kw = _real_like_frame()
    table, qc = localize_checked(frame, method=method, **kw)
    mle = localize(frame, method="mle", **kw)
    assert 40 <= len(mle) <= 55  # the fit finds the 49 emitters
    assert len(table) > 3 * len(mle)  # the network invents emitters
    text = " ".join(qc["warnings"])
    assert "pixel size 150 nm, the model was trained at 100 nm" in text
    assert "background" in text and "PSF width 0.8" in text
    assert f"the network found {len(table)} localisations in 1 sampled frames, the MLE fit {len(mle)}" in text
    assert qc["counts"] == {"network": len(table), "mle": len(mle), "ratio": pytest.approx((len(table) + 1) / (len(mle) + 1)),
                            "factor": 3.0}


@pytest.mark.parametrize("method", ["deepstorm", "decode"])
def test_network_in_training_range_raises_no_warning(method):
    d = simulate_smlm(shape=(64, 64), num_frames=20, structure="uniform", density=1.0, seed=7)
    cam = d.config.camera_model()
    _, qc = localize_checked(d.frames, method=method, pixel_size_nm=100, camera_offset=cam.offset,
                             camera_gain=cam.gain, em_gain=cam.em_gain, qe=cam.qe, read_noise_e=cam.read_noise_e)
    assert qc["warnings"] == []
    assert len(qc["sampled_frames"]) == 10


def test_cli_prints_the_warnings_and_writes_qc_json(tmp_path):
    import json

    frame, kw = _real_like_frame()
    write_tiff(tmp_path / "f.tif", frame, TiffMeta(axes="YX", pixel_size_um=0.15))
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # keeps typer in multi-command mode, as in the real CLI
    res = CliRunner().invoke(app, ["localize", str(tmp_path / "f.tif"), str(tmp_path / "out.csv"), "--method", "deepstorm",
                              "--background", "100", "--qc", str(tmp_path / "qc"), "--render", str(tmp_path / "r.tif")])
    assert res.exit_code == 0, res.output
    assert "Warning: the network found" in res.output and "Warning: pixel size 150 nm" in res.output
    qc = json.loads((tmp_path / "qc" / "qc.json").read_text())
    assert any(w.startswith("the network found") for w in qc["warnings"])
    _, meta = read_tiff(tmp_path / "r.tif")
    assert json.loads(meta.info)["qc"]["warnings"] == qc["warnings"]
