"""kill -9 during a running job, restart: the running job is re-run and the queued one runs."""

import numpy as np
from server_helpers import Hold, Server, spec_json, tiff_bytes, wait_job


def test_kill9_during_job_then_restart_loses_nothing(tmp_path):
    server = Server(tmp_path).start()
    image = np.random.default_rng(0).random((192, 192)).astype(np.float32)
    try:
        with Hold() as hold:
            with server.client() as client:
                running = client.post("/v1/jobs", data={"spec": spec_json(method="rl", num_iter=5)},
                                      files={"image": ("a.tif", tiff_bytes(image), "image/tiff")}).json()["id"]
                queued = client.post("/v1/jobs", data={"spec": spec_json(method="rl", num_iter=3)},
                                     files={"image": ("b.tif", tiff_bytes(image[:64, :64]), "image/tiff")}).json()["id"]
                assert hold.wait_held() == running  # it has done 1 of 5 iterations and cannot go on
                job = client.get(f"/v1/jobs/{running}").json()
                assert job["state"] == "running" and 0 < job["progress"] < 1, job
                assert client.get(f"/v1/jobs/{queued}").json()["state"] == "queued"
            server.kill9()
            hold.forget(running)
            server.start()
            # The restarted server runs the killed job again from the start: the hold stops it a second time.
            assert hold.wait_held() == running
        with server.client() as client:
            first = wait_job(client, running, timeout=180)
            second = wait_job(client, queued, timeout=60)
            assert first["state"] == "succeeded", first
            assert second["state"] == "succeeded", second
            assert client.get(first["result_url"]).status_code == 200
    finally:
        server.stop()
