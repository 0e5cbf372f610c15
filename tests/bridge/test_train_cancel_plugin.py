"""Train on this image… through the real plugin and server: Esc during training stops the server
job within seconds, and nothing is installed or left in the server's models folder."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import ijbridge
from ijbridge import ROOT, run_plugin

sys.path.insert(0, str(ROOT / "tests" / "server"))
from server_helpers import Server  # noqa: E402

PROPERTY = "fluorecon.config_dir"  # ServerConfig.PROPERTY


@pytest.fixture(scope="module")
def training_server(headless_jvm, tmp_path_factory):
    from jpype import JClass

    models = tmp_path_factory.mktemp("server-models")
    server = Server(tmp_path_factory.mktemp("fluorecon-config"), "--models-dir", str(models)).start()
    server.models_dir = models
    System = JClass("java.lang.System")
    System.setProperty(PROPERTY, str(server.config_dir))
    yield server
    System.clearProperty(PROPERTY)
    server.stop()


def test_escape_cancels_training_on_the_server(training_server, plugin_jar, tmp_path):
    from jpype import JClass

    IJ, KeyEvent = JClass("ij.IJ"), JClass("java.awt.event.KeyEvent")
    server = training_server
    headers = {"Authorization": f"Bearer {server.token}"}
    image = ijbridge.noisy_planes((64, 64), seed=8)
    imp = ijbridge.to_imageplus(image, "YX", title="noisy", pixel_size_um=0.1)
    seen: dict = {}

    def press_escape_once_training_reports_a_loss():
        # The API has no job list; the server's own SQLite store (WAL, read-only here) names the job.
        db = server.config_dir / "server-data" / "jobs.sqlite"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if db.is_file():
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
                    running = con.execute("SELECT message FROM jobs WHERE state='running' AND message LIKE "
                                          "'%loss%'").fetchall()
            else:
                running = []
            if running:
                seen["message"] = running[0][0]
                seen["pressed"] = time.monotonic()
                IJ.setKeyDown(KeyEvent.VK_ESCAPE)  # what ImageJ does when the user presses Esc
                return
            time.sleep(0.1)

    presser = threading.Thread(target=press_escape_once_training_reports_a_loss, daemon=True)
    presser.start()
    installed = tmp_path / "installed"
    try:
        plugin = run_plugin(plugin_jar, "Train on this image...", imp,
                            ijbridge.options_string(method="n2v2", steps=100000, name="esc test",
                                                    models_dir=installed))
    finally:
        IJ.resetEscape()
    returned = time.monotonic()
    presser.join(5)
    assert "pressed" in seen, "training never reported a loss"
    assert seen["message"].startswith("step ") and ", loss " in seen["message"]
    assert returned - seen["pressed"] < 10
    assert plugin.getResult() is None and plugin.getInstalledModel() is None
    job_id = str(plugin.getJobId())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=headers, timeout=10)
        if r.status_code == 404 or r.json()["state"] != "running":
            break
        time.sleep(0.1)
    assert r.status_code == 404 or r.json()["state"] == "cancelled", r.text
    assert not installed.exists() or not any(installed.iterdir())
    assert list(Path(server.models_dir).iterdir()) == []
