"""bioimage.io packages: every shipped model (image-to-image, SIM, SMLM, unmixing, registration, light field)
exports and passes bioimageio.core's own test_model; a package's pre-processing and channel order reproduce
fluorecon's own pipeline (registration); models whose card cannot be described are refused with the reason;
export → import → predict reproduces fluorecon's prediction, and a non-image-to-image export is refused at import;
a package with another layout and CAREamics-style pre/post-processing imports and matches bioimageio.core's
prediction; unsupported processing is named."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from fluorecon.core.bioimageio import PackageError, export_package, import_package, not_exportable
from fluorecon.core.modelcard import read_card, write_card
from fluorecon.infer import predict

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted((ROOT / "models").glob("*.onnx"))
SAMPLE = ROOT / "python" / "fluorecon" / "data" / "sample_noisy_2d.tif"

try:  # the [bioimageio] extra; `make setup` installs it with the test extra
    import bioimageio.core as bioimageio_core
except ImportError:  # pragma: no cover - depends on the environment
    bioimageio_core = None
needs_core = pytest.mark.skipif(bioimageio_core is None, reason="bioimageio.core is not installed "
                                "(pip install 'fluorecon[bioimageio]')")


def _failures(summary) -> list:
    return [(d.name, [(e.loc, e.msg[:300]) for e in d.errors]) for d in summary.details if d.status != "passed"]


def test_every_shipped_model_is_exportable():
    assert len(MODELS) == 13 and {read_card(m).task for m in MODELS} == {
        "denoise", "upsample", "isotropic", "deconvolve", "crossmodal", "localize", "sim", "unmix", "register",
        "lightfield"}
    assert {m.stem: not_exportable(read_card(m)) for m in MODELS} == {m.stem: None for m in MODELS}


@needs_core
@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_export_passes_bioimageio_test_model(model, tmp_path):
    out = tmp_path / f"{model.stem}.zip"
    rdf = export_package(model, out)
    summary = bioimageio_core.test_model(out)
    assert summary.status == "passed", _failures(summary)
    assert any("Reproduce test outputs" in d.name for d in summary.details)  # the network ran, not just the schema
    names = set(zipfile.ZipFile(out).namelist())
    assert {"rdf.yaml", "model.onnx", "test_input.npy", "test_output.npy", "cover.png", "README.md"} <= names
    card = read_card(model)
    assert rdf["config"]["fluorecon"]["card"]["task"] == card.task
    assert [c.get("doi") for c in rdf["cite"]][0] == "10.1038/s41592-019-0458-z"  # the review, then the method
    assert len(rdf["cite"]) >= 2 and all(c.get("doi") or c.get("url") for c in rdf["cite"])
    (inp,), (outp,) = rdf["inputs"], rdf["outputs"]
    channels = [[a for a in t["axes"] if a["type"] == "channel"][0]["channel_names"] for t in (inp, outp)]
    assert [len(c) for c in channels] == [card.channels_in, card.channels_out]
    space_out = [a for a in outp["axes"] if a["type"] == "space"]
    assert [a.get("halo") for a in space_out] == [h * s for h, s in zip(card.tile_halo, card.scale)]
    (pre,) = inp["preprocessing"]
    if card.norm.startswith("photons:"):  # SMLM: network input = photons / 100
        assert pre == {"id": "scale_linear", "kwargs": {"gain": 0.01, "offset": 0.0}}
    else:  # one percentile pair over the whole sample, all channels jointly
        assert pre["id"] == "scale_range" and pre["kwargs"]["axes"] == \
            (["channel"] if card.channels_in > 1 else []) + ["z", "y", "x"][-card.ndim:]
    readme = zipfile.ZipFile(out).read("README.md").decode()
    assert all(k in readme for k in card.metrics) and all(k in readme for k in card.train)


@needs_core
def test_register_package_reproduces_fluorecons_registration(tmp_path):
    """The package's input (moving, fixed) with its joint scale_range gives the displacement field that
    fluorecon's own register_learned gives: channel order, normalisation scope and output units all agree."""
    from fluorecon.imaging.phantoms import phantom
    from fluorecon.tasks.register.learned import register_learned

    model = ROOT / "models" / "register_deform_2d.onnx"
    export_package(model, tmp_path / "register.zip")
    rng = np.random.default_rng(7)
    fixed = (rng.poisson(40.0 * phantom((128, 128), kind="mixed", seed=3) + 3.0) * 2.0 + 100.0).astype(np.float32)
    moving = np.roll(fixed, (1, -2), axis=(0, 1)) + rng.normal(0.0, 2.0, fixed.shape).astype(np.float32)
    # bioimageio.core pads the sample by the halo (symmetric) before its scale_range and crops the output:
    # fluorecon on the same padded pair agrees
    halo = read_card(model).tile_halo[0]
    pad = lambda a: np.pad(a, halo, mode="symmetric")  # noqa: E731
    ours = register_learned(pad(fixed), pad(moving), model)[:, halo:-halo, halo:-halo]
    sample = bioimageio_core.predict(model=tmp_path / "register.zip",
                                     inputs={"input": np.stack([moving, fixed])[None]})
    theirs = np.asarray(sample.members["output"].data)[0]
    assert np.abs(ours).max() > 0.5  # a real shift was found, not a zero field
    np.testing.assert_allclose(theirs, ours, atol=1e-4 * float(np.abs(ours).max()), rtol=0)


