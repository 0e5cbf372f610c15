"""The uncertainty of a probabilistic model from the CLI (issue 16): CSBDeep's `mean` and `scale`, each its own image —
`fluorecon predict … OUT --uncertainty SCALE` leaves OUT one channel with the input's axes and writes the Laplace
scale to SCALE with the same axes and calibration, equal to `fluorecon.infer.predict(..., return_scale=True)`.
(Fiji's Denoise… puts it in a second channel labelled `scale`: tests/bridge/test_denoise_uncertainty_plugin.py.)"""

from __future__ import annotations

import numpy as np
import torch
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.export import export_onnx, unet_card
from fluorecon.infer import predict
from fluorecon.nets.unet import UNetConfig, build_network


def test_predict_writes_the_scale_as_its_own_calibrated_image(tmp_path):
    cfg = UNetConfig(ndim=2, depth=2, filters=4, probabilistic=True)
    torch.manual_seed(3)
    net = build_network(cfg)
    for p in net.head.parameters():  # away from the zero start, so mean and scale vary over the image
        torch.nn.init.normal_(p, std=0.3)
    model = export_onnx(net, tmp_path / "prob.onnx", unet_card(cfg, task="denoise", method="care", name="prob"))
    image = np.random.default_rng(1).poisson(20, (2, 40, 48)).astype(np.float32) + 100
    write_tiff(tmp_path / "in.tif", image, TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.3))
    result = CliRunner().invoke(app, ["predict", str(model), str(tmp_path / "in.tif"), str(tmp_path / "out.tif"),
                                      "--uncertainty", str(tmp_path / "scale.tif"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    mean, meta = read_tiff(tmp_path / "out.tif")
    scale, scale_meta = read_tiff(tmp_path / "scale.tif")
    assert mean.shape == scale.shape == image.shape and meta.axes == scale_meta.axes == "ZYX"
    assert (scale_meta.pixel_size_um, scale_meta.z_step_um) == (meta.pixel_size_um, meta.z_step_um)
    assert "output: scale (Laplace scale, uncertainty)" in scale_meta.info
    want_mean, want_scale = predict(image, model, axes="ZYX", return_scale=True)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(scale, want_scale, rtol=1e-5, atol=1e-4)
    assert np.all(scale > 0) and scale.std() > 0
