"""The "sim" job type on a real server: equals `fluorecon sim reconstruct` on the same file, halves
the pixel size, reports the pattern; a wrong stack size is a 422 at submit, pure noise a failed job
whose message says why."""

import json

import numpy as np
import pytest
from server_helpers import wait_job
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff


@pytest.fixture(scope="module")
def raw_tif(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "raw.tif"
    res = CliRunner().invoke(app, ["sim", "simulate", str(path), "--size", "128", "--order", "z-angle-phase",
                                   "--photons", "800"])
    assert res.exit_code == 0, res.output
    return path


def _submit(client, path_bytes, spec):
    return client.post("/v1/jobs", data={"spec": json.dumps(spec)}, files={"image": ("raw.tif", path_bytes, "image/tiff")})


def test_sim_job_equals_cli_and_halves_the_pixel(server, raw_tif, tmp_path):
    cli_out = tmp_path / "cli.tif"
    res = CliRunner().invoke(app, ["sim", "reconstruct", str(raw_tif), str(cli_out), "--order", "z-angle-phase",
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    with server.client() as client:
        r = _submit(client, raw_tif.read_bytes(), {"task": "sim", "order": "z-angle-phase"})
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        out = tmp_path / "server.tif"
        out.write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
        assert "sim" in client.get("/v1/models").text
    got, meta = read_tiff(out)
    expected, cli_meta = read_tiff(cli_out)
    assert got.shape == (256, 256) and meta.pixel_size_um == pytest.approx(0.04)
    np.testing.assert_allclose(got, expected, atol=1e-4 * np.ptp(expected))
    rows = json.loads(job["message"].split("sim_params = ")[1])
    assert job["values"] == {"sim_params": rows}
    assert [round(r["angle_deg"]) for r in rows] == [8, 68, 128]


def test_wrong_stack_size_is_422_and_noise_fails_clearly(server, raw_tif, tmp_path):
    frames, _ = read_tiff(raw_tif)
    short = tmp_path / "short.tif"
    write_tiff(short, frames[:8], TiffMeta(axes="ZYX", pixel_size_um=0.08))
    noise = tmp_path / "noise.tif"
    write_tiff(noise, np.random.default_rng(0).normal(100, 5, (9, 64, 64)).astype(np.float32),
               TiffMeta(axes="ZYX", pixel_size_um=0.08))
    with server.client() as client:
        r = _submit(client, short.read_bytes(), {"task": "sim"})
        assert r.status_code == 422 and "8 frames" in r.text, r.text
        r = _submit(client, noise.read_bytes(), {"task": "sim"})
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
    assert job["state"] == "failed" and "No illumination pattern" in job["message"], job
