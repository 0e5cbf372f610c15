"""The train-like job on a real server (Fiji's Denoise › Train for my microscope…): it fits the simulation to the
uploaded frame, fine-tunes the shipped CARE model, saves it in the models folder where the server lists it, and
returns the frame denoised by it; the fitted camera and the OOD verdict before/after come back as values; a
frame without a pixel size and without pixel_size_nm is refused before it is queued; a cancel leaves no model. A
frame without visible shot noise fails with a message naming the job's camera fields (not the CLI's flags), and
trains with the camera's calibration given in them (used as given, recorded in the card). A bead stack whose focal
plane alone does not show it trains when sent whole (the camera from every plane, the rest from `plane` or the
brightest, named in the card); a plane outside the stack is refused before it is queued."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from server_helpers import tiff_bytes, wait_job

from fluorecon.core.io import read_tiff
from fluorecon.core.modelcard import read_card
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.infer import predict
from fluorecon.tasks.denoise.like import fit_camera
from like_helpers import bead_stack


def _frame(seed=2):
    return apply_noise(phantom((96, 96), seed=seed), CameraNoise(photons=60, gain=2.5, offset=100, read_noise_e=2),
                       seed=seed)


def _submit(server, image, spec, **tiff):
    with server.client() as client:
        return client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                           files={"image": ("frame.tif", tiff_bytes(image, **tiff), "image/tiff")})


def test_train_like_job_fits_installs_and_denoises(trainer, tmp_path):
    frame = _frame()
    spec = {"task": "train-like", "na": 1.2, "wavelength_nm": 520, "steps": 2, "name": "my scope"}
    r = _submit(trainer, frame, spec, pixel_size_um=0.09)
    assert r.status_code == 201, r.text
    with trainer.client() as client:
        job = wait_job(client, r.json()["id"], timeout=600)
        assert job["state"] == "succeeded", job
        (tmp_path / "server.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
        listed = [m["file"] for m in client.get("/v1/models").json()["models"]]
    model = Path(job["message"].split("model_file = ", 1)[1].strip())
    assert model == trainer.models_dir / "my_scope.onnx" and model.is_file() and model.with_suffix(".pt").is_file()
    assert "my_scope.onnx" in listed
    values = job["values"]
    assert values["model_file"] == str(model) and values["structure"]
    assert values["gain"] == pytest.approx(fit_camera(frame).gain)
    assert set(values["ood"]) == {"before", "after"} and "distance" in values["ood"]["after"]["scores"]
    card = read_card(model)
    assert card.name == "my scope" and card.train["fitted_pixel_size_source"] == "image calibration"
    assert card.train["pixel_size_nm"] == "90" and "features" in card.qc
    got, meta = read_tiff(tmp_path / "server.tif")
    assert "model.fitted = fitted to the uploaded image" in meta.info
    np.testing.assert_allclose(got, predict(frame, model, axes="YX"), atol=1e-4 * np.ptp(got))


def test_train_like_job_needs_a_pixel_size_and_the_optics(trainer):
    frame = _frame()
    with trainer.client() as client:
        r = client.post("/v1/jobs", data={"spec": json.dumps({"task": "train-like", "na": 1.2, "wavelength_nm": 520})},
                        files={"image": ("f.tif", _uncalibrated_tiff(frame), "image/tiff")})
    assert r.status_code == 422 and "no pixel size in its metadata" in r.text
    r = _submit(trainer, frame, {"task": "train-like", "wavelength_nm": 520})
    assert r.status_code == 422 and "na" in r.text


def _uncalibrated_tiff(image) -> bytes:
    import io

    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, image.astype(np.float32))
    return buf.getvalue()


def test_cancel_leaves_no_model(trainer):
    before = sorted(trainer.models_dir.rglob("*"))
    spec = {"task": "train-like", "na": 1.2, "wavelength_nm": 520, "steps": 100_000, "name": "never"}
    r = _submit(trainer, _frame(3), spec)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    with trainer.client() as client:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["message"].startswith("step ") or job["state"] not in ("queued", "running"):
                break
            time.sleep(0.1)
        assert job["state"] == "running" and job["message"].startswith("step "), job
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        job = wait_job(client, job_id, timeout=60)
    assert job["state"] == "cancelled", job
    assert sorted(trainer.models_dir.rglob("*")) == before


def test_train_like_job_fits_a_deconvolution_model(trainer, tmp_path):
    """model_task = deconvolve: the shipped learned deconvolution model is fine-tuned and applied to the frame."""
    frame = _frame(4)
    spec = {"task": "train-like", "model_task": "deconvolve", "na": 1.3, "wavelength_nm": 560, "steps": 2,
            "name": "my deconv"}
    r = _submit(trainer, frame, spec, pixel_size_um=0.08)
    assert r.status_code == 201, r.text
    with trainer.client() as client:
        job = wait_job(client, r.json()["id"], timeout=600)
        assert job["state"] == "succeeded", job
        (tmp_path / "server.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    model = Path(job["values"]["model_file"])
    assert model == trainer.models_dir / "my_deconv.onnx" and job["values"]["model_task"] == "deconvolve"
    card = read_card(model)
    assert card.task == "deconvolve" and "care_deconvolve_2d.onnx" in card.train["fine_tuned_from"]
    assert '"na":1.3' in card.train["psf"] and card.train["pixel_size_nm"] == "80"
    got, meta = read_tiff(tmp_path / "server.tif")
    assert "output: the uploaded image restored by the new model (deconvolve)" in meta.info
    np.testing.assert_allclose(got, predict(frame, model, axes="YX"), atol=1e-4 * np.ptp(got))


def _read_noise_only_frame():
    """A frame whose noise does not grow with intensity (a ramp with Gaussian read noise): no gain to measure."""
    x = np.mgrid[0:96, 0:96][1]
    return (100 + 60 * x / 96 + np.random.default_rng(0).normal(0, 3, (96, 96))).astype(np.float32)


def test_train_like_job_takes_the_camera_calibration_when_the_frame_cannot_show_it(trainer):
    frame = _read_noise_only_frame()
    spec = {"task": "train-like", "na": 1.2, "wavelength_nm": 520, "steps": 1, "name": "calibrated"}
    with trainer.client() as client:
        job = wait_job(client, _submit(trainer, frame, spec, pixel_size_um=0.1).json()["id"], timeout=600)
        assert job["state"] == "failed", job
        message = job["message"]
        assert "does not grow with intensity clearly enough to measure the camera gain" in message
        assert ("the camera's calibration: gain (ADU per photon), background (camera offset, ADU) and read_noise_e "
                "(electrons) in the train-like job (Fiji: gain=, background=, read_noise_e= in Train for my "
                "microscope…)") in message
        assert "--gain" not in message and "give the whole stack, or" in message  # the job's fields, no CLI flags
        for bad in ({"gain": 0}, {"read_noise_e": -1}, {"background": "dark"}):
            r = _submit(trainer, frame, {**spec, **bad}, pixel_size_um=0.1)
            assert r.status_code == 422 and next(iter(bad)) in r.text, r.text
        r = _submit(trainer, frame, {**spec, "gain": 2.5, "background": 100, "read_noise_e": 1.2}, pixel_size_um=0.1)
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"], timeout=600)
    assert job["state"] == "succeeded", job
    values = job["values"]
    assert (values["gain"], values["offset"], values["read_noise_e"]) == (2.5, 100, 1.2)
    card = read_card(Path(values["model_file"]))
    assert card.train["fitted_camera"] == "given (camera calibration)"
    assert (card.train["fitted_gain"], card.train["fitted_offset"], card.train["fitted_read_noise_e"]) == (
        "2.5", "100", "1.2")


def test_train_like_job_takes_a_stack_where_one_plane_is_refused(trainer, tmp_path):
    stack = bead_stack(0)
    spec = {"task": "train-like", "model_task": "deconvolve", "na": 1.1, "wavelength_nm": 520, "steps": 1,
            "name": "beads"}
    with trainer.client() as client:
        job = wait_job(client, _submit(trainer, stack[10], spec).json()["id"], timeout=600)
        assert job["state"] == "failed" and "no shot noise found" in job["message"], job
        r = _submit(trainer, stack, {**spec, "plane": 21}, axes="ZYX", z_step_um=0.2)
        assert r.status_code == 422 and "The stack has 21 planes (0–20); plane 21 does not exist." in r.text, r.text
        r = _submit(trainer, stack, spec, axes="ZYX", z_step_um=0.2)
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"], timeout=600)
        assert job["state"] == "succeeded", job
        (tmp_path / "server.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    model = Path(job["values"]["model_file"])
    train = read_card(model).train
    # The brightest plane is the bead's focus (plane 10), as the CLI picks it; the gain is the camera's (2 ADU/photon).
    assert train["fitted_to"] == "the uploaded image (plane 10 of 21)" and "21 planes of the stack" in train["fitted_camera"]
    assert float(train["fitted_gain"]) == pytest.approx(2.0, rel=0.12)
    got, meta = read_tiff(tmp_path / "server.tif")
    assert meta.axes == "YX" and "output: the uploaded image (plane 10) restored" in meta.info
    np.testing.assert_allclose(got, predict(stack[10], model, axes="YX"), atol=1e-4 * np.ptp(got))

