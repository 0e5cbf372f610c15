"""Denoising with CARE (Weigert et al., Nat. Methods 15, 1090 (2018)) and its classical baseline,
non-local means (Buades et al., CVPR 2005; scikit-image's `denoise_nl_means`).

Training pairs: a phantom blurred by the widefield PSF is imaged twice by the same camera, once
with few photons (the input) and once with many (the target, like CARE's long-exposure images),
or the user's own aligned low/high pairs. Targets are mapped into the input's intensity units
(`fluorecon.train.normalize_pair`), so a model predicts the noise-free input in its own units.
Validation figures for the network, NLM and the raw input go into the card's ``metrics.*``.
"""


from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from fluorecon.core.modelcard import ModelCard
from fluorecon.export import save_model, unet_card
from fluorecon.imaging.phantoms import phantom
from fluorecon.nets.unet import build_network
from fluorecon.qc.ood import training_statistics
from fluorecon.tasks.denoise.classical import CLASSICAL, bm3d, denoise_classical, nlm  # noqa: F401  (re-exported)
from fluorecon.tasks.denoise.qc import evaluate, input_statistics  # noqa: F401  (re-exported)
from fluorecon.tasks.denoise.selfsupervised import train_selfsupervised
from fluorecon.tasks.denoise.simulate import Pair, load_pairs, make_psf, simulate_pairs, write_pairs  # noqa: F401  (re-exported)
from fluorecon.tasks.denoise.spec import CITE, DenoiseConfig, DenoiseSimulation, PSFSettings  # noqa: F401  (re-exported)
from fluorecon.train import card_train_info, normalize_pair, predict_torch, train_network


def train_denoise(config: DenoiseConfig, out_path: str | os.PathLike, *,
                  data: str | os.PathLike | list[tuple[np.ndarray, np.ndarray]] | None = None,
                  progress: bool = True, commit: str = "") -> tuple[ModelCard, Path]:
    """Train a CARE model, evaluate it and NLM on held-out pairs, export ONNX with its card and save
    a checkpoint beside it (``.pt``, for `fluorecon export`).

    Parameters
    ----------
    config : DenoiseConfig
    out_path : path of the ``.onnx`` to write
    data : folder with low/ and high/, a list of (low, high) arrays, or None to simulate with
        ``config.simulation``.

    Returns
    -------
    (card, onnx path)
    """
    import torch

    if config.method != "care":  # n2n / n2v / n2s: same card and export, other data and loss
        from fluorecon.tasks.denoise.selfsupervised import train_selfsupervised

        return train_selfsupervised(config, out_path, data=data, progress=progress, commit=commit)
    sim = None
    if data is None:
        sim = config.simulation
        raw = [(p.low, p.high) for p in simulate_pairs(sim)]
        source = "simulated phantoms (fluorecon.tasks.denoise.learned.simulate_pairs)"
    elif isinstance(data, (str, os.PathLike)):
        raw = load_pairs(data, ndim=config.ndim)
        sim_file = Path(data) / "simulation.json"
        if sim_file.is_file():
            sim = DenoiseSimulation(**json.loads(sim_file.read_text()))
        source = f"folder {Path(data).name}" + (" (fluorecon simulate denoise)" if sim else "")
    else:
        raw = list(data)
        source = "pairs given in memory"
    if len(raw) < 2:
        raise ValueError(f"Need at least 2 pairs (one for validation), got {len(raw)}.")
    n_val = max(1, int(round(len(raw) * config.val_fraction)))
    train_raw, val_raw = raw[:-n_val], raw[-n_val:]
    train_pairs = [normalize_pair(x, y, norm=config.norm) for x, y in train_raw]
    val_pairs = [normalize_pair(x, y, norm=config.norm) for x, y in val_raw]

    torch.manual_seed(config.train.seed)  # weights are part of the seeded run
    network = build_network(config.unet)
    history = train_network(network, train_pairs, config.train, progress=progress)
    metrics = evaluate(val_pairs, lambda x: predict_torch(network, x), multiple=config.unet.multiple,
                       nlm_baseline=config.nlm_baseline)
    train_info = {
        "data": source, "pairs": str(len(train_raw)), **card_train_info(config.train, history),
        "unet": config.unet.model_dump_json(), "target_units": "input (affine fit of target to input)",
        "commit": commit,
    }
    if sim is not None:
        train_info.update({"psf": sim.psf.model_dump_json(), "noise_model": sim.camera.model_dump_json(),
                           "pixel_size_nm": str(sim.psf.pixel_size_nm),
                           "photons_low": str(sim.photons_low), "photons_high": str(sim.photons_high),
                           "phantom": sim.kind, "seed_data": str(sim.seed)})
    train_info.update(input_statistics([x for x, _ in train_raw], config.norm))

    qc = training_statistics([x for x, _ in train_raw], norm=config.norm,
                             pixel_size_nm=sim.psf.pixel_size_nm if sim is not None else None)
    card = unet_card(config.unet, task="denoise", method=config.method, name=config.name, norm=config.norm,
                     cite=CITE, train=train_info, metrics=metrics, qc=qc,
                     description=f"CARE denoising U-Net ({config.ndim}D), residual, trained on low/high pairs; "
                                 "output in the input's intensity units.")
    return card, save_model(network, out_path, card, config)
