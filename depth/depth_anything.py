"""Depth Anything V2 (Small, Base, Large): a DINOv2 ViT from timm and the DPT head, laid out like the official files.

The official checkpoints (``depth_anything_v2_vit{s,b,l}.pth``, DepthAnything/Depth-Anything-V2 ``dpt.py``,
``dinov2.py``) are bare state dicts of ``DepthAnythingV2(encoder, features, out_channels)``:

- ``pretrained.*``: DINOv2's ``DinoVisionTransformer`` (patch 14, 518x518 position table of 37x37 + 1, LayerScale,
  no register tokens, blocks not chunked). timm's ``vit_{small,base,large}_patch14_dinov2`` has the same module
  names (``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,
  mlp.fc1,mlp.fc2,ls2.gamma}``, ``norm``), so no key is renamed; the one parameter timm's model lacks,
  ``mask_token`` (used in DINOv2's training only), is added to it so that loads are strict both ways.
- ``depth_head.*``: ``DPTHead`` without the class-token readout: ``projects.0..3`` (1x1 convs to ``out_channels``),
  ``resize_layers.0,1,3`` (ConvTranspose x4, x2, nothing, Conv stride 2), ``scratch.layer1..4_rn``,
  ``scratch.refinenet1..4`` (MiDaS' fusion block, each upsampling to the next level's size) and the head
  ``scratch.output_conv1`` then ``scratch.output_conv2.{0,2}``.

The forward is the official one: DINOv2's position table resized bicubically by the factor ``(n + 0.1) / 37`` (its
``interpolate_offset``, no antialiasing), the normalised outputs of four blocks (Small and Base: 2, 5, 8, 11; Large:
4, 11, 17, 23), the head's last upsampling to ``14 x`` the patch grid (bilinear, align_corners=True) and a ReLU. The
output is relative inverse depth ("disparity", larger is nearer), ``(B, H, W)`` for an input whose sides are
multiples of 14.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from depth.midas import FeatureFusionBlock, _scratch

PATCH = 14
POS_GRID = 37  # the position table's side: 518 / 14
POS_OFFSET = 0.1  # DINOv2's interpolate_offset (Depth Anything V2 keeps it)


@dataclass(frozen=True)
class DepthAnythingSpec:
    """One Depth Anything V2 size: timm backbone, hooked blocks, head widths."""

    backbone: str
    hooks: tuple[int, int, int, int]
    features: int
    out_channels: tuple[int, int, int, int]


DEPTH_ANYTHING_SPECS = {  # the official model_configs
    "depth_anything_v2_small": DepthAnythingSpec("vit_small_patch14_dinov2", (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    "depth_anything_v2_base": DepthAnythingSpec("vit_base_patch14_dinov2", (2, 5, 8, 11), 128, (96, 192, 384, 768)),
    "depth_anything_v2_large": DepthAnythingSpec("vit_large_patch14_dinov2", (4, 11, 17, 23), 256,
                                                 (256, 512, 1024, 1024)),
}


def dinov2_backbone(name: str) -> nn.Module:
    """timm's DINOv2 ViT (no classifier) with the official files' ``mask_token``."""
    vit = timm.create_model(name, pretrained=False, num_classes=0)
    vit.mask_token = nn.Parameter(torch.zeros(1, vit.embed_dim))
    return vit


def dinov2_pos_embed(pos_embed: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
    """DINOv2's ``interpolate_pos_encoding``: the 37x37 table kept for a square 518x518 input, else resized
    bicubically (in float32) by the factors ``(n + 0.1) / 37`` to the ``n_h x n_w`` patch grid."""
    h, w = image_hw
    grid_h, grid_w = h // PATCH, w // PATCH
    n, dim = pos_embed.shape[1] - 1, pos_embed.shape[2]
    side = math.isqrt(n)
    if grid_h * grid_w == n and h == w:
        return pos_embed
    grid = pos_embed[:, 1:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    scale = ((grid_h + POS_OFFSET) / side, (grid_w + POS_OFFSET) / side)
    grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)
    if grid.shape[-2:] != (grid_h, grid_w):
        raise ValueError(f"position table resized to {tuple(grid.shape[-2:])}, expected {(grid_h, grid_w)}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)
    return torch.cat((pos_embed[:, :1].float(), grid), dim=1).to(pos_embed.dtype)


class DPTHead(nn.Module):
    """Depth Anything V2's ``DPTHead(in_channels, features, use_bn=False, out_channels, use_clstoken=False)``."""

    def __init__(self, width: int, features: int, out_channels: tuple[int, int, int, int]):
        super().__init__()
        c = out_channels
        self.projects = nn.ModuleList(nn.Conv2d(width, oc, 1) for oc in c)
        self.resize_layers = nn.ModuleList([nn.ConvTranspose2d(c[0], c[0], 4, 4), nn.ConvTranspose2d(c[1], c[1], 2, 2),
                                            nn.Identity(), nn.Conv2d(c[3], c[3], 3, stride=2, padding=1)])
        self.scratch = _scratch(c, (features,) * 4)
        for i in (1, 2, 3, 4):
            setattr(self.scratch, f"refinenet{i}", FeatureFusionBlock(features, features, align_corners=True))
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.scratch.output_conv2 = nn.Sequential(nn.Conv2d(features // 2, 32, 3, padding=1), nn.ReLU(),
                                                  nn.Conv2d(32, 1, 1), nn.ReLU(), nn.Identity())

    def forward(self, tokens: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
        """Four ``(B, n_h*n_w, C)`` patch-token maps -> ``(B, 1, 14 n_h, 14 n_w)``."""
        levels = []
        for i, x in enumerate(tokens):
            x = x.transpose(1, 2).unflatten(2, grid)
            levels.append(self.resize_layers[i](self.projects[i](x)))
        s = self.scratch
        l1, l2, l3, l4 = (getattr(s, f"layer{i}_rn")(x) for i, x in enumerate(levels, start=1))
        path = s.refinenet4(l4, size=l3.shape[2:])
        path = s.refinenet3(path, l3, size=l2.shape[2:])
        path = s.refinenet2(path, l2, size=l1.shape[2:])
        path = s.refinenet1(path, l1)
        out = F.interpolate(s.output_conv1(path), size=(grid[0] * PATCH, grid[1] * PATCH), mode="bilinear",
                            align_corners=True)
        return s.output_conv2(out)


class DepthAnythingV2(nn.Module):
    """The official ``DepthAnythingV2`` of one size (``DEPTH_ANYTHING_SPECS``)."""

    def __init__(self, kind: str):
        super().__init__()
        if kind not in DEPTH_ANYTHING_SPECS:
            raise ValueError(f"unknown Depth Anything V2 kind {kind!r}; one of {', '.join(DEPTH_ANYTHING_SPECS)}")
        self.kind, self.spec = kind, DEPTH_ANYTHING_SPECS[kind]
        self.pretrained = dinov2_backbone(self.spec.backbone)
        self.depth_head = DPTHead(self.pretrained.embed_dim, self.spec.features, self.spec.out_channels)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The layer-normed patch tokens of the four hooked blocks (DINOv2's ``get_intermediate_layers``)."""
        vit = self.pretrained
        tokens = vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
        cls = vit.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat((cls, tokens), dim=1) + dinov2_pos_embed(vit.pos_embed, x.shape[-2:])
        hooks, picked = self.spec.hooks, []
        for b, block in enumerate(vit.blocks[: hooks[-1] + 1]):
            tokens = block(tokens)
            if b in hooks:
                picked.append(vit.norm(tokens)[:, 1:])
        return picked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B,3,H,W)`` ImageNet-normalised image (H, W multiples of 14) -> ``(B,H,W)`` relative inverse depth."""
        h, w = x.shape[-2:]
        if h % PATCH or w % PATCH:
            raise ValueError(f"Depth Anything V2 input height and width must be multiples of {PATCH}, got {h}x{w}")
        out = self.depth_head(self.encode(x), (h // PATCH, w // PATCH))
        return F.relu(out).squeeze(1)
