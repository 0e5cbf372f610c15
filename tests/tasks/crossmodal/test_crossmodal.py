"""Cross-modality translation: simulated widefield → confocal; the trained model moves the input
towards the target; the card records both modalities; folder errors say what to do."""

import numpy as np
import pytest
import torch

from fluorecon.core.modelcard import read_card
from fluorecon.infer import predict
from fluorecon.nets.unet import UNetConfig
from fluorecon.qc.metrics import psnr
from fluorecon.tasks import get_task
from fluorecon.tasks.crossmodal.learned import (CrossModalConfig, CrossModalSimulation, load_pairs, normalize_modalities,
                                        simulate_pairs, train_crossmodal)
from fluorecon.train import TrainConfig

torch.set_num_threads(1)


def test_widefield_to_confocal(tmp_path):
    sim = CrossModalSimulation(shape=(96, 96), n_images=6, seed=4)
    config = CrossModalConfig(simulation=sim, modality_in="widefield", modality_out="confocal (1 AU)",
                              unet=UNetConfig(ndim=2, depth=2, filters=8),
                              train=TrainConfig(steps=300, batch_size=8, patch_size=(48, 48), lr=3e-3, device="cpu"),
                              val_fraction=0.34)
    card, path = train_crossmodal(config, tmp_path / "wf2cf.onnx", progress=False)
    stored = read_card(path)
    assert stored.task == "crossmodal"
    assert stored.train["modality_in"] == "widefield" and stored.train["modality_out"] == "confocal (1 AU)"
    assert float(card.metrics["val_psnr_care"]) > float(card.metrics["val_psnr_input"]) + 3.0
    # Held-out pair through ONNX Runtime (percentile normalization of the whole image, as in Fiji).
    pair = simulate_pairs(sim, n=1, seed=999)[0]
    out = predict(pair.source, path, threads=1, task="crossmodal")
    x, y = normalize_modalities(pair.source, pair.target, norm=card.norm, match_units=True)
    lo, hi = np.percentile(pair.source, [1, 99.8])
    assert psnr((out - lo) / (hi - lo), y) > psnr(x, y) + 1.0
    assert get_task("crossmodal").config is CrossModalConfig


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="input/ and target/"):
        load_pairs(tmp_path)
    with pytest.raises(ValueError, match="min_length|at least 1"):
        CrossModalConfig(modality_in="")


def test_shipped_model_beats_widefield_input():
    """models/care_crossmodal_2d.onnx on a held-out simulated pair (seed unseen in training) through
    ONNX Runtime: closer to the confocal target than the widefield input."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "models" / "care_crossmodal_2d.onnx"
    card = read_card(path)
    assert card.train["modality_in"] == "widefield" and card.train["modality_out"].startswith("confocal")
    sim = CrossModalSimulation.model_validate_json(card.train["simulation"]).model_copy(update={"shape": (96, 96)})
    pair = simulate_pairs(sim, n=1, seed=20261126)[0]
    out = predict(pair.source, path, threads=1, task="crossmodal")
    x, y = normalize_modalities(pair.source, pair.target, norm=card.norm, match_units=True)
    lo, hi = np.percentile(pair.source, [1, 99.8])
    # Published (card): CARE 32.1 vs widefield input 25.3 dB, a 6.8 dB lead; this 96² pair: 6.6 dB measured.
    # Asserted: the published lead − 1 dB (tests/test_card_metrics.py recomputes the card's figures).
    lead = psnr((out - lo) / (hi - lo), y) - psnr(x, y)
    published = float(card.metrics["val_psnr_care"]) - float(card.metrics["val_psnr_input"])
    assert lead >= published - 1.0, (lead, published)
