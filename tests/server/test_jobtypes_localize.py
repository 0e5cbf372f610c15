"""The `localize` job (the MLE fit for Fiji's Localize (SMLM)… model=mle) on the real server: the packed table equals
`fluorecon localize --method mle`'s CSV; an empty result and an uncalibrated stack."""

from __future__ import annotations

import json

import numpy as np
import tifffile
from server_helpers import tiff_bytes, wait_job
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_tiff
from fluorecon.tasks.localize.job import RESULT_COLUMNS
from fluorecon.tasks.localize.learned import read_thunderstorm_csv
from fluorecon.tasks.localize.physics import simulate_smlm
from fluorecon.tasks.register.table import unpack_table

SPEC = {"task": "localize", "method": "mle", "camera_offset": 100, "camera_gain": 0.1, "em_gain": 100, "qe": 0.9}


def run_job(server, frames: np.ndarray, spec: dict, tmp_path, **tiff) -> tuple[dict, np.ndarray, str]:
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                        files={"image": ("s.tif", tiff_bytes(frames, axes="TYX", **tiff), "image/tiff")})
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        (tmp_path / "out.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    packed, meta = read_tiff(tmp_path / "out.tif")
    assert meta.axes == "CYX"
    return job, unpack_table(packed), meta.info


def test_localize_job_equals_the_cli_fit(server, tmp_path):
    frames = simulate_smlm(shape=(30, 34), num_frames=8, structure="uniform", density=1.5, camera="emccd",
                           seed=3).frames.astype(np.float32)
    tifffile.imwrite(tmp_path / "s.tif", frames, imagej=True, metadata={"axes": "TYX", "unit": "micron"},
                     resolution=(10.0, 10.0))
    result = CliRunner().invoke(app, ["localize", str(tmp_path / "s.tif"), str(tmp_path / "cli.csv"), "--method", "mle",
                                      "--background", "100", "--camera-gain", "0.1", "--em-gain", "100", "--qe", "0.9"])
    assert result.exit_code == 0, result.output
    want = read_thunderstorm_csv(tmp_path / "cli.csv")
    job, got, info = run_job(server, frames, SPEC, tmp_path)  # pixel size from the upload's calibration (100 nm)
    assert len(want) > 10 and got.shape == (len(want), len(RESULT_COLUMNS))
    assert job["values"]["localizations"] == len(want) and f"localizations = {len(want)}" in info
    np.testing.assert_array_equal(got[:, 0], want["frame"] + 1)  # 1-based, as ThunderSTORM
    for j, field in enumerate(("x_nm", "y_nm", "z_nm", "photons", "background", "bkgstd", "sigma_nm",
                               "uncertainty_nm"), start=1):
        np.testing.assert_allclose(got[:, j], want[field], rtol=1e-6, atol=1e-3, err_msg=field)  # CSV: 7 digits


def test_no_localisations_is_one_nan_row_counted_as_none(server, tmp_path):
    flat = np.full((3, 24, 24), 100, np.float32)  # camera offset only: nothing to detect
    job, got, info = run_job(server, flat, {**SPEC, "pixel_size_nm": 107}, tmp_path)
    assert job["values"]["localizations"] == 0 and "localizations = 0" in info
    assert got.shape == (1, len(RESULT_COLUMNS)) and np.isnan(got).all()
    assert '"pixel_size_nm":107.0' in info


def test_channels_are_refused_before_the_job_is_queued(server):
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps(SPEC)},
                        files={"image": ("s.tif", tiff_bytes(np.ones((2, 2, 16, 16)), axes="TCYX"), "image/tiff")})
    assert r.status_code == 422 and "localisation needs one time series" in r.json()["detail"], r.text
