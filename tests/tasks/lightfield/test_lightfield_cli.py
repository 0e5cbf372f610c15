"""`fluorecon lightfield simulate → calibrate → reconstruct` round trip on a raw (rotated,
non-integer pitch) simulated camera image: the calibration finds the simulated grid and the
reconstruction is a z-calibrated stack with the beads at their depths."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_tiff
from fluorecon.tasks.lightfield.classical import LensletGrid, locate_beads

runner = CliRunner()


def _ok(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lfcli")
    _ok("lightfield", "simulate", folder, "--nnum", 9, "--z-range", "-12:12:4", "--beads", 5, "--seed", 2,
        "--raw-pitch-px", 10.6, "--raw-rotation-deg", 0.4, "--device", "cpu")
    return folder


def test_calibrate_finds_the_simulated_grid(sim):
    out = _ok("lightfield", "calibrate", sim / "white.tif", sim / "cal.json", "--nnum", 9)
    assert "9 × 9 lenslets" in out
    found = LensletGrid.model_validate_json((sim / "cal.json").read_text())
    truth = LensletGrid.model_validate_json((sim / "grid.json").read_text())
    assert found.n_lenslets == truth.n_lenslets and found.image_shape == truth.image_shape
    assert found.pitch_px == pytest.approx(truth.pitch_px, rel=5e-3)
    assert found.rotation_deg == pytest.approx(truth.rotation_deg, abs=0.1)
    np.testing.assert_allclose(found.origin_yx_px, truth.origin_yx_px, atol=0.25)


def test_reconstruct_with_calibration_gives_a_z_calibrated_stack(sim):
    _ok("lightfield", "calibrate", sim / "white.tif", sim / "cal2.json", "--nnum", 9)
    out = _ok("lightfield", "reconstruct", sim / "lightfield.tif", sim / "volume.tif", "--calibration",
              sim / "cal2.json", "--num-iter", 16, "--optics", sim / "optics.json", "--device", "cpu")
    assert "7 planes -12…12 µm" in out
    volume, meta = read_tiff(sim / "volume.tif")
    optics = json.loads((sim / "optics.json").read_text())
    assert meta.axes == "ZYX" and volume.shape == (7, 81, 81)
    assert meta.z_step_um == pytest.approx(4.0)
    assert meta.pixel_size_um == pytest.approx(optics["lenslet_pitch_um"] / 9 / optics["magnification"], rel=1e-4)
    assert "z_um = [-12.0, -8.0, -4.0, 0.0, 4.0, 8.0, 12.0]" in meta.info
    beads = np.loadtxt(sim / "beads.csv", delimiter=",", skiprows=1, ndmin=2)
    found = locate_beads(volume, beads[:, 3:6], radius_px=4.5)
    assert np.abs(found[:, 0] - beads[:, 3]).max() <= 1
    assert np.hypot(*(found[:, 1:] - beads[:, 4:6]).T).max() <= 2.0


def test_reconstruct_refuses_an_unrectified_image_without_calibration(sim):
    result = runner.invoke(app, ["lightfield", "reconstruct", str(sim / "lightfield.tif"), str(sim / "x.tif"),
                                 "--nnum", "9", "--z-range", "-4:4:4"])
    assert result.exit_code == 2
    assert "not a whole number of 9-pixel lenslets" in result.output
    assert not (sim / "x.tif").exists()
    bad = runner.invoke(app, ["lightfield", "reconstruct", str(sim / "lightfield.tif"), str(sim / "x.tif"),
                              "--z-range", "1:2"])
    assert bad.exit_code == 2 and "MIN:MAX:STEP" in bad.output
