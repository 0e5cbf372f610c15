"""The register-table job type on a real server: the packed table comes back corrected exactly as
`fluorecon register-table` corrects the CSV, and a table without positions gets a 422 in words."""

import json

import numpy as np
from server_helpers import tiff_bytes, wait_job
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_tiff
from fluorecon.tasks.register.physics import simulate_drifting_localizations
from fluorecon.tasks.register import table as RT

COLUMNS = ["frame", "x [nm]", "y [nm]"]


def test_register_table_job_equals_cli(server, tmp_path):
    locs, drift = simulate_drifting_localizations(n_frames=1000, drift_nm=80, seed=11)
    values = np.column_stack([locs["frame"] + 1, locs["x_nm"], locs["y_nm"]])
    RT.write_table_csv(tmp_path / "in.csv", values, COLUMNS)
    result = CliRunner().invoke(app, ["register-table", str(tmp_path / "in.csv"), str(tmp_path / "cli.csv"),
                                      "--segments", "8", "--drift-csv", str(tmp_path / "drift.csv")])
    assert result.exit_code == 0, result.output
    table, columns = RT.read_table_csv(tmp_path / "in.csv")  # the CSV's digits, as Fiji reads them
    spec = {"task": "register-table", "columns": columns, "segments": 8}
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                        files={"image": ("t.tif", tiff_bytes(RT.pack_table(table), axes="CYX"), "image/tiff")})
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        assert "localisations" in job["message"] and "max drift" in job["message"]
        (tmp_path / "out.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    packed, meta = read_tiff(tmp_path / "out.tif")
    assert meta.axes == "CYX"
    got = RT.unpack_table(packed)
    cli, _ = RT.read_table_csv(tmp_path / "cli.csv")
    np.testing.assert_allclose(got, cli, rtol=5e-7)  # the CLI's CSV holds 7 significant digits
    server_drift = np.array(json.loads(meta.info.split("drift_nm = ", 1)[1].splitlines()[0]))
    cli_drift = np.loadtxt(tmp_path / "drift.csv", delimiter=",", skiprows=1)[:, 1:]
    np.testing.assert_allclose(server_drift, cli_drift, atol=1e-3)
    assert job["values"]["drift_nm"] == server_drift.tolist() and job["values"]["localisations"] == len(got)
    assert np.sqrt(np.mean(np.sum((server_drift - drift) ** 2, axis=1))) < 5.0


def test_table_without_positions_is_refused(server):
    packed = RT.pack_table(np.ones((50, 2)))
    spec = {"task": "register-table", "columns": ["frame", "intensity"]}
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                        files={"image": ("t.tif", tiff_bytes(packed, axes="CYX"), "image/tiff")})
    assert r.status_code == 422, r.text
    assert "columns" in r.text  # pydantic: at least 3 columns
    spec["columns"] = ["frame", "x", "y"]
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                        files={"image": ("t.tif", tiff_bytes(RT.pack_table(np.ones((50, 3))), axes="CYX"), "image/tiff")})
    assert r.status_code == 422 and "no 'x [nm]', 'y [nm]' column" in r.json()["detail"], r.text
