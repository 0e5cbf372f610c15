"""Local-path jobs on the real server (issue 15 §3): a file too large to upload (this server takes 1 MB uploads)
is named by path with the token; the job runs block by block and writes the output path, equal to the CLI's
result; bad paths get a 4xx that says what to fix, before anything is queued."""

import json
import os
from pathlib import Path
import stat

import numpy as np
import pytest
from server_helpers import Hold, tiff_bytes, wait_job

from fluorecon.core.io import TiffMeta, read_image, write_image
from fluorecon.core.streaming import open_lazy
from fluorecon.tasks.denoise.streaming import denoise_image

META = TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.3)
SPEC = {"task": "denoise-classical", "method": "nlm"}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("local")
    volume = (np.random.default_rng(2).poisson(30, (4, 256, 256)) + 50).astype(np.float32)  # 1 MB: over the limit
    write_image(folder / "in.tif", volume, META)
    return folder, volume


def run_local(server, spec: dict, source: Path, out: Path) -> dict:
    """Submit a local-path job and wait for it to succeed; the finished job."""
    with server.client() as client:
        r = client.post("/v1/jobs/local", json={"spec": spec, "input_path": str(source), "output_path": str(out)})
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded", job["message"]
    return job


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_local_job_writes_the_output_path(server, big, suffix):
    folder, volume = big
    out = folder / f"out{suffix}"
    job = run_local(server, SPEC, folder / "in.tif", out)
    assert job["values"] == {"output_path": str(out)} and job["result_url"] is None
    result, meta = read_image(out)
    np.testing.assert_array_equal(result, denoise_image(volume, META, "nlm"))
    assert meta.z_step_um == pytest.approx(0.3)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary store left


def test_local_deconvolution_job(server, big):
    from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, PSFParams
    from fluorecon.tasks.deconvolve.streaming import deconvolve_to_zarr

    folder, _ = big
    spec = {"task": "deconvolve", "method": "rl", "num_iter": 2, "psf": {"na": 1.2, "wavelength_nm": 520}}
    run_local(server, spec, folder / "in.tif", folder / "dec.zarr")
    with open_lazy(folder / "in.tif") as (data, meta):  # the server's block plan (64-px 3D blocks), here
        deconvolve_to_zarr(data, meta, DeconvolveSpec(method="rl", num_iter=2, psf=PSFParams(na=1.2, wavelength_nm=520)),
                           folder / "ref.zarr", chunks=64, device="cpu")
    a, b = read_image(folder / "dec.zarr")[0], read_image(folder / "ref.zarr")[0]
    assert np.abs(a - b).max() <= 1e-5 * np.ptp(b)


def test_bad_local_paths_get_4xx(server, big, tmp_path):
    folder, _ = big
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, stat.S_IRUSR | stat.S_IXUSR)
    unreadable = tmp_path / "secret.tif"
    unreadable.write_bytes((folder / "in.tif").read_bytes())
    os.chmod(unreadable, 0)
    (tmp_path / "notes.txt").write_text("not an image")
    inp, out = str(folder / "in.tif"), str(tmp_path / "o.zarr")
    cases = [
        (SPEC, "in.tif", out, 422, "must be an absolute path"),
        (SPEC, str(tmp_path / "missing.tif"), out, 422, "does not exist"),
        (SPEC, str(tmp_path / "notes.txt"), out, 422, "input_path: notes.txt is not a TIFF"),
        (SPEC, inp, str(tmp_path / "nowhere" / "o.zarr"), 422, "does not exist; create it first"),
        (SPEC, inp, inp, 422, "output_path is the input itself"),
        (SPEC, inp, str(tmp_path / "o.png"), 422, "must end in .zarr"),
        ({"task": "register"}, inp, out, 422, "local paths work for deconvolve, denoise-classical"),
    ]
    if os.geteuid() != 0:  # root reads and writes everything: no 403 to see
        cases += [(SPEC, str(unreadable), out, 403, "is not readable by the user running the server"),
                  (SPEC, inp, str(locked / "o.zarr"), 403, "is not writable by the user running the server")]
    with server.client() as client:
        for spec, source, target, status, words in cases:
            r = client.post("/v1/jobs/local", json={"spec": spec, "input_path": source, "output_path": target})
            assert r.status_code == status and words in r.json()["detail"], (words, r.status_code, r.text)
        import httpx

        r = httpx.post(f"{server.url}/v1/jobs/local", json={"spec": SPEC, "input_path": inp, "output_path": out})
        assert r.status_code == 401
    os.chmod(locked, stat.S_IRWXU)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked", "notes.txt", "secret.tif"]


