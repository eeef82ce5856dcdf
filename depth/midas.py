"""MiDaS v3 depth networks (DPT-Large, DPT-Hybrid and its NYU finetune, MiDaS v2.1 large and small) laid out like
the official checkpoints.

The module tree follows isl-org/MiDaS tag ``v3`` (the code Disco Diffusion v5.7 clones) so that
``dpt_large-midas-2f21e586.pt``, ``dpt_hybrid-midas-501f0c75.pt``, ``dpt_hybrid_nyu-2ce69ec7.pt``,
``midas_v21-f6b98070.pt`` and ``midas_v21_small-70d6b9c8.pt`` load with ``load_state_dict(strict=True)`` and no
renaming:

- ``pretrained.model``: the timm backbone (``vit_large_patch16_384``; ``vit_base_r50_s16_384``, which older timm
  called ``vit_base_resnet50_384``); for the small model ``pretrained.layer1..4`` are slices of timm's
  ``tf_efficientnet_lite3`` (``layer1`` = stem conv, stem BN, stem activation, blocks 0-1; ``layer2`` = block 2;
  ``layer3`` = blocks 3-4; ``layer4`` = blocks 5-6), as MiDaS slices gen-efficientnet's; for MiDaS v2.1 large
  (``MidasNet``) they are torchvision's ResNeXt-101 32x8d (the WSL-Images model MiDaS loads is that network):
  ``layer1`` = conv1, bn1, relu, maxpool, layer1; ``layer2..4`` = layer2..4 (no ``fc``).
- ``pretrained.act_postprocess1..4``: the DPT "reassemble" stages, ``nn.Sequential`` with MiDaS' indices:
  ``0`` readout (``project``: ``Linear(2C, C)`` + GELU), ``1`` transpose and ``2`` unflatten (no parameters; the
  forward does both), ``3`` the 1x1 projection, ``4`` the resampling (ConvTranspose x4 / x2, none, Conv stride 2).
  The hybrid's first two stages take the ResNet's stage outputs as they are (three identities).
- ``scratch.layer1_rn..layer4_rn``, ``scratch.refinenet1..4`` (``resConfUnit1``, ``resConfUnit2``, ``out_conv``)
  and ``scratch.output_conv`` (the head: conv, 2x upsampling, conv, ReLU, 1x1 conv, ReLU, identity). MiDaS v2.1
  large uses the older ``FeatureFusionBlock`` (no ``out_conv``, every level 256 wide) and its head has no identity.

``dpt_hybrid_nyu`` is DPT-Hybrid finetuned on NYU Depth v2 (intel-isl/DPT's release): the same modules and keys as
``dpt_hybrid``, so no key tells the two files apart; the depth preset's name decides which one is loaded. DPT's own
``run_monodepth.py`` turns its output into metres (``1 / (0.000305 * out + 0.1378)``); DD builds MiDaS v3's
``DPTDepthModel`` for it, which returns the raw head output, and we return that too (see ``depth.estimators``).

The forward is MiDaS': the ViT runs at any input size that is a multiple of 32 (the 24x24 position-embedding grid
is resized bilinearly to the input's patch grid, as MiDaS' ``forward_flex`` does), the hooked block outputs go
through the readout projection and reassembly, the fusion blocks upsample 2x each (bilinear, align_corners=True),
and the head ends with a ReLU (``non_negative=True``). The output is MiDaS' relative inverse depth ("disparity",
larger is nearer) with shape ``(B, H, W)``, as MiDaS returns it.

``tiny`` is the same DPT shape on a 4-block, 32-wide ViT: a random network for offline runs and tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

PATCH = 16


@dataclass(frozen=True)
class DPTSpec:
    """One DPT configuration: backbone, hooked blocks and channel widths."""

    backbone: str  # vitl16_384, vitb_rn50_384 or tiny
    hooks: tuple[int, int, int, int]  # ViT blocks whose outputs feed the decoder (hybrid: only the last two)
    vit_features: int  # ViT width
    reassemble: tuple[int, int, int, int]  # channels of the four reassembled feature maps
    features: int = 256  # decoder width


DPT_SPECS = {
    "dpt_large": DPTSpec("vitl16_384", (5, 11, 17, 23), 1024, (256, 512, 1024, 1024)),
    "dpt_hybrid": DPTSpec("vitb_rn50_384", (0, 1, 8, 11), 768, (256, 512, 768, 768)),
    "dpt_hybrid_nyu": DPTSpec("vitb_rn50_384", (0, 1, 8, 11), 768, (256, 512, 768, 768)),  # NYU finetune
    "tiny": DPTSpec("tiny", (0, 1, 2, 3), 32, (16, 32, 48, 64), features=32),
}
SMALL_FEATURES = 64  # MidasNet_small(features=64, blocks={'expand': True})
SMALL_ENCODER_CHANNELS = (32, 48, 136, 384)  # tf_efficientnet_lite3 after blocks 1, 2, 4 and 6
V21_FEATURES = 256  # MidasNet(features=256)
V21_ENCODER_CHANNELS = (256, 512, 1024, 2048)  # ResNeXt-101 32x8d after layer1..4
TINY_VIT = dict(img_size=128, patch_size=PATCH, embed_dim=32, depth=4, num_heads=2, mlp_ratio=2.0, num_classes=0)


# ---------------------------------------------------------------------------------------------------------------
# Shared decoder pieces (MiDaS blocks.py)


class Upsample2x(nn.Module):
    """MiDaS' ``Interpolate(scale_factor=2, mode="bilinear")``; no parameters."""

    def __init__(self, align_corners: bool):
        super().__init__()
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=self.align_corners)


