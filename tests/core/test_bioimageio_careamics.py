"""A package made by another tool: a tiny Noise2Void that CAREamics trained and exported to bioimage.io itself
(tests/data/careamics_n2v/, made by `make careamics-package`; provenance.json). Its weights are a PyTorch state
dict whose architecture is code in `careamics`, which fluorecon does not install: the import says so and
converts in a Python that has it (--python); here the committed conversion stands in (--onnx-weights), and
where the CAREamics bench venv exists the conversion itself runs. The imported model's prediction equals
bioimageio.core's own (computed with the PyTorch weights in the CAREamics venv) within 1e-4."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fluorecon.core.bioimageio import PackageError, import_package
from fluorecon.infer import predict

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "careamics_n2v"
PKG = DATA / "n2v_tiny.bioimageio.zip"
CONVERTED = DATA / "n2v_tiny.onnx"
CAREAMICS_PYTHON = ROOT / "bench" / "venvs" / "careamics" / "bin" / "python"
PROVENANCE = json.loads((DATA / "provenance.json").read_text())
PAD = PROVENANCE["pad"]


def assert_equals_bioimageio_core(model: Path) -> None:
    """fluorecon's prediction vs bioimageio.core's, in raw units (counts ~100-135): within 1e-4 counts
    (measured: 1.5e-5, float32's spacing at 100)."""
    image, expected_padded = np.load(DATA / "image.npy"), np.load(DATA / "expected_bioimageio_padded.npy")
    got = predict(image, model)  # one tile, reflect-padded by the card's halo (32 px) as bioimageio.core's input was
    tol = 1e-4
    np.testing.assert_allclose(got, expected_padded, atol=tol, rtol=0)
    # on the bare 128 x 128 export image, beyond the halo both see the same pixels
    export, expected = np.load(DATA / "export_image.npy"), np.load(DATA / "expected_bioimageio.npy")
    inner = (slice(PAD, -PAD),) * 2
    np.testing.assert_allclose(predict(export, model)[inner], expected[inner], atol=tol, rtol=0)


def test_careamics_package_imports_with_its_converted_weights(tmp_path):
    card = import_package(PKG, tmp_path / "n2v.onnx", onnx_weights=CONVERTED)
    mean, std = PROVENANCE["preprocessing"][1]["kwargs"]["mean"][0], PROVENANCE["preprocessing"][1]["kwargs"]["std"][0]
    assert card.task == "denoise" and card.norm == f"fixed:{mean!r}:{std + 1e-6!r}"
    gain, offset = (float(x) for x in card.denorm.split(":")[1:])
    assert card.denorm.startswith("linear:") and gain == pytest.approx(std, rel=1e-5) and offset == pytest.approx(mean)
    # CAREamics fixes the input size at its export example's; its UNet (depth 2) takes any multiple of 4
    assert (card.tile_multiple, card.tile_halo) == ((4, 4), (32, 32))
    assert "converted to ONNX from pytorch_state_dict" in card.train["weights"]
    assert_equals_bioimageio_core(tmp_path / "n2v.onnx")


def test_without_the_architecture_library_the_import_says_which_and_how(tmp_path):
    pytest.importorskip("torch")
    if __import__("importlib").util.find_spec("careamics"):
        pytest.skip("careamics is installed in this Python: the conversion would run here")
    from typer.testing import CliRunner

    from fluorecon.cli import app

    result = CliRunner().invoke(app, ["bioimageio", "import", str(PKG), str(tmp_path / "m.onnx")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "architecture careamics.models.unet.UNet is code in the library 'careamics'" in result.output
    assert "this Python lacks careamics" in result.output and "--python PATH" in result.output
    assert not (tmp_path / "m.onnx").exists()


def test_a_python_without_torch_is_named(tmp_path):
    bare = tmp_path / "bare"
    import venv

    venv.EnvBuilder(with_pip=False).create(bare)
    with pytest.raises(PackageError, match=f"Python {bare}/bin/python lacks torch, onnx and careamics"):
        import_package(PKG, tmp_path / "m.onnx", python=bare / "bin" / "python")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.skipif(not CAREAMICS_PYTHON.exists(), reason="no CAREamics venv (make careamics-package creates it)")
def test_conversion_in_the_careamics_python(tmp_path):
    card = import_package(PKG, tmp_path / "n2v.onnx", python=CAREAMICS_PYTHON)
    assert json.loads(card.train["weights"].split("(", 1)[1].rsplit(")", 1)[0])["torch"] == \
        PROVENANCE["versions"]["torch"]
    assert_equals_bioimageio_core(tmp_path / "n2v.onnx")


def _torchscript_package(tmp_path: Path, *, mean: float = 105.0, std: float = 8.0) -> Path:
    """A package with only torchscript weights (a small conv net scripted here), fixed mean/std in, scale_linear out."""
    import hashlib
    import io
    import zipfile

    import torch
    import yaml

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 3, padding=1))
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(net.eval()), buf)
    x = np.random.default_rng(2).poisson(20.0, (1, 1, 32, 40)).astype(np.float32) * 2 + 100
    with torch.no_grad():
        y = net(torch.from_numpy((x - mean) / (std + 1e-6))).numpy() * std + mean

    def npy(a):
        b = io.BytesIO()
        np.save(b, a.astype(np.float32))
        return b.getvalue()

    files = {"net.pt": buf.getvalue(), "in.npy": npy(x), "out.npy": npy(y), "doc.md": b"# torchscript denoiser\n"}
    sha = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    axes = [{"type": "batch"}, {"type": "channel", "channel_names": ["c"]}]
    rdf = {
        "format_version": "0.5.4", "type": "model", "name": "torchscript denoiser", "description": "hand-built",
        "authors": [{"name": "test"}], "cite": [{"text": "test", "url": "https://example.org"}], "license": "MIT",
        "documentation": "doc.md", "tags": ["denoising"],
        "inputs": [{"id": "raw", "axes": axes + [{"type": "space", "id": a, "size": {"min": 12, "step": 4}} for a in "yx"],
                    "test_tensor": {"source": "in.npy", "sha256": sha["in.npy"]}, "data": {"type": "float32"},
                    "preprocessing": [{"id": "fixed_zero_mean_unit_variance", "kwargs": {"mean": mean, "std": std}}]}],
        "outputs": [{"id": "den", "axes": axes + [{"type": "space", "id": a, "size": {"tensor_id": "raw", "axis_id": a},
                                                   "halo": 4} for a in "yx"],
                     "test_tensor": {"source": "out.npy", "sha256": sha["out.npy"]}, "data": {"type": "float32"},
                     "postprocessing": [{"id": "scale_linear", "kwargs": {"gain": std, "offset": mean}}]}],
        "weights": {"torchscript": {"source": "net.pt", "sha256": sha["net.pt"], "pytorch_version": "2.0"}},
    }
    pkg = tmp_path / "ts.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("rdf.yaml", yaml.safe_dump(rdf))
        for k, v in files.items():
            zf.writestr(k, v)
    return pkg


def test_torchscript_weights_convert_in_this_python(tmp_path):
    """No --python needed: torchscript holds its own code, torch is here."""
    pytest.importorskip("torch")
    core = pytest.importorskip("bioimageio.core")
    pkg = _torchscript_package(tmp_path)
    card = import_package(pkg, tmp_path / "ts.onnx")
    assert card.tile_halo == (4, 4) and "converted to ONNX from torchscript" in card.train["weights"]
    image = np.random.default_rng(4).poisson(25.0, (36, 44)).astype(np.float32) * 2 + 100
    ours = predict(image, tmp_path / "ts.onnx")
    padded = np.pad(image, 4, mode="reflect")
    theirs = np.asarray(core.predict(model=pkg, inputs={"raw": padded[None, None]}).members["den"].data)[0, 0, 4:-4, 4:-4]
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * float(np.ptp(theirs)), rtol=0)
