"""Paired cross-modality translation: a U-Net learns to turn one modality into another from the
user's registered pairs, e.g. widefield → confocal, or transmitted light → fluorescence as in
in-silico labelling (Christiansen et al., Cell 173, 792 (2018); Ounkomol et al., Nat. Methods 15,
917 (2018)). Simulated widefield → confocal pairs (same phantom, vectorial widefield PSF vs
confocal PSF with a 1 AU pinhole, psfmodels) serve for tests. The card records
``train.modality_in`` and ``train.modality_out``.

Units: by default the target is mapped into the input's units by an affine fit (as for CARE,
:func:`fluorecon.train.normalize_pair`), meaningful when both modalities see the same fluorophore.
For unrelated contrasts (transmitted light → fluorescence) set ``match_units=False``: the target is
normalized with its own percentiles and the output is in "input percentile" units.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.signal import fftconvolve

from fluorecon.core.io import read_tiff
from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import normalize, parse_norm, percentile_range
from fluorecon.export import save_model, unet_card
from fluorecon.imaging.noise import SimulatedAcquisition, apply_noise
from fluorecon.imaging.phantoms import phantom
from fluorecon.imaging.psf import psf_confocal, psf_widefield
from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.qc.metrics import psnr, ssim
from fluorecon.train import TrainConfig, normalize_pair, predict_torch, train_network

CITE = ("Ounkomol et al., Label-free prediction of three-dimensional fluorescence images from transmitted-light "
        "microscopy, Nat. Methods 15, 917 (2018); Weigert et al., Nat. Methods 15, 1090 (2018)")


class CrossModalSimulation(SimulatedAcquisition):
    """How `fluorecon simulate crossmodal` makes registered widefield/confocal pairs (2D)."""

    shape: tuple[int, int] = Field((256, 256), description="Image shape (Y, X).")
    n_images: int = Field(16, ge=1, description="Number of pairs.")
    pixel_size_nm: float = Field(65.0, gt=0, description="Pixel size, nm.")
    na: float = Field(1.2, gt=0, description="Numerical aperture (both modalities).")
    wavelength_nm: float = Field(520.0, gt=0, description="Emission wavelength, nm.")
    excitation_nm: float = Field(488.0, gt=0, description="Excitation wavelength of the confocal, nm.")
    pinhole_au: float = Field(1.0, ge=0, description="Confocal pinhole, Airy units.")
    photons_in: float = Field(100.0, gt=0, description="Peak photons per pixel of the widefield input.")
    photons_out: float = Field(1000.0, gt=0, description="Peak photons per pixel of the confocal target.")


@dataclass
class ModalityPair:
    """Registered pair: `source` (input modality, ADU) and `target` (output modality, ADU)."""

    source: np.ndarray
    target: np.ndarray


def _psfs(sim: CrossModalSimulation) -> tuple[np.ndarray, np.ndarray]:
    size = 31
    common = dict(na=sim.na, wavelength_nm=sim.wavelength_nm, pixel_size_nm=sim.pixel_size_nm, ni=1.33, ns=1.33)
    return (psf_widefield((size, size), **common),
            psf_confocal((size, size), excitation_nm=sim.excitation_nm, pinhole_au=sim.pinhole_au, **common))


def simulate_pairs(sim: CrossModalSimulation, *, n: int | None = None, seed: int | None = None) -> list[ModalityPair]:
    """`n` registered (widefield, confocal) pairs of one phantom each, independent camera noise."""
    rng = np.random.default_rng(sim.seed if seed is None else seed)
    wf, cf = _psfs(sim)
    pairs = []
    for _ in range(n if n is not None else sim.n_images):
        obj = phantom(sim.shape, kind=sim.kind, seed=int(rng.integers(2**31)))
        images = []
        for psf, photons in ((wf, sim.photons_in), (cf, sim.photons_out)):
            rel = np.clip(fftconvolve(obj, psf, mode="same"), 0, None)
            rel = rel / max(float(rel.max()), 1e-12)
            cam = sim.camera.model_copy(update={"photons": photons, "background": 0.02 * photons})
            images.append(apply_noise(rel, cam, seed=int(rng.integers(2**31))))
        pairs.append(ModalityPair(source=images[0], target=images[1]))
    return pairs


class CrossModalConfig(BaseModel):
    """Everything that defines a translation model (CLI options, server body, card record)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["crossmodal"] = "crossmodal"
    method: Literal["care"] = Field("care", description="'care': supervised U-Net on registered pairs.")
    name: str = Field("Widefield to confocal", description="Model name shown in Fiji.")
    modality_in: str = Field("widefield", min_length=1, description="Input modality, recorded in the card.")
    modality_out: str = Field("confocal", min_length=1, description="Output modality, recorded in the card.")
    match_units: bool = Field(True, description="Map the target into the input's units (same fluorophore); "
                                                "False for unrelated contrasts.")
    unet: UNetConfig | None = Field(None, description="2D network; default depth 2, 16 filters, residual.")
    train: TrainConfig | None = Field(None, description="Optimisation; default patches 64².")
    simulation: CrossModalSimulation | None = Field(None, description="Simulation settings (for simulated pairs).")
    norm: str = Field("percentile:1:99.8", description="Input normalization recorded in the card.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Share of pairs held out for validation metrics.")

    @model_validator(mode="after")
    def _defaults(self) -> "CrossModalConfig":
        if self.unet is None:
            self.unet = UNetConfig(ndim=2, depth=2, filters=16, residual=True)
        if self.unet.ndim != 2:
            raise ValueError("Cross-modality translation here is 2D (unet.ndim = 2).")
        if self.train is None:
            self.train = TrainConfig(patch_size=(64, 64), batch_size=16)
        if self.simulation is None:
            self.simulation = CrossModalSimulation()
        parse_norm(self.norm)
        return self


