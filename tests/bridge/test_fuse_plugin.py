"""Multiview fusion… against a real `fluorecon serve`: the plugin's fused stack equals
`fluorecon fuse` on the same views within 1e-4 of the range, keeps the calibration, and a bad
setting reaches the user in words."""

from __future__ import annotations


import numpy as np
import pytest
import tifffile
import torch

import ijbridge
from ijbridge import assert_matches, run_cli, run_plugin


from fluorecon.core.io import TiffMeta, write_tiff  # noqa: E402
from fluorecon.imaging.forward import Blur  # noqa: E402
from fluorecon.imaging.phantoms import phantom  # noqa: E402
from fluorecon.tasks.deconvolve.classical import PSFParams  # noqa: E402
from fluorecon.tasks.fuse.classical import view_psf  # noqa: E402

OPTICS = dict(na=0.8, wavelength_nm=520, ni=1.33)


def _views_zcyx(shape=(16, 24, 24)):
    truth = phantom(shape, kind="vesicles", seed=3) * 100 + 5
    views = [Blur(view_psf(shape, (200, 200, 200), a, PSFParams(**OPTICS), sheet_fwhm_nm=1500), image_shape=shape,
                  device="cpu").A(torch.from_numpy(truth)).numpy() for a in "zx"]
    return np.ascontiguousarray(np.stack(views, axis=1), np.float32)  # Z, C, Y, X


def test_fusion_equals_cli(config_dir, plugin_jar, tmp_path):
    views = _views_zcyx()
    src = tmp_path / "views.tif"
    write_tiff(src, views, TiffMeta(axes="ZCYX", pixel_size_um=0.2, z_step_um=0.2))
    run_cli("fuse", src, tmp_path / "cli.tif", "--na", 0.8, "--wavelength-nm", 520, "--ni", 1.33, "--view-axes", "z,x",
            "--sheet-fwhm-nm", 1500, "--num-iter", 5, "--background", 5, "--no-register")
    expected = tifffile.imread(tmp_path / "cli.tif")

    imp = ijbridge.to_imageplus(views, "ZCYX", title="views", pixel_size_um=0.2, z_step_um=0.2)
    save = tmp_path / "plugin.tif"
    plugin = run_plugin(plugin_jar, "Multiview fusion...", imp, ijbridge.options_string(
        num_iter=5, view_axes="z,x", sheet_fwhm_nm=1500, background=5, save=save, **OPTICS))
    out = plugin.getResult()
    assert out is not None and save.is_file()
    assert out.getTitle() == "views-fused"
    assert (out.getNChannels(), out.getNSlices(), out.getNFrames()) == (1, 16, 1)
    assert out.getCalibration().pixelWidth == pytest.approx(0.2)
    assert "fuse.spec" in out.getInfoProperty()
    assert_matches(ijbridge.from_imageplus(out)[0, :, 0], expected)


def test_one_axis_per_view_is_asked_for(config_dir, plugin_jar):
    imp = ijbridge.to_imageplus(_views_zcyx(), "ZCYX", title="views", pixel_size_um=0.2, z_step_um=0.2)
    with pytest.raises(Exception, match="names 1 view.*one axis per view"):
        run_plugin(plugin_jar, "Multiview fusion...", imp, ijbridge.options_string(view_axes="z", **OPTICS))
