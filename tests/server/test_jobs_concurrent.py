"""100 small jobs from 10 threads against a queue of 8 (503 + Retry-After honoured): all finish right."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from server_helpers import spec_json, tiff_bytes, wait_job

from fluorecon.core.io import TiffMeta
from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, deconvolve_image

SPEC = spec_json(method="rl", num_iter=3)


def test_hundred_concurrent_jobs(server, tmp_path):
    images = [np.random.default_rng(i).random((24, 24)).astype(np.float32) * (i + 1) for i in range(100)]
    busy = []

    def run(i):
        with server.client() as client:
            while True:
                r = client.post("/v1/jobs", data={"spec": SPEC},
                                files={"image": (f"{i}.tif", tiff_bytes(images[i]), "image/tiff")})
                if r.status_code != 503:
                    break
                busy.append(int(r.headers["Retry-After"]))
                time.sleep(0.2)
            assert r.status_code == 201, r.text
            job = wait_job(client, r.json()["id"], timeout=240)
            assert job["state"] == "succeeded", job
            path = tmp_path / f"{i}.tif"
            path.write_bytes(client.get(job["result_url"]).content)
            return path

    with ThreadPoolExecutor(10) as pool:
        paths = list(pool.map(run, range(100)))
    assert all(b > 0 for b in busy)  # when the bounded queue pushed back, it said when to retry
    from fluorecon.core.io import read_tiff

    spec = DeconvolveSpec.model_validate_json(SPEC)
    meta = TiffMeta(axes="YX", pixel_size_um=0.1)
    for i in (0, 37, 99):
        expected, _ = deconvolve_image(images[i], meta, spec, device="cpu")
        got, _ = read_tiff(paths[i])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * expected.max())
    # Every result is the right image: the flux of RL output tracks its input's.
    for i in range(100):
        got, _ = read_tiff(paths[i])
        assert abs(got.sum() / images[i].sum() - 1) < 0.05
