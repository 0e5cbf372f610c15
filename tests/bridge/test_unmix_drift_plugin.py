"""Unmix… and Correct drift… against a real `fluorecon serve` (loopback, temporary config folder):
the plugin's output equals `fluorecon unmix` / `fluorecon register` on the same data within 1e-4
of the range, keeps the calibration, and a server refusal reaches the user in words."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import ROOT, assert_matches, run_cli, run_plugin

sys.path.insert(0, str(ROOT / "tests" / "server"))
from server_helpers import UNMIX_LABELS, drifting_series, spectral_series  # noqa: E402

from fluorecon.core.io import TiffMeta, write_tiff  # noqa: E402



@pytest.mark.parametrize("method", ["nnls", "nmf"])
def test_unmix_equals_cli_with_residual(config_dir, plugin_jar, tmp_path, method):
    series = spectral_series()  # T, C, Y, X: 2 frames, 8 channels
    src = tmp_path / "in.tif"
    write_tiff(src, series, TiffMeta(axes="TCYX", pixel_size_um=0.1))
    source = ["--spectra", ",".join(UNMIX_LABELS)] if method == "nnls" else ["--blind", 3]
    run_cli("unmix", src, tmp_path / "cli.tif", *source, "--background", 100, "--residual", tmp_path / "res.tif")
    labels, residual = tifffile.imread(tmp_path / "cli.tif"), tifffile.imread(tmp_path / "res.tif")

    imp = ijbridge.to_imageplus(series, "TCYX", title="lambda", pixel_size_um=0.1)
    save = tmp_path / "plugin.tif"
    opts = dict(method=method, spectra=",".join(UNMIX_LABELS), labels=0 if method == "nnls" else 3, offset=100,
                residual=True, save=save)
    plugin = run_plugin(plugin_jar, "Unmix...", imp, ijbridge.options_string(**opts))
    out = plugin.getResult()
    assert out is not None and save.is_file()
    assert out.getTitle() == "lambda-unmixed"
    assert (out.getNChannels(), out.getNSlices(), out.getNFrames()) == (3 + 8, 1, 2)
    assert out.getCalibration().pixelWidth == pytest.approx(0.1)
    got = ijbridge.from_imageplus(out)[:, 0]  # T, C, Y, X
    assert_matches(got[:, :3], labels)
    assert_matches(got[:, 3:], residual)
    names = UNMIX_LABELS if method == "nnls" else ["component1", "component2", "component3"]
    assert [out.getStack().getSliceLabel(i + 1) for i in range(4)] == [*names, "residual1"]
    assert plugin.getProgressShown()[-1] == pytest.approx(1.0)


def test_unknown_spectrum_lists_the_known_ones(config_dir, plugin_jar):
    imp = ijbridge.to_imageplus(spectral_series(frames=1)[0], "CYX", title="lambda", pixel_size_um=0.1)
    with pytest.raises(Exception, match="Unknown spectrum 'GFPX'; built-in spectra are DAPI, .*EGFP"):
        run_plugin(plugin_jar, "Unmix...", imp, "method=nnls spectra=DAPI,GFPX labels=0")


def test_correct_drift_equals_cli_and_fills_the_drift_table(config_dir, plugin_jar, tmp_path):
    series, truth = drifting_series()  # T, C, Y, X
    src = tmp_path / "in.tif"
    write_tiff(src, series, TiffMeta(axes="TCYX", pixel_size_um=0.1))
    run_cli("register", src, tmp_path / "cli.tif", "--reference", "mean", "--channel", 2,
            "--drift-csv", tmp_path / "drift.csv")
    expected = tifffile.imread(tmp_path / "cli.tif")
    cli_drift = np.loadtxt(tmp_path / "drift.csv", delimiter=",", skiprows=1)

    imp = ijbridge.to_imageplus(series, "TCYX", title="movie", pixel_size_um=0.1, frame_interval_s=3.0)
    save = tmp_path / "plugin.tif"
    plugin = run_plugin(plugin_jar, "Correct drift...", imp,
                        ijbridge.options_string(reference="mean", channel=2, upsample=20, save=save))
    out = plugin.getResult()
    assert out is not None and save.is_file()
    assert out.getTitle() == "movie-aligned"
    assert (out.getNChannels(), out.getNSlices(), out.getNFrames()) == (2, 1, 6)
    assert out.getCalibration().frameInterval == pytest.approx(3.0)
    assert_matches(ijbridge.from_imageplus(out)[:, 0], expected)
    table = plugin.getDriftTable()
    got = np.array([[table.getValue(c, r) for c in ("frame", "dy_px", "dx_px", "dy_micron", "dx_micron")]
                    for r in range(table.size())])
    np.testing.assert_allclose(got, cli_drift, atol=1e-3)
    assert np.abs(got[:, 1:3] - (truth - truth[0])).max() < 0.25


def test_plain_stack_is_taken_as_a_time_series_like_the_cli(config_dir, plugin_jar, tmp_path):
    frames = drifting_series(channels=1)[0][:, 0]  # a plain stack: slices are the time points
    src = tmp_path / "stack.tif"
    write_tiff(src, frames, TiffMeta(axes="ZYX", pixel_size_um=0.1))
    run_cli("register", src, tmp_path / "cli.tif", "--reference", "previous")
    imp = ijbridge.to_imageplus(frames, "ZYX", title="stack", pixel_size_um=0.1)
    out = run_plugin(plugin_jar, "Correct drift...", imp, "reference=previous channel=1").getResult()
    assert (out.getNSlices(), out.getNFrames()) == (6, 1)
    assert_matches(ijbridge.from_imageplus(out)[0, :, 0], tifffile.imread(tmp_path / "cli.tif"))