class ResidualConvUnit(nn.Module):
    """``x + conv2(relu(conv1(relu(x))))`` (MiDaS' ``ResidualConvUnit_custom`` without batch norm)."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FeatureFusionBlock(nn.Module):
    """MiDaS' ``FeatureFusionBlock_custom``: add the skip (through ``resConfUnit1``), refine, upsample 2x, project."""

    def __init__(self, features: int, out_features: int, align_corners: bool = True):
        super().__init__()
        self.align_corners = align_corners
        self.out_conv = nn.Conv2d(features, out_features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None, size=None) -> torch.Tensor:
        """``size``: the output's height and width (Depth Anything V2's fusion); None: twice the input's (MiDaS)."""
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        x = F.interpolate(x, size=size, scale_factor=None if size is not None else 2, mode="bilinear",
                          align_corners=self.align_corners)
        return self.out_conv(x)


class ResidualConvUnitV21(nn.Module):
    """MiDaS' plain ``ResidualConvUnit`` (MiDaS v2.1 large): ``relu(x) + conv2(relu(conv1(relu(x))))``.

    MiDaS writes ``out = self.relu(x); ...; return out + x`` with ``nn.ReLU(inplace=True)``: the first ReLU
    overwrites ``x``, so the skip adds ``relu(x)``, not ``x``. The checkpoint was trained and is run (DD, MiDaS'
    ``run.py``) that way; we compute the same without writing into the input.
    """

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return x + self.conv2(F.relu(self.conv1(x)))


class FeatureFusionBlockV21(nn.Module):
    """MiDaS' plain ``FeatureFusionBlock``: add the refined skip, refine, upsample 2x (bilinear, align_corners=True);
    no output projection."""

    def __init__(self, features: int):
        super().__init__()
        self.resConfUnit1 = ResidualConvUnitV21(features)
        self.resConfUnit2 = ResidualConvUnitV21(features)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


def _scratch(in_channels: tuple[int, ...], widths: tuple[int, ...]) -> nn.Module:
    """``scratch`` with the four 3x3 bias-free input convolutions (MiDaS' ``_make_scratch``)."""
    scratch = nn.Module()
    for i, (cin, cout) in enumerate(zip(in_channels, widths), start=1):
        setattr(scratch, f"layer{i}_rn", nn.Conv2d(cin, cout, 3, padding=1, bias=False))
    return scratch


def _head(features: int, align_corners: bool, identity: bool = True) -> nn.Sequential:
    """``scratch.output_conv``: indices 0, 2 and 4 hold the weights, as in the checkpoints."""
    layers = [
        nn.Conv2d(features, features // 2, 3, padding=1),
        Upsample2x(align_corners),
        nn.Conv2d(features // 2, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 1, 1),
        nn.ReLU(),  # non_negative=True
    ]
    return nn.Sequential(*layers, *([nn.Identity()] if identity else []))


def _decode(scratch: nn.Module, layers: list[torch.Tensor]) -> torch.Tensor:
    l1, l2, l3, l4 = (getattr(scratch, f"layer{i}_rn")(x) for i, x in enumerate(layers, start=1))
    path = scratch.refinenet4(l4)
    path = scratch.refinenet3(path, l3)
    path = scratch.refinenet2(path, l2)
    path = scratch.refinenet1(path, l1)
    return scratch.output_conv(path).squeeze(1)


# ---------------------------------------------------------------------------------------------------------------
# DPT


class ProjectReadout(nn.Module):
    """MiDaS' ``ProjectReadout``: concatenate the class token to every patch token and project back to C."""

    def __init__(self, width: int):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * width, width), nn.GELU())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, 1:]
        readout = tokens[:, :1].expand_as(patches)
        return self.project(torch.cat((patches, readout), dim=-1))


