"""kill -9 during a running job, restart: the running job is re-run and the queued one runs."""

import time

import numpy as np
from server_helpers import Server, spec_json, tiff_bytes, wait_job


def test_kill9_during_job_then_restart_loses_nothing(tmp_path):
    server = Server(tmp_path).start()
    image = np.random.default_rng(0).random((192, 192)).astype(np.float32)
    try:
        with server.client() as client:
            long = client.post("/v1/jobs", data={"spec": spec_json(method="rl", num_iter=400)},
                               files={"image": ("a.tif", tiff_bytes(image), "image/tiff")}).json()["id"]
            queued = client.post("/v1/jobs", data={"spec": spec_json(method="rl", num_iter=3)},
                                 files={"image": ("b.tif", tiff_bytes(image[:64, :64]), "image/tiff")}).json()["id"]
            deadline = time.monotonic() + 60
            while client.get(f"/v1/jobs/{long}").json()["progress"] <= 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.get(f"/v1/jobs/{long}").json()["state"] == "running"
        server.kill9()
        server.start()
        with server.client() as client:
            first = wait_job(client, long, timeout=180)
            second = wait_job(client, queued, timeout=60)
            assert first["state"] == "succeeded", first
            assert second["state"] == "succeeded", second
            assert client.get(first["result_url"]).status_code == 200
    finally:
        server.stop()
