"""The ``fuse`` job on a real server: two orthogonal views uploaded as channels fuse into the same
stack as ``fluorecon fuse`` and are more isotropic than one view; bad input gets a 422 that says
what to change; a running fusion can be cancelled."""

import json

import numpy as np
import pytest
import torch
from server_helpers import Hold, tiff_bytes, wait_job
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.imaging.forward import Blur
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.tasks.fuse import classical as FU
from fluorecon.tasks.deconvolve.classical import PSFParams, richardson_lucy

OPTICS = {"na": 0.8, "wavelength_nm": 520, "ni": 1.33}
SPEC = {"task": "fuse", "num_iter": 12, "psf": OPTICS, "view_axes": ["z", "x"], "sheet_fwhm_nm": 1500, "align": False}


def _orthogonal_views(shape=(20, 32, 32), seed=1):
    truth = phantom(shape, kind="vesicles", seed=seed)
    psfs = [FU.view_psf(shape, (200, 200, 200), a, PSFParams(**OPTICS), sheet_fwhm_nm=1500) for a in "zx"]
    camera = CameraNoise(photons=200, offset=0, read_noise_e=0)
    views = [apply_noise(Blur(p, image_shape=shape, device="cpu").A(torch.from_numpy(truth)).numpy(), camera, seed=i)
             / 200 for i, p in enumerate(psfs)]
    return truth, np.stack(views), psfs


def _submit(client, image, axes, spec, psf=None):
    files = {"image": ("views.tif", tiff_bytes(image, axes=axes, pixel_size_um=0.2, z_step_um=0.2), "image/tiff")}
    if psf is not None:
        files["psf"] = ("psf.tif", tiff_bytes(psf, axes="ZCYX"), "image/tiff")
    return client.post("/v1/jobs", data={"spec": json.dumps(spec)}, files=files)


def test_fuse_job_equals_cli_and_improves_isotropy(server, tmp_path):
    truth, views, psfs = _orthogonal_views()
    zcyx = np.ascontiguousarray(np.moveaxis(views, 0, 1))  # ImageJ's hyperstack order
    with server.client() as client:
        r = _submit(client, zcyx, "ZCYX", SPEC)
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        assert "shifts_px = " in job["message"]
        assert job["values"]["shifts_px"] == json.loads(job["message"].split("shifts_px = ")[1])
        assert len(job["values"]["shifts_px"]) == 2 and job["values"]["shifts_px"][0] == [0.0, 0.0, 0.0]
        (tmp_path / "server.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    fused, meta = read_tiff(tmp_path / "server.tif")
    assert meta.axes == "ZYX" and fused.shape == truth.shape and meta.pixel_size_um == pytest.approx(0.2)
    assert "multiview-RL" in meta.info

    write_tiff(tmp_path / "views.tif", zcyx, TiffMeta(axes="ZCYX", pixel_size_um=0.2, z_step_um=0.2))
    result = CliRunner().invoke(app, ["fuse", str(tmp_path / "views.tif"), str(tmp_path / "cli.tif"), "--na", "0.8",
                                      "--wavelength-nm", "520", "--ni", "1.33", "--view-axes", "z,x",
                                      "--sheet-fwhm-nm", "1500", "--num-iter", "12", "--no-register"])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(fused, read_tiff(tmp_path / "cli.tif")[0], rtol=1e-4, atol=1e-6 * fused.max())

    def axial_over_lateral(x):
        return (FU.directional_correlation(x, truth, axis=0)[3:11].mean()
                / FU.directional_correlation(x, truth, axis=1)[3:11].mean())

    single = richardson_lucy(views[0], psfs[0], num_iter=24, device="cpu")
    assert axial_over_lateral(fused) > 0.8 > axial_over_lateral(single), (axial_over_lateral(fused),
                                                                         axial_over_lateral(single))


def test_fuse_job_with_an_uploaded_psf_stack(server, tmp_path):
    truth, views, psfs = _orthogonal_views(shape=(16, 24, 24), seed=2)
    psf_stack = np.zeros((2, *truth.shape), np.float32)
    for i, p in enumerate(psfs):  # pad each PSF to one shape, centred
        cut = tuple(slice((n - k) // 2, (n - k) // 2 + k) for n, k in zip(truth.shape, p.shape))
        psf_stack[(i, *cut)] = p
    spec = {"task": "fuse", "num_iter": 5, "align": False}
    with server.client() as client:
        r = _submit(client, np.moveaxis(views, 0, 1), "ZCYX", spec, psf=np.moveaxis(psf_stack, 0, 1))
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        (tmp_path / "out.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    expected = FU.fuse_multiview(list(views), [p / p.sum() for p in psf_stack], num_iter=5, device="cpu")
    np.testing.assert_allclose(read_tiff(tmp_path / "out.tif")[0], expected, rtol=1e-4, atol=1e-6 * expected.max())


@pytest.mark.parametrize("image,axes,spec,words", [
    (np.ones((16, 32, 32)), "ZYX", SPEC, "two or more views as channels"),
    (np.ones((16, 2, 32, 32)), "ZCYX", {**SPEC, "view_axes": ["z"]}, "one axis per view"),
    (np.ones((16, 2, 32, 32)), "ZCYX", {"task": "fuse"}, "No PSFs"),
    (np.ones((2, 32, 32)), "CYX", SPEC, "upload one PSF per view"),
])
def test_bad_fuse_jobs_get_422_with_what_to_change(server, image, axes, spec, words):
    with server.client() as client:
        r = _submit(client, image, axes, spec)
    assert r.status_code == 422 and words in r.text, r.text


def test_fuse_job_can_be_cancelled(server):
    views = np.random.default_rng(0).random((24, 2, 48, 48)).astype(np.float32)
    with Hold() as hold, server.client() as client:
        r = _submit(client, views, "ZCYX", {**SPEC, "num_iter": 5})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        assert hold.wait_held() == job_id  # running, 1 of 5 iterations done, and it cannot finish
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        job = wait_job(client, job_id)
        assert job["state"] == "cancelled", job
