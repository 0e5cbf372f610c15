"""Deep image prior (Ulyanov, Vedaldi & Lempitsky, CVPR 2018): denoise one image with no training data.

A randomly initialised U-Net maps a fixed random input ``z`` to an image and is fitted to the
noisy measurement ``y`` by gradient descent on ``‖f(z) − y‖²``. Natural structure is fitted long
before noise, so the iterate passes through a good denoised image and later overfits the noise:
**when to stop is the method**.

Early-stopping rule (Morozov's discrepancy principle): stop at the first check where the mean
squared residual, standardised by the noise variance, falls to ``tau`` (default 1):

    mean( (y − x̂)² / var(x̂) ) ≤ tau,    var(x̂) = a·x̂ + b,

with the Poisson–Gaussian ``a, b`` estimated from ``y`` itself (fluorecon.qc.noise_estimate).
Until then the residual still holds signal; past it the network explains noise. The output is
the exponential moving average of the iterates (as in the DIP paper's "averaged" variant), which
smooths the fluctuations between iterations. `num_iter` bounds the run when the rule never fires.

Stability: the U-Net has no normalisation layers, so a large Adam step can blow the output up
(seen at the paper's lr 0.01: values of ±1e7 in a few dozen iterations). The default rate is 1e-3,
and a step whose loss is not finite or exceeds ``diverge_factor`` × the best loss so far is
undone (weights and optimiser state restored from the last good check) and the rate halved.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from fluorecon.core.normalize import denormalize, normalize, parse_norm, percentile_range
from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.qc.noise_estimate import NoiseModel, estimate_noise
from fluorecon.train import resolve_device

CITE = "Ulyanov, Vedaldi & Lempitsky, Deep image prior, CVPR 2018"


class DIPConfig(BaseModel):
    """Settings of a deep-image-prior run (CLI options, server job body)."""

    model_config = ConfigDict(extra="forbid")

    num_iter: int = Field(2000, ge=1, description="Upper bound on iterations (the stopping rule usually ends earlier).")
    tau: float = Field(1.0, gt=0, description="Discrepancy threshold: stop when the standardised residual variance ≤ tau.")
    check_every: int = Field(10, ge=1, description="Iterations between checks of the stopping rule.")
    early_stop: bool = Field(True, description="Apply the discrepancy principle; False runs all num_iter iterations.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (this U-Net has no normalisation layers: the "
                      "paper's 0.01 diverges; a diverging step is undone and the rate halved).")
    depth: int = Field(3, ge=1, le=5, description="U-Net depth.")
    filters: int = Field(16, ge=1, description="U-Net filters at the first level.")
    input_channels: int = Field(8, ge=1, description="Channels of the fixed random input z.")
    input_scale: float = Field(1.0, gt=0, description="Amplitude of the uniform random input z (the paper's 0.1 "
                               "suits networks with batch normalisation; this one has none, and fits far slower with it).")
    input_noise: float = Field(1 / 30, ge=0, description="Std of the perturbation added to z each iteration (regularises).")
    diverge_factor: float = Field(4.0, gt=1, description="A loss above this × the best so far counts as divergence: "
                                  "the last good weights are restored and the learning rate halved.")
    ema: float = Field(0.9, ge=0, lt=1, description="Weight of the running average of iterates (0 = last iterate).")
    norm: str = Field("percentile:1:99.8", description="Normalization of the measurement during the fit.")
    seed: int = Field(0, description="Seeds z and the weights.")
    device: str = Field("auto", description="'auto' (CUDA when available), 'cpu' or 'cuda'.")


class DIPCancelled(RuntimeError):
    """Raised when `cancel()` turned True during a run."""


@dataclass
class DIPResult:
    """The denoised image (input units), when and why the run stopped, and the history."""

    image: np.ndarray
    stopped_at: int
    reason: str
    noise: NoiseModel
    discrepancy: list[tuple[int, float]] = field(default_factory=list)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    backtracks: int = 0


def stop_iteration(discrepancy: list[tuple[int, float]], *, tau: float = 1.0) -> int | None:
    """The iteration at which the discrepancy principle stops: the first check whose standardised
    residual variance is ≤ `tau` (None if it never is)."""
    return next((it for it, ratio in discrepancy if ratio <= tau), None)


def deep_image_prior(image: np.ndarray, *, config: DIPConfig | None = None, noise: NoiseModel | None = None,
                     progress: bool | Callable[[int, int, float], None] = True,
                     keep_snapshots: bool = False, cancel: Callable[[], bool] | None = None) -> DIPResult:
    """Denoise one 2D (Y, X) or 3D (Z, Y, X) raw image with the deep image prior.

    Parameters
    ----------
    image : ndarray (Y, X) or (Z, Y, X)
        Raw camera image (ADU, offset included), any real dtype.
    config : DIPConfig
    noise : NoiseModel, optional
        Poisson–Gaussian ``var = a·mean + b`` in the image's units; estimated from `image` if None.
    progress : bool or callable(iteration, num_iter, discrepancy)
        A tqdm bar (True), nothing (False), or a callback (e.g. a server job's progress).
    keep_snapshots : bool
        Keep the averaged iterate at every check (for studying the stopping rule).
    cancel : callable() -> bool, optional
        Polled every iteration; True raises :class:`DIPCancelled` (a server job's cancel).

    Returns
    -------
    DIPResult ; ``image`` is float32 in the input's units, shape of `image`.

    References
    ----------
    Ulyanov, Vedaldi & Lempitsky, Deep image prior, CVPR 2018.
    """
    config = config or DIPConfig()
    y_raw = np.asarray(image, np.float32)
    if y_raw.ndim not in (2, 3):
        raise ValueError(f"deep_image_prior takes a (Y, X) or (Z, Y, X) image, got shape {y_raw.shape}.")
    if not np.all(np.isfinite(y_raw)):
        raise ValueError("Image contains NaN or infinite pixels; remove them (Process › Math › Remove NaNs…) first.")
    noise = noise or estimate_noise(y_raw)
    lo, hi = percentile_range(y_raw, *parse_norm(config.norm))
    span = max(hi - lo, 1e-6)
    nd = y_raw.ndim
    m = 2 ** config.depth
    pad = [(0, (-s) % m) for s in y_raw.shape]
    y = np.pad(normalize(y_raw, lo, hi), pad, mode="reflect")
    crop = tuple(slice(0, s) for s in y_raw.shape)

    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    net = build_network(UNetConfig(ndim=nd, depth=config.depth, filters=config.filters, residual=False,
                                   channels_in=config.input_channels, channels_out=1)).to(device)
    gen = torch.Generator().manual_seed(config.seed)
    z = (torch.rand((1, config.input_channels) + y.shape, generator=gen) * config.input_scale).to(device)
    # the network fits the deviation from the mean: at initialisation (output ≈ 0) it already
    # predicts the mean level, so the first iterations go to structure, not to the offset
    centre = np.float32(y.mean())
    target = torch.from_numpy(y - centre)[None, None].to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    avg = None
    result = DIPResult(image=y_raw, stopped_at=config.num_iter, reason="num_iter reached", noise=noise)
    best_loss, lr = float("inf"), config.lr
    good = (copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict()), None)

    bar = None
    if progress is True:
        from fluorecon.core.progress import progress_bar

        bar = progress_bar(total=config.num_iter, desc="deep image prior", leave=False)
    for it in range(1, config.num_iter + 1):
        if cancel is not None and cancel():
            raise DIPCancelled(f"The deep image prior was cancelled at iteration {it - 1}.")
        zin = z + config.input_noise * torch.randn(z.shape, generator=gen).to(device) if config.input_noise else z
        out = net(zin)
        loss = torch.mean((out - target) ** 2)
        value = float(loss.detach())
        if not np.isfinite(value) or (it > 1 and value > config.diverge_factor * best_loss):
            # divergence: back to the last good check, half the step
            net.load_state_dict(good[0])
            opt.load_state_dict(good[1])  # (restores the old rate too: set the halved one after)
            avg = None if good[2] is None else good[2].clone()
            lr *= 0.5
            best_loss = float("inf")  # the restored state's loss is the new reference
            for group in opt.param_groups:
                group["lr"] = lr
            result.backtracks += 1
            continue
        best_loss = min(best_loss, value)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            cur = out.detach()[0, 0]
            avg = cur if avg is None else config.ema * avg + (1 - config.ema) * cur
        if bar is not None:
            bar.update(1)
        if it % config.check_every and it != config.num_iter:
            continue
        good = (copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict()), avg.clone())
        est = avg.cpu().numpy()[crop] + centre
        x_adu = denormalize(est, lo, hi)
        var = noise.variance(x_adu) / np.float32(span) ** 2
        ratio = float(np.mean((y[crop] - est) ** 2 / var))
        result.discrepancy.append((it, ratio))
        if keep_snapshots:
            result.snapshots[it] = x_adu
        if bar is not None:
            bar.set_postfix(discrepancy=f"{ratio:.3f}")
        elif callable(progress):
            progress(it, config.num_iter, ratio)
        if config.early_stop and stop_iteration(result.discrepancy[-1:], tau=config.tau) is not None:
            result.stopped_at, result.reason = it, f"discrepancy {ratio:.3f} ≤ tau {config.tau:g}"
            break
    if bar is not None:
        bar.close()
    if avg is None:  # every step so far diverged
        raise ValueError("The deep image prior diverged at every step; lower the learning rate (lr).")
    result.image = denormalize(avg.cpu().numpy()[crop] + centre, lo, hi)
    return result
