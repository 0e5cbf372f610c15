"""The qc job type on a real server: the pair (input, result) uploaded as two channels gives the
same consistency maps, figures and warnings as `fluorecon qc`; a bad pair gets a 422 in words."""

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from server_helpers import tiff_bytes, wait_job
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff

ROOT = Path(__file__).resolve().parents[2]
DENOISER = ROOT / "models" / "care_denoise_2d.onnx"


def noisy_pair(shape=(64, 72), seed=3):
    """Poisson input over a background and a smoothed 'result' in the input's units."""
    from fluorecon.imaging.phantoms import phantom

    rng = np.random.default_rng(seed)
    truth = ndimage.gaussian_filter(phantom(shape, seed=seed), 1.5) * 300 + 20
    image = (rng.poisson(truth) + 100).astype(np.uint16)
    result = (ndimage.gaussian_filter(image.astype(np.float32), 1.0)).astype(np.float32)
    return image, result


def summary_of(job: dict) -> dict:
    return json.loads(job["message"].split("qc = ", 1)[1])


def _submit(server, pair: np.ndarray, axes: str, spec: dict):
    with server.client() as client:
        return client.post("/v1/jobs", data={"spec": json.dumps(spec)},
                           files={"image": ("pair.tif", tiff_bytes(pair, axes=axes), "image/tiff")})


