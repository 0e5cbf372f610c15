"""Denoising without clean data: Noise2Noise, Noise2Void (with structN2V) and Noise2Self.

- **Noise2Noise** (Lehtinen et al., ICML 2018): input and target are two independent noisy
  acquisitions of the same field; with an L2 loss the network learns E[target | input], the
  noise-free image, because the target's noise is zero-mean and independent of the input.
- **Noise2Void** (Krull et al., CVPR 2019): a blind spot. In every patch ~0.2–2 % of the pixels
  (one per cell of a stratified grid) are replaced by a random neighbour; the loss is taken on
  those pixels only, against their original noisy values. The network never sees a pixel's own
  noise, so it can only predict it from the context: E[pixel | neighbours] — the noise-free value
  when the noise is pixel-wise independent. **structN2V** (Broaddus et al., ISBI 2020) also hides
  a line of pixels along one axis around each blind spot (random values), for noise correlated
  along that axis (e.g. sCMOS column/line noise).
- **N2V2** (Höck et al., ECCV BIC workshop 2022): Noise2Void without its checkerboard artefacts —
  max-blur-pool down-sampling instead of max pooling, no top-level skip connection
  (``UNetConfig(pooling="blurpool", skip_top=False)``) and the blind spot replaced by the median of
  its neighbours (itself excluded), so the replacement value never equals a neighbour's noise.
- **Noise2Self** (Batson & Royer, ICML 2019): J-invariant grid masking. One pixel per g×g(×g)
  grid cell at a random phase is masked and replaced by the mean of its neighbours (a "donut"
  interpolation); the loss is taken on the masked set.

The blind-spot methods need a network whose output at a pixel does not pass the pixel's own
(replaced) value through: the U-Net is used without its residual connection. Masking is done in
torch on the batch, for 2D and 3D patches alike.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.nn import functional as F

from fluorecon.core.io import read_tiff
from fluorecon.core.normalize import normalize, parse_norm, percentile_range
from fluorecon.export import save_model, unet_card
from fluorecon.nets.unet import build_network
from fluorecon.qc.ood import training_statistics
from fluorecon.tasks.denoise.qc import input_statistics, score_pairs
from fluorecon.tasks.denoise.simulate import simulate_pairs
from fluorecon.tasks.denoise.spec import N2V2_UNET, SELF_SUPERVISED, DenoiseSimulation, MaskingConfig  # noqa: F401  (re-exported)
from fluorecon.train import TrainResult, _sample_batch, card_train_info, cpu_layout, normalize_pair, optimizer_and_schedule, predict_torch, resolve_device, train_network

N2V_CITE = "Krull, Buchholz & Jug, Noise2Void - learning denoising from single noisy images, CVPR 2019"
N2S_CITE = "Batson & Royer, Noise2Self: blind denoising by self-supervision, ICML 2019"
N2N_CITE = "Lehtinen et al., Noise2Noise: learning image restoration without clean data, ICML 2018"
N2V2_CITE = ("Höck et al., N2V2 - fixing Noise2Void checkerboard artifacts with modified sampling strategies and a "
             "tweaked network architecture, ECCV Workshops (BIC) 2022")
CITES = {"n2v": N2V_CITE, "n2s": N2S_CITE, "n2n": N2N_CITE, "n2v2": N2V2_CITE}
LABELS = {"n2n": "Noise2Noise", "n2v": "Noise2Void", "n2s": "Noise2Self", "n2v2": "N2V2"}

StepCallback = Callable[[int, int, float], None]


class TrainingCancelled(Exception):
    """Training was stopped because ``cancel()`` returned True; no model was written."""


def _reflect(idx: torch.Tensor, size: int) -> torch.Tensor:
    if size == 1:
        return torch.zeros_like(idx)
    period = 2 * (size - 1)
    idx = torch.remainder(idx, period)
    return torch.where(idx >= size, period - idx, idx)


def _flat(coords: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    flat = torch.zeros(coords.shape[:-1], dtype=torch.long, device=coords.device)
    for d, s in enumerate(shape):
        flat = flat * s + coords[..., d]
    return flat


def n2v_mask(batch: torch.Tensor, masking: MaskingConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise2Void blind spots for a batch (B, 1, *spatial).

    Returns ``(masked_input, mask)``: the input with ~``fraction`` of its pixels replaced by a
    random neighbour (or the neighbours' median) and the float mask (1 on the blind spots).
    With ``struct_axis`` the pixels along that axis next to each blind spot get random values
    drawn from the patch, so noise correlated along the axis cannot leak into the prediction.
    """
    b, c, *spatial = batch.shape
    nd = len(spatial)
    dev = batch.device
    cell = max(1, round((1.0 / masking.fraction) ** (1.0 / nd)))
    counts = [math.ceil(s / cell) for s in spatial]
    grid = torch.stack(torch.meshgrid(*[torch.arange(n, device=dev) * cell for n in counts], indexing="ij"), -1)
    grid = grid.reshape(1, -1, nd)
    m = grid.shape[1]
    size = torch.tensor(spatial, device=dev)
    coords = grid + torch.randint(0, cell, (b, m, nd), generator=generator, device=dev)
    coords = torch.minimum(coords, size - 1)  # cells cut by the border: duplicates are harmless
    flat_in = batch.reshape(b, -1)
    centre = _flat(coords, spatial)
    r = masking.radius
    if masking.replacement == "median":
        window = torch.stack(torch.meshgrid(*[torch.arange(-r, r + 1, device=dev)] * nd, indexing="ij"), -1).reshape(-1, nd)
        window = window[(window != 0).any(-1)]
        nb = coords[:, :, None, :] + window[None, None]
        nb = torch.stack([_reflect(nb[..., d], spatial[d]) for d in range(nd)], -1)
        values = torch.gather(flat_in, 1, _flat(nb, spatial).reshape(b, -1)).reshape(b, m, -1).median(-1).values
    else:
        offsets = torch.randint(-r, r + 1, (b, m, nd), generator=generator, device=dev)
        zero = (offsets == 0).all(-1)
        # A zero offset would show the pixel its own noise: push it one step along the last axis.
        offsets[..., -1] = torch.where(zero, torch.where(torch.rand(zero.shape, generator=generator, device=dev) < 0.5,
                                                         -1, 1), offsets[..., -1])
        nb = coords + offsets
        nb = torch.stack([_reflect(nb[..., d], spatial[d]) for d in range(nd)], -1)
        values = torch.gather(flat_in, 1, _flat(nb, spatial))
    masked = flat_in.clone()
    if masking.struct_axis is not None:
        axis = masking.struct_axis % nd
        half = masking.struct_length // 2
        for k in [k for k in range(-half, half + 1) if k]:
            line = coords.clone()
            line[..., axis] = _reflect(line[..., axis] + k, spatial[axis])
            pick = torch.randint(0, flat_in.shape[1], line.shape[:-1], generator=generator, device=dev)
            masked.scatter_(1, _flat(line, spatial), torch.gather(flat_in, 1, pick))
    masked.scatter_(1, centre, values)
    mask = torch.zeros_like(flat_in).scatter_(1, centre, 1.0)
    return masked.reshape(batch.shape), mask.reshape(batch.shape)