def _reassemble(width: int, channels: int, resample: nn.Module | None) -> nn.Sequential:
    layers = [ProjectReadout(width), nn.Identity(), nn.Identity(), nn.Conv2d(width, channels, 1)]
    if resample is not None:
        layers.append(resample)
    return nn.Sequential(*layers)


def _vit(spec: DPTSpec) -> nn.Module:
    if spec.backbone == "vitl16_384":
        return timm.create_model("vit_large_patch16_384", pretrained=False)
    if spec.backbone == "vitb_rn50_384":
        return timm.create_model("vit_base_r50_s16_384", pretrained=False)
    if spec.backbone == "tiny":
        from timm.models.vision_transformer import VisionTransformer

        return VisionTransformer(**TINY_VIT)
    raise ValueError(f"unknown DPT backbone {spec.backbone!r}")


def resize_pos_embed(pos_embed: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """MiDaS' ``_resize_pos_embed``: keep the class token's embedding, resize the square grid bilinearly."""
    tok, grid = pos_embed[:, :1], pos_embed[0, 1:]
    old = int(math.sqrt(grid.shape[0]))
    if (old, old) == (grid_h, grid_w):
        return pos_embed
    grid = grid.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(grid_h, grid_w), mode="bilinear", align_corners=False)
    return torch.cat([tok, grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)], dim=1)


