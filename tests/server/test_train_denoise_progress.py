"""train-denoise on a real server: the job reports its step and loss while it trains, and a cancel
(what Esc in Fiji sends) stops it within seconds with nothing left in the models folder."""

import json
import time

import numpy as np
from server_helpers import tiff_bytes

from fluorecon.imaging.phantoms import phantom


def _noisy(shape=(64, 64), seed=5):
    rng = np.random.default_rng(seed)
    return (rng.poisson(phantom(shape, seed=seed) * 200 + 20) + 100).astype(np.float32)


def _poll_until(client, job_id, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if predicate(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s; last status {job}")


def test_cancel_stops_a_running_training_promptly_and_leaves_no_model(server):
    # The shared server has no --models-dir: trained models go to <config dir>/server-data/models.
    models = server.config_dir / "server-data" / "models"
    before = sorted(models.rglob("*")) if models.is_dir() else []
    spec = {"task": "train-denoise", "method": "n2v2", "steps": 100_000, "name": "never finished"}
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                        files={"image": ("noisy.tif", tiff_bytes(_noisy()), "image/tiff")})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        # Progress while training: the share of steps done and "step S/N, loss L" in the message.
        job = _poll_until(client, job_id, lambda j: "loss" in j["message"] or j["state"] not in ("queued", "running"),
                          timeout=120)
        assert job["state"] == "running", job
        step, total = (int(v) for v in job["message"].split(",")[0].removeprefix("step ").split("/"))
        assert total == 100_000 and 1 <= step < total
        assert float(job["message"].rsplit("loss ", 1)[1]) > 0
        assert 0 < job["progress"] < 0.01
        asked = time.monotonic()
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        job = _poll_until(client, job_id, lambda j: j["state"] != "running", timeout=30)
        took = time.monotonic() - asked
    assert job["state"] == "cancelled", job
    assert "no model was written" in job["message"]
    # The cancel is seen before the next step: one step (16 patches of 64x64) takes about a second here.
    assert took < 10, took
    after = sorted(models.rglob("*")) if models.is_dir() else []
    assert after == before
