"""Katherine Crowson's secondary model (``SecondaryDiffusionImageNet2``): a small v-parameterised U-Net that DD uses to
predict a clean image for CLIP guidance cheaply, instead of backpropagating through the big UNet.

Module names match ``secondary_model_imagenet_2.pth``: ``timestep_embed.weight`` and a nested ``net`` of
``nn.Sequential`` levels (``ConvBlock`` = 3x3 conv + ReLU; ``SkipBlock`` concatenates its ``main`` branch with the
input). ``base_channels`` is 64 in the official file; smaller values make the tiny offline preset.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SecondaryOutput:
    v: torch.Tensor
    pred: torch.Tensor  # the predicted clean image, x*cos - v*sin
    eps: torch.Tensor


def alpha_sigma_to_t(alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The secondary model's continuous time for a point with signal ``alpha`` and noise ``sigma``."""
    return torch.atan2(sigma, alpha) * 2 / math.pi


class ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True))


class SkipBlock(nn.Module):
    def __init__(self, main: list[nn.Module]):
        super().__init__()
        self.main = nn.Sequential(*main)
        self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.main(x), self.skip(x)], dim=1)


class FourierFeatures(nn.Module):
    def __init__(self, in_features: int, out_features: int, std: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn([out_features // 2, in_features]) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * x @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


class SecondaryDiffusionImageNet2(nn.Module):
    def __init__(self, base_channels: int = 64):
        super().__init__()
        c = base_channels
        cs = [c, c * 2, c * 2, c * 4, c * 4, c * 8]
        self.timestep_embed = FourierFeatures(1, 16)
        self.down = nn.AvgPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.net = nn.Sequential(ConvBlock(3 + 16, cs[0]), ConvBlock(cs[0], cs[0]), self._level(cs, 1),
                                 ConvBlock(cs[0] * 2, cs[0]), nn.Conv2d(cs[0], 3, 3, padding=1))

    def _level(self, cs: list[int], i: int) -> SkipBlock:
        """Level ``i`` (1..5): down, two convs, the next level (or a third conv at the bottom), two convs, up."""
        if i == len(cs) - 1:
            inner = [ConvBlock(cs[i], cs[i]), ConvBlock(cs[i], cs[i - 1])]
        else:
            inner = [self._level(cs, i + 1), ConvBlock(cs[i] * 2, cs[i]), ConvBlock(cs[i], cs[i - 1])]
        return SkipBlock([self.down, ConvBlock(cs[i - 1], cs[i]), ConvBlock(cs[i], cs[i]), *inner, self.up])

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> SecondaryOutput:
        embed = self.timestep_embed(t[:, None])[..., None, None].expand(-1, -1, *x.shape[2:])
        v = self.net(torch.cat([x, embed.to(x.dtype)], dim=1))
        alpha = torch.cos(t * math.pi / 2)[:, None, None, None]
        sigma = torch.sin(t * math.pi / 2)[:, None, None, None]
        return SecondaryOutput(v=v, pred=x * alpha - v * sigma, eps=x * sigma + v * alpha)
