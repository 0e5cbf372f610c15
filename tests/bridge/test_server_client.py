"""Deconvolve… and Server… against a real `fluorecon serve` (loopback, temporary config folder):
the plugin's RL result equals `fluorecon deconvolve`'s, progress shows, Esc cancels the server
job, and a missing server or a wrong token gives a message that says what to do."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import numpy as np
import pytest
import tifffile

import ijbridge
from ijbridge import ROOT, assert_matches, run_cli, run_plugin

sys.path.insert(0, str(ROOT / "tests" / "server"))
from server_helpers import Hold, Server, free_port, wait_job  # noqa: E402

PROPERTY = "fluorecon.config_dir"  # ServerConfig.PROPERTY: the JVM's stand-in for $FLUORECON_CONFIG_DIR


@pytest.fixture(scope="module")
def server(headless_jvm, plugin_jar, tmp_path_factory):
    """A real server, started and stopped by the plugin's Server… command (action=start/stop)."""
    from jpype import JClass

    srv = Server(tmp_path_factory.mktemp("fluorecon-config"))  # port and helpers; the plugin starts it
    System = JClass("java.lang.System")
    System.setProperty(PROPERTY, str(srv.config_dir))
    try:
        started = run_plugin(plugin_jar, "Server...", None,
                             f"action=start python=[{sys.executable}] port={srv.port}").getMessage()
    finally:
        System.clearProperty(PROPERTY)
    assert started.startswith("Started: fluorecon server") and srv.url in started, started
    pid = json.loads((srv.config_dir / "server.json").read_text())["pid"]
    yield srv
    System.setProperty(PROPERTY, str(srv.config_dir))
    try:
        stopped = run_plugin(plugin_jar, "Server...", None, "action=stop").getMessage()
    finally:
        System.clearProperty(PROPERTY)
    assert stopped == f"Stopped the fluorecon server (PID {pid}).", stopped
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.fixture
def config_dir(headless_jvm, server):
    """Points the plugin at ``server``'s config folder for one test."""
    from jpype import JClass

    System = JClass("java.lang.System")
    System.setProperty(PROPERTY, str(server.config_dir))
    yield server.config_dir
    System.clearProperty(PROPERTY)




def blurred_spots(shape, seed):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    truth = np.zeros(shape, np.float32)
    truth[rng.integers(0, shape[0], 30), rng.integers(0, shape[1], 30)] = rng.uniform(200, 800, 30)
    return rng.poisson(gaussian_filter(truth, 2.0) * 20 + 5).astype(np.float32)


OPTS = dict(psf="[theoretical]", na=1.2, wavelength_nm=520, ni=1.515, ns=1.33)


def test_rl_on_server_equals_cli(config_dir, plugin_jar, tmp_path):
    image = blurred_spots((64, 80), seed=1)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, image, imagej=True, metadata={"axes": "YX", "unit": "micron"}, resolution=(10.0, 10.0))
    cli_out = tmp_path / "cli.tif"
    run_cli(*["deconvolve", str(src), str(cli_out), "--method", "rl", "--num-iter", "5", "--na", "1.2",
             "--wavelength-nm", "520", "--device", "cpu"])
    expected = tifffile.imread(cli_out)

    imp = ijbridge.to_imageplus(image, "YX", title="cells", pixel_size_um=0.1)
    save = tmp_path / "plugin.tif"
    plugin = run_plugin(plugin_jar, "Deconvolve...", imp,
                        ijbridge.options_string(method="rl", iterations=5, save=save, **OPTS))
    out = plugin.getResult()
    assert out is not None and save.is_file()
    assert out.getTitle() == "cells-deconvolved"
    assert out.getCalibration().pixelWidth == pytest.approx(0.1)
    got = ijbridge.from_imageplus(out)[0, 0, 0]
    assert_matches(got, expected)
    assert_matches(tifffile.imread(save), expected)
    info = str(out.getProperty("Info"))
    assert '"method": "rl"' in info and "server.version" in info, info
    assert plugin.getProgressShown()[-1] == pytest.approx(1.0)


