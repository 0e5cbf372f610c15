"""No silent physics on unknown calibration (issue 15 §2): a file calibrated in nm and the same file
in µm deconvolve alike (an nm file used to read as µm and come back unchanged); an uncalibrated input
stops every physics command with a message naming --pixel-size-nm and Image › Properties, and no output."""

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_image

runner = CliRunner()


def _cells(shape=(48, 48)) -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.full(shape, 10.0, np.float32)
    for y, x in rng.integers(6, shape[0] - 6, size=(12, 2)):
        image[y, x] += 400.0
    from scipy import ndimage

    return (ndimage.gaussian_filter(image, 1.6) + rng.normal(0, 0.5, shape)).astype(np.float32)


def _save(path, image, unit=None, pixel=None):
    kwargs = {"resolution": (1 / pixel, 1 / pixel)} if pixel else {}
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "YX", **({"unit": unit} if unit else {})}, **kwargs)


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


DECONV = ["--method", "rl", "--num-iter", "5", "--na", "1.4", "--wavelength-nm", "520"]


def test_nm_and_um_calibrated_files_deconvolve_alike(tmp_path):
    image = _cells()
    _save(tmp_path / "nm.tif", image, "nm", 65.0)
    _save(tmp_path / "um.tif", image, "micron", 0.065)
    for name in ("nm", "um"):
        r = _run("deconvolve", tmp_path / f"{name}.tif", tmp_path / f"{name}-out.tif", *DECONV)
        assert r.exit_code == 0, r.output
    a, meta_a = read_image(tmp_path / "nm-out.tif")
    b, meta_b = read_image(tmp_path / "um-out.tif")
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    assert np.abs(a - image).mean() > 1.0  # the PSF is the right size: the image changed
    assert meta_a.pixel_size_um == pytest.approx(0.065) and meta_b.pixel_size_um == pytest.approx(0.065)


def test_uncalibrated_deconvolution_stops_and_names_the_option(tmp_path):
    _save(tmp_path / "plain.tif", _cells())
    r = _run("deconvolve", tmp_path / "plain.tif", tmp_path / "out.tif", *DECONV)
    assert r.exit_code == 2 and "--pixel-size-nm" in r.output and "Image › Properties" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "out.tif").exists()
    r = _run("deconvolve", tmp_path / "plain.tif", tmp_path / "out.tif", *DECONV, "--pixel-size-nm", "65")
    assert r.exit_code == 0, r.output
    assert read_image(tmp_path / "out.tif")[1].pixel_size_um is None  # stays uncalibrated, not "1 micron"


def test_uncalibrated_localization_stops_instead_of_assuming_100_nm(tmp_path):
    tifffile.imwrite(tmp_path / "frames.tif", np.stack([_cells()] * 3), imagej=True, metadata={"axes": "TYX"})
    r = _run("localize", tmp_path / "frames.tif", tmp_path / "locs.csv")
    assert r.exit_code == 2 and "--pixel-size-nm" in r.output and "Image › Properties" in r.output
    assert not (tmp_path / "locs.csv").exists()


def test_uncalibrated_sim_reconstruction_stops_and_names_the_option(tmp_path):
    tifffile.imwrite(tmp_path / "raw.tif", np.ones((9, 32, 32), np.float32), imagej=True, metadata={"axes": "ZYX"})
    r = _run("sim", "reconstruct", tmp_path / "raw.tif", tmp_path / "sim.tif", "--na", "1.4")
    assert r.exit_code != 0 and "--pixel-size-nm" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "sim.tif").exists()


def test_uncalibrated_fusion_with_theoretical_psfs_stops_and_names_the_option(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("v1.tif", "v2.tif"):
        tifffile.imwrite(tmp_path / name, rng.random((10, 32, 32)).astype(np.float32), imagej=True,
                         metadata={"axes": "ZYX"})
    r = _run("fuse", tmp_path / "v1.tif", tmp_path / "v2.tif", tmp_path / "fused.tif", "--na", "1.0",
             "--wavelength-nm", "520", "--view-axes", "x,y")
    assert r.exit_code == 2 and "--pixel-size-nm" in r.output and "Image › Properties" in r.output
    assert not (tmp_path / "fused.tif").exists()
