"""Deformable registration: dense optical flow (scikit-image TV-L1 / iterative Lucas–Kanade) and
a learned, unsupervised VoxelMorph-style network trained on simulated deformations (ONNX + card,
task ``register``).

Field convention: ``u`` (ndim, *spatial) with ``moving(p + u(p)) ≈ reference(p)``; apply it with
:func:`fluorecon.tasks.register.physics.warp`.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import torch
from scipy import ndimage
from torch import nn
from torch.nn import functional as F

from fluorecon.core.modelcard import read_card, write_card
from fluorecon.export import export_onnx, unet_card
from fluorecon.imaging.phantoms import phantom
from fluorecon.nets.unet import UNetConfig, build_network
from fluorecon.tasks.register.physics import smooth_displacement, warp

__all__ = ["optical_flow", "DeformNet", "spatial_transform", "train_deform_network", "register_learned",
           "build_register_model"]


def optical_flow(reference: np.ndarray, moving: np.ndarray, *, method: Literal["tvl1", "ilk"] = "tvl1",
                 **options) -> np.ndarray:
    """Dense displacement ``u`` (ndim, *spatial) with ``moving(p + u(p)) ≈ reference(p)``
    (apply it with :func:`fluorecon.tasks.register.physics.warp`), by scikit-image's TV-L1
    (Zach, Pock & Bischof 2007) or iterative Lucas–Kanade optical flow. Intensities are scaled
    to [0, 1] jointly first, so the TV-L1 weights mean the same for any bit depth."""
    from skimage.registration import optical_flow_ilk, optical_flow_tvl1

    reference, moving = np.asarray(reference, np.float32), np.asarray(moving, np.float32)
    if reference.shape != moving.shape:
        raise ValueError(f"reference {reference.shape} and moving {moving.shape} must have the same shape.")
    lo = min(float(reference.min()), float(moving.min()))
    span = max(max(float(reference.max()), float(moving.max())) - lo, 1e-6)
    reference, moving = (reference - lo) / span, (moving - lo) / span
    if method == "tvl1":
        return optical_flow_tvl1(reference, moving, **options).astype(np.float32)
    if method == "ilk":
        return optical_flow_ilk(reference, moving, **options).astype(np.float32)
    raise ValueError(f"method must be 'tvl1' or 'ilk', got {method!r}.")


def spatial_transform(moving: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """Differentiable backward warp of (B, C, H, W) by a pixel displacement field (B, 2, H, W)
    ordered (dy, dx): ``out(p) = moving(p + u(p))`` (bilinear, border values repeated)."""
    _, _, h, w = moving.shape
    ys = torch.arange(h, dtype=moving.dtype, device=moving.device)
    xs = torch.arange(w, dtype=moving.dtype, device=moving.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    py = (gy + displacement[:, 0]) * (2.0 / max(h - 1, 1)) - 1.0
    px = (gx + displacement[:, 1]) * (2.0 / max(w - 1, 1)) - 1.0
    grid = torch.stack([px, py], dim=-1)
    return F.grid_sample(moving, grid, mode="bilinear", padding_mode="border", align_corners=True)


class DeformNet(nn.Module):
    """VoxelMorph-style registration network (Balakrishnan et al., IEEE TMI 38, 1788 (2019)):
    a U-Net on the stacked pair (B, 2, H, W) = (moving, fixed), both normalised jointly, predicting
    the displacement field (B, 2, H, W) = (dy, dx) in pixels with ``moving(p + u(p)) ≈ fixed(p)``.
    Inputs must be multiples of 2**depth per side. This module is what goes to ONNX."""

    def __init__(self, *, filters: int = 16, depth: int = 3):
        super().__init__()

        self.config = UNetConfig(ndim=2, depth=depth, filters=filters, channels_in=2, channels_out=2, residual=False)
        self.unet = build_network(self.config)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.unet(pair)


def _smoothness(field: torch.Tensor) -> torch.Tensor:
    dy = field[:, :, 1:, :] - field[:, :, :-1, :]
    dx = field[:, :, :, 1:] - field[:, :, :, :-1]
    return (dy**2).mean() + (dx**2).mean()


def _norm_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.percentile(np.concatenate([a.ravel(), b.ravel()]), 1)
    hi = np.percentile(np.concatenate([a.ravel(), b.ravel()]), 99.8)
    s = max(hi - lo, 1e-6)
    return ((a - lo) / s).astype(np.float32), ((b - lo) / s).astype(np.float32)


def train_deform_network(*, steps: int = 300, batch_size: int = 4, patch: int = 64, amplitude_px: float = 2.0,
                         smoothness_px: float = 8.0, smooth_weight: float = 0.5, noise: float = 0.02,
                         filters: int = 16, depth: int = 3, lr: float = 1e-3, seed: int = 0, pool: int = 8,
                         images=None, log=None, progress=None) -> tuple[DeformNet, list[float]]:
    """Train :class:`DeformNet` unsupervised on simulated deformations of phantoms, or of the user's `images`
    (2D, each at least `patch` on a side; scaled to 0–1 by their 1/99.8 percentiles).

    Loss = mean squared difference between the warped moving image and the fixed image +
    `smooth_weight` × mean squared field gradient. The simulated field only makes the pairs; the
    loss never sees it. `progress(done, total)` is called every step. Returns (network, losses).
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    size = 2 * patch
    if images is not None:
        images = [np.asarray(im, np.float32) for im in images]
        small = [im.shape for im in images if im.ndim != 2 or min(im.shape) < patch]
        if not images or small:
            raise ValueError(f"training images must be 2D and at least {patch}×{patch} px; got {small or 'none'}.")
        images = [np.clip(_norm_pair(im, im)[0], -0.5, 1.5) for im in images]
    else:
        images = [ndimage.gaussian_filter(phantom((size, size), seed=int(s)), 1.0)
                  for s in rng.integers(0, 2**31, pool)]
        # Dense textures give a gradient everywhere; sparse cell phantoms alone left most patches empty.
        for _ in range(pool):
            texture = ndimage.gaussian_filter(rng.random((size, size)), rng.uniform(1.5, 3.0))
            images.append(((texture - texture.min()) / np.ptp(texture)).astype(np.float32))
    pool = len(images)
    net = DeformNet(filters=filters, depth=depth)
    optim = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        moving, fixed = [], []
        for _ in range(batch_size):
            img = images[rng.integers(pool)]
            y0, x0 = rng.integers(0, np.array(img.shape) - patch + 1)
            crop = img[y0:y0 + patch, x0:x0 + patch]
            field = smooth_displacement(crop.shape, amplitude_px=amplitude_px * rng.uniform(0.3, 1.0),
                                        smoothness_px=smoothness_px, seed=int(rng.integers(2**31)))
            m = crop + rng.normal(scale=noise, size=crop.shape)
            f = warp(crop, field) + rng.normal(scale=noise, size=crop.shape)
            m, f = _norm_pair(m, f)
            moving.append(m[None])
            fixed.append(f[None])
        m_t = torch.from_numpy(np.stack(moving))
        f_t = torch.from_numpy(np.stack(fixed))
        field = net(torch.cat([m_t, f_t], dim=1))
        warped = spatial_transform(m_t, field)
        # A blurred copy of the similarity widens the capture range (gradients from further away).
        coarse = F.mse_loss(F.avg_pool2d(warped, 5, 1, 2), F.avg_pool2d(f_t, 5, 1, 2))
        loss = F.mse_loss(warped, f_t) + coarse + smooth_weight * 1e-2 * _smoothness(field)
        optim.zero_grad()
        loss.backward()
        # Clipped: one large field prediction sent an unclipped run (lr 2e-3) to a plateau it never left.
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optim.step()
        losses.append(float(loss.detach()))
        if log and step % 50 == 0:
            log(f"step {step} loss {np.mean(losses[-50:]):.5f}")
        if progress is not None:
            progress(step + 1, steps)
    return net.eval(), losses