class DPTDepthModel(nn.Module):
    """MiDaS v3's ``DPTDepthModel(backbone=..., non_negative=True)`` with readout ``project``."""

    def __init__(self, kind: str):
        super().__init__()
        if kind not in DPT_SPECS:
            raise ValueError(f"unknown DPT kind {kind!r}; one of {', '.join(DPT_SPECS)}")
        self.kind = kind
        spec = self.spec = DPT_SPECS[kind]
        self.hybrid = spec.backbone == "vitb_rn50_384"
        width, ch = spec.vit_features, spec.reassemble

        self.pretrained = nn.Module()
        self.pretrained.model = _vit(spec)
        if self.hybrid:
            identities = lambda: nn.Sequential(nn.Identity(), nn.Identity(), nn.Identity())  # noqa: E731
            self.pretrained.act_postprocess1 = identities()
            self.pretrained.act_postprocess2 = identities()
        else:
            self.pretrained.act_postprocess1 = _reassemble(width, ch[0], nn.ConvTranspose2d(ch[0], ch[0], 4, 4))
            self.pretrained.act_postprocess2 = _reassemble(width, ch[1], nn.ConvTranspose2d(ch[1], ch[1], 2, 2))
        self.pretrained.act_postprocess3 = _reassemble(width, ch[2], None)
        self.pretrained.act_postprocess4 = _reassemble(width, ch[3], nn.Conv2d(ch[3], ch[3], 3, stride=2, padding=1))

        f = spec.features
        self.scratch = _scratch(ch, (f, f, f, f))
        for i in (1, 2, 3, 4):
            setattr(self.scratch, f"refinenet{i}", FeatureFusionBlock(f, f, align_corners=True))
        self.scratch.output_conv = _head(f, align_corners=True)

    def _tokens_to_map(self, i: int, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        post = getattr(self.pretrained, f"act_postprocess{i}")
        x = post[0](tokens).transpose(1, 2).unflatten(2, grid)
        for layer in post[3:]:
            x = layer(x)
        return x

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four reassembled feature maps (strides 4, 8, 16, 32)."""
        vit = self.pretrained.model
        _, _, h, w = x.shape
        if h % 32 or w % 32:
            raise ValueError(f"DPT input height and width must be multiples of 32, got {h}x{w}")
        grid = (h // PATCH, w // PATCH)
        maps: dict[int, torch.Tensor] = {}
        if self.hybrid:
            resnet = vit.patch_embed.backbone
            y = resnet.stem(x)
            for s, stage in enumerate(resnet.stages):
                y = stage(y)
                if s < 2:
                    maps[s + 1] = y  # hooks on stages[0] and stages[1]: used as they are
            y = resnet.norm(y)
        else:
            y = x
        tokens = vit.patch_embed.proj(y).flatten(2).transpose(1, 2)
        norm = getattr(vit.patch_embed, "norm", None)  # timm's PatchEmbed has one (an identity here)
        if norm is not None:
            tokens = norm(tokens)
        cls = vit.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat((cls, tokens), dim=1) + resize_pos_embed(vit.pos_embed, *grid)
        tokens = vit.norm_pre(vit.patch_drop(vit.pos_drop(tokens)))
        hooks = self.spec.hooks
        first = 3 if self.hybrid else 1
        for b, block in enumerate(vit.blocks[: hooks[-1] + 1]):
            tokens = block(tokens)
            for level in range(first, 5):
                if hooks[level - 1] == b:
                    maps[level] = self._tokens_to_map(level, tokens, grid)
        return [maps[i] for i in (1, 2, 3, 4)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B,3,H,W)`` normalised image (H, W multiples of 32) -> ``(B,H,W)`` relative inverse depth."""
        return _decode(self.scratch, self.encode(x))


# ---------------------------------------------------------------------------------------------------------------
# MiDaS v2.1 small


class MidasNetSmall(nn.Module):
    """MiDaS' ``MidasNet_small(features=64, backbone="efficientnet_lite3", non_negative=True, expand=True)``."""

    def __init__(self, features: int = SMALL_FEATURES):
        super().__init__()
        effnet = timm.create_model("tf_efficientnet_lite3", pretrained=False)
        blocks = effnet.blocks
        self.pretrained = nn.Module()
        # timm's bn1 is BatchNorm + ReLU6; index 2 stays where gen-efficientnet's separate act1 was
        self.pretrained.layer1 = nn.Sequential(effnet.conv_stem, effnet.bn1, nn.Identity(), blocks[0], blocks[1])
        self.pretrained.layer2 = nn.Sequential(blocks[2])
        self.pretrained.layer3 = nn.Sequential(blocks[3], blocks[4])
        self.pretrained.layer4 = nn.Sequential(blocks[5], blocks[6])
        widths = (features, features * 2, features * 4, features * 8)
        self.scratch = _scratch(SMALL_ENCODER_CHANNELS, widths)
        self.scratch.activation = nn.ReLU()
        self.scratch.refinenet4 = FeatureFusionBlock(widths[3], widths[2])
        self.scratch.refinenet3 = FeatureFusionBlock(widths[2], widths[1])
        self.scratch.refinenet2 = FeatureFusionBlock(widths[1], widths[0])
        self.scratch.refinenet1 = FeatureFusionBlock(widths[0], widths[0])
        self.scratch.output_conv = _head(features, align_corners=False)  # MiDaS' Interpolate default here

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _encode_decode(self, x, "MiDaS small")


# ---------------------------------------------------------------------------------------------------------------
# MiDaS v2.1 large


class MidasNet(nn.Module):
    """MiDaS' ``MidasNet(path, features=256, non_negative=True)``: ResNeXt-101 32x8d encoder, plain fusion blocks."""

    def __init__(self, features: int = V21_FEATURES):
        super().__init__()
        from torchvision.models import resnext101_32x8d

        resnet = resnext101_32x8d(weights=None)
        self.pretrained = nn.Module()
        self.pretrained.layer1 = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1)
        self.pretrained.layer2 = resnet.layer2
        self.pretrained.layer3 = resnet.layer3
        self.pretrained.layer4 = resnet.layer4
        self.scratch = _scratch(V21_ENCODER_CHANNELS, (features,) * 4)
        for i in (1, 2, 3, 4):
            setattr(self.scratch, f"refinenet{i}", FeatureFusionBlockV21(features))
        # MiDaS' Interpolate(scale_factor=2, mode="bilinear") keeps its default align_corners=False here
        self.scratch.output_conv = _head(features, align_corners=False, identity=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _encode_decode(self, x, "MiDaS v2.1")


def _encode_decode(net: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """A convolutional MiDaS: ``(B,3,H,W)`` normalised image (H, W multiples of 32) -> ``(B,H,W)`` relative inverse
    depth, through ``pretrained.layer1..4`` and the ``scratch`` decoder."""
    _, _, h, w = x.shape
    if h % 32 or w % 32:
        raise ValueError(f"{name} input height and width must be multiples of 32, got {h}x{w}")
    p = net.pretrained
    l1 = p.layer1(x)
    l2 = p.layer2(l1)
    l3 = p.layer3(l2)
    l4 = p.layer4(l3)
    return _decode(net.scratch, [l1, l2, l3, l4])


def create_midas(kind: str) -> nn.Module:
    """The network of ``kind`` (dpt_large, dpt_hybrid, dpt_hybrid_nyu, midas_v21, midas_small, tiny) with the
    libraries' default initialisation."""
    if kind == "midas_small":
        return MidasNetSmall()
    if kind == "midas_v21":
        return MidasNet()
    return DPTDepthModel(kind)
