"""U-Net (2D or 3D) as used by CARE: Weigert et al., "Content-aware image restoration: pushing the
limits of fluorescence microscopy", Nat. Methods 15, 1090 (2018); Ronneberger et al., MICCAI 2015.

Convolutions are 'same'-padded so the output has the input's size whenever every spatial side is
a multiple of ``2**depth``; no normalisation layers, so a tile's output depends only on its own
pixels (what makes tiled prediction equal whole-image prediction, DESIGN.md "Tiling").

Two options serve N2V2 (Höck et al., "N2V2 - fixing Noise2Void checkerboard artifacts with modified
sampling strategies and a tweaked network architecture", ECCV BIC workshop 2022): ``pooling="blurpool"``
(max-blur-pool, Zhang, ICML 2019: 2-wide max at stride 1, then a binomial [1, 2, 1] blur at stride 2,
as kornia and CAREamics do it) and ``skip_top=False`` (the first level's features are not
concatenated into the last decoder block). Their defaults build the original network unchanged.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F


class UNetConfig(BaseModel):
    """Architecture of a U-Net; the same object is stored in checkpoints and summarised in the card."""

    model_config = ConfigDict(extra="forbid")

    ndim: Literal[2, 3] = Field(2, description="Spatial dimensions: 2 (YX planes) or 3 (ZYX stacks).")
    depth: int = Field(2, ge=1, le=5, description="Number of 2x down-samplings; inputs must be multiples of 2**depth.")
    filters: int = Field(16, ge=1, le=256, description="Feature channels at the first level (doubled per level).")
    kernel_size: int = Field(3, ge=1, description="Convolution kernel size (odd).")
    convs_per_level: int = Field(2, ge=1, le=4, description="Convolutions per level.")
    channels_in: int = Field(1, ge=1, description="Input channels.")
    channels_out: int = Field(1, ge=1, description="Output channels (of the mean; the scale head adds as many again).")
    residual: bool = Field(True, description="Predict a correction added to the input (channels_in must equal channels_out).")
    probabilistic: bool = Field(False, description="Add a per-pixel Laplace scale head (softplus), trained with the Laplace NLL.")
    pooling: Literal["max", "blurpool"] = Field(
        "max", description="Down-sampling: 2x max pooling, or max-blur-pool (N2V2: anti-aliased, no checkerboard).")
    skip_top: bool = Field(True, description="Concatenate the first level's features into the last decoder block "
                                             "(N2V2 drops this skip connection).")

    @property
    def multiple(self) -> int:
        """Every spatial side of the input must be a multiple of this."""
        return 2**self.depth

    def receptive_field(self) -> int:
        """Receptive field size in pixels (per axis) of one output pixel, the upper bound over the
        pooling grid: stack of convs, poolings and nearest up-samplings."""
        grow, jump = 1, 1
        per_conv = self.kernel_size - 1
        for _ in range(self.depth):
            grow += self.convs_per_level * per_conv * jump
            # 2x2 max pooling; max-blur-pool: 2-wide max (stride 1) then a 3-wide blur
            grow += jump if self.pooling == "max" else 3 * jump
            jump *= 2
        grow += self.convs_per_level * per_conv * jump  # bottleneck
        for _ in range(self.depth):
            jump //= 2
            grow += jump  # position inside the up-sampled pixel
            grow += self.convs_per_level * per_conv * jump
        return grow

    def halo(self) -> int:
        """Tile halo: receptive-field radius rounded up to the network's multiple."""
        radius = math.ceil((self.receptive_field() - 1) / 2)
        return math.ceil(radius / self.multiple) * self.multiple


def _block(cin: int, cout: int, ndim: int, k: int, n: int) -> nn.Sequential:
    conv = nn.Conv2d if ndim == 2 else nn.Conv3d
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [conv(cin if i == 0 else cout, cout, k, padding=k // 2), nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers)


class MaxBlurPool(nn.Module):
    """Anti-aliased 2x down-sampling (Zhang, "Making convolutional networks shift-invariant again",
    ICML 2019): max over 2 (stride 1), then a binomial [1, 2, 1]^n blur at stride 2 with zero padding
    1, per channel. An even side n gives n/2, like 2x max pooling. The channel count is fixed at
    construction so the ONNX graph gets a constant depthwise kernel."""

    def __init__(self, ndim: int, channels: int):
        super().__init__()
        k1 = torch.tensor([1.0, 2.0, 1.0]) / 4
        kernel = k1[:, None] * k1[None, :] if ndim == 2 else k1[:, None, None] * k1[None, :, None] * k1[None, None, :]
        self.ndim = ndim
        self.channels = channels
        self.register_buffer("kernel", kernel.expand(channels, 1, *kernel.shape).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.kernel.to(x.dtype)
        if self.ndim == 2:
            return F.conv2d(F.max_pool2d(x, 2, stride=1), weight, stride=2, padding=1, groups=self.channels)
        return F.conv3d(F.max_pool3d(x, 2, stride=1), weight, stride=2, padding=1, groups=self.channels)


class UNet(nn.Module):
    """U-Net over (B, C, Y, X) or (B, C, Z, Y, X) float32 tensors.

    Output: (B, channels_out, ...) or, with ``probabilistic``, (B, 2·channels_out, ...) with the mean
    channels first and the Laplace scale (> 0, softplus) channels after them.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        if config.residual and config.channels_in != config.channels_out:
            raise ValueError("residual=True needs channels_in == channels_out "
                             f"(got {config.channels_in} and {config.channels_out}).")
        if config.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {config.kernel_size}.")
        self.config = config
        c, k, n, d = config.filters, config.kernel_size, config.convs_per_level, config.ndim
        conv = nn.Conv2d if d == 2 else nn.Conv3d
        self.down = nn.ModuleList()
        cin = config.channels_in
        for level in range(config.depth):
            self.down.append(_block(cin, c * 2**level, d, k, n))
            cin = c * 2**level
        self.bottom = _block(cin, c * 2**config.depth, d, k, n)
        self.up = nn.ModuleList()
        cin = c * 2**config.depth
        for level in reversed(range(config.depth)):
            skip = c * 2**level if (level > 0 or config.skip_top) else 0
            self.up.append(_block(cin + skip, c * 2**level, d, k, n))
            cin = c * 2**level
        heads = 2 if config.probabilistic else 1
        self.head = conv(c, heads * config.channels_out, 1)
        if config.residual:
            # Start as the identity map: a random correction on top of the input made training
            # collapse to "output = input" for some seeds.
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self._pool = F.max_pool2d if d == 2 else F.max_pool3d
        self.blurpool = (nn.ModuleList(MaxBlurPool(d, c * 2**level) for level in range(config.depth))
                         if config.pooling == "blurpool" else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for level, block in enumerate(self.down):
            h = block(h)
            skips.append(h)
            h = self._pool(h, 2) if self.blurpool is None else self.blurpool[level](h)
        h = self.bottom(h)
        top = len(self.up) - 1
        for i, (block, skip) in enumerate(zip(self.up, reversed(skips))):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = block(h if (i == top and not self.config.skip_top) else torch.cat([h, skip], dim=1))
        out = self.head(h)
        cout = self.config.channels_out
        mean = out[:, :cout]
        if self.config.residual:
            mean = mean + x
        if not self.config.probabilistic:
            return mean
        scale = F.softplus(out[:, cout:]) + 1e-4
        return torch.cat([mean, scale], dim=1)


def build_network(config: UNetConfig) -> UNet:
    """The factory: a network from its config (never from files)."""
    return UNet(config)