def normalize_modalities(source: np.ndarray, target: np.ndarray, *, norm: str, match_units: bool):
    """Normalized (input, target): input percentiles for both (target first mapped into the input's
    units) or, without `match_units`, each with its own percentiles."""
    if match_units:
        return normalize_pair(source, target, norm=norm)
    low, high = parse_norm(norm)
    return (normalize(source, *percentile_range(source, low, high)),
            normalize(target, *percentile_range(target, low, high)))


def load_pairs(data_dir: str | os.PathLike) -> list[tuple[np.ndarray, np.ndarray]]:
    """Registered 2D pairs DIR/input/*.tif and DIR/target/*.tif, matched by file name."""
    root = Path(data_dir)
    if not (root / "input").is_dir() or not (root / "target").is_dir():
        raise FileNotFoundError(f"{root} must contain input/ and target/ (registered pairs, same file names); "
                                "make one with `fluorecon simulate crossmodal --out DIR`.")
    names = sorted(p.name for p in (root / "input").glob("*.tif*"))
    if not names or any(not (root / "target" / n).is_file() for n in names):
        raise FileNotFoundError(f"No matching input/target TIFF pairs in {root}.")
    pairs = []
    for name in names:
        x, meta = read_tiff(root / "input" / name)
        y, _ = read_tiff(root / "target" / name)
        if x.shape != y.shape or x.ndim != 2:
            raise ValueError(f"input/{name} {x.shape} and target/{name} {y.shape} must be registered 2D images of one shape.")
        pairs.append((x.astype(np.float32), y.astype(np.float32)))
    return pairs


def train_crossmodal(config: CrossModalConfig, out_path: str | os.PathLike, *,
                     data: str | os.PathLike | list[tuple[np.ndarray, np.ndarray]] | None = None,
                     progress: bool = True, commit: str = "") -> tuple[ModelCard, Path]:
    """Train a translation U-Net, evaluate it (PSNR/SSIM vs the target, input as the baseline) and
    export ONNX with a card recording both modalities."""
    import torch

    if data is None:
        raw = [(p.source, p.target) for p in simulate_pairs(config.simulation)]
        source = "simulated widefield/confocal phantoms (fluorecon.tasks.crossmodal.learned.simulate_pairs)"
    elif isinstance(data, (str, os.PathLike)):
        raw, source = load_pairs(data), f"folder {Path(data).name}"
    else:
        raw, source = list(data), "pairs given in memory"
    if len(raw) < 2:
        raise ValueError(f"Need at least 2 pairs (one for validation), got {len(raw)}.")
    n_val = max(1, int(round(len(raw) * config.val_fraction)))
    pairs = [normalize_modalities(x, y, norm=config.norm, match_units=config.match_units) for x, y in raw]
    torch.manual_seed(config.train.seed)
    network = build_network(config.unet)
    history = train_network(network, pairs[:-n_val], config.train, progress=progress)
    m = config.unet.multiple
    scores: dict[str, list[float]] = {}
    for x, y in pairs[-n_val:]:
        crop = tuple(slice(0, (s // m) * m) for s in x.shape)
        for key, est in (("input", x[crop]), ("care", predict_torch(network, x[crop]))):
            scores.setdefault(f"val_psnr_{key}", []).append(psnr(est, y[crop]))
            scores.setdefault(f"val_ssim_{key}", []).append(ssim(est, y[crop]))
    metrics = {k: f"{np.mean(v):.4f}" for k, v in scores.items()}
    metrics["val_images"] = str(n_val)
    first, last = history.smoothed()
    train_info = {
        "data": source, "pairs": str(len(raw) - n_val), "steps": str(config.train.steps),
        "batch_size": str(config.train.batch_size), "patch_size": ",".join(map(str, config.train.patch_size)),
        "lr": str(config.train.lr), "seed": str(config.train.seed), "loss_first": f"{first:.5f}",
        "loss_last": f"{last:.5f}", "unet": config.unet.model_dump_json(), "commit": commit,
        "modality_in": config.modality_in, "modality_out": config.modality_out,
        "target_units": "input (affine fit)" if config.match_units else "target normalized by its own percentiles",
    }
    if data is None:
        train_info["simulation"] = config.simulation.model_dump_json()
    card = unet_card(config.unet, task="crossmodal", method=config.method, name=config.name, norm=config.norm,
                     cite=CITE, train=train_info, metrics=metrics,
                     description=f"Paired translation {config.modality_in} → {config.modality_out} (2D U-Net).")
    return card, save_model(network, out_path, card, config)