@pytest.mark.parametrize("update, reason", [
    ({"outputs": "mean,scale", "channels_out": 2}, "it also predicts an uncertainty"),
    ({"norm": "zscore"}, "its normalisation 'zscore' has no bioimage.io pre-processing"),
])
def test_undescribable_cards_are_refused_with_the_reason(update, reason, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes((ROOT / "models" / "care_denoise_2d.onnx").read_bytes())
    write_card(model, read_card(model).model_copy(update=update))
    out = tmp_path / "x.zip"
    with pytest.raises(PackageError, match=f"cannot be a bioimage.io package: {reason}"):
        export_package(model, out)
    assert not out.exists()


def test_import_refuses_a_non_image_to_image_export(tmp_path):
    export_package(ROOT / "models" / "sim_2d_3frames.onnx", tmp_path / "sim.zip")
    with pytest.raises(PackageError, match="is a fluorecon 'sim' model, not image-to-image; fluorecon imports "
                                           "image-to-image packages"):
        import_package(tmp_path / "sim.zip", tmp_path / "sim.onnx")
    assert not (tmp_path / "sim.onnx").exists()


@pytest.mark.parametrize("stem", ["care_denoise_2d", "care_upsample2x_2d", "care_denoise_3d"])
def test_round_trip_export_import_predict(stem, tmp_path):
    model = ROOT / "models" / f"{stem}.onnx"
    export_package(model, tmp_path / "pkg.zip")
    imported = import_package(tmp_path / "pkg.zip", tmp_path / "imported.onnx")
    original = read_card(model)
    assert (imported.task, imported.norm, imported.denorm, imported.scale, imported.tile_halo) == \
        (original.task, original.norm, "input", original.scale, original.tile_halo)
    if original.ndim == 2:
        image = tifffile.imread(SAMPLE)[:96, :80]
    else:
        image = np.random.default_rng(3).poisson(30.0, (20, 40, 36)).astype(np.float32)
    tile = None if original.ndim == 3 else 64  # 2D: several tiles, the imported card tiles as the original does
    want = predict(image, model, tile=tile)
    got = predict(image, tmp_path / "imported.onnx", tile=tile)
    np.testing.assert_allclose(got, want, atol=1e-4 * float(np.abs(want).max()), rtol=0)


def _foreign_package(tmp_path: Path, *, mean: float = 110.0, std: float = 12.5) -> Path:
    """A package as CAREamics writes them (fixed mean/std in, scale_linear back out) but with channel-last axes
    (b, y, x, c) and no halo, built around the shipped CARE network."""
    import onnx
    from onnx import helper

    proto = onnx.load(str(ROOT / "models" / "care_denoise_2d.onnx"))
    del proto.metadata_props[:]
    g = proto.graph
    old_in, old_out = g.input[0].name, g.output[0].name
    for node in g.node:
        node.input[:] = ["net_in" if n == old_in else n for n in node.input]
    g.node.insert(0, helper.make_node("Transpose", ["image"], ["net_in"], perm=[0, 3, 1, 2]))
    g.node.append(helper.make_node("Transpose", [old_out], ["restored"], perm=[0, 2, 3, 1]))
    del g.input[0]
    g.input.insert(0, helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["b", "y", "x", 1]))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("restored", onnx.TensorProto.FLOAT, ["b", "y", "x", 1]))
    weights = proto.SerializeToString()
    rng = np.random.default_rng(5)
    x = (rng.poisson(20.0, (1, 64, 48, 1)) * 2.0 + 100.0).astype(np.float32)
    import onnxruntime as ort

    sess = ort.InferenceSession(weights, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"image": (x - mean) / std})[0] * std + mean

    def npy(a):
        buf = io.BytesIO()
        np.save(buf, a.astype(np.float32))
        return buf.getvalue()

    files = {"weights.onnx": weights, "in.npy": npy(x), "out.npy": npy(y), "doc.md": b"# foreign N2V-like model\n"}
    sha = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    space = [{"type": "space", "id": a, "size": {"min": 8, "step": 4}} for a in ("y", "x")]
    rdf = {
        "format_version": "0.5.4", "type": "model", "name": "foreign denoiser", "description": "hand-built package",
        "authors": [{"name": "test"}], "cite": [{"text": "test", "url": "https://example.org"}], "license": "MIT",
        "documentation": "doc.md", "tags": ["denoising"], "version": "2.1.0",
        "inputs": [{"id": "image", "axes": [{"type": "batch"}] + space + [{"type": "channel", "channel_names": ["c"]}],
                    "test_tensor": {"source": "in.npy", "sha256": sha["in.npy"]}, "data": {"type": "float32"},
                    "preprocessing": [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
                                      {"id": "fixed_zero_mean_unit_variance", "kwargs": {"mean": mean, "std": std}}]}],
        "outputs": [{"id": "restored", "axes": [{"type": "batch"}] + [
            {"type": "space", "id": a, "size": {"tensor_id": "image", "axis_id": a}} for a in ("y", "x")] +
            [{"type": "channel", "channel_names": ["c"]}],
            "test_tensor": {"source": "out.npy", "sha256": sha["out.npy"]}, "data": {"type": "float32"},
            "postprocessing": [{"id": "scale_linear", "kwargs": {"gain": std, "offset": mean}}]}],
        "weights": {"onnx": {"source": "weights.onnx", "sha256": sha["weights.onnx"], "opset_version": 17}},
    }
    pkg = tmp_path / "foreign.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("rdf.yaml", yaml.safe_dump(rdf))
        for k, v in files.items():
            zf.writestr(k, v)
    return pkg


