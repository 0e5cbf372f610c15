"""`fluorecon fuse`: view files + PSF files, the result equal to the library call; errors name the
option to change."""

import numpy as np
import torch
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.imaging.forward import Blur
from fluorecon.imaging.phantoms import phantom
from fluorecon.tasks.fuse.classical import fuse_multiview, register_views


def _gaussian_psf(sigmas, size=(9, 9, 9)):
    grid = np.meshgrid(*[np.arange(n) - n // 2 for n in size], indexing="ij")
    psf = np.exp(-sum(g**2 / (2 * s**2) for g, s in zip(grid, sigmas)))
    return (psf / psf.sum()).astype(np.float32)


def _write_views(tmp_path, shift=(0, 0, 0)):
    truth = phantom((16, 32, 32), kind="vesicles", seed=2)
    psfs = [_gaussian_psf((3, 1, 1)), _gaussian_psf((1, 1, 3))]
    paths, psf_paths = [], []
    for i, p in enumerate(psfs):
        view = Blur(p, image_shape=truth.shape, device="cpu").A(torch.from_numpy(truth)).numpy() + 10
        if i == 1:
            view = np.roll(view, shift, axis=(0, 1, 2))
        write_tiff(tmp_path / f"v{i}.tif", view, TiffMeta(axes="ZYX", pixel_size_um=0.2, z_step_um=0.2))
        write_tiff(tmp_path / f"p{i}.tif", p, TiffMeta(axes="ZYX"))
        paths.append(str(tmp_path / f"v{i}.tif"))
        psf_paths += ["--psf", str(tmp_path / f"p{i}.tif")]
    return paths, psf_paths, psfs


def test_fuse_view_files_with_psf_files(tmp_path):
    paths, psf_args, psfs = _write_views(tmp_path, shift=(0, 2, -1))
    result = CliRunner().invoke(app, ["fuse", *paths, str(tmp_path / "fused.tif"), *psf_args, "--num-iter", "8",
                                      "--background", "10"])
    assert result.exit_code == 0, result.output
    fused, meta = read_tiff(tmp_path / "fused.tif")
    assert meta.axes == "ZYX" and meta.pixel_size_um == 0.2 and "shifts_px" in meta.info
    views, shifts = register_views([np.clip(read_tiff(p)[0] - 10, 0, None) for p in paths])
    np.testing.assert_allclose(shifts[1], [0, -2, 1], atol=0.15)
    expected = fuse_multiview(views, psfs, num_iter=8)
    np.testing.assert_allclose(fused, expected, rtol=1e-4, atol=1e-5 * expected.max())


def _words(output: str) -> str:
    """The error text without Rich's box and line breaks."""
    return " ".join(output.replace("│", " ").split())


def test_fuse_errors_name_the_option(tmp_path):
    paths, psf_args, _ = _write_views(tmp_path)
    runner = CliRunner()
    out = str(tmp_path / "o.tif")
    bad = runner.invoke(app, ["fuse", *paths, out, psf_args[0], psf_args[1]])
    assert bad.exit_code != 0 and "one --psf per view" in _words(bad.output)
    bad = runner.invoke(app, ["fuse", *paths, out, "--na", "0.8"])
    assert bad.exit_code != 0 and "--wavelength-nm" in _words(bad.output)
    bad = runner.invoke(app, ["fuse", *paths, out, "--na", "0.8", "--wavelength-nm", "520", "--view-axes", "z,w"])
    assert bad.exit_code != 0 and "view_axes" in _words(bad.output)
    bad = runner.invoke(app, ["fuse", *paths, out])
    assert bad.exit_code != 0 and "No PSFs" in _words(bad.output)
