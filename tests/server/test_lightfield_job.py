"""The `lightfield` job type on a real server (uvicorn subprocess): equal to the CLI on the same
file, progress to the end, cancel between iterations, and 422s that say what to change."""

import json

import numpy as np
import pytest
from server_helpers import Hold, tiff_bytes, wait_job
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.tasks.lightfield.physics import LightField, LightFieldOptics, lightfield_psf
from fluorecon.tasks.lightfield.classical import simulate

OPTICS = LightFieldOptics(nnum=9, z_min_um=-12, z_max_um=12, z_step_um=4)


@pytest.fixture(scope="module")
def light_field():
    physics = LightField(lightfield_psf(OPTICS), n_lenslets=(9, 9), optics=OPTICS, device="cpu")
    return simulate(physics, n_beads=5, photons=300, seed=7)[1]


def _submit(client, image, spec, axes="YX"):
    return client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                       files={"image": ("lf.tif", tiff_bytes(image, axes=axes), "image/tiff")})


def test_lightfield_job_equals_cli(server, tmp_path, light_field):
    src = tmp_path / "lf.tif"
    write_tiff(src, light_field, TiffMeta(axes="YX"))
    (tmp_path / "optics.json").write_text(OPTICS.model_dump_json())
    cli = CliRunner().invoke(app, ["lightfield", "reconstruct", str(src), str(tmp_path / "cli.tif"), "--num-iter", "5",
                                   "--optics", str(tmp_path / "optics.json"), "--device", "cpu"])
    assert cli.exit_code == 0, cli.output
    spec = {"task": "lightfield", "num_iter": 5, "optics": json.loads(OPTICS.model_dump_json())}
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                        files={"image": ("lf.tif", src.read_bytes(), "image/tiff")})
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"], timeout=300)
        assert job["state"] == "succeeded" and job["progress"] == 1.0, job
        (tmp_path / "server.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
        assert client.get("/v1/models").json()["methods"]["lightfield"] == ["rl"]
    got, meta = read_tiff(tmp_path / "server.tif")
    expected, _ = read_tiff(tmp_path / "cli.tif")
    assert meta.axes == "ZYX" and got.shape == (7, 81, 81)
    assert meta.z_step_um == pytest.approx(4.0) and meta.pixel_size_um == pytest.approx(OPTICS.voxel_size_um)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * expected.max())


def test_lightfield_job_cancels(server, light_field):
    spec = {"task": "lightfield", "num_iter": 5, "optics": json.loads(OPTICS.model_dump_json())}
    with Hold() as hold, server.client() as client:
        job_id = _submit(client, light_field, spec).json()["id"]
        assert hold.wait_held() == job_id  # running, 1 of 5 iterations done, and it cannot finish
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        job = wait_job(client, job_id, timeout=120)
    assert job["state"] == "cancelled" and "of 5 iterations" in job["message"], job


@pytest.mark.parametrize("image,axes,spec,words", [
    (np.zeros((3, 81, 81)), "ZYX", {}, "one 2D plane (axes YX)"),
    (np.zeros((81, 80)), "YX", {}, "not a whole number of 9-pixel lenslets"),
    (np.zeros((81, 81)), "YX", {"calibration": {"pitch_px": 10.6, "rotation_deg": 0, "origin_yx_px": [8, 8],
                                                "n_lenslets": [9, 9], "nnum": 9, "image_shape": [102, 102]}},
     "calibration is for (102, 102) images"),
    (np.zeros((81, 81)), "YX", {"optics": {"nnum": 10}}, "odd number of pixels per lenslet"),
    (np.zeros((81, 81)), "YX", {"num_iter": 0}, "num_iter"),
])
def test_bad_lightfield_jobs_get_422(server, image, axes, spec, words):
    body = {"task": "lightfield", "optics": json.loads(OPTICS.model_dump_json())}
    body.update(spec)
    if "optics" in spec:
        body["optics"] = {**json.loads(OPTICS.model_dump_json()), **spec["optics"]}
    with server.client() as client:
        r = _submit(client, image.astype(np.float32), body, axes=axes)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"], r.json()["detail"]