def test_permission_refusals_are_403(tmp_path, monkeypatch):
    """The 403 branches, in process: this machine runs the suite as root, whom os.access never refuses, so
    os.access is replaced by one that refuses the named path (the only stand-in in this file)."""
    from fluorecon.server.local import LocalPathRefused, check_local_paths

    write_image(tmp_path / "in.tif", np.ones((16, 16), np.float32), TiffMeta(axes="YX"))
    (tmp_path / "out").mkdir()
    for refused, words in ((tmp_path / "in.tif", "input_path: "), (tmp_path / "out", "output_path: the folder")):
        monkeypatch.setattr(os, "access", lambda path, mode, refused=refused: Path(path) != refused)
        with pytest.raises(LocalPathRefused, match=words) as err:
            check_local_paths(str(tmp_path / "in.tif"), str(tmp_path / "out" / "o.zarr"))
        assert err.value.status == 403


MODEL = Path(__file__).resolve().parents[1] / "vectors" / "tiny_unet2d.onnx"


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_local_predict_job_equals_fluorecon_predict(server, big, suffix):
    """A carded model file on a local file: the output equals `fluorecon predict`'s in-memory result."""
    from fluorecon.infer import get_predictor

    folder, volume = big
    out = folder / f"pred{suffix}"
    spec = {"task": "predict", "model_file": str(MODEL), "tile": 128}
    job = run_local(server, spec, folder / "in.tif", out)
    assert job["values"] == {"output_path": str(out)}
    result, meta = read_image(out)
    reference = get_predictor(MODEL).predict(volume, axes="ZYX", tile=128)
    assert np.abs(result - reference).max() <= 1e-6 * np.ptp(reference)
    assert meta.axes == "ZYX" and meta.z_step_um == pytest.approx(0.3) and "model.sha256" in meta.info


def test_bad_predict_specs_get_422(server, big, tmp_path):
    folder, _ = big
    inp, out = str(folder / "in.tif"), str(tmp_path / "p.zarr")
    (tmp_path / "fake.onnx").write_bytes(b"not a model")
    cases = [({"task": "predict", "model_file": "tiny.onnx"}, "model_file must be an absolute path"),
             ({"task": "predict", "model_file": str(tmp_path / "none.onnx")}, "does not exist"),
             ({"task": "predict", "model_file": str(tmp_path / "fake.onnx")}, "fake.onnx is not a fluorecon model")]
    with server.client() as client:
        for spec, words in cases:
            r = client.post("/v1/jobs/local", json={"spec": spec, "input_path": inp, "output_path": out})
            assert r.status_code == 422 and words in r.json()["detail"], (words, r.status_code, r.text)
        r = client.post("/v1/jobs", data={"spec": json.dumps({"task": "predict", "model_file": str(MODEL)})},
                        files={"image": ("in.tif", tiff_bytes(np.ones((16, 16), np.float32)), "image/tiff")})
        assert r.status_code == 422 and "POST /v1/jobs/local" in r.json()["detail"], r.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.onnx"]


def test_local_predict_job_reports_progress_and_cancels(server, big, tmp_path):
    """Cancelled between blocks: the job ends 'cancelled' and neither the output nor its temporary store is left."""
    folder, _ = big
    spec = {"task": "predict", "model_file": str(MODEL), "tile": 128}
    with Hold() as hold, server.client() as client:
        r = client.post("/v1/jobs/local", json={"spec": spec, "input_path": str(folder / "in.tif"),
                                                "output_path": str(tmp_path / "never.zarr")})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        assert hold.wait_held() == job_id  # running, its first block done, and it cannot finish
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] == "running" and 0 < job["progress"] < 1, job
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        assert wait_job(client, job_id)["state"] == "cancelled"
    assert list(tmp_path.iterdir()) == []
