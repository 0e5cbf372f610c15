"""The tiled-prediction vectors that JUnit also checks: recompute them here with ONNX Runtime."""

import json

import numpy as np
import onnxruntime as ort
import pytest

from fluorecon.core.io import read_tiff
from fluorecon.core.modelcard import read_card
from fluorecon.core.normalize import denormalize, normalize, parse_norm, percentile_range
from fluorecon.core.tiling import plan_tiles, predict_tiled


@pytest.mark.parametrize("ndim", [2, 3])
def test_prediction_vectors_reproduce(vectors, ndim):
    spec = json.loads((vectors / f"predict{ndim}d.json").read_text())
    model = vectors / spec["model"]
    card = read_card(model)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    image, meta = read_tiff(vectors / spec["input"])
    lo, hi = percentile_range(image, *parse_norm(card.norm))
    x = normalize(image, lo, hi)[None]
    plan = plan_tiles(image.shape, tile=spec["tile"], halo=card.tile_halo, multiple=card.tile_multiple)
    out = denormalize(predict_tiled(lambda t: session.run(None, {name: t})[0], x, plan)[0], lo, hi)
    expected, _ = read_tiff(vectors / spec["tiled"])
    whole, _ = read_tiff(vectors / spec["whole"])
    rng = float(whole.max() - whole.min())
    assert np.abs(out - expected).max() <= spec["tolerance"] * rng
    assert np.abs(out - whole).max() <= spec["tolerance"] * rng
    assert plan.num_tiles > 1
