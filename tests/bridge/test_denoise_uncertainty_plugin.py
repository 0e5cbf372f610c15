"""Denoise… with a probabilistic model (card outputs = mean,scale): the per-pixel uncertainty (the
Laplace scale, in the input's units) comes out as a second channel of the result hyperstack, equal
to `fluorecon.infer.predict(..., return_scale=True)`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ijbridge
from ijbridge import assert_matches, run_plugin

from fluorecon.export import export_onnx, unet_card
from fluorecon.infer import predict
from fluorecon.nets.unet import UNetConfig, build_network


@pytest.fixture(scope="module")
def probabilistic_model(tmp_path_factory):
    cfg = UNetConfig(ndim=2, depth=2, filters=4, probabilistic=True)
    torch.manual_seed(3)
    net = build_network(cfg)
    for p in net.head.parameters():  # away from the zero start, so mean and scale vary over the image
        torch.nn.init.normal_(p, std=0.3)
    path = tmp_path_factory.mktemp("prob") / "prob.onnx"
    return export_onnx(net, path, unet_card(cfg, task="denoise", method="care", name="probabilistic"))


def test_denoise_outputs_the_uncertainty_as_a_second_channel(headless_jvm, plugin_jar, probabilistic_model, tmp_path):
    image = ijbridge.noisy_planes((2, 48, 56), seed=9)
    mean, scale = predict(image, probabilistic_model, axes="ZYX", return_scale=True)
    imp = ijbridge.to_imageplus(image, "ZYX", title="cells", pixel_size_um=0.1)
    plugin = run_plugin(plugin_jar, "Denoise...", imp,
                        ijbridge.options_string(model="[file]", model_file=probabilistic_model,
                                                save=tmp_path / "out.tif"))
    out = plugin.getResult()
    assert out is not None
    assert (out.getNChannels(), out.getNSlices(), out.getWidth(), out.getHeight()) == (2, 2, 56, 48)
    tzcyx = ijbridge.from_imageplus(out)  # (T, Z, C, Y, X)
    assert_matches(tzcyx[0, :, 0], mean)
    assert_matches(tzcyx[0, :, 1], scale)
    assert np.all(tzcyx[0, :, 1] > 0)
    labels = [str(out.getStack().getSliceLabel(out.getStackIndex(c, 1, 1))) for c in (1, 2)]
    assert labels == ["mean", "scale"]
    assert "model.outputs = mean,scale" in str(out.getProperty("Info"))