def register_learned(reference: np.ndarray, moving: np.ndarray, network: "DeformNet | str | os.PathLike") -> np.ndarray:
    """Displacement field (2, H, W) from a trained :class:`DeformNet` or its ONNX export (task
    ``register``), same convention as :func:`optical_flow`. The pair is normalised jointly
    (percentiles 1 and 99.8 of both images) and padded (reflect) to the network's multiple."""
    reference, moving = np.asarray(reference, np.float32), np.asarray(moving, np.float32)
    if reference.shape != moving.shape or reference.ndim != 2:
        raise ValueError(f"reference {reference.shape} and moving {moving.shape} must be 2D with the same shape.")
    m_n, f_n = _norm_pair(moving, reference)
    if isinstance(network, DeformNet):
        mult = network.config.multiple
        run = lambda batch: network(torch.from_numpy(batch)).detach().numpy()  # noqa: E731
    else:
        from fluorecon.infer import get_predictor

        predictor = get_predictor(network)
        if predictor.card.task != "register":
            raise ValueError(f"Model '{predictor.card.name}' is a '{predictor.card.task}' model, not 'register'.")
        mult = predictor.card.tile_multiple[0]
        run = predictor._run
    pad = [(0, (-n) % mult) for n in reference.shape]
    pair = np.stack([np.pad(m_n, pad, mode="reflect"), np.pad(f_n, pad, mode="reflect")])[None]
    with torch.no_grad():
        field = run(np.ascontiguousarray(pair, np.float32))[0]
    return field[:, : reference.shape[0], : reference.shape[1]].astype(np.float32)