def test_wiener_balance_from_fiji_equals_cli(config_dir, plugin_jar, tmp_path):
    """Deconvolve…'s balance= reaches the server: Wiener at balance 0.5 equals the CLI's, and differs from 0.01."""
    image = blurred_spots((48, 56), seed=2)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, image, imagej=True, metadata={"axes": "YX", "unit": "micron"}, resolution=(10.0, 10.0))
    run_cli(*["deconvolve", str(src), str(tmp_path / "cli.tif"), "--method", "wiener", "--balance", "0.5",
              "--na", "1.2", "--wavelength-nm", "520", "--device", "cpu"])
    expected = tifffile.imread(tmp_path / "cli.tif")
    imp = ijbridge.to_imageplus(image, "YX", title="cells", pixel_size_um=0.1)
    outs = {}
    for balance in (0.5, 0.01):
        plugin = run_plugin(plugin_jar, "Deconvolve...", imp,
                            ijbridge.options_string(method="wiener", balance=balance, **OPTS))
        outs[balance] = ijbridge.from_imageplus(plugin.getResult())[0, 0, 0]
    assert_matches(outs[0.5], expected)
    assert np.abs(outs[0.5] - outs[0.01]).max() > 0.05 * np.ptp(expected)
    with pytest.raises(Exception, match="balance = -1.0 is out of range"):
        run_plugin(plugin_jar, "Deconvolve...", imp, ijbridge.options_string(method="wiener", balance=-1, **OPTS))


@pytest.mark.parametrize("method", ["nlm", "bm3d", "vst-bm3d", "vst-nlm"])
def test_classical_denoise_from_fiji_equals_cli(config_dir, plugin_jar, tmp_path, method):
    """Denoise… model=nlm|bm3d|vst-bm3d|vst-nlm runs the server's denoise-classical job: per plane, equal to
    `fluorecon denoise-classical` (the server refused the vst-* methods Denoise… offers until session 5)."""
    planes = np.stack([blurred_spots((40, 48), seed=s) for s in (3, 4)])  # two frames
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, planes, imagej=True, metadata={"axes": "TYX", "unit": "micron"}, resolution=(10.0, 10.0))
    run_cli("denoise-classical", src, tmp_path / "cli.tif", "--method", method)
    expected = tifffile.imread(tmp_path / "cli.tif")
    imp = ijbridge.to_imageplus(planes, "TYX", title="noisy", pixel_size_um=0.1)
    save = tmp_path / "plugin.tif"
    plugin = run_plugin(plugin_jar, "Denoise...", imp, ijbridge.options_string(model=method, save=save))
    out = plugin.getResult()
    assert out.getTitle() == f"noisy-{method}" and out.getNFrames() == 2
    assert out.getCalibration().pixelWidth == pytest.approx(0.1)
    got = ijbridge.from_imageplus(out)[:, 0, 0]
    assert_matches(got, expected)
    assert_matches(tifffile.imread(save), expected)
    assert np.std(got - planes) > 0  # it did denoise
    assert "denoise.method = " + method in str(out.getProperty("Info"))


def _watch(action):
    """Runs ``action`` on a thread; ``join()`` re-raises what it raised."""
    errors = []

    def target():
        try:
            action()
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join():
        thread.join(60)
        assert not thread.is_alive(), "the watching thread did not finish"
        if errors:
            raise errors[0]

    return join


def _wait_until(predicate, what, timeout=180):
    deadline = time.monotonic() + timeout  # a bound on a failure, not a synchronisation
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _intermediate(shown) -> bool:
    return any(0 < f < 1 for f in shown)


def test_hyperstack_keeps_dimensions_and_shows_progress(config_dir, plugin_jar, server):
    image = np.stack([blurred_spots((96, 96), seed=s) for s in range(4)]).reshape(2, 2, 96, 96)  # T, C, Y, X
    imp = ijbridge.to_imageplus(image, "TCYX", title="movie", pixel_size_um=0.1, frame_interval_s=2.0)
    made = {}
    with Hold() as hold:
        def release_once_the_plugin_shows_intermediate_progress():
            try:
                made["held"] = hold.wait_held()
                _wait_until(lambda: "plugin" in made and _intermediate(made["plugin"].getProgressShown()),
                            "the plugin to show the held job's progress")
            finally:
                hold.release()

        join = _watch(release_once_the_plugin_shows_intermediate_progress)
        plugin = run_plugin(plugin_jar, "Deconvolve...", imp,
                            ijbridge.options_string(method="rltv", iterations=5, **{"lambda": 0.002}, **OPTS),
                            created=lambda p: made.update(plugin=p))
        join()
    assert str(plugin.getJobId()) == made["held"]
    out = plugin.getResult()
    assert (out.getNChannels(), out.getNSlices(), out.getNFrames()) == (2, 1, 2)
    assert out.getCalibration().frameInterval == pytest.approx(2.0)
    shown = np.array(plugin.getProgressShown())
    assert shown[-1] == pytest.approx(1.0)
    assert _intermediate(shown), f"no intermediate progress was shown: {shown}"
    assert np.all(np.diff(shown) >= 0)
    with server.client() as client:  # a fetched job is deleted from the server
        assert client.get(f"/v1/jobs/{plugin.getJobId()}").status_code == 404


