"""Tiled ONNX inference: tiled == whole, hyperstacks, intensity units, provider, and bad inputs."""

import numpy as np
import pytest
import torch

from fluorecon.core.modelcard import ModelCardError
from fluorecon.export import export_onnx, unet_card
from fluorecon.infer import InputError, get_predictor, predict
from fluorecon.nets.unet import UNetConfig, build_network


def _export(path, ndim, *, task="denoise", depth=2, trained=True):
    cfg = UNetConfig(ndim=ndim, depth=depth, filters=4)
    torch.manual_seed(1)
    net = build_network(cfg)
    if trained:  # leave the identity start so the output depends on the neighbourhood
        for p in net.head.parameters():
            torch.nn.init.normal_(p, std=0.2)
    export_onnx(net, path, unet_card(cfg, task=task, method="care", name=f"tiny {ndim}D"))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {2: _export(d / "m2.onnx", 2), 3: _export(d / "m3.onnx", 3, depth=1), "identity": _export(d / "id.onnx", 2, trained=False),
            "deconv": _export(d / "dc.onnx", 2, task="deconvolve")}


def _image(shape, seed=0):
    return (np.random.default_rng(seed).gamma(2.0, 50.0, shape) + 100).astype(np.float32)


def test_tiled_equals_whole_2d(models):
    image = _image((150, 173))
    whole = predict(image, models[2], tile=256)
    calls = []
    tiled = predict(image, models[2], tile=80, progress=lambda i, n: calls.append((i, n)))
    assert whole.shape == image.shape and whole.dtype == np.float32
    assert calls[-1][0] == calls[-1][1] > 4
    assert np.max(np.abs(tiled - whole)) <= 1e-4 * np.ptp(whole)


def test_tiled_equals_whole_3d(models):
    image = _image((20, 60, 52), seed=1)
    whole = predict(image, models[3], tile=128)
    tiled = predict(image, models[3], tile=(28, 36, 36))  # 2 x 4 x 4 tiles
    assert whole.shape == image.shape
    assert get_predictor(models[3]).card.tile_halo == (10, 10, 10)
    assert np.max(np.abs(tiled - whole)) <= 1e-4 * np.ptp(whole)


def test_output_is_in_the_inputs_units(models):
    image = _image((64, 64), seed=2)
    # an untrained residual net is the identity in normalized units; de-normalizing with the input's
    # own percentiles must give the input back
    np.testing.assert_allclose(predict(image, models["identity"]), image, rtol=1e-5, atol=1e-3)


def test_hyperstack_is_predicted_plane_by_plane_and_stack_by_stack(models):
    stack = _image((2, 3, 2, 32, 36), seed=3)  # TZCYX
    out = predict(stack, models[2], axes="TZCYX")
    assert out.shape == stack.shape
    np.testing.assert_allclose(out[1, 2, 0], predict(stack[1, 2, 0], models[2]), atol=1e-5)
    out3 = predict(stack[0], models[3], axes="ZCYX")
    np.testing.assert_allclose(out3[:, 1], predict(stack[0][:, 1], models[3], axes="ZYX"), atol=1e-5)


def test_provider_is_reported_and_sessions_are_cached(models):
    pred = get_predictor(models[2], device="cpu", threads=1)
    assert pred.provider == "CPUExecutionProvider" and len(pred.sha256) == 64
    assert get_predictor(models[2], device="cpu", threads=1) is pred


@pytest.mark.parametrize(
    "make,kwargs,message",
    [
        (lambda: np.zeros((32, 32, 3), np.uint8), {}, "RGB; convert it with Image › Type › 32-bit"),
        (lambda: np.zeros((32, 32, 3), np.float32), {"axes": "YXS"}, "RGB"),
        (lambda: np.zeros((0, 32), np.float32), {}, "empty"),
        (lambda: np.where(np.eye(32) > 0, np.nan, 1.0), {}, "32 NaN or infinite"),
        (lambda: np.full((32, 32), np.inf), {}, "NaN or infinite"),
        (lambda: np.ones((3, 32), np.float32), {}, "3 pixel\\(s\\) along Y.*at least 4"),
        (lambda: np.ones((32, 32), np.float32), {"axes": "ZYX"}, "does not describe"),
        (lambda: np.ones((32, 32), np.complex64), {}, "not supported"),
    ],
)
def test_bad_images_get_clear_errors(models, make, kwargs, message):
    with pytest.raises(InputError, match=message):
        predict(make(), models[2], **kwargs)


def test_wrong_dimensionality_and_task(models):
    with pytest.raises(InputError, match="3D.*no Z axis"):
        predict(np.ones((32, 32), np.float32), models[3])
    with pytest.raises(InputError, match="'deconvolve' model; this command needs a 'denoise' model"):
        predict(np.ones((32, 32), np.float32), models["deconv"], task="denoise")
    with pytest.raises(ValueError, match="device"):
        predict(np.ones((32, 32), np.float32), models[2], device="tpu")


def test_missing_corrupt_and_cardless_models(tmp_path):
    image = np.ones((32, 32), np.float32)
    with pytest.raises(ModelCardError, match="not found"):
        predict(image, tmp_path / "nope.onnx")
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x01garbage" * 10)
    with pytest.raises(ModelCardError, match="not a readable ONNX model|no fluorecon card"):
        predict(image, tmp_path / "corrupt.onnx")
    net = build_network(UNetConfig(ndim=2, depth=1, filters=2))
    torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), str(tmp_path / "plain.onnx"), dynamo=False)
    with pytest.raises(ModelCardError, match="no fluorecon card"):
        predict(image, tmp_path / "plain.onnx")