def build_register_model(path: str | os.PathLike, *, steps: int = 1200, seed: int = 0, log=print, images=None,
                         data: str = "", progress=None, val_size: int = 128, name: str | None = None) -> dict:
    """Train and export (ONNX + card, task ``register``) the 2D deformable-registration network (on the user's
    `images`, described by `data`, where given); returns validation figures on `val_size`² phantoms (field RMSE
    of the network, of TV-L1 and of no registration)."""
    net, losses = train_deform_network(steps=steps, seed=seed, log=log, images=images, progress=progress)
    card = unet_card(net.config, task="register", method="voxelmorph",
                     name=name or os.path.splitext(os.path.basename(str(path)))[0],
                     tile_default=256,
                     description=("Deformable 2D registration: input (1, 2, H, W) = (moving, fixed) normalised jointly "
                                  "(percentiles 1, 99.8 of both); output (1, 2, H, W) = displacement (dy, dx) in pixels "
                                  "with moving(p + u(p)) ≈ fixed(p). Run on the whole image (pad to the multiple)."),
                     cite="Balakrishnan et al., VoxelMorph, IEEE TMI 38, 1788 (2019)",
                     train={"data": (f"{data} " if data else "phantoms ") +
                                    "warped by smooth random fields (amplitude <= 2 px RMS, smoothness 8 px)",
                            "loss": "MSE + smoothness", "steps": str(steps), "seed": str(seed),
                            "final_loss": f"{np.mean(losses[-50:]):.4g}"})
    export_onnx(net, path, card)
    rng = np.random.default_rng(seed + 7)
    errors = {"learned": [], "tvl1": [], "none": []}
    for s in range(3):
        moving = ndimage.gaussian_filter(phantom((val_size, val_size), seed=9000 + s), 1.0)
        truth = smooth_displacement(moving.shape, amplitude_px=2.0, smoothness_px=10.0, seed=s)
        fixed = warp(moving, truth) + rng.normal(scale=0.02, size=moving.shape)
        noisy = moving + rng.normal(scale=0.02, size=moving.shape)
        for name, field in (("learned", register_learned(fixed, noisy, path)), ("tvl1", optical_flow(fixed, noisy)),
                            ("none", np.zeros_like(truth))):
            errors[name].append(float(np.sqrt(np.mean((field - truth) ** 2))))
    metrics = {f"field_rmse_px_{k}": f"{np.mean(v):.4f}" for k, v in errors.items()}
    write_card(path, read_card(path).model_copy(update={"metrics": metrics}))
    log(str(metrics))
    return metrics
