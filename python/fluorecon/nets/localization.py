"""Localisation networks built on the CARE U-Net (:mod:`fluorecon.nets.unet`).

Deep-STORM (Nehme et al., Optica 5, 458 (2018)): one frame → a super-resolved density, ``scale``×
finer than the camera grid, where each emitter is a small Gaussian blob integrating to
``DENSITY_SCALE``. Difference to the paper: the U-Net runs on the camera grid and a sub-pixel
convolution (PixelShuffle, ONNX DepthToSpace) makes the fine grid, instead of up-sampling the
input first — 16× less compute at ×4 for the same output.

DECODE-style (Speiser et al., Nat. Methods 18, 1082 (2021)): three consecutive frames (t−1, t, t+1)
as channels → per camera pixel: detection probability p, sub-pixel offsets dx, dy, z, photons,
their standard deviations and the background. Difference to the paper: one U-Net over the stacked
frames instead of a frame-wise then a temporal U-Net. The exported graph emits physical units
(see :data:`DECODE_CHANNELS`), so a consumer needs no constants from the card.
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from fluorecon.nets.unet import UNet, UNetConfig

DENSITY_SCALE = 100.0
DECODE_CHANNELS = ("p", "dx_px", "dy_px", "z_nm", "photons", "sigma_x_px", "sigma_y_px", "sigma_z_nm",
                   "sigma_photons", "background_photons")


class LocalizationNetConfig(BaseModel):
    """Architecture of a localisation network."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field("deepstorm", pattern="^(deepstorm|decode)$", description="'deepstorm' or 'decode'.")
    scale: int = Field(4, ge=1, le=16, description="Deep-STORM up-sampling factor (1 for DECODE).")
    depth: int = Field(2, ge=1, le=4, description="U-Net depth.")
    filters: int = Field(16, ge=4, le=128, description="U-Net filters at the first level.")
    input_scale_photons: float = Field(100.0, gt=0, description="Network input = photons / this.")
    photons_max: float = Field(10000.0, gt=0, description="DECODE: largest photon count it can output.")
    z_max_nm: float = Field(500.0, gt=0, description="DECODE: largest |z| it can output.")

    def unet(self) -> UNetConfig:
        cin = 1 if self.method == "deepstorm" else 3
        cout = self.scale**2 if self.method == "deepstorm" else len(DECODE_CHANNELS)
        return UNetConfig(ndim=2, depth=self.depth, filters=self.filters, channels_in=cin, channels_out=cout,
                          residual=False)


class DeepSTORMNet(nn.Module):
    """(B, 1, Y, X) photons/input_scale → (B, 1, s·Y, s·X) density (each emitter integrates to DENSITY_SCALE)."""

    def __init__(self, config: LocalizationNetConfig):
        super().__init__()
        self.config = config
        self.unet = UNet(config.unet())
        self.shuffle = nn.PixelShuffle(config.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.unet(x))


