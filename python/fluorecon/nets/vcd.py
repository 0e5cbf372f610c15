"""VCD-Net-style view → volume network for light-field microscopy (Wang et al., "Real-time
volumetric reconstruction of biological dynamics with light-field microscopy and deep learning",
Nat. Methods 18, 551 (2021)).

Input: the ``nnum × nnum`` sub-aperture views of a rectified light field as channels,
``(B, nnum², n_ly, n_lx)`` (one pixel per lenslet). Output: the volume on the light field's own
lateral grid with z as channels, ``(B, Z, n_ly·nnum, n_lx·nnum)``.

Layout: a U-Net on the lenslet grid (where a point's spread over neighbouring lenslets is cheap
to see: a few coarse pixels cover the whole light-field PSF), sub-pixel convolution
(``PixelShuffle(nnum)``) up to the sensor grid, and two convolutions there. No normalisation
layers, so tiles over the lenslet grid give the whole-image result once the halo covers the
receptive field (DESIGN.md "Tiling").
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from fluorecon.nets.unet import UNet, UNetConfig


class VCDConfig(BaseModel):
    """Architecture of a view → volume network (stored in checkpoints, summarised in the card)."""

    model_config = ConfigDict(extra="forbid")

    nnum: int = Field(11, ge=3, description="Pixels per lenslet (odd); nnum² views in, ×nnum lateral upsampling.")
    z_planes: int = Field(9, ge=1, description="Output z planes (channels).")
    filters: int = Field(32, ge=4, le=256, description="Features at the first level of the lenslet-grid U-Net.")
    depth: int = Field(1, ge=1, le=4, description="Down-samplings of the lenslet-grid U-Net (input multiple 2**depth "
                       "lenslets); 1 already sees 19 lenslets, more than a light-field PSF spans.")
    fine_filters: int = Field(8, ge=1, le=64, description="Features per sensor pixel after the sub-pixel up-sampling.")

    @property
    def unet(self) -> UNetConfig:
        return UNetConfig(ndim=2, depth=self.depth, filters=self.filters, channels_in=self.nnum**2,
                          channels_out=self.filters, residual=False)

    @property
    def multiple(self) -> int:
        """Every lenslet-grid side of the input must be a multiple of this."""
        return 2**self.depth

    def halo(self) -> int:
        """Tile halo in lenslets: the U-Net's receptive-field radius, plus the 3×3 sub-pixel and two
        fine 3×3 convolutions (3 sensor pixels ≤ 1 lenslet each), rounded up to the multiple."""
        unet = self.unet
        radius = math.ceil((unet.receptive_field() - 1) / 2) + 1 + math.ceil(2 / self.nnum)
        return math.ceil(radius / self.multiple) * self.multiple


class VCDNet(nn.Module):
    """(B, nnum², h, w) views → (B, Z, h·nnum, w·nnum) volume."""

    def __init__(self, config: VCDConfig):
        super().__init__()
        if config.nnum % 2 == 0:
            raise ValueError(f"nnum must be odd (lenslet centre on a pixel), got {config.nnum}.")
        self.config = config
        f, ff, n = config.filters, config.fine_filters, config.nnum
        self.coarse = UNet(config.unet)
        self.act = nn.LeakyReLU(0.1)
        self.to_subpixels = nn.Conv2d(f, ff * n * n, 3, padding=1)
        self.shuffle = nn.PixelShuffle(n)
        self.fine = nn.Sequential(nn.Conv2d(ff, ff, 3, padding=1), nn.LeakyReLU(0.1),
                                  nn.Conv2d(ff, config.z_planes, 3, padding=1))

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        h = self.act(self.coarse(views))
        h = self.act(self.shuffle(self.to_subpixels(h)))
        return self.fine(h)


def build_vcd(config: VCDConfig) -> VCDNet:
    """The factory: a network from its config (never from files)."""
    return VCDNet(config)
