"""The unmix and register job types on a real server: each equals its CLI (`fluorecon unmix`,
`fluorecon register`) on the same file, and bad input gets a 4xx that says what to change."""

import json

import numpy as np
import pytest
import tifffile
from server_helpers import UNMIX_LABELS, drifting_series, spectral_series, tiff_bytes, wait_job
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output


def _run(server, path, spec: dict, tmp_path):
    """Submit ``path`` with ``spec``, wait, return (result array, meta, job)."""
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                        files={"image": ("in.tif", path.read_bytes(), "image/tiff")})
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        out = tmp_path / "server.tif"
        out.write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    image, meta = read_tiff(out)
    return image, meta, job


@pytest.mark.parametrize("method", ["nnls", "nmf"])
def test_unmix_job_equals_cli_with_residual_channels(server, tmp_path, method):
    series = spectral_series()
    src = tmp_path / "in.tif"
    write_tiff(src, series, TiffMeta(axes="TCYX", pixel_size_um=0.1, frame_interval_s=2.0))
    source = ["--spectra", ",".join(UNMIX_LABELS)] if method == "nnls" else ["--blind", "3"]
    _cli("unmix", src, tmp_path / "cli.tif", *source, "--background", 100, "--residual", tmp_path / "res.tif")
    spec = {"task": "unmix", "method": method, "offset": 100, "residual": True}
    spec.update({"spectra": UNMIX_LABELS} if method == "nnls" else {"blind": 3})
    got, meta, _ = _run(server, src, spec, tmp_path)
    labels, residual = tifffile.imread(tmp_path / "cli.tif"), tifffile.imread(tmp_path / "res.tif")
    assert meta.axes == "TCYX" and got.shape == (2, 3 + 8, 40, 48)
    assert meta.pixel_size_um == pytest.approx(0.1) and meta.frame_interval_s == pytest.approx(2.0)
    np.testing.assert_allclose(got[:, :3], labels, atol=1e-4 * np.ptp(labels))
    np.testing.assert_allclose(got[:, 3:], residual, atol=1e-4 * np.ptp(residual))
    names = "component1,component2,component3" if method == "nmf" else ",".join(UNMIX_LABELS)
    assert f"channels = {names},residual1," in meta.info and "residual8" in meta.info


def test_unmix_without_residual_has_one_channel_per_label(server, tmp_path):
    src = tmp_path / "in.tif"
    write_tiff(src, spectral_series(frames=1)[0], TiffMeta(axes="CYX", pixel_size_um=0.1))
    got, meta, _ = _run(server, src, {"task": "unmix", "spectra": UNMIX_LABELS, "offset": 100}, tmp_path)
    assert meta.axes == "CYX" and got.shape == (3, 40, 48)


def test_register_job_equals_cli_and_reports_the_drift(server, tmp_path):
    series, truth = drifting_series()
    src = tmp_path / "in.tif"
    write_tiff(src, series, TiffMeta(axes="TCYX", pixel_size_um=0.1))
    _cli("register", src, tmp_path / "cli.tif", "--reference", "mean", "--channel", 1, "--drift-csv", tmp_path / "d.csv")
    got, meta, job = _run(server, src, {"task": "register", "reference": "mean", "channel": 1}, tmp_path)
    expected = tifffile.imread(tmp_path / "cli.tif")
    assert meta.axes == "TCYX" and got.shape == series.shape
    np.testing.assert_allclose(got, expected, atol=1e-4 * np.ptp(expected))
    drift = np.array(json.loads(meta.info.split("drift_px = ")[1].splitlines()[0]))
    assert json.loads(job["message"].split("drift_px = ")[1]) == drift.tolist()
    # The same figures travel structured: no client parses them back out of the text.
    assert job["values"] == {"drift_axes": ["y", "x"], "drift_px": drift.tolist()}
    cli_drift = np.loadtxt(tmp_path / "d.csv", delimiter=",", skiprows=1)[:, 1:3]
    np.testing.assert_allclose(drift, cli_drift, atol=1e-3)
    assert np.abs(drift - (truth - truth[0])).max() < 0.25


def _spectral(axes="TCYX"):
    series = spectral_series(frames=1)
    return {"TCYX": series, "CYX": series[0], "YX": series[0, 0]}[axes]


@pytest.mark.parametrize(
    "case,image,axes,spec,words",
    [
        ("unmix without channels", lambda: _spectral("YX"), "YX", {"task": "unmix", "spectra": ["EGFP"]}, "no channel axis"),
        ("unknown spectrum", lambda: _spectral("CYX"), "CYX", {"task": "unmix", "spectra": ["DAPI", "GFPX"]},
         "Unknown spectrum 'GFPX'; built-in spectra are DAPI"),
        ("two sources", lambda: _spectral("CYX"), "CYX", {"task": "unmix", "spectra": ["DAPI"], "blind": 2},
         "exactly one of spectra"),
        ("bands", lambda: _spectral("CYX"), "CYX", {"task": "unmix", "spectra": ["DAPI"], "bands_nm": [[430, 480], [500, 550]]},
         "2 bands but the image has 8 channels"),
        ("blind too many", lambda: _spectral("CYX"), "CYX", {"task": "unmix", "blind": 9}, "at most 8"),
        ("unmix extra field", lambda: _spectral("CYX"), "CYX", {"task": "unmix", "blind": 2, "colour": 1}, "colour"),
        ("register without time", lambda: _spectral("CYX"), "CYX", {"task": "register"}, "no time axis"),
        ("register channel", lambda: drifting_series(frames=2)[0], "TCYX", {"task": "register", "channel": 3},
         "channel=3 but the image has 2"),
        ("register reference", lambda: drifting_series(frames=2)[0], "TCYX", {"task": "register", "reference": "last"},
         "reference"),
        ("unknown task", lambda: _spectral("CYX"), "CYX", {"task": "stitch"}, "tasks this server runs: deconvolve, unmix, register"),
    ],
)
def test_bad_jobs_get_422_with_what_to_change(server, case, image, axes, spec, words):
    data = image()
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                        files={"image": ("in.tif", tiff_bytes(data, axes=axes), "image/tiff")})
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"], r.json()["detail"]


def test_unmix_refuses_a_psf_upload(server):
    with server.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps({"task": "unmix", "blind": 2})},
                        files={"image": ("in.tif", tiff_bytes(_spectral("CYX"), axes="CYX"), "image/tiff"),
                               "psf": ("psf.tif", tiff_bytes(np.ones((9, 9))), "image/tiff")})
    assert r.status_code == 422 and "takes no PSF" in r.json()["detail"]


def test_models_lists_every_job_type(server):
    with server.client() as client:
        methods = client.get("/v1/models").json()["methods"]
    assert methods["unmix"] == ["nnls", "nmf", "learned"] and methods["register"] == ["translation"]
    assert methods["deconvolve"] == ["rl", "rl-accel", "rltv", "wiener"]
