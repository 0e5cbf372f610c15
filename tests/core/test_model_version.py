"""Versioned models: every shipped card has model.version and a model.sha256 that matches its network;
write_card sets the sha256; a network changed behind its card is refused; `fluorecon models` shows both."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.modelcard import ModelCardError, graph_sha256, read_card, write_card

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted((ROOT / "models").glob("*.onnx"))


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_every_shipped_card_has_a_version_and_the_sha256_of_its_network(model):
    card = read_card(model)
    assert card.model_version and card.model_version.count(".") == 2
    assert card.model_sha256 == graph_sha256(onnx.load(str(model)))


def test_write_card_sets_the_sha256_and_a_changed_network_is_refused(tmp_path):
    path = tmp_path / "m.onnx"
    shutil.copy(ROOT / "models" / "care_denoise_2d.onnx", path)
    card = read_card(path).model_copy(update={"model_version": "2.0.1", "model_sha256": ""})
    write_card(path, card)
    again = read_card(path)
    assert again.model_version == "2.0.1" and again.model_sha256 == graph_sha256(onnx.load(str(path)))
    proto = onnx.load(str(path))
    weight = proto.graph.initializer[0]
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) + np.float32(0.01), weight.name))
    onnx.save(proto, str(path))
    with pytest.raises(ModelCardError, match="does not match the card's model.sha256"):
        read_card(path)


def test_models_command_shows_version_and_sha256():
    result = CliRunner().invoke(app, ["models", str(ROOT / "models")])
    assert result.exit_code == 0, result.output
    card = read_card(ROOT / "models" / "care_denoise_2d.onnx")
    row = next(line for line in result.output.splitlines() if "care_denoise_2d.onnx" in line)
    assert card.model_version in row and card.model_sha256[:12] in row
