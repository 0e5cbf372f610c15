"""Process file… (issue 15 §3) through the real plugin jar and a real `fluorecon serve`: a file named by path
(never opened in ImageJ, never uploaded) is processed block by block by the server; a TIFF output opens as a
virtual stack equal to the Python result, Esc stops the server job and leaves no output, a bad path is refused
with the server's message."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import ijbridge
from ijbridge import ROOT, run_plugin

sys.path.insert(0, str(ROOT / "tests" / "server"))
from server_helpers import Hold, wait_job  # noqa: E402

from fluorecon.core.io import TiffMeta, read_image, write_image  # noqa: E402
from fluorecon.infer import get_predictor  # noqa: E402
from fluorecon.tasks.denoise.streaming import denoise_image  # noqa: E402

META = TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.3)


@pytest.fixture(scope="module")
def server(config_dir, plugin_server):
    """The suite's shared server, which the plugin finds through `config_dir`."""
    return plugin_server


@pytest.fixture(scope="module")
def volume():
    return (np.random.default_rng(7).poisson(30, (4, 64, 72)) + 50).astype(np.float32)


def test_tiff_output_opens_as_a_virtual_stack(server, plugin_jar, volume, tmp_path):
    write_image(tmp_path / "big.tif", volume, META)
    out = tmp_path / "big-nlm.tif"
    plugin = run_plugin(plugin_jar, "Process file...", None,
                        ijbridge.options_string(file=tmp_path / "big.tif", command="denoise-classical",
                                                method="nlm", save=out))
    assert str(plugin.getMessage()) == f"Wrote {out}."
    imp = plugin.getResult()
    assert imp.getStack().isVirtual() and imp.getNSlices() == 4
    assert imp.getCalibration().pixelDepth == pytest.approx(0.3)
    planes = np.stack([np.array(imp.getStack().getProcessor(z + 1).getPixels(), np.float32).reshape(64, 72)
                       for z in range(4)])
    np.testing.assert_array_equal(planes, denoise_image(volume, META, "nlm"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big-nlm.tif", "big.tif"]


@pytest.mark.parametrize("method", ["gaussian", "median"])
def test_the_cli_filters_gaussian_and_median_are_offered(server, plugin_jar, volume, tmp_path, method):
    """command=denoise-classical takes every method of `fluorecon denoise-classical` (the job spec's list): the
    output equals the CLI's in-memory result; a method outside it is refused naming the six."""
    write_image(tmp_path / "big.tif", volume, META)
    out = tmp_path / f"big-{method}.tif"
    plugin = run_plugin(plugin_jar, "Process file...", None,
                        ijbridge.options_string(file=tmp_path / "big.tif", command="denoise-classical",
                                                method=method, save=out))
    assert str(plugin.getMessage()) == f"Wrote {out}."
    result, _ = read_image(out)
    np.testing.assert_array_equal(result, denoise_image(volume, META, method))
    with pytest.raises(Exception, match=r"method = 'wavelet' is not a classical denoiser; use one of \[nlm, bm3d, "
                       r"vst-bm3d, vst-nlm, gaussian, median\]"):
        run_plugin(plugin_jar, "Process file...", None,
                   ijbridge.options_string(file=tmp_path / "big.tif", command="denoise-classical", method="wavelet",
                                           save=tmp_path / "no.tif"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["big.tif", out.name])  # no no.tif


def test_predict_with_a_model_file_opens_as_a_virtual_stack(server, plugin_jar, volume, tmp_path):
    """command=predict: the server runs the model file block by block; the TIFF equals Python's predict."""
    model = ROOT / "tests" / "vectors" / "tiny_unet2d.onnx"
    write_image(tmp_path / "big.tif", volume, META)
    out = tmp_path / "big-pred.tif"
    plugin = run_plugin(plugin_jar, "Process file...", None,
                        ijbridge.options_string(file=tmp_path / "big.tif", command="predict", model_file=model,
                                                save=out))
    assert str(plugin.getMessage()) == f"Wrote {out}."
    imp = plugin.getResult()
    assert imp.getStack().isVirtual() and imp.getNSlices() == 4
    planes = np.stack([np.array(imp.getStack().getProcessor(z + 1).getPixels(), np.float32).reshape(64, 72)
                       for z in range(4)])
    reference = get_predictor(model).predict(volume, axes="ZYX")
    assert np.abs(planes - reference).max() <= 1e-6 * np.ptp(reference)
    with pytest.raises(Exception, match="model_file= is missing"):
        run_plugin(plugin_jar, "Process file...", None,
                   ijbridge.options_string(file=tmp_path / "big.tif", command="predict", save=tmp_path / "o.tif"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big-pred.tif", "big.tif"]


def test_zarr_deconvolution_is_reported(server, plugin_jar, volume, tmp_path):
    write_image(tmp_path / "big.tif", volume, META)
    out = tmp_path / "big-rl.zarr"
    plugin = run_plugin(plugin_jar, "Process file...", None,
                        ijbridge.options_string(file=tmp_path / "big.tif", command="deconvolve", method="rl",
                                                iterations=2, na=1.2, wavelength_nm=520, save=out))
    assert plugin.getResult() is None and str(plugin.getMessage()) == f"Wrote {out}."
    result, meta = read_image(out)
    assert result.shape == volume.shape and meta.pixel_size_um == pytest.approx(0.1)


def test_escape_stops_the_server_job(server, plugin_jar, volume, tmp_path):
    from jpype import JClass

    IJ, KeyEvent = JClass("ij.IJ"), JClass("java.awt.event.KeyEvent")
    write_image(tmp_path / "big.tif", volume, META)
    held, returned, errors = {}, threading.Event(), []

    def press_escape_once_the_job_is_held():
        try:
            held["job"] = hold.wait_held()  # running, one of its two 64-px blocks done, and it cannot finish
            IJ.setKeyDown(KeyEvent.VK_ESCAPE)  # what ImageJ does when the user presses Esc
            returned.wait(120)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            errors.append(err)
        finally:
            hold.release()

    with Hold() as hold:
        thread = threading.Thread(target=press_escape_once_the_job_is_held, daemon=True)
        thread.start()
        try:
            plugin = run_plugin(plugin_jar, "Process file...", None,
                                ijbridge.options_string(file=tmp_path / "big.tif", command="deconvolve",
                                                        method="rl", iterations=2, na=1.2, wavelength_nm=520,
                                                        save=tmp_path / "never.zarr"))
        finally:
            returned.set()
            IJ.resetEscape()
        thread.join(60)
    assert not errors, errors
    assert plugin.getResult() is None and str(plugin.getJobId()) == held["job"]
    with server.client() as client:
        assert wait_job(client, held["job"], timeout=60)["state"] == "cancelled"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif"]


def test_output_in_a_missing_folder_is_refused(server, plugin_jar, volume, tmp_path):
    write_image(tmp_path / "big.tif", volume, META)
    with pytest.raises(Exception, match="does not exist; create it first"):
        run_plugin(plugin_jar, "Process file...", None,
                   ijbridge.options_string(file=tmp_path / "big.tif", command="denoise-classical",
                                           save=tmp_path / "nowhere" / "out.zarr"))