@pytest.mark.parametrize("with_model", [False, True])
def test_qc_job_equals_cli(server, tmp_path, with_model):
    image, result = noisy_pair()
    write_tiff(tmp_path / "in.tif", image, TiffMeta(axes="YX", pixel_size_um=0.1))
    write_tiff(tmp_path / "res.tif", result, TiffMeta(axes="YX", pixel_size_um=0.1))
    model = ["--model", DENOISER] if with_model else []
    out = CliRunner().invoke(app, [str(a) for a in ("qc", tmp_path / "in.tif", tmp_path / "res.tif",
                                                       "--out", tmp_path / "cli", *model)])
    assert out.exit_code == 0, out.output
    expected = json.loads((tmp_path / "cli" / "qc.json").read_text())

    spec = {"task": "qc", **({"model_file": str(DENOISER)} if with_model else {})}
    r = _submit(server, np.stack([image.astype(np.float32), result]), "CYX", spec)
    assert r.status_code == 201, r.text
    with server.client() as client:
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        (tmp_path / "server.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    maps, meta = read_tiff(tmp_path / "server.tif")
    # a denoiser's model_file adds the re-noise disagreement and invented-detail maps (fluorecon.qc.disagreement),
    # as `qc --model`
    assert meta.axes == "CYX" and maps.shape == (4 if with_model else 2, *image.shape)
    assert meta.pixel_size_um == pytest.approx(0.1)
    assert ("channels = consistency,consistency_local,disagreement,invented\n" if with_model
            else "channels = consistency,consistency_local\n") in meta.info
    np.testing.assert_allclose(maps[0], tifffile.imread(tmp_path / "cli" / "consistency.tif"), atol=1e-5)
    np.testing.assert_allclose(maps[1], tifffile.imread(tmp_path / "cli" / "consistency_local.tif"), atol=1e-5)
    assert (tmp_path / "cli" / "disagreement.tif").is_file() == with_model
    if with_model:
        np.testing.assert_allclose(maps[2], tifffile.imread(tmp_path / "cli" / "disagreement.tif"), atol=1e-4)
        np.testing.assert_allclose(maps[3], tifffile.imread(tmp_path / "cli" / "invented.tif"), atol=1e-4)
        assert summary_of(job)["invented"]["regions"] == expected["invented"]["regions"]
        assert summary_of(job)["disagreement"]["flagged_fraction"] == pytest.approx(
            expected["disagreement"]["flagged_fraction"], abs=1e-4)

    summary = json.loads(job["message"].split("qc = ", 1)[1])
    assert summary["warnings"] == expected["warnings"]
    for key in ("residual_mean", "residual_std", "local_max_abs", "local_flagged_fraction"):
        assert summary[key] == pytest.approx(expected[key], abs=1e-6), key
    assert summary["lag1_autocorrelation"] == pytest.approx(expected["lag1_autocorrelation"], abs=1e-6)
    assert ("ood" in summary) == with_model
    # Smoothing by 1 px leaves mostly the noise in the residual: std near 1, as the noise model says.
    assert 0.8 < summary["residual_std"] < 1.3


def test_qc_job_refuses_a_single_channel_and_a_missing_model(server, tmp_path):
    image, result = noisy_pair()
    r = _submit(server, image.astype(np.float32), "YX", {"task": "qc"})
    assert r.status_code == 422
    assert "takes the input and the result as 2 channels" in r.text
    r = _submit(server, np.stack([image.astype(np.float32), result]), "CYX",
                {"task": "qc", "model_file": str(tmp_path / "nope.onnx")})
    assert r.status_code == 422
    assert "is not an .onnx file on the server's machine" in r.text


def test_qc_job_checks_a_super_resolved_result_through_the_forward_model(server, tmp_path):
    """scale = [2, 2]: channel 1 is the input repeated ×2; the maps (input's size) equal check_superres."""
    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import Predictor
    from fluorecon.tasks.upsample.learned import UpsampleSimulation, check_superres, simulate_pairs

    upsampler = ROOT / "models" / "care_upsample2x_2d.onnx"
    low = simulate_pairs(UpsampleSimulation(ndim=2, factor=2, shape=(64, 64), seed=8), n=1)[0].low
    result = Predictor(upsampler, threads=1).predict(low)
    expected = check_superres(low, result, card=read_card(upsampler))
    repeated = np.repeat(np.repeat(low, 2, axis=0), 2, axis=1)
    spec = {"task": "qc", "model_file": str(upsampler), "scale": [2, 2]}
    r = _submit(server, np.stack([repeated, result]), "CYX", spec)
    assert r.status_code == 201, r.text
    with server.client() as client:
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        (tmp_path / "server.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    maps, _ = read_tiff(tmp_path / "server.tif")
    assert maps.shape == (2, 32, 32)
    np.testing.assert_allclose(maps[0], expected.consistency, atol=1e-5)
    assert json.loads(job["message"].split("qc = ", 1)[1])["forward_model"]["factor"] == [2, 2]

    r = _submit(server, np.stack([repeated, result]), "CYX", {"task": "qc", "scale": [2, 2]})
    assert r.status_code == 422 and "give model_file = that model" in r.text
    shifted = np.roll(repeated, 1, axis=1)
    r = _submit(server, np.stack([shifted, result]), "CYX", {**spec})
    assert r.status_code == 422 and "is not the input repeated [2, 2]" in r.text


# --- train-denoise ----------------------------------------------------------------------------------


def test_train_denoise_job_saves_a_model_and_returns_its_prediction(trainer, tmp_path):
    from fluorecon.core.modelcard import read_card
    from fluorecon.infer import predict

    image, _ = noisy_pair(shape=(64, 64), seed=11)
    spec = {"task": "train-denoise", "method": "n2v", "steps": 5, "name": "my n2v"}
    r = _submit(trainer, image.astype(np.float32), "YX", spec)
    assert r.status_code == 201, r.text
    with trainer.client() as client:
        job = wait_job(client, r.json()["id"], timeout=300)
        assert job["state"] == "succeeded", job
        (tmp_path / "server.tif").write_bytes(client.get(f"/v1/jobs/{job['id']}/result").content)
    model = Path(job["message"].split("model_file = ", 1)[1].strip())
    assert job["values"]["model_file"] == str(model) and job["values"]["model_name"] == "my n2v"
    assert model.name == "my_n2v.onnx" and model.is_file() and model.with_suffix(".pt").is_file()
    assert model.parent == trainer.models_dir
    with trainer.client() as client:  # listed like any installed model
        assert "my_n2v.onnx" in [m["file"] for m in client.get("/v1/models").json()["models"]]
    card = read_card(model)
    assert (card.task, card.method, card.name) == ("denoise", "n2v", "my n2v")
    assert card.train["steps"] == "5" and card.train["images"] == "1"
    got, meta = read_tiff(tmp_path / "server.tif")
    assert got.shape == image.shape and f"model_file = {model}" in meta.info
    expected = predict(image.astype(np.float32), model, axes="YX")
    np.testing.assert_allclose(got, expected, atol=1e-4 * np.ptp(expected))


def test_train_denoise_refuses_a_3d_model_for_a_plane_and_tiny_images(server):
    image, _ = noisy_pair(shape=(64, 64))
    r = _submit(server, image.astype(np.float32), "YX", {"task": "train-denoise", "ndim": 3})
    assert r.status_code == 422 and "ndim=3 needs a z-stack" in r.text
    r = _submit(server, image[:16, :16].astype(np.float32), "YX", {"task": "train-denoise"})
    assert r.status_code == 422 and "training needs at least 32 x 32" in r.text
