"""Issue 13 (deconvolution on real data): Richardson–Lucy stops when its re-blurred estimate explains the image to the
noise level (discrepancy principle, noise model estimated from the image) and says so in the CLI output, the output's
Info and the server job's values; with the stop off it warns when the iterations went on to fit the noise."""

import numpy as np
import pytest
import typer
from scipy.signal import fftconvolve
from typer.testing import CliRunner

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.imaging.psf import psf_widefield
from fluorecon.server.job import JobInputs
from fluorecon.server.settings import Settings
from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, deconvolve_image
from fluorecon.tasks.deconvolve.cli import register
from fluorecon.tasks.deconvolve.job import JOB

OFFSET = 100.0
META = TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.3)
SPEC = dict(background=OFFSET, psf_background="none")
# A measured-PSF job with a compact PSF: with a theoretical widefield PSF as deep as this 16-plane stack (17×63×63,
# equal energy in every plane) RL converges so slowly that the misfit stays above the noise level (χ² ≈ 4 at 2000
# photons after 30 iterations): the stop then runs all iterations and says so (tested below on that case too).
PSF = psf_widefield((9, 15, 15), na=1.2, wavelength_nm=520, pixel_size_nm=100, z_step_nm=300)
PSF = (PSF / PSF.sum()).astype(np.float32)


@pytest.fixture(scope="module")
def scene():
    """A 3D phantom away from the borders, blurred by the job's PSF (so the truth is known exactly)."""
    truth = np.zeros((16, 64, 64), np.float32)
    truth[3:13, 4:60, 4:60] = phantom((10, 56, 56), kind="mixed", seed=0)
    return truth, fftconvolve(truth, PSF, mode="same").astype(np.float32)


def _camera(photons):
    return CameraNoise(photons=photons, background=2, offset=OFFSET, read_noise_e=1.5)


def _raw(scene, photons, seed=1):
    return apply_noise(scene[1], _camera(photons), seed=seed)


def _nrmse(estimate, scene, photons):
    ref = _camera(photons).mean(scene[0]) - OFFSET  # the object in the image's units, background included
    return float(np.sqrt(np.mean((estimate - ref) ** 2)) / (ref.max() - ref.min()))


def _speckle(estimate):
    return float(np.mean(estimate < 1e-3 * estimate.max()))


def _run(raw, stop, num_iter, method="rl-accel"):
    report = {}
    out, info = deconvolve_image(raw, META, DeconvolveSpec(**SPEC, method=method, num_iter=num_iter, stop=stop),
                                 psf_image=PSF, psf_meta=META, device="cpu", report=report)
    return out, info, report


@pytest.mark.parametrize("method", ["rl-accel", "rl", "rltv"])
def test_low_photons_stop_early_closer_to_the_truth_and_less_speckle(scene, method):
    raw = _raw(scene, 50)
    stopped, info, report = _run(raw, "discrepancy", 30, method)
    full, info_full, report_full = _run(raw, "none", 30, method)
    assert report["stopped"] and 1 <= report["iterations"] < 30, report
    assert f"stopped at iteration {report['iterations']} of 30: the residual reached the noise level" in info
    assert report["misfit_chi2"] <= 1.0
    # Semi-convergence: the iterations past the noise level took the estimate away from the truth.
    assert _nrmse(stopped, scene, 50) < 0.7 * _nrmse(full, scene, 50), (_nrmse(stopped, scene, 50),
                                                                       _nrmse(full, scene, 50))
    assert _speckle(stopped) < _speckle(full), (_speckle(stopped), _speckle(full))
    assert not report_full["stopped"] and report_full["iterations"] == 30
    if method == "rl-accel":  # 30 accelerated iterations at 50 photons: far below the noise level, and it says so
        assert report_full["noise_amplified"] and report_full["misfit_chi2"] < 0.95, report_full
        assert "below the noise level (1): the later iterations amplified noise" in info_full


def test_more_photons_run_longer(scene):
    counts = [_run(_raw(scene, photons), "discrepancy", 40, "rl")[2]["iterations"] for photons in (20, 200, 2000)]
    assert counts[0] < counts[1] < counts[2], counts


def test_runs_all_iterations_and_says_so_when_the_residual_stays_above_noise(scene):
    raw = _raw(scene, 2000)
    _, info, report = _run(raw, "discrepancy", 3, "rl")
    assert report["iterations"] == 3 and not report["stopped"] and report["misfit_chi2"] > 1, report
    assert "stop: ran all 3 iterations; residual still above noise (mean χ² per pixel" in info
    # The theoretical PSF of this calibration spans the whole stack: the misfit stays above the noise level.
    report = {}
    _, info = deconvolve_image(raw, META, DeconvolveSpec(background=OFFSET, method="rl", num_iter=4,
                                                         psf={"na": 1.2, "wavelength_nm": 520}),
                               device="cpu", report=report)
    assert not report["stopped"] and report["misfit_chi2"] > 2, report


def test_the_input_is_not_changed(scene):
    # Regression: RL clamped a float32 image at 0 in place, through the tensor that shared its memory.
    raw = _raw(scene, 50) - np.float32(OFFSET)
    before = raw.copy()
    from fluorecon.solvers.richardson_lucy import richardson_lucy

    richardson_lucy(raw, np.ones((1, 3, 3), np.float32) / 9, num_iter=1, device="cpu")
    np.testing.assert_array_equal(raw, before)


def test_chunked_runs_use_one_count_from_the_central_chunk(scene):
    raw = _raw(scene, 50)
    report = {}
    out, info = deconvolve_image(raw, META, DeconvolveSpec(**SPEC, method="rl", num_iter=30), psf_image=PSF,
                                 psf_meta=META, device="cpu", chunks=(16, 32, 32), report=report)
    assert 1 <= report["iterations"] < 30 and report["stopped"], report
    assert f"stop: {report['iterations']} of 30 iterations for every chunk, chosen on the central chunk" in info


def test_server_job_reports_the_stop_as_values_and_message(scene):
    raw = _raw(scene, 50)
    spec = DeconvolveSpec(**SPEC, method="rl", num_iter=30)
    output = JOB.run(JobInputs(raw, META, PSF, META), spec, Settings(), "cpu", lambda done, total: None, lambda: False)
    values = output.values
    assert values["stop"] == "discrepancy" and values["stopped"] and values["num_iter"] == 30
    assert output.message == f"Done: {values['stop_message']}."
    assert values["stop_message"].startswith(f"stopped at iteration {values['iterations']} of 30")


@pytest.mark.parametrize("option, expected", [([], "Deconvolution stopped at iteration"),
                                              (["--stop", "none"], "Deconvolution ran all 12 iterations (no stop)")])
def test_cli_says_where_it_stopped(tmp_path, scene, option, expected):
    write_tiff(tmp_path / "img.tif", _raw(scene, 50)[:, :40, :40], META)
    write_tiff(tmp_path / "psf.tif", PSF, META)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    res = CliRunner().invoke(app, ["deconvolve", str(tmp_path / "img.tif"), str(tmp_path / "out.tif"), "--psf",
                                   str(tmp_path / "psf.tif"), "--psf-background", "none", "--background", "100", "--num-iter", "12", *option])
    assert res.exit_code == 0, res.output
    assert expected in res.output
    _, meta = read_tiff(tmp_path / "out.tif")
    line = next(t for t in meta.info.splitlines() if t.startswith("stop: "))
    assert expected.replace("Deconvolution ", "stop: ") in line, line
