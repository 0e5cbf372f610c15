import json

import numpy as np
import pytest
from scipy import ndimage

from fluorecon.core.tiling import plan_tiles, predict_tiled, reflect_pad


def test_plan_matches_shared_vectors(vectors):
    for case in json.loads((vectors / "tiling.json").read_text())["cases"]:
        plan = plan_tiles(case["shape"], tile=case["tile"], halo=case["halo"], multiple=case["multiple"],
                          scale=case["scale"])
        assert plan.to_dict() == case["expected"], case


def test_reflect_matches_numpy_for_pads_longer_than_the_axis():
    a = np.arange(5.0)
    for before, after in [(2, 3), (12, 9), (0, 17)]:
        np.testing.assert_array_equal(reflect_pad(a, [before], [after]), np.pad(a, (before, after), mode="reflect"))


@pytest.mark.parametrize("b", [(1, 5), (3, 40)])
def test_core_covers_image_and_origins_sit_on_the_grid(b):
    plan = plan_tiles((97, 211), tile=64, halo=b[0], multiple=8)
    for c, h, n, s in zip(plan.core, plan.halo, plan.count, plan.shape):
        assert c % 8 == 0 and h % 8 == 0
        assert n * c >= s > (n - 1) * c


def _pooling_net(t):
    # A max-pool/upsample network stand-in: equivariant only to shifts that are multiples of 4.
    x = t[0, 0]
    pooled = ndimage.maximum_filter(ndimage.uniform_filter(x, 5, mode="constant"), 3, mode="constant")
    low = pooled.reshape(x.shape[0] // 4, 4, x.shape[1] // 4, 4).mean((1, 3))
    up = np.kron(low, np.ones((4, 4), np.float32))
    return (x + up)[None, None]


def test_tiled_equals_whole_image_for_grid_sensitive_network():
    rng = np.random.default_rng(0)
    image = rng.random((1, 150, 203)).astype(np.float32)
    whole = predict_tiled(_pooling_net, image, plan_tiles(image.shape[1:], tile=10**6, halo=16, multiple=4))
    tiled = predict_tiled(_pooling_net, image, plan_tiles(image.shape[1:], tile=48, halo=16, multiple=4))
    assert whole.shape == (1, 150, 203)
    np.testing.assert_allclose(tiled, whole, atol=1e-6)


def test_tiled_output_scale_3d():
    rng = np.random.default_rng(1)
    image = rng.random((2, 9, 20, 17)).astype(np.float32)

    def upsample(t):  # nearest-neighbour x2 in y and x, channel sum
        return np.repeat(np.repeat(t.sum(1, keepdims=True), 2, axis=3), 2, axis=4)

    plan = plan_tiles(image.shape[1:], tile=(4, 8, 8), halo=0, multiple=1, scale=(1, 2, 2))
    out = predict_tiled(upsample, image, plan)
    assert out.shape == (1, 9, 40, 34)
    np.testing.assert_allclose(out, upsample(image[None])[0], atol=1e-6)


def test_progress_and_bad_plans():
    calls = []
    image = np.zeros((1, 40, 40), np.float32)
    predict_tiled(lambda t: t, image, plan_tiles((40, 40), tile=16, halo=0, multiple=8), progress=lambda i, n: calls.append((i, n)))
    assert calls[-1] == (9, 9) or calls[-1][0] == calls[-1][1]
    with pytest.raises(ValueError, match="empty"):
        plan_tiles((0, 10), tile=8, halo=0, multiple=1)
    with pytest.raises(ValueError, match="one per axis"):
        plan_tiles((10, 10), tile=(8, 8, 8), halo=0, multiple=1)


def test_tile_minimum_vectors(vectors):
    """Rule 0 (DESIGN.md "Tiling"): the same minimum and message as Java's Tiling.checkRequestedTile."""
    from fluorecon.core.tiling import check_requested_tile, min_tile

    cases = json.loads((vectors / "tile_minimum.json").read_text())["cases"]
    assert len(cases) >= 10
    for case in cases:
        assert min_tile(case["halo"], case["multiple"]) == case["minimum"], case
        if case["refused"]:
            with pytest.raises(ValueError) as err:
                check_requested_tile(case["tile"], case["halo"], case["multiple"])
            assert str(err.value) == case["message"]
        else:
            check_requested_tile(case["tile"], case["halo"], case["multiple"])


def test_predict_refuses_a_tile_below_the_minimum(vectors):
    """The infer path (CLI `--tile`, Python predict) refuses before any tile runs; 0 means the default."""
    import numpy as np

    from fluorecon.infer import InputError, predict

    model = vectors / "tiny_unet2d.onnx"
    image = np.random.default_rng(0).random((40, 48), dtype=np.float32)
    from fluorecon.core.modelcard import read_card

    card = read_card(model)
    minimum = 2 * -(-card.tile_halo[0] // card.tile_multiple[0]) * card.tile_multiple[0] + card.tile_multiple[0]
    with pytest.raises(InputError, match=rf"tile = {minimum - 1} is too small .* at least {minimum} px"):
        predict(image, model, axes="YX", tile=minimum - 1)
    assert predict(image, model, axes="YX", tile=0).shape == image.shape
    assert predict(image, model, axes="YX", tile=minimum).shape == image.shape


def test_cli_predict_refuses_a_small_tile_without_output(vectors, tmp_path):
    import numpy as np
    import tifffile
    from typer.testing import CliRunner

    from fluorecon.cli import app

    src, out = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, np.random.default_rng(1).random((40, 48), dtype=np.float32))
    result = CliRunner().invoke(app, ["predict", str(vectors / "tiny_unet2d.onnx"), str(src), str(out), "--tile", "8"])
    assert result.exit_code != 0
    assert "tile = 8 is too small for this model" in result.output and "at least 18 px" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]
