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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.signal import fftconvolve

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.core.modelcard import ModelCard
from fluorecon.core.normalize import parse_norm, percentile_range
from fluorecon.imaging.noise import CameraNoise, apply_noise
from fluorecon.imaging.phantoms import Kind as PhantomKind, phantom
from fluorecon.nets.unet import UNetConfig
from fluorecon.qc.metrics import psnr, ssim
from fluorecon.tasks import Task, register_task
from fluorecon.tasks.selfsupervised import SELF_SUPERVISED, MaskingConfig
from fluorecon.train import TrainConfig, normalize_pair

CITE = ("Weigert et al., Content-aware image restoration: pushing the limits of fluorescence microscopy, "
        "Nat. Methods 15, 1090 (2018)")


class PSFSettings(BaseModel):
    """Widefield optics used to blur phantoms (psfmodels vectorial model)."""

    model_config = ConfigDict(extra="forbid")

    na: float = Field(1.2, gt=0, description="Numerical aperture.")
    wavelength_nm: float = Field(520.0, gt=0, description="Emission wavelength, nm.")
    pixel_size_nm: float = Field(100.0, gt=0, description="Pixel size in the sample, nm.")
    z_step_nm: float = Field(300.0, gt=0, description="Axial step, nm (3D).")
    ni: float = Field(1.33, gt=0, description="Immersion refractive index.")
    ns: float = Field(1.33, gt=0, description="Sample refractive index.")
    size: int = Field(21, ge=3, description="PSF side in pixels (odd).")


class DenoiseSimulation(BaseModel):
    """How `fluorecon simulate denoise` makes training pairs."""

    model_config = ConfigDict(extra="forbid")

    ndim: Literal[2, 3] = Field(2, description="2D planes or 3D stacks.")
    shape: tuple[int, ...] | None = Field(None, description="Image shape; default (256, 256) in 2D, (32, 128, 128) in 3D.")
    n_images: int = Field(16, ge=1, description="Number of pairs.")
    kind: PhantomKind = Field("mixed", description="Phantom family.")
    photons_low: float = Field(15.0, gt=0, description="Peak photons per pixel of the noisy input.")
    photons_high: float = Field(1000.0, gt=0, description="Peak photons per pixel of the target acquisition.")
    photons_spread: float = Field(2.0, ge=1, description="Each pair's photons are drawn log-uniformly in [p/spread, p·spread].")
    background: float = Field(0.02, ge=0, description="Background photons per pixel as a fraction of the peak.")
    camera: CameraNoise = Field(default_factory=lambda: CameraNoise(gain=2.0, offset=100.0, read_noise_e=1.5),
                                description="Camera (photons and background are set per image).")
    psf: PSFSettings = Field(default_factory=PSFSettings)
    target: Literal["high", "clean"] = Field("high", description="'high': high-photon acquisition; 'clean': noise-free.")
    seed: int = Field(0, description="Seed of phantoms and noise.")

    @property
    def image_shape(self) -> tuple[int, ...]:
        if self.shape is not None:
            if len(self.shape) != self.ndim:
                raise ValueError(f"shape {self.shape} has {len(self.shape)} axes but ndim is {self.ndim}.")
            return tuple(self.shape)
        return (256, 256) if self.ndim == 2 else (32, 128, 128)


