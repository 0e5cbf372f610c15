"""ONNX export: card round trip through a real file, dynamic axes, parity check and refusal."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from fluorecon.core.modelcard import DEFAULT_MODEL_VERSION, graph_sha256, read_card
from fluorecon.export import ExportError, export_onnx, unet_card
from fluorecon.nets.unet import UNetConfig, build_network


def _random_net(cfg):
    torch.manual_seed(0)
    net = build_network(cfg)
    for p in net.head.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return net


@pytest.mark.parametrize("ndim", [2, 3])
def test_export_roundtrip_and_dynamic_axes(tmp_path, ndim):
    cfg = UNetConfig(ndim=ndim, depth=1, filters=4, probabilistic=ndim == 3)
    net = _random_net(cfg)
    card = unet_card(cfg, task="denoise", method="care", name="tiny", metrics={"val_psnr_care": "30.1"},
                     train={"seed": "0"})
    path = export_onnx(net, tmp_path / "m.onnx", card)
    back = read_card(path)
    stamped = {"created", "fluorecon_version", "model_version", "model_sha256"}
    assert back.model_dump(exclude=stamped) == card.model_dump(exclude=stamped)
    # export stamps the version and the hash of the graph it wrote
    assert back.model_version == DEFAULT_MODEL_VERSION and back.model_sha256 == graph_sha256(onnx.load(str(path)))
    assert back.tile_multiple == (2,) * ndim and back.tile_halo == (cfg.halo(),) * ndim
    assert back.outputs == ("mean,scale" if ndim == 3 else "mean")
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 17
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"] and [o.name for o in sess.get_outputs()] == ["output"]
    shape = (3, 1) + ((12, 20, 26) if ndim == 3 else (30, 46))  # batch and every side differ from the trace
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    got = sess.run(None, {"input": x})[0]
    want = net(torch.from_numpy(x)).detach().numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4)


class _Noisy(torch.nn.Module):
    """Exports to a RandomUniform node: ONNX Runtime draws other numbers than torch."""

    def forward(self, x):
        return x + torch.rand_like(x)


def test_parity_failure_refuses_and_leaves_no_file(tmp_path):
    cfg = UNetConfig(ndim=2, depth=1, filters=4)
    card = unet_card(cfg, task="denoise", method="care", name="bad")
    with pytest.raises(ExportError, match="disagree"):
        export_onnx(_Noisy(), tmp_path / "bad.onnx", card)
    assert list(tmp_path.iterdir()) == []


def test_card_tile_settings_follow_the_network():
    card = unet_card(UNetConfig(ndim=3, depth=2, filters=4), task="denoise", method="care", name="x")
    assert card.tile_multiple == (4, 4, 4) and card.tile_halo == (24, 24, 24)
    assert all(t % 4 == 0 and t >= 4 * 24 for t in card.tile_default)
    card2 = unet_card(UNetConfig(ndim=2, depth=2, filters=4), task="denoise", method="care", name="x")
    assert card2.tile_default == (256, 256)