def n2s_mask(batch: torch.Tensor, masking: MaskingConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise2Self J-invariant grid masking for a batch (B, 1, *spatial).

    One pixel per ``grid``-sided cell, at a random phase per patch, is replaced by the mean of its
    3^n − 1 neighbours (donut interpolation). Returns ``(masked_input, mask)``.
    """
    b, c, *spatial = batch.shape
    nd = len(spatial)
    dev = batch.device
    g = masking.grid
    phase = torch.randint(0, g, (b, nd), generator=generator, device=dev)
    mask = torch.ones_like(batch, dtype=torch.bool)
    for d, s in enumerate(spatial):
        idx = torch.arange(s, device=dev)
        on = (idx[None] - phase[:, d:d + 1]) % g == 0  # (B, s)
        view = [b] + [1] * nd
        view[1 + d] = s
        mask = mask & on.reshape(view).unsqueeze(1)
    kernel = torch.ones((1, 1) + (3,) * nd, device=dev, dtype=batch.dtype)
    kernel.view(-1)[kernel.numel() // 2] = 0
    kernel /= kernel.sum()
    conv = F.conv2d if nd == 2 else F.conv3d
    padded = F.pad(batch, (1, 1) * nd, mode="reflect")
    donut = conv(padded, kernel)
    return torch.where(mask, donut, batch), mask.to(batch.dtype)


def masked_loss(kind: str, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1, L2 or Laplace NLL averaged over the masked pixels only."""
    c = target.shape[1]
    mean = output[:, :c]
    if kind == "laplace":
        if output.shape[1] != 2 * c:
            raise ValueError("loss='laplace' needs a probabilistic network (UNetConfig(probabilistic=True)).")
        scale = output[:, c:]
        per_pixel = torch.abs(target - mean) / scale + torch.log(scale)
    else:
        per_pixel = torch.abs(target - mean) if kind == "l1" else (target - mean) ** 2
    return (per_pixel * mask).sum() / mask.sum().clamp_min(1)


def train_blind_spot(network: torch.nn.Module, images: Sequence[np.ndarray], config, *,
                     method: Literal["n2v", "n2s", "n2v2"], masking: MaskingConfig | None = None,
                     progress: bool | StepCallback = True, cancel: Callable[[], bool] | None = None,
                     report_every_s: float = 0.5, cancel_every_s: float = 0.1):
    """Train `network` in place with Noise2Void / N2V2 or Noise2Self masking on normalized noisy images.

    Parameters
    ----------
    network : nn.Module, (B, 1, *patch) → (B, 1 or 2, *patch), without a residual connection
    images : sequence of float32 arrays (Y, X) or (Z, Y, X), normalized, at least ``patch_size``
    config : fluorecon.train.TrainConfig
    method : "n2v", "n2v2" (same masking; the N2V2 network and median replacement come from the
        caller's config) or "n2s"
    masking : MaskingConfig
    progress : True/False for a text progress bar, or a callable ``progress(step, total, loss)``
        called after the first and the last step and at most every `report_every_s` seconds
        between (``loss``: mean of the steps since the last call).
    cancel : callable returning True to stop; checked before every step, at most every
        `cancel_every_s` seconds (a server's cancel flag is a database read).
        Stopping raises :class:`TrainingCancelled` and leaves the network in eval mode on the CPU.

    Returns
    -------
    fluorecon.train.TrainResult
    """
    from fluorecon.core.progress import progress_bar

    if method not in SELF_SUPERVISED:
        raise ValueError(f"method must be one of {SELF_SUPERVISED}, got {method!r}.")
    if getattr(getattr(network, "config", None), "residual", False):
        raise ValueError("Blind-spot training needs a U-Net without residual connection (UNetConfig(residual=False)): "
                         "a residual passes the pixel's own value to the output.")
    if not images:
        raise ValueError("No training images were given; check the data folder.")
    masking = masking or MaskingConfig()
    patch = tuple(config.patch_size)
    for x in images:
        if x.ndim != len(patch) or any(s < p for s, p in zip(x.shape, patch)):
            raise ValueError(f"Training image of shape {x.shape} is smaller than patch_size {patch}; "
                             "use a smaller patch_size or larger images.")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    layout = cpu_layout(len(patch), device)  # channels-last on the CPU, 2D and 3D (back to default after)
    network.to(device, memory_format=layout).train()
    opt, sched = optimizer_and_schedule(network, config, foreach=True)
    mask_fn = n2s_mask if method == "n2s" else n2v_mask
    pairs = [(x, x) for x in images]
    result = TrainResult(device=str(device))
    callback = progress if callable(progress) else None
    bar = progress_bar(total=config.steps, desc=f"training {method}", disable=callback is not None or not progress,
               leave=False)
    # Losses stay on the device and are read back in blocks: a float() per step would wait for the
    # GPU every step (no cost on the CPU, where the step is synchronous anyway).
    pending: list[torch.Tensor] = []
    reported, last_report, last_cancel_check = 0, -math.inf, -math.inf

    def drain() -> None:
        if pending:
            result.losses.extend(torch.stack(pending).cpu().tolist())
            pending.clear()

    try:
        for step in range(config.steps):
            now = time.monotonic()
            if cancel is not None and now - last_cancel_check >= cancel_every_s:
                last_cancel_check = now
                if cancel():
                    raise TrainingCancelled(f"Training was cancelled after {step} of {config.steps} steps; "
                                            "no model was written.")
            xb, _ = _sample_batch(pairs, patch, config.batch_size, rng, config.augment)
            xb = torch.from_numpy(xb).to(device, non_blocking=True)
            with torch.no_grad():
                masked, mask = mask_fn(xb, masking, gen)
            loss = masked_loss(config.loss, network(masked.contiguous(memory_format=layout)).float(), xb, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            pending.append(loss.detach())
            done = step + 1
            if time.monotonic() - last_report >= report_every_s or done == config.steps or done == 1:
                drain()
                last_report = time.monotonic()
                recent = float(np.mean(result.losses[reported:]))
                reported = len(result.losses)
                if callback is not None:
                    callback(done, config.steps, recent)
                else:
                    bar.update(done - bar.n)
                    bar.set_postfix(loss=f"{recent:.4f}")
        drain()
    finally:
        bar.close()
        network.eval().to("cpu", memory_format=torch.contiguous_format)
    return result


def checkerboard_energy(image: np.ndarray, *, width: int = 1) -> float:
    """Share of an image's spectral power at the Nyquist corners: the period-2 patterns
    (checkerboards, one-pixel stripes) that Noise2Void's artefacts are made of (Höck et al. 2022).

    The image (2D or 3D, mean removed, Hann-windowed against edge leakage) is Fourier transformed;
    the measure is the power in the bins within `width` of a frequency whose every axis is 0 or
    ±Nyquist and at least one axis is Nyquist, divided by the power in all bins but DC. A PSF-blurred
    fluorescence image has next to no signal there, so its value is set by noise left in the output
    and by artefacts. Returns a float in [0, 1].
    """
    image = np.asarray(image, np.float64)
    if image.ndim not in (2, 3) or min(image.shape) < 4 * width + 4:
        raise ValueError(f"image must be 2D or 3D with every side >= {4 * width + 4}, got shape {image.shape}.")
    window = np.ones_like(image)
    for axis, n in enumerate(image.shape):
        shape = [1] * image.ndim
        shape[axis] = n
        window = window * np.hanning(n).reshape(shape)
    power = np.abs(np.fft.fftn((image - image.mean()) * window)) ** 2
    near = []
    for n in image.shape:
        f = np.abs(np.fft.fftfreq(n) * n)  # |frequency| in bins, Nyquist = n/2
        near.append((f <= width, f >= n / 2 - width))  # (near DC, near Nyquist) per axis
    zero = np.ones(image.shape, bool)
    corner_or_zero = np.ones(image.shape, bool)
    for axis, (dc, nyq) in enumerate(near):
        shape = [1] * image.ndim
        shape[axis] = -1
        corner_or_zero = corner_or_zero & (dc | nyq).reshape(shape)
        zero = zero & dc.reshape(shape)
    corners = corner_or_zero & ~zero
    total = power.sum() - power.flat[0]
    return float(power[corners].sum() / max(total, 1e-30))


# --- data -------------------------------------------------------------------------------------

def _tiffs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.tif*") if p.is_file())


def load_noisy_images(data_dir: str | os.PathLike, *, ndim: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Noisy images for N2V/N2S: DIR/low/*.tif when that folder exists, else DIR/*.tif.

    Returns ``(images, clean)``; ``clean`` holds DIR/clean/<same name> (simulated truth) when
    every image has one, else None (then no PSNR can be reported).
    """
    root = Path(data_dir)
    folder = root / "low" if (root / "low").is_dir() else root
    files = _tiffs(folder)
    if not files:
        raise FileNotFoundError(f"No TIFF images in {folder}; give a folder of noisy TIFFs (or DIR/low/*.tif).")
    images = []
    for f in files:
        image, meta = read_tiff(f)
        if ndim is not None and image.ndim != ndim:
            raise ValueError(f"{f.name} has {image.ndim} axes ({meta.axes}) but a {ndim}D model was requested; "
                             "use --ndim to match the images.")
        images.append(image.astype(np.float32))
    clean_files = [root / "clean" / f.name for f in files]
    clean = [read_tiff(p)[0].astype(np.float32) for p in clean_files] if all(p.is_file() for p in clean_files) else None
    return images, clean


def load_n2n_pairs(data_dir: str | os.PathLike, *, ndim: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Matched acquisitions for N2N: DIR/a/*.tif with DIR/b/*.tif, or DIR/low/ with DIR/high/
    (``fluorecon simulate denoise --photons-high P`` with P = --photons-low writes such pairs)."""
    root = Path(data_dir)
    first, second = (root / "a", root / "b") if (root / "a").is_dir() else (root / "low", root / "high")
    if not first.is_dir() or not second.is_dir():
        raise FileNotFoundError(f"{root} must contain two folders of matched noisy acquisitions, a/ and b/ "
                                "(or low/ and high/), with the same file names.")
    pairs = []
    for f in _tiffs(first):
        other = second / f.name
        if not other.is_file():
            raise FileNotFoundError(f"{first.name}/{f.name} has no partner {second.name}/{f.name}.")
        x, meta = read_tiff(f)
        y, _ = read_tiff(other)
        if x.shape != y.shape:
            raise ValueError(f"{f.name}: the two acquisitions differ in shape ({x.shape} vs {y.shape}).")
        if ndim is not None and x.ndim != ndim:
            raise ValueError(f"{f.name} has {x.ndim} axes ({meta.axes}) but a {ndim}D model was requested.")
        pairs.append((x.astype(np.float32), y.astype(np.float32)))
    if not pairs:
        raise FileNotFoundError(f"No TIFF pairs in {first} and {second}.")
    return pairs


def simulate_n2n(sim, *, n: int | None = None, seed: int | None = None):
    """Simulated N2N data: `simulate_pairs` with the 'high' acquisition at the input's photons,
    i.e. two independent noisy exposures of each phantom (``Pair.low``, ``Pair.high``), ``clean`` = truth."""
    return simulate_pairs(sim.model_copy(update={"photons_high": sim.photons_low, "target": "high"}), n=n, seed=seed)


# --- the task's training entry point ------------------------------------------------------------

def evaluate_against_clean(images: Sequence[np.ndarray], clean: Sequence[np.ndarray], predict_fn, *, multiple: int,
                           method: str, norm: str, nlm_baseline: bool = True) -> dict[str, str]:
    """PSNR/SSIM of the raw input, NLM and the network against the noise-free truth, all normalized
    with the input's percentiles (clean is already in the input's units)."""
    pairs = [normalize_pair(raw, truth, norm=norm, match=False) for raw, truth in zip(images, clean)]
    return score_pairs(pairs, predict_fn, multiple=multiple, nlm_baseline=nlm_baseline, method=method,
                       reference="noise-free truth (simulation), normalized with the input's percentiles")


def train_selfsupervised(config, out_path: str | os.PathLike, *, data=None,
                         progress: bool | StepCallback = True, cancel: Callable[[], bool] | None = None,
                         commit: str = ""):
    """Train N2N, N2V, N2V2 or N2S (``config.method``), export ONNX with its card (task 'denoise') and a
    ``.pt`` checkpoint beside it.

    Parameters
    ----------
    config : fluorecon.tasks.denoise.learned.DenoiseConfig with method 'n2n', 'n2v' or 'n2s'
    out_path : path of the ``.onnx`` to write
    data : None (simulate with ``config.simulation``); a folder (n2v/n2s: noisy TIFFs in DIR/low/ or
        DIR/; n2n: DIR/a + DIR/b or DIR/low + DIR/high); or in memory: a list of noisy arrays
        (n2v/n2s) or of (acquisition 1, acquisition 2) arrays (n2n).
    progress, cancel : as :func:`train_blind_spot` (N2N: ``progress`` as a bool only). A cancelled
        run raises :class:`TrainingCancelled` before anything is written.

    Returns
    -------
    (card, onnx path)
    """
    method = config.method
    sim, clean = None, None
    pixel_size_nm = None
    if data is None:
        sim = config.simulation
        simulated = simulate_n2n(sim) if method == "n2n" else simulate_pairs(sim)
        raw = [(p.low, p.high) for p in simulated] if method == "n2n" else [p.low for p in simulated]
        clean = [p.clean for p in simulated]
        source = "simulated phantoms (fluorecon.tasks.denoise.learned.simulate_pairs)"
    elif isinstance(data, (str, os.PathLike)):
        if method == "n2n":
            raw = load_n2n_pairs(data, ndim=config.ndim)
        else:
            raw, clean = load_noisy_images(data, ndim=config.ndim)
        sim_file = Path(data) / "simulation.json"
        if sim_file.is_file():
            sim = DenoiseSimulation(**json.loads(sim_file.read_text()))
        source = f"folder {Path(data).name}"
    else:
        raw = list(data)
        source = "images given in memory"
    if sim is not None:
        pixel_size_nm = sim.psf.pixel_size_nm
    inputs = [r[0] for r in raw] if method == "n2n" else list(raw)
    if not inputs:
        raise ValueError("No training images were given.")

    torch.manual_seed(config.train.seed)
    network = build_network(config.unet)
    if method == "n2n":
        # Both acquisitions share camera and exposure: no affine fit (a noisy regressor would bias it).
        pairs = [normalize_pair(x, y, norm=config.norm, match=False) for x, y in raw]
        history = train_network(network, pairs, config.train, progress=bool(progress) and not callable(progress))
    else:
        low, high = parse_norm(config.norm)
        normed = [normalize(x, *percentile_range(x, low, high)) for x in inputs]
        history = train_blind_spot(network, normed, config.train, method=method, masking=config.masking,
                                   progress=progress, cancel=cancel)
    metrics: dict[str, str] = {}
    if clean is not None:
        metrics = evaluate_against_clean(inputs, clean, lambda x: predict_torch(network, x),
                                         multiple=config.unet.multiple, method=method, norm=config.norm,
                                         nlm_baseline=config.nlm_baseline)
    train_info = {
        "data": source, "images": str(len(inputs)), **card_train_info(config.train, history),
        "unet": config.unet.model_dump_json(), "target_units": "input (self-supervised: the noisy data themselves)",
        "commit": commit,
    }
    if method in SELF_SUPERVISED:
        train_info["masking"] = config.masking.model_dump_json()
    if sim is not None:
        train_info.update({"noise_model": sim.camera.model_dump_json(), "pixel_size_nm": str(sim.psf.pixel_size_nm),
                           "photons_low": str(sim.photons_low), "phantom": sim.kind, "seed_data": str(sim.seed)})
    train_info.update(input_statistics(inputs, config.norm))
    qc = training_statistics(inputs, norm=config.norm, pixel_size_nm=pixel_size_nm)
    label = LABELS[method]
    card = unet_card(config.unet, task="denoise", method=method, name=config.name, norm=config.norm,
                     cite=CITES[method], train=train_info, metrics=metrics, qc=qc,
                     description=f"{label} denoising U-Net ({config.ndim}D), trained without clean images; "
                                 "output in the input's intensity units.")
    return card, save_model(network, out_path, card, config)
