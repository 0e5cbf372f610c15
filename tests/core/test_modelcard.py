import json

import onnx
import pytest
from onnx import TensorProto, helper

from fluorecon.core.modelcard import ModelCard, ModelCardError, read_card, write_card


def _identity_model(path):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", 1, "y", "x"])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["b", 1, "y", "x"])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "id", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_shared_vectors_parse(vectors):
    data = json.loads((vectors / "modelcard.json").read_text())
    for case in data["good"]:
        card = ModelCard.from_metadata(case["metadata"])
        exp = case["expected"]
        assert (card.task, card.method, card.name, card.ndim) == (exp["task"], exp["method"], exp["name"], exp["ndim"])
        assert list(card.tile_halo) == exp["tile_halo"] and list(card.tile_multiple) == exp["tile_multiple"]
        assert card.has_scale_output == exp["has_scale_output"]
        assert card.to_metadata()["tile.halo"] == case["metadata"]["tile.halo"]
    for case in data["bad"]:
        with pytest.raises(ModelCardError, match=case["error_contains"].replace(".", r"\.")):
            ModelCard.from_metadata(case["metadata"])


def test_round_trip_through_a_real_onnx_file(tmp_path):
    path = tmp_path / "m.onnx"
    _identity_model(path)
    card = ModelCard(task="denoise", method="care", name="x", axes_in="bcyx", axes_out="bcyx", tile_multiple=(8, 8),
                     tile_halo=(16, 16), tile_default=(256, 256), scale=(1, 1), train={"photons": "20"},
                     metrics={"val_psnr": "31.2", "nlm_psnr": "28.0"})
    write_card(path, card)
    back = read_card(path)
    assert back.train == {"photons": "20"} and back.metrics["nlm_psnr"] == "28.0"
    stamped = {"created", "fluorecon_version", "model_version", "model_sha256"}  # write_card fills these in
    assert back.model_dump(exclude=stamped) == card.model_dump(exclude=stamped)
    assert back.model_version == "1.0.0" and len(back.model_sha256) == 64
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)
    assert not list(tmp_path.glob("*.part"))


def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(ModelCardError, match="not found"):
        read_card(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelCardError, match="not a readable ONNX"):
        read_card(bad)
    plain = tmp_path / "plain.onnx"
    _identity_model(plain)
    with pytest.raises(ModelCardError, match="no fluorecon card"):
        read_card(plain)