class DecodeNet(nn.Module):
    """(B, 3, Y, X) frames t−1, t, t+1 in photons/input_scale → (B, 10, Y, X), channels
    :data:`DECODE_CHANNELS` in physical units; :meth:`forward_raw` gives the training parametrisation."""

    def __init__(self, config: LocalizationNetConfig):
        super().__init__()
        self.config = config
        self.unet = UNet(config.unet())

    def forward_raw(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """p logits and parameters in normalised units: offsets in px, z/z_max, photons/photons_max,
        their σ (same units), background in input units."""
        out = self.unet(x)
        return {
            "logit": out[:, 0],
            "mean": torch.stack([torch.tanh(out[:, 1]), torch.tanh(out[:, 2]), torch.tanh(out[:, 3]),
                                 torch.sigmoid(out[:, 4])], 1),
            # DECODE's σ parametrisation: sigmoid·3 + 0.01 keeps the mixture from collapsing.
            "sigma": torch.sigmoid(out[:, 5:9]) * 3 + 0.01,
            "background": nn.functional.softplus(out[:, 9]),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.forward_raw(x)
        c = self.config
        m, s = raw["mean"], raw["sigma"]
        return torch.stack([
            torch.sigmoid(raw["logit"]), m[:, 0], m[:, 1], m[:, 2] * c.z_max_nm, m[:, 3] * c.photons_max,
            s[:, 0], s[:, 1], s[:, 2] * c.z_max_nm, s[:, 3] * c.photons_max,
            raw["background"] * c.input_scale_photons,
        ], 1)


def build_localization_net(config: LocalizationNetConfig) -> nn.Module:
    """The factory: a network from its config."""
    return DeepSTORMNet(config) if config.method == "deepstorm" else DecodeNet(config)


def deepstorm_loss(density: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Deep-STORM's loss: MSE of the densities after a Gaussian blur (σ = 1 fine pixel), so a
    near-miss costs little, plus a small L1 sparsity term (Nehme 2018)."""
    g = torch.exp(-0.5 * torch.arange(-3, 4, dtype=torch.float32, device=density.device) ** 2)
    k2 = torch.outer(g, g)
    k2 = (k2 / k2.sum())[None, None]
    diff = nn.functional.conv2d(density - target, k2, padding=3)
    return (diff**2).mean() + 1e-3 * density.abs().mean()


def decode_loss(raw: dict[str, torch.Tensor], targets: torch.Tensor, mask: torch.Tensor,
                background: torch.Tensor) -> torch.Tensor:
    """DECODE's loss: count NLL + Gaussian-mixture localisation NLL + background MSE.

    Parameters
    ----------
    raw : :meth:`DecodeNet.forward_raw` output for (B, 3, H, W) input
    targets : (B, M, 4) true (x_px, y_px, z/z_max, photons/photons_max) of the central frame's
        emitters, x/y in pixels of the patch (pixel centres at i + 0.5); padded rows arbitrary
    mask : (B, M) bool, which rows are real emitters
    background : (B, H, W) true background in input units

    The mixture has one component per pixel k with weight p_k/Σp, mean (pixel centre + offset, z,
    photons) and diagonal σ; the count term is the Gaussian approximation of the Poisson-binomial
    number of detections (mean Σp, variance Σp(1−p)) evaluated at the true count (Speiser 2021, eq. 2–4).
    """
    logit, mean, sigma = raw["logit"], raw["mean"], raw["sigma"]
    b, h, w = logit.shape
    p = torch.sigmoid(logit).reshape(b, -1)
    ys, xs = torch.meshgrid(torch.arange(h, device=logit.device), torch.arange(w, device=logit.device), indexing="ij")
    centre = torch.stack([xs.reshape(-1) + 0.5, ys.reshape(-1) + 0.5], 0).float()  # (2, K)
    mu = mean.reshape(b, 4, -1).clone()
    mu = torch.cat([mu[:, :2] + centre[None], mu[:, 2:]], 1)  # (B, 4, K)
    sig = sigma.reshape(b, 4, -1)
    count = mask.sum(1).float()
    p_sum = p.sum(1)
    p_var = (p * (1 - p)).sum(1) + 1e-6
    count_nll = 0.5 * (count - p_sum) ** 2 / p_var + 0.5 * torch.log(2 * math.pi * p_var)
    # log N(u_m | mu_k, sig_k) summed over the 4 dims: (B, M, K)
    diff = (targets[:, :, :, None] - mu[:, None]) / sig[:, None]
    log_norm = -0.5 * (diff**2).sum(2) - torch.log(sig).sum(1)[:, None] - 2 * math.log(2 * math.pi)
    log_w = torch.log(p + 1e-8) - torch.log(p_sum + 1e-8)[:, None]
    log_mix = torch.logsumexp(log_norm + log_w[:, None], dim=2)
    loc_nll = -(log_mix * mask).sum(1)
    bg = ((raw["background"] - background) ** 2).mean((1, 2))
    return (count_nll + loc_nll + 10.0 * bg).mean()
