"""Torch → ONNX export with the model card inside and a parity check that refuses bad exports.

The ONNX graph has one input ``input`` (B, C, [Z,] Y, X) and one output ``output`` with the same
layout; batch and every spatial axis are dynamic, so Fiji can choose any tile that is a multiple
of the card's ``tile.multiple``.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from fluorecon.core.modelcard import ModelCard, write_card

OPSET = 17
PARITY_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """The exported ONNX model does not reproduce the torch model; no file was kept."""


def unet_card(config, *, task: str, method: str, name: str, tile_default: int | None = None, **fields) -> ModelCard:
    """A card for a U-Net from its :class:`~fluorecon.nets.unet.UNetConfig`: axes, channels,
    tile.multiple = 2**depth, tile.halo = receptive-field radius rounded up to the multiple,
    tile.default (256 in 2D, 64 in 3D, at least 4 halos), outputs. Extra card fields (train, metrics, ...) pass through."""
    n = config.ndim
    tile = tile_default or (256 if n == 2 else 64)
    # The halo is recomputed on every tile; keep it to at most half of each tile side.
    tile = max(tile, 4 * config.halo(), 2 * config.halo() + config.multiple)
    axes = "bcyx" if n == 2 else "bczyx"
    return ModelCard(
        task=task, method=method, name=name, axes_in=axes, axes_out=axes,
        # channels.out counts every channel of the output tensor (means, then scales), as Java reads it.
        channels_in=config.channels_in, channels_out=config.channels_out * (2 if config.probabilistic else 1),
        tile_multiple=(config.multiple,) * n, tile_halo=(config.halo(),) * n,
        tile_default=(-(-tile // config.multiple) * config.multiple,) * n, scale=(1,) * n,
        outputs="mean,scale" if config.probabilistic else "mean", **fields,
    )


def _example_shape(card: ModelCard) -> tuple[int, ...]:
    side = [max(2 * h + m, 2 * m) for h, m in zip(card.tile_halo, card.tile_multiple)]
    return (1, card.channels_in, *side)


def export_onnx(model: nn.Module, path: str | os.PathLike, card: ModelCard, *,
                example_shape: Sequence[int] | None = None, check: bool = True, seed: int = 0) -> Path:
    """Export `model` to ONNX at `path` with `card` in its metadata, then check parity.

    Parameters
    ----------
    model : nn.Module
        Takes (B, C, *spatial) float32.
    path : path
        Output ``.onnx`` file; written atomically.
    card : ModelCard
        Describes the model (see :func:`unet_card`).
    example_shape : (B, C, *spatial), optional
        Trace shape; default: the smallest tile the card allows, at least 2 multiples per axis.
    check : bool
        Compare ONNX Runtime with torch on a random input of another shape (batch 2) and raise
        :class:`ExportError` (leaving no file) when the max abs difference exceeds 1e-4.

    Returns
    -------
    Path of the written model.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    shape = tuple(example_shape) if example_shape else _example_shape(card)
    n = card.ndim
    spatial_names = ["z", "y", "x"][-n:]
    dynamic = {0: "batch", **{2 + i: name for i, name in enumerate(spatial_names)}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".onnx.part")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (torch.zeros(shape),), tmp, input_names=["input"], output_names=["output"],
                dynamic_axes={"input": dynamic, "output": dynamic}, opset_version=OPSET, dynamo=False,
            )
        onnx.checker.check_model(tmp)
        write_card(tmp, card)
        if check:
            check_parity(model, tmp, card, seed=seed)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def check_parity(model: nn.Module, onnx_path: str | os.PathLike, card: ModelCard, *, seed: int = 0,
                 tolerance: float = PARITY_TOLERANCE) -> float:
    """Max abs difference between ONNX Runtime and torch on a seeded random input (batch 2, a
    shape other than the trace shape, so dynamic axes are exercised); raises ExportError above `tolerance`."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    side = [max(2 * h + m, 2 * m) + m for h, m in zip(card.tile_halo, card.tile_multiple)]
    x = rng.normal(size=(2, card.channels_in, *side)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        want = model.eval().cpu()(torch.from_numpy(x)).numpy()
    if got.shape != want.shape:
        raise ExportError(f"ONNX output shape {got.shape} differs from torch's {want.shape}; export refused.")
    diff = float(np.max(np.abs(got - want)))
    if not np.isfinite(diff) or diff > tolerance:
        raise ExportError(f"ONNX Runtime and torch disagree (max abs diff {diff:.3g} > {tolerance:g}); export refused.")
    return diff


def save_model(network: nn.Module, out_path: str | os.PathLike, card: ModelCard, config, **export: object) -> Path:
    """Export `network` to ONNX at `out_path` with `card` (:func:`export_onnx`; `export` goes to it) and keep the
    torch checkpoint beside it (``.pt``: the task config, the weights and the card) for fine-tuning. Returns the path."""
    out_path = Path(out_path)
    export_onnx(network, out_path, card, **export)
    torch.save({"config": config.model_dump(mode="json"), "state_dict": network.state_dict(),
                "card": card.to_metadata()}, out_path.with_suffix(".pt"))
    return out_path


def unet_from_onnx(path: str | os.PathLike):
    """The torch U-Net of an exported model, to fine-tune it: the checkpoint beside it (``.pt``) when there is
    one, else the ONNX initializers, which :func:`export_onnx` names after the torch ``state_dict`` keys (the
    shipped models come without checkpoints). The card's ``train.unet`` gives the architecture. Returns
    (network in eval mode, card); raises ValueError when the file is not a U-Net fluorecon exported. For an
    upsampling model the network is its U-Net on the fine grid (tasks/upsample wraps it in ``UpsampleNet``)."""
    import onnx
    from onnx import numpy_helper

    from fluorecon.core.modelcard import read_card
    from fluorecon.nets.unet import UNetConfig, build_network

    path = Path(path)
    card = read_card(path)
    if "unet" not in card.train:
        raise ValueError(f"{path.name} records no U-Net (card train.unet); only U-Nets fluorecon trained can be "
                         "fine-tuned.")
    network = build_network(UNetConfig.model_validate_json(card.train["unet"]))
    checkpoint = path.with_suffix(".pt")
    if checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
        network.load_state_dict({k.removeprefix("unet."): v for k, v in saved.items()} if card.task == "upsample" else saved)
        return network.eval(), card
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    # An upsampling model wraps its U-Net (tasks/upsample UpsampleNet.unet): its initializers carry that prefix.
    if not any(k in weights for k in network.state_dict()):
        weights = {k.removeprefix("unet."): v for k, v in weights.items()}
    state = network.state_dict()
    missing = [k for k in state if k not in weights or tuple(weights[k].shape) != tuple(state[k].shape)]
    if missing:
        raise ValueError(f"{path.name} lacks the weights {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''} "
                         "of the U-Net its card describes; it cannot be fine-tuned (train from scratch instead).")
    network.load_state_dict({k: torch.from_numpy(np.array(weights[k], copy=True)) for k in state})
    return network.eval(), card
