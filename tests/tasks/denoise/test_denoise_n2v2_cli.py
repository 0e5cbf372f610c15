"""`fluorecon train denoise --method n2v2`: the N2V2 network is trained, exported with its card and
predicts through ONNX Runtime like the torch network; `fluorecon export` rebuilds it from the .pt."""

import numpy as np
import torch
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import read_tiff
from fluorecon.core.modelcard import read_card

runner = CliRunner()


def test_train_n2v2_exports_its_network_and_card(tmp_path):
    r = runner.invoke(app, ["simulate", "denoise", "--out", str(tmp_path / "data"), "--n", "2", "--size", "64",
                            "--seed", "4"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "denoise", "--method", "n2v2", "--data", str(tmp_path / "data"), "--out",
                            str(tmp_path / "n2v2.onnx"), "--steps", "3", "--batch-size", "2", "--patch", "32",
                            "--filters", "4", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "N2V2" in r.output
    card = read_card(tmp_path / "n2v2.onnx")
    assert (card.method, card.name) == ("n2v2", "N2V2 denoising") and "Höck" in card.cite
    assert '"pooling":"blurpool"' in card.train["unet"] and '"skip_top":false' in card.train["unet"]
    assert '"replacement":"median"' in card.train["masking"]
    # The larger receptive field of max-blur-pool is in the halo (depth 2, kernel 3: 28 px, not 24).
    assert tuple(card.tile_halo) == (28, 28)
    checkpoint = torch.load(tmp_path / "n2v2.pt", weights_only=False)
    from fluorecon.nets.unet import UNetConfig, build_network

    net = build_network(UNetConfig(**checkpoint["config"]["unet"]))
    net.load_state_dict(checkpoint["state_dict"])
    image, _ = read_tiff(tmp_path / "data" / "low" / "000.tif")
    out = tmp_path / "out.tif"
    r = runner.invoke(app, ["predict", str(tmp_path / "n2v2.onnx"), str(tmp_path / "data" / "low" / "000.tif"),
                            str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    from fluorecon.core.normalize import denormalize, normalize, percentile_range

    lo, hi = percentile_range(image, 1, 99.8)
    h = card.tile_halo[0]  # tiling pads by the halo with reflection (DESIGN.md, tiling rules 3 and 5)
    padded = np.pad(normalize(image, lo, hi), h, mode="reflect")
    with torch.no_grad():
        expected = net(torch.from_numpy(padded)[None, None])[0, 0, h:-h, h:-h].numpy()
    np.testing.assert_allclose(read_tiff(out)[0], denormalize(expected, lo, hi), atol=1e-4 * (hi - lo))