def test_escape_cancels_the_server_job(config_dir, plugin_jar, server, tmp_path):
    from jpype import JClass

    IJ, KeyEvent = JClass("ij.IJ"), JClass("java.awt.event.KeyEvent")
    imp = ijbridge.to_imageplus(blurred_spots((64, 64), seed=2), "YX", title="big", pixel_size_um=0.1)
    save = tmp_path / "never.tif"
    held, returned = {}, threading.Event()
    with Hold() as hold:
        def press_escape_once_the_job_is_held():
            try:
                held["job"] = hold.wait_held()  # running, 1 of 5 iterations done, and it cannot finish
                IJ.setKeyDown(KeyEvent.VK_ESCAPE)  # what ImageJ does when the user presses Esc
                returned.wait(120)
            finally:
                hold.release()  # a no-op after a cancel; if Esc was ignored, the job ends and the test fails

        join = _watch(press_escape_once_the_job_is_held)
        try:
            plugin = run_plugin(plugin_jar, "Deconvolve...", imp,
                                ijbridge.options_string(method="rl", iterations=5, save=save, **OPTS))
        finally:
            returned.set()
            IJ.resetEscape()
        join()
        assert plugin.getResult() is None and not save.exists()
        assert str(plugin.getJobId()) == held["job"]
        with server.client() as client:
            job = wait_job(client, held["job"], timeout=60)
    assert job["state"] == "cancelled", job


def test_server_down_says_how_to_start_it(headless_jvm, plugin_jar, tmp_path):
    from jpype import JClass

    port = free_port()
    # a live PID (this process) that serves nothing at the recorded URL; a dead one's server.json is cleared (below)
    (tmp_path / "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "pid": os.getpid()}))
    System = JClass("java.lang.System")
    System.setProperty(PROPERTY, str(tmp_path))
    try:
        imp = ijbridge.to_imageplus(blurred_spots((32, 32), seed=3), "YX", title="x", pixel_size_um=0.1)
        with pytest.raises(Exception) as err:
            run_plugin(plugin_jar, "Deconvolve...", imp, ijbridge.options_string(method="rl", iterations=2, **OPTS))
        message = str(err.value)
        assert f"The fluorecon server is not running at http://127.0.0.1:{port}" in message
        assert "fluorecon serve" in message and "Server…" in message
        status = run_plugin(plugin_jar, "Server...", None, "action=status")
        assert "No fluorecon server is running" in status.getMessage()
        assert "action=[set up]" in status.getMessage()
        (tmp_path / "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "pid": 999999}))
        status = run_plugin(plugin_jar, "Server...", None, "action=status")
        assert not (tmp_path / "server.json").exists(), "server.json of the exited PID 999999 was left"
        assert "No fluorecon server is running at http://127.0.0.1:8765" in status.getMessage()
    finally:
        System.clearProperty(PROPERTY)


def test_wrong_token_is_named(headless_jvm, plugin_jar, server, tmp_path):
    from jpype import JClass

    (tmp_path / "server.json").write_text(json.dumps({"url": server.url}))
    (tmp_path / "token").write_text("not-the-token\n")
    System = JClass("java.lang.System")
    System.setProperty(PROPERTY, str(tmp_path))
    try:
        imp = ijbridge.to_imageplus(blurred_spots((32, 32), seed=4), "YX", title="x", pixel_size_um=0.1)
        with pytest.raises(Exception, match="refused the token in .*token; restart the server or copy its token"):
            run_plugin(plugin_jar, "Deconvolve...", imp, ijbridge.options_string(method="rl", iterations=2, **OPTS))
    finally:
        System.clearProperty(PROPERTY)


def test_server_status_reports_version(config_dir, plugin_jar):
    import fluorecon

    plugin = run_plugin(plugin_jar, "Server...", None, "action=status")
    assert f"fluorecon server {fluorecon.__version__}" in plugin.getMessage()
    assert "device " in plugin.getMessage() and "PID " in plugin.getMessage()


def test_uncalibrated_image_is_refused_before_upload(config_dir, plugin_jar):
    imp = ijbridge.to_imageplus(blurred_spots((32, 32), seed=5), "YX", title="raw")
    with pytest.raises(Exception, match="has no pixel size"):
        run_plugin(plugin_jar, "Deconvolve...", imp, ijbridge.options_string(method="rl", iterations=2, **OPTS))
