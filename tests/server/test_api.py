"""API v1 against a real server: auth, validation (4xx, never 5xx), a job end to end, cancel."""

import json
import os
import stat

import numpy as np
import pytest
import tifffile
from server_helpers import Hold, spec_json, tiff_bytes, wait_job

from fluorecon.core.io import read_tiff
from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, deconvolve_image


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return (rng.random((48, 40)) * 100).astype(np.float32)


def submit(client, image_bytes, spec=None, psf_bytes=None):
    files = {"image": ("in.tif", image_bytes, "image/tiff")}
    if psf_bytes is not None:
        files["psf"] = ("psf.tif", psf_bytes, "image/tiff")
    return client.post("/v1/jobs", data={"spec": spec or spec_json()}, files=files)


def test_token_file_and_server_json(server):
    token = server.config_dir / "token"
    assert stat.S_IMODE(os.stat(token).st_mode) == 0o600
    info = json.loads((server.config_dir / "server.json").read_text())
    assert info["url"] == server.url and info["pid"] == server.proc.pid


def test_auth(server, image):
    import httpx

    assert httpx.get(f"{server.url}/v1/health").json()["status"] == "ok"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        r = httpx.get(f"{server.url}/v1/models", headers=headers)
        assert r.status_code == 401 and "token" in r.json()["detail"]
        r = httpx.post(f"{server.url}/v1/jobs", headers=headers, data={"spec": spec_json()},
                       files={"image": ("a.tif", tiff_bytes(image), "image/tiff")})
        assert r.status_code == 401
    with server.client() as client:
        assert client.get("/v1/models").json()["methods"]["deconvolve"] == ["rl", "rl-accel", "rltv", "wiener"]


def test_oversize_upload_is_413(server):
    with server.client() as client:
        r = submit(client, b"\0" * (1024 * 1024 + 10))
    assert r.status_code == 413 and "limit" in r.json()["detail"]


@pytest.mark.parametrize(
    "case,make,spec,status,words",
    [
        ("corrupt", lambda img: b"II*\0garbage" * 10, None, 400, "TIFF"),
        ("truncated", lambda img: tiff_bytes(img)[:300], None, 400, "TIFF"),
        ("rgb", lambda img: _rgb(img), None, 400, "RGB"),
        ("too small", lambda img: tiff_bytes(img[:2, :2]), None, 422, "too small"),
        ("nan", lambda img: tiff_bytes(np.where(img > 50, np.nan, img)), None, 422, "NaN"),
        ("unknown method", tiff_bytes, spec_json(method="magic"), 422, "method"),
        ("extra field", tiff_bytes, spec_json(colour="red"), 422, "colour"),
        ("bad json", tiff_bytes, "{not json", 422, "spec"),
        ("bad na", tiff_bytes, spec_json(psf={"na": 1.6, "wavelength_nm": 520}), 422, "na"),
        ("no psf", tiff_bytes, spec_json(psf=None), 422, "PSF"),
        ("iterations", tiff_bytes, spec_json(num_iter=0), 422, "num_iter"),
    ],
)
def test_bad_input_gets_4xx_with_message(server, image, case, make, spec, status, words):
    with server.client() as client:
        r = submit(client, make(image), spec)
    assert r.status_code == status, r.text
    assert words.lower() in r.json()["detail"].lower()


def _rgb(img):
    import io

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.stack([img.astype(np.uint8)] * 3, axis=-1), photometric="rgb")
    return buf.getvalue()


def test_bad_psf_image(server, image):
    with server.client() as client:
        nan_psf = tiff_bytes(np.full((9, 9), np.nan))
        r = submit(client, tiff_bytes(image), spec_json(psf=None), nan_psf)
        assert r.status_code == 422 and "NaN" in r.json()["detail"]
        psf3d = tiff_bytes(np.ones((5, 9, 9)))
        r = submit(client, tiff_bytes(image), spec_json(psf=None), psf3d)
        assert r.status_code == 422 and "2D" in r.json()["detail"]
        flat = tiff_bytes(np.ones((9, 9)))
        r = submit(client, tiff_bytes(image), spec_json(psf=None), flat)
        assert r.status_code == 422 and "signal" in r.json()["detail"]


def test_unknown_job_is_404(server):
    with server.client() as client:
        for method, path in [("GET", "/v1/jobs/nope"), ("GET", "/v1/jobs/nope/result"), ("DELETE", "/v1/jobs/nope")]:
            r = client.request(method, path)
            assert r.status_code == 404 and "nope" in r.json()["detail"]


def test_job_result_equals_local_run(server, image, tmp_path):
    spec = spec_json(method="rltv", num_iter=8)
    with server.client() as client:
        r = submit(client, tiff_bytes(image), spec)
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded" and job["progress"] == 1, job
        result = client.get(job["result_url"])
        assert result.status_code == 200 and result.headers["content-type"] == "image/tiff"
    (tmp_path / "out.tif").write_bytes(result.content)
    (tmp_path / "in.tif").write_bytes(tiff_bytes(image))
    got, meta = read_tiff(tmp_path / "out.tif")
    assert meta.pixel_size_um == pytest.approx(0.1) and "rltv" in meta.info
    data, in_meta = read_tiff(tmp_path / "in.tif")
    expected, _ = deconvolve_image(data, in_meta, DeconvolveSpec.model_validate_json(spec), device="cpu")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * expected.max())


def test_cancel_running_job_and_result_of_unfinished(server, image):
    with Hold() as hold, server.client() as client:
        job_id = submit(client, tiff_bytes(image), spec_json(method="rl", num_iter=5)).json()["id"]
        assert hold.wait_held() == job_id  # running, 1 of 5 iterations done, and it cannot finish
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] == "running" and job["progress"] == pytest.approx(0.2), job
        assert client.get(f"/v1/jobs/{job_id}/result").status_code == 409
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        job = wait_job(client, job_id)
        assert job["state"] == "cancelled", job
        # Deleting a finished job removes it.
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        assert client.get(f"/v1/jobs/{job_id}").status_code == 404


def test_hyperstack_3d_with_channels_keeps_axes(server, tmp_path):
    rng = np.random.default_rng(2)
    stack = (rng.random((6, 2, 24, 20)) * 10).astype(np.float32)  # ZCYX
    spec = spec_json(method="wiener", psf={"na": 1.0, "wavelength_nm": 520, "ni": 1.33})
    with server.client() as client:
        r = submit(client, tiff_bytes(stack, axes="ZCYX"), spec)
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        (tmp_path / "out.tif").write_bytes(client.get(job["result_url"]).content)
    out, meta = read_tiff(tmp_path / "out.tif")
    assert meta.axes == "ZCYX" and out.shape == stack.shape and meta.z_step_um == pytest.approx(0.3)


def test_full_queue_is_503_with_retry_after(server, image):
    ids = []
    with Hold() as hold, server.client() as client:
        try:
            ids.append(submit(client, tiff_bytes(image)).json()["id"])
            assert hold.wait_held() == ids[0]  # 1 running, held; then max_queue (8) queued, then refusals
            for _ in range(9):
                r = submit(client, tiff_bytes(image))
                if r.status_code == 503:
                    break
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
            assert "queue is full" in r.json()["detail"]
            assert len(ids) == 9
        finally:
            for job_id in reversed(ids):  # the queued ones first, so none starts
                client.delete(f"/v1/jobs/{job_id}")
            for job_id in ids:
                assert wait_job(client, job_id)["state"] == "cancelled"
