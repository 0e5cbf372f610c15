"""The OOD check's shared vectors (tests/vectors/ood.json, scripts/make_ood_vectors.py): Python still computes
the figures that the Java port (OodCheckTest, run by every Fiji command that runs a model) is held to. A change
to the features, the noise estimate or the messages fails here until the vectors are regenerated, so the two
languages cannot drift apart silently."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from fluorecon.qc.ood import FEATURES, check_input, image_features


def _cases(vectors):
    return json.loads((vectors / "ood.json").read_text())["cases"]


def test_vectors_cover_in_and_out_of_distribution(vectors):
    verdicts = {c["name"]: c["in_distribution"] for c in _cases(vectors)}
    assert verdicts["in_distribution"] and verdicts["fallback_card"]
    assert not any(verdicts[n] for n in ("brighter_x1000", "camera_8bit", "other_pixel_size"))


@pytest.mark.parametrize("index", range(7))
def test_python_reproduces_each_vector(vectors, index):
    c = _cases(vectors)[index]
    image = tifffile.imread(vectors / c["image"]).astype(np.float32).reshape(c["shape"])
    feats = image_features(image, c["norm"])
    assert list(feats) == list(FEATURES) == list(c["features"])
    np.testing.assert_allclose([feats[k] for k in FEATURES], [c["features"][k] for k in FEATURES], rtol=0, atol=1e-9)
    report = check_input(image, c["qc"], norm=c["norm"], pixel_size_nm=c["pixel_size_nm"])
    assert report.in_distribution == c["in_distribution"]
    assert report.warnings == c["warnings"]
    for key in ("distance", "threshold", "quantile_shift", "noise_ratio", "pixel_size_ratio"):
        if key in c["scores"]:
            assert report.scores[key] == pytest.approx(c["scores"][key], rel=1e-9), key