@needs_core
def test_foreign_package_imports_and_matches_bioimageio_core(tmp_path):
    pkg = _foreign_package(tmp_path)
    assert bioimageio_core.test_model(pkg).status == "passed"  # the hand-built package is itself valid
    card = import_package(pkg, tmp_path / "foreign.onnx")
    assert (card.norm, card.denorm, card.task, card.model_version) == ("fixed:110.0:12.500001", "linear:12.5:110.0",
                                                                      "denoise", "2.1.0")
    assert card.tile_halo == (32, 32)  # no halo in the package: fluorecon's default overlap
    image = tifffile.imread(SAMPLE)[:144, :120]
    ours = predict(image, tmp_path / "foreign.onnx", tile=(256, 256))

    def theirs(img):
        sample = bioimageio_core.predict(model=pkg, inputs={"image": img[None, :, :, None]})
        return np.asarray(sample.members["restored"].data)[0, :, :, 0]

    tol = 1e-4 * float(np.abs(ours).max())
    # fluorecon reflect-pads every tile by the halo: bioimageio.core on the same padded image agrees everywhere ...
    padded = theirs(np.pad(image, 32, mode="reflect"))[32:-32, 32:-32]
    np.testing.assert_allclose(ours, padded, atol=tol, rtol=0)
    # ... and on the bare image wherever the border is out of the network's reach (receptive field < 32 px)
    bare = theirs(image)
    np.testing.assert_allclose(ours[32:-32, 32:-32], bare[32:-32, 32:-32], atol=tol, rtol=0)
    tiled = predict(image, tmp_path / "foreign.onnx", tile=72)  # fixed normalisation: tiling changes nothing
    np.testing.assert_allclose(tiled, ours, atol=tol, rtol=0)


@pytest.mark.parametrize("op, message", [
    ({"id": "binarize", "kwargs": {"threshold": 0.5}}, "unsupported pre-processing 'binarize'"),
    ({"id": "scale_range", "kwargs": {"axes": ["x"], "max_percentile": 99}}, "scale_range over axes \\['x'\\]"),
])
def test_unsupported_preprocessing_is_named(op, message, tmp_path):
    pkg = _foreign_package(tmp_path)
    with zipfile.ZipFile(pkg) as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
        files = {n: zf.read(n) for n in zf.namelist() if n != "rdf.yaml"}
    rdf["inputs"][0]["preprocessing"] = [op]
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("rdf.yaml", yaml.safe_dump(rdf))
        for k, v in files.items():
            zf.writestr(k, v)
    with pytest.raises(PackageError, match=message):
        import_package(bad, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_cli_refuses_a_package_without_onnx_or_pytorch_weights(tmp_path):
    from typer.testing import CliRunner

    from fluorecon.cli import app

    pkg = tmp_path / "keras_only.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("rdf.yaml", yaml.safe_dump({"format_version": "0.5.4", "type": "model",
                                                "weights": {"keras_hdf5": {"source": "w.h5"}}}))
    result = CliRunner().invoke(app, ["bioimageio", "import", str(pkg), str(tmp_path / "m.onnx")])
    assert result.exit_code == 2
    assert "has no ONNX weights (it has keras_hdf5); fluorecon runs ONNX and converts torchscript" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "m.onnx").exists()
