"""Localize (SMLM)… through the bridge: the plugin's ThunderSTORM CSV and rendering equal
`fluorecon localize`'s on a small simulated stack (DESIGN.md: the plugin's results equal the CLI's)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import ROOT, run_cli

CAMERA = dict(camera_offset=100, camera_gain=0.1, em_gain=100, qe=0.9)  # camera_preset("emccd")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from fluorecon.tasks.localize.physics import simulate_smlm

    # 30×34: not a multiple of 4, so the reflect padding and the crop are exercised.
    data = simulate_smlm(shape=(30, 34), num_frames=12, structure="uniform", density=1.5, camera="emccd", seed=3)
    path = tmp_path_factory.mktemp("smlm") / "stack.tif"
    tifffile.imwrite(path, data.frames.astype(np.float32), imagej=True, metadata={"axes": "TYX", "unit": "micron"},
                     resolution=(10.0, 10.0))
    return data.frames.astype(np.float32), path


def cli_localize(stack_path, out_dir, method):
    csv, render = out_dir / f"cli-{method}.csv", out_dir / f"cli-{method}.tif"
    run_cli(*["localize", str(stack_path), str(csv), "--method", method,
             "--model", str(ROOT / "models" / f"{method}_2d.onnx"), "--background", "100",
             "--camera-gain", "0.1", "--em-gain", "100", "--qe", "0.9", "--render", str(render),
             "--render-pixel-nm", "20"])
    return csv, render



@pytest.mark.parametrize("method,axes", [("deepstorm", "TYX"), ("decode", "ZYX")])
def test_plugin_csv_and_rendering_equal_cli(headless_jvm, plugin_jar, stack, tmp_path, method, axes):
    from fluorecon.tasks.localize.learned import read_thunderstorm_csv

    frames, path = stack
    cli_csv, cli_render = cli_localize(path, tmp_path, method)
    imp = ijbridge.to_imageplus(frames, axes, title="stack", pixel_size_um=0.1)
    csv, render = tmp_path / "plugin.csv", tmp_path / "plugin.tif"
    opts = ijbridge.options_string(model_file=ROOT / "models" / f"{method}_2d.onnx", threshold=0,
                                   render_pixel_nm=20, batch=5, threads=2, save=csv, render=render, **CAMERA)
    ijbridge.run_command_direct(ijbridge.command_class(plugin_jar, "Localize (SMLM)..."), imp, opts)

    text, expected_text = csv.read_text(), cli_csv.read_text()
    assert text.splitlines()[0] == expected_text.splitlines()[0]
    got, want = read_thunderstorm_csv(csv), read_thunderstorm_csv(cli_csv)
    assert len(want) > 10, "the simulated stack should give localisations"
    assert len(got) == len(want)
    np.testing.assert_array_equal(got["frame"], want["frame"])
    for column in ("x_nm", "y_nm", "z_nm", "photons", "background", "bkgstd", "uncertainty_nm"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-5, atol=1e-3, equal_nan=True, err_msg=column)
    if method == "deepstorm":
        assert np.all(got["z_nm"] == 0) and np.all(np.isnan(got["photons"]))
    # ids count from 1 in file order, frames ascend
    ids = np.array([int(line.split(",")[0]) for line in text.splitlines()[1:]])
    np.testing.assert_array_equal(ids, np.arange(1, len(got) + 1))
    assert np.all(np.diff(got["frame"]) >= 0)

    rendered, expected = tifffile.imread(render), tifffile.imread(cli_render)
    assert rendered.shape == expected.shape == (150, 170)
    np.testing.assert_allclose(rendered, expected, atol=1e-5 * float(expected.max()))
    with tifffile.TiffFile(render) as tif:
        assert tif.imagej_metadata.get("unit") in ("micron", "µm")
        assert tif.pages[0].tags["XResolution"].value[0] / tif.pages[0].tags["XResolution"].value[1] == \
            pytest.approx(1000 / 20)


def test_plugin_refuses_channels_and_wrong_task(headless_jvm, plugin_jar, stack, tmp_path):
    frames, _ = stack
    cls = ijbridge.command_class(plugin_jar, "Localize (SMLM)...")
    two_channels = ijbridge.to_imageplus(np.stack([frames[:4], frames[:4]], 1), "TCYX", title="c2")
    with pytest.raises(Exception, match="2 channels"):
        ijbridge.run_command_direct(cls, two_channels, ijbridge.options_string(
            model_file=ROOT / "models" / "deepstorm_2d.onnx", save=tmp_path / "x.csv"))
    assert not (tmp_path / "x.csv").exists()
    imp = ijbridge.to_imageplus(frames[:4], "TYX", title="t")
    with pytest.raises(Exception, match="localize/deepstorm or localize/decode"):
        ijbridge.run_command_direct(cls, imp, ijbridge.options_string(
            model_file=ROOT / "models" / "unmix_4label.onnx", save=tmp_path / "y.csv"))


def test_mle_on_the_server_gives_the_cli_fit_and_the_networks_outputs(headless_jvm, plugin_jar, config_dir, stack,
                                                                       tmp_path):
    """`model=mle` runs `fluorecon localize --method mle` on the server: the same localisations as the CLI, and the
    same CSV header, table columns and rendering calibration as the networks."""
    from fluorecon.tasks.localize.learned import read_thunderstorm_csv

    frames, path = stack
    cli_csv, cli_render = tmp_path / "cli-mle.csv", tmp_path / "cli-mle.tif"
    run_cli("localize", path, cli_csv, "--method", "mle", "--background", 100, "--camera-gain", 0.1, "--em-gain", 100,
            "--qe", 0.9, "--sigma-nm", 130, "--render", cli_render, "--render-pixel-nm", 20)
    imp = ijbridge.to_imageplus(frames, "TYX", title="stack", pixel_size_um=0.1)
    csv, render, table = tmp_path / "plugin.csv", tmp_path / "plugin.tif", tmp_path / "table.csv"
    opts = ijbridge.options_string(model="mle", threshold=0, render_pixel_nm=20, psf_sigma_nm=130, save=csv,
                                   render=render, table=table, **CAMERA)
    plugin = ijbridge.run_plugin(plugin_jar, "Localize (SMLM)...", imp, opts)
    assert plugin.getJobId() is not None, "the MLE fit runs as a server job"

    assert csv.read_text().splitlines()[0] == cli_csv.read_text().splitlines()[0]
    got, want = read_thunderstorm_csv(csv), read_thunderstorm_csv(cli_csv)
    assert len(want) > 10 and len(got) == len(want)
    np.testing.assert_array_equal(got["frame"], want["frame"])
    for column in ("x_nm", "y_nm", "photons", "background", "sigma_nm", "uncertainty_nm"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-5, atol=1e-3, err_msg=column)
    assert plugin.getTable().size() == len(want)

    rows = table.read_text().splitlines()
    assert len(rows) == len(want) + 1
    assert [c.strip('"') for c in rows[0].split(",")][:4] == ["id", "frame", "x [nm]", "y [nm]"]

    rendered, expected = tifffile.imread(render), tifffile.imread(cli_render)
    assert rendered.shape == expected.shape == (150, 170)
    np.testing.assert_allclose(rendered, expected, atol=1e-5 * float(expected.max()))
    info = plugin.getRendering().getInfoProperty()
    assert "model.method = mle" in info and f"localizations = {len(want)}" in info


def test_mle_refuses_an_uncalibrated_stack(headless_jvm, plugin_jar, config_dir, stack, tmp_path):
    frames, _ = stack
    imp = ijbridge.to_imageplus(frames[:3], "TYX", title="nocal")
    with pytest.raises(Exception, match="has no pixel size"):
        ijbridge.run_command_direct(ijbridge.command_class(plugin_jar, "Localize (SMLM)..."), imp,
                                    ijbridge.options_string(model="mle", save=tmp_path / "x.csv"))
    assert not (tmp_path / "x.csv").exists()
