"""The dip job on a real server (issue 16: the deep image prior from Fiji beside N2V): the result equals
deep_image_prior on the same image, the message and info say where the discrepancy principle stopped,
and a stack with channels gets a 422 in words."""

import json

import numpy as np
from server_helpers import tiff_bytes, wait_job

from fluorecon.core.io import read_tiff
from fluorecon.tasks.denoise.dip import DIPConfig, deep_image_prior


def _submit(server, image, axes, spec):
    with server.client() as client:
        return client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                           files={"image": ("noisy.tif", tiff_bytes(image, axes=axes), "image/tiff")})


def test_dip_job_equals_the_function_and_reports_the_stop(server, tmp_path):
    image = np.random.default_rng(5).poisson(40, (32, 40)).astype(np.float32) * 2 + 100
    r = _submit(server, image, "YX", {"task": "dip", "num_iter": 30, "tau": 50.0})
    assert r.status_code == 201, r.text
    with server.client() as client:
        job = wait_job(client, r.json()["id"], timeout=300)
        assert job["state"] == "succeeded", job
        (tmp_path / "dip.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    assert "Stopped at iteration 10: discrepancy" in job["message"]
    got, meta = read_tiff(tmp_path / "dip.tif")
    assert "stopped_at = 10" in meta.info
    expected = deep_image_prior(image, config=DIPConfig(num_iter=30, tau=50.0, device="cpu"), progress=False)
    assert expected.stopped_at == 10
    np.testing.assert_allclose(got, expected.image, atol=1e-3 * np.ptp(image))


def test_dip_job_refuses_channels(server):
    image = np.zeros((2, 32, 32), np.float32)
    r = _submit(server, image, "CYX", {"task": "dip"})
    assert r.status_code == 422 and "takes one YX plane or ZYX stack" in r.text