class DenoiseConfig(BaseModel):
    """Everything that defines a denoising model: the CLI's options, the server's request body and
    what the card records."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["denoise"] = "denoise"
    method: Literal["care", "n2n", "n2v", "n2s", "n2v2"] = Field(
        "care", description="'care': supervised on low/high pairs; 'n2n': pairs of noisy acquisitions; "
                            "'n2v'/'n2s'/'n2v2': single noisy images (blind-spot masking; tasks/selfsupervised.py; "
                            "n2v2 = Noise2Void with blur-pool, no top skip and median replacement).")
    name: str = Field("CARE denoising", description="Model name shown in Fiji.")
    ndim: Literal[2, 3] = Field(2, description="2D (per plane) or 3D (per stack) model.")
    unet: UNetConfig | None = Field(None, description="Network; default depth 2, 16 filters, residual, of `ndim`.")
    train: TrainConfig | None = Field(None, description="Optimisation; default patches 64² (2D) or 32×64² (3D).")
    simulation: DenoiseSimulation | None = Field(None, description="Simulation settings (for simulated data).")
    norm: str = Field("percentile:1:99.8", description="Input normalization recorded in the card.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Share of pairs held out for validation metrics.")
    nlm_baseline: bool = Field(True, description="Evaluate non-local means on the validation pairs too.")
    masking: MaskingConfig = Field(default_factory=MaskingConfig, description="Blind-spot masking (n2v, n2s only).")

    @model_validator(mode="after")
    def _defaults(self) -> "DenoiseConfig":
        if self.unet is None:
            # Blind-spot methods must not pass the pixel's own value through a residual connection.
            self.unet = UNetConfig(ndim=self.ndim, depth=2, filters=16, residual=self.method in ("care", "n2n"))
        if self.method == "n2v2":
            self._apply_n2v2()
        if self.method in SELF_SUPERVISED and self.unet.residual:
            raise ValueError(f"method '{self.method}' needs unet.residual=False (a residual connection would show "
                             "each blind-spot pixel its own noise).")
        if self.unet.ndim != self.ndim:
            raise ValueError(f"unet.ndim ({self.unet.ndim}) must equal ndim ({self.ndim}).")
        if self.train is None:
            patch = (64, 64) if self.ndim == 2 else (32, 64, 64)
            self.train = TrainConfig(patch_size=patch, batch_size=16 if self.ndim == 2 else 4,
                                     loss="laplace" if self.unet.probabilistic else
                                     ("l1" if self.method == "care" else "l2"))
        if len(self.train.patch_size) != self.ndim:
            raise ValueError(f"train.patch_size {self.train.patch_size} needs {self.ndim} entries.")
        bad = [p for p in self.train.patch_size if p % self.unet.multiple]
        if bad:
            raise ValueError(f"train.patch_size {self.train.patch_size} must be multiples of {self.unet.multiple} (2**depth).")
        if self.simulation is None:
            self.simulation = DenoiseSimulation(ndim=self.ndim)
        parse_norm(self.norm)
        return self


    def _apply_n2v2(self) -> None:
        """N2V2's switches (tasks/selfsupervised.N2V2_UNET, median replacement) wherever the user
        did not set them; set to something else they are refused, since the result would not be N2V2."""
        from fluorecon.tasks.selfsupervised import N2V2_UNET

        given = self.unet.model_fields_set
        clash = {k: getattr(self.unet, k) for k, v in N2V2_UNET.items() if k in given and getattr(self.unet, k) != v}
        if clash:
            raise ValueError(f"method 'n2v2' needs the U-Net {N2V2_UNET}, but unet sets {clash}; drop those fields or "
                             "use method 'n2v'.")
        self.unet = self.unet.model_copy(update=N2V2_UNET)
        if "replacement" not in self.masking.model_fields_set:
            self.masking = self.masking.model_copy(update={"replacement": "median"})


@dataclass
class Pair:
    """One simulated acquisition pair (all arrays float32, same shape)."""

    low: np.ndarray
    high: np.ndarray
    clean: np.ndarray
    photons: float


def make_psf(sim: DenoiseSimulation) -> np.ndarray:
    """The PSF that blurs the phantoms (psfmodels via imaging.psf; Gaussian if that is unavailable)."""
    p = sim.psf
    size = p.size | 1
    shape = (size, size) if sim.ndim == 2 else (size, size, size)
    try:
        from fluorecon.imaging.psf import psf_widefield

        return psf_widefield(shape, na=p.na, wavelength_nm=p.wavelength_nm, pixel_size_nm=p.pixel_size_nm,
                             z_step_nm=p.z_step_nm if sim.ndim == 3 else None, ni=p.ni, ns=p.ns)
    except ImportError:  # Gaussian approximation of the widefield PSF (Zhang et al., Appl. Opt. 2007)
        sigma_xy = 0.21 * p.wavelength_nm / p.na / p.pixel_size_nm
        sigma_z = 0.66 * p.wavelength_nm * p.ns / p.na**2 / p.z_step_nm
        grids = np.meshgrid(*[np.arange(size) - size // 2] * sim.ndim, indexing="ij")
        sig = [sigma_xy] * 2 if sim.ndim == 2 else [sigma_z, sigma_xy, sigma_xy]
        psf = np.exp(-sum(g**2 / (2 * s**2) for g, s in zip(grids, sig)))
        return (psf / psf.sum()).astype(np.float32)


def simulate_pairs(sim: DenoiseSimulation, *, n: int | None = None, seed: int | None = None) -> list[Pair]:
    """Simulate `n` (default ``sim.n_images``) low/high pairs of blurred phantoms.

    Each pair: phantom → PSF blur (peak scaled to 1) → camera noise with few photons (`low`) and,
    independently, with many photons (`high`); `clean` is the low acquisition's expectation in ADU.
    """
    seed = sim.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    psf = make_psf(sim)
    pairs = []
    for i in range(n if n is not None else sim.n_images):
        obj = phantom(sim.image_shape, kind=sim.kind, seed=int(rng.integers(2**31)))
        blurred = np.clip(fftconvolve(obj, psf, mode="same"), 0, None)
        blurred = (blurred / max(float(blurred.max()), 1e-12)).astype(np.float32)
        photons = float(sim.photons_low * sim.photons_spread ** rng.uniform(-1, 1))
        low_cam = sim.camera.model_copy(update={"photons": photons, "background": sim.background * photons})
        high_photons = sim.photons_high * photons / sim.photons_low
        high_cam = sim.camera.model_copy(update={"photons": high_photons, "background": sim.background * high_photons})
        low = apply_noise(blurred, low_cam, seed=int(rng.integers(2**31)))
        clean = low_cam.mean(blurred)
        high = clean if sim.target == "clean" else apply_noise(blurred, high_cam, seed=int(rng.integers(2**31)))
        pairs.append(Pair(low=low, high=high.astype(np.float32), clean=clean, photons=photons))
    return pairs


def _meta(sim: DenoiseSimulation) -> TiffMeta:
    return TiffMeta(axes="YX" if sim.ndim == 2 else "ZYX", pixel_size_um=sim.psf.pixel_size_nm / 1000,
                    z_step_um=sim.psf.z_step_nm / 1000 if sim.ndim == 3 else None)


def write_pairs(out_dir: str | os.PathLike, pairs: list[Pair], sim: DenoiseSimulation) -> Path:
    """Write DIR/low/NNN.tif, DIR/high/NNN.tif, DIR/clean/NNN.tif (noise-free truth, for checks)
    and DIR/simulation.json; calibration from the PSF settings."""
    out = Path(out_dir)
    meta = _meta(sim)
    for i, pair in enumerate(pairs):
        for sub, arr in (("low", pair.low), ("high", pair.high), ("clean", pair.clean)):
            write_tiff(out / sub / f"{i:03d}.tif", arr, meta,
                       info=f"fluorecon simulate denoise: {sub}, peak photons (low) {pair.photons:.1f}")
    (out / "simulation.json").write_text(json.dumps(sim.model_dump(mode="json"), indent=2))
    return out


def load_pairs(data_dir: str | os.PathLike, *, ndim: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read aligned pairs DIR/low/*.tif and DIR/high/*.tif (matched by file name)."""
    root = Path(data_dir)
    low_dir, high_dir = root / "low", root / "high"
    if not low_dir.is_dir() or not high_dir.is_dir():
        raise FileNotFoundError(f"{root} must contain the folders low/ (noisy inputs) and high/ (targets); "
                                "make one with `fluorecon simulate denoise --out DIR`.")
    names = sorted(p.name for p in low_dir.glob("*.tif*"))
    missing = [n for n in names if not (high_dir / n).is_file()]
    if not names or missing:
        raise FileNotFoundError(f"No matching low/high TIFF pairs in {root}" + (f" (no high/{missing[0]})" if missing else "") + ".")
    pairs = []
    for name in names:
        low, meta = read_tiff(low_dir / name)
        high, _ = read_tiff(high_dir / name)
        if low.shape != high.shape:
            raise ValueError(f"low/{name} {low.shape} and high/{name} {high.shape} differ in shape; pairs must be aligned.")
        if ndim is not None and low.ndim != ndim:
            raise ValueError(f"low/{name} has {low.ndim} axes ({meta.axes}) but a {ndim}D model was requested.")
        pairs.append((low.astype(np.float32), high.astype(np.float32)))
    return pairs


