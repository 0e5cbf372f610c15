"""`fluorecon deconvolve` locally and with --server give the same TIFF; measured PSF path; errors."""

import numpy as np
import pytest
from server_helpers import tiff_bytes
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_tiff
from fluorecon.imaging.psf import psf_widefield


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(3)
    data = (rng.random((8, 40, 36)) * 50).astype(np.float32)
    (folder / "in.tif").write_bytes(tiff_bytes(data, pixel_size_um=0.1, z_step_um=0.3))
    return folder


def run(*args, env=None):
    result = CliRunner().invoke(app, list(map(str, args)), env=env)
    return result.exit_code, result.output


def test_cli_local_equals_server(server, stack):
    common = ["--method", "rl", "--num-iter", "5", "--na", "1.1", "--wavelength-nm", "600", "--ni", "1.33"]
    code, out = run("deconvolve", stack / "in.tif", stack / "local.tif", *common, "--device", "cpu")
    assert code == 0, out
    env = {"FLUORECON_CONFIG_DIR": str(server.config_dir)}
    code, out = run("deconvolve", stack / "in.tif", stack / "remote.tif", *common, "--server", server.url, env=env)
    assert code == 0, out
    local, meta = read_tiff(stack / "local.tif")
    remote, remote_meta = read_tiff(stack / "remote.tif")
    assert meta.axes == remote_meta.axes == "ZYX" and meta.z_step_um == pytest.approx(0.3)
    np.testing.assert_allclose(remote, local, rtol=1e-5, atol=1e-5 * local.max())


def test_cli_measured_psf_and_chunks(stack):
    psf = psf_widefield((9, 31, 31), na=1.1, wavelength_nm=600, pixel_size_nm=50, z_step_nm=300, ni=1.33)
    (stack / "psf.tif").write_bytes(tiff_bytes(psf * 1e4 + 10, pixel_size_um=0.05, z_step_um=0.3))
    code, out = run("deconvolve", stack / "in.tif", stack / "m.tif", "--psf", stack / "psf.tif",
                    "--method", "rltv", "--num-iter", "3", "--background", "0", "--device", "cpu")
    assert code == 0, out
    code, out = run("deconvolve", stack / "in.tif", stack / "mc.tif", "--psf", stack / "psf.tif", "--method", "rltv",
                    "--num-iter", "3", "--chunks", "24", "--device", "cpu")
    assert code == 0, out
    whole, _ = read_tiff(stack / "m.tif")
    chunked, _ = read_tiff(stack / "mc.tif")
    assert np.abs(whole - chunked).max() <= 1e-3 * (whole.max() - whole.min())


def test_cli_errors_are_clear(stack, tmp_path):
    code, out = run("deconvolve", stack / "in.tif", tmp_path / "x.tif", "--method", "rl")
    assert code == 2 and "--na" in out
    code, out = run("deconvolve", stack / "in.tif", tmp_path / "x.tif", "--method", "magic", "--na", "1", "--wavelength-nm", "500")
    assert code == 2 and "method" in out
    code, out = run("deconvolve", stack / "in.tif", tmp_path / "x.tif", "--na", "1", "--wavelength-nm", "500",
                    "--server", "http://127.0.0.1:9", env={"FLUORECON_CONFIG_DIR": str(tmp_path)})
    assert code == 2 and "fluorecon serve" in out
    assert not (tmp_path / "x.tif").exists()