def nlm(image: np.ndarray) -> np.ndarray:
    """Non-local means baseline on a normalized 2D/3D image (σ from `estimate_sigma`, h = 0.8σ)."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    image = np.asarray(image, np.float32)
    sigma = float(estimate_sigma(image))
    return denoise_nl_means(image, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6 if image.ndim == 2 else 3,
                            fast_mode=True).astype(np.float32)


def bm3d(image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
    """BM3D baseline (Dabov et al., IEEE TIP 2007; the `bm3d` package, 2D per plane) on a normalized
    image; σ from `estimate_sigma` unless given."""
    try:
        import bm3d as bm3d_package
    except ImportError as err:
        raise ValueError("BM3D needs the 'bm3d' package: pip install bm3d (or use method 'nlm').") from err
    from skimage.restoration import estimate_sigma

    image = np.asarray(image, np.float32)
    sigma = float(estimate_sigma(image)) if sigma is None else float(sigma)
    planes = image.reshape((-1,) + image.shape[-2:])
    out = np.stack([np.asarray(bm3d_package.bm3d(p, sigma_psd=max(sigma, 1e-6)), np.float32) for p in planes])
    return out.reshape(image.shape)


CLASSICAL = {"nlm": nlm, "bm3d": bm3d}


def denoise_classical(image: np.ndarray, *, method: str = "nlm", norm: str = "percentile:1:99.8") -> np.ndarray:
    """Classical denoising of a raw image in its own units. ``nlm`` / ``bm3d``: normalize with the
    image's percentiles, filter with one σ, map back. ``vst-bm3d`` / ``vst-nlm`` (the strongest:
    generalised Anscombe transform with the Poisson–Gaussian noise estimated from the image, the
    filter, exact unbiased inverse), ``gaussian`` (σ by the discrepancy principle) and ``median``:
    fluorecon.qc.classical. (Y, X) or (Z, Y, X); float32 out."""
    from fluorecon.core.normalize import denormalize, normalize
    from fluorecon.qc.classical import METHODS, denoise_vst

    if method in METHODS:
        return denoise_vst(image, method=method)
    if method not in CLASSICAL:
        raise ValueError(f"method must be one of {', '.join((*CLASSICAL, *METHODS))}, got {method!r}.")
    image = np.asarray(image, np.float32)
    lo, hi = percentile_range(image, *parse_norm(norm))
    return denormalize(CLASSICAL[method](normalize(image, lo, hi)), lo, hi)


def evaluate(pairs: list[tuple[np.ndarray, np.ndarray]], predict_fn: Callable[[np.ndarray], np.ndarray],
             *, multiple: int, nlm_baseline: bool = True) -> dict[str, str]:
    """PSNR/SSIM of the raw input, NLM and the network on normalized validation pairs
    (reference = target mapped to input units; data_range from the reference; images cropped to
    a multiple of the network's 2**depth)."""
    scores: dict[str, list[float]] = {}
    for x, y in pairs:
        crop = tuple(slice(0, (s // multiple) * multiple) for s in x.shape)
        x, y = x[crop], y[crop]
        candidates = {"input": x, "care": predict_fn(x)}
        if nlm_baseline:
            candidates["nlm"] = nlm(x)
        for key, est in candidates.items():
            scores.setdefault(f"val_psnr_{key}", []).append(psnr(est, y))
            scores.setdefault(f"val_ssim_{key}", []).append(ssim(est, y))
    out = {k: f"{np.mean(v):.4f}" for k, v in scores.items()}
    out["val_images"] = str(len(pairs))
    out["val_reference"] = "target mapped to input units, normalized with the input's percentiles"
    return out


def input_statistics(raw_inputs: list[np.ndarray], norm: str) -> dict[str, str]:
    """Training-input statistics recorded in the card for out-of-distribution warnings."""
    from skimage.restoration import estimate_sigma

    low, high = parse_norm(norm)
    los, his, sig = [], [], []
    for x in raw_inputs:
        lo, hi = percentile_range(x, low, high)
        los.append(lo)
        his.append(hi)
        sig.append(float(estimate_sigma(x)) / max(hi - lo, 1e-6))
    return {"input_lo_median": f"{np.median(los):.4g}", "input_hi_median": f"{np.median(his):.4g}",
            "input_noise_sigma_norm_median": f"{np.median(sig):.4g}",
            "input_noise_sigma_norm_range": f"{np.min(sig):.4g},{np.max(sig):.4g}"}


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

    from fluorecon.export import export_onnx, unet_card
    from fluorecon.nets.unet import build_network
    from fluorecon.train import predict_torch, train_network

    if config.method != "care":  # n2n / n2v / n2s: same card and export, other data and loss
        from fluorecon.tasks.selfsupervised import train_selfsupervised

        return train_selfsupervised(config, out_path, data=data, progress=progress, commit=commit)
    sim = None
    if data is None:
        sim = config.simulation
        raw = [(p.low, p.high) for p in simulate_pairs(sim)]
        source = "simulated phantoms (fluorecon.tasks.denoise.simulate_pairs)"
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
    first, last = history.smoothed()
    train_info = {
        "data": source, "pairs": str(len(train_raw)), "steps": str(config.train.steps),
        "batch_size": str(config.train.batch_size), "patch_size": ",".join(map(str, config.train.patch_size)),
        "lr": str(config.train.lr), "loss": config.train.loss, "seed": str(config.train.seed),
        "device": history.device, "loss_first": f"{first:.5f}", "loss_last": f"{last:.5f}",
        "unet": config.unet.model_dump_json(), "target_units": "input (affine fit of target to input)",
        "commit": commit,
    }
    if sim is not None:
        train_info.update({"psf": sim.psf.model_dump_json(), "noise_model": sim.camera.model_dump_json(),
                           "pixel_size_nm": str(sim.psf.pixel_size_nm),
                           "photons_low": str(sim.photons_low), "photons_high": str(sim.photons_high),
                           "phantom": sim.kind, "seed_data": str(sim.seed)})
    train_info.update(input_statistics([x for x, _ in train_raw], config.norm))
    from fluorecon.qc.ood import training_statistics

    qc = training_statistics([x for x, _ in train_raw], norm=config.norm,
                             pixel_size_nm=sim.psf.pixel_size_nm if sim is not None else None)
    card = unet_card(config.unet, task="denoise", method=config.method, name=config.name, norm=config.norm,
                     cite=CITE, train=train_info, metrics=metrics, qc=qc,
                     description=f"CARE denoising U-Net ({config.ndim}D), residual, trained on low/high pairs; "
                                 "output in the input's intensity units.")
    out_path = Path(out_path)
    export_onnx(network, out_path, card)
    torch.save({"config": config.model_dump(mode="json"), "state_dict": network.state_dict(),
                "card": card.to_metadata()}, out_path.with_suffix(".pt"))
    return card, out_path


register_task(Task(
    key="denoise",
    name="Denoise",
    description="Remove shot and camera noise (CARE U-Net on low/high pairs; non-local means baseline).",
    config=DenoiseConfig,
    methods=("care", "n2n", "n2v", "n2s", "n2v2"),
    simulate=simulate_pairs,
    train=train_denoise,
    baseline=nlm,
))
