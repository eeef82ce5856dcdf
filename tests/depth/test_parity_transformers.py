"""The depth networks' forward passes against an implementation this project did not write: Hugging Face
``transformers``' ``DPTForDepthEstimation`` (DPT-Large, DPT-Hybrid) and ``DepthAnythingForDepthEstimation`` (Depth
Anything V2), with the project's random weights converted here, key by key, into transformers' layout (its models are
loaded strictly: every one of their parameters comes from ours). Outputs agree within fp32 rounding: relative L2
error <= 1e-5.

The one place the reference is changed: transformers' DINOv2 resizes its position table to the patch grid's size,
while DINOv2 and Depth Anything V2 resize it by the factor ``(n + 0.1) / 37`` (``interpolate_offset``), which samples
slightly different points. The 518x518 test needs no resize, so it compares the two networks as they are; the
non-square test gives transformers' embedding DINOv2's resize, written below from DINOv2's definition.

Inputs are small (DPT: 64x64 and 96x96, square because transformers' DPT takes square grids only; Depth Anything:
518x518 and 140x182) so that the default suite stays fast; the 300M
parameter networks are marked slow.
"""
from __future__ import annotations

import re

import pytest
import torch

transformers = pytest.importorskip("transformers")

from depth_reference import TOLERANCE, random_image, rel_l2  # noqa: E402

from depth.estimators import build_depth_anything, build_midas  # noqa: E402

torch.set_num_threads(2)


def _split_qkv(out: dict, prefix: str, names: tuple[str, str, str], qkv_w: torch.Tensor, qkv_b: torch.Tensor):
    for name, w, b in zip(names, qkv_w.chunk(3), qkv_b.chunk(3)):
        out[f"{prefix}{name}.weight"], out[f"{prefix}{name}.bias"] = w, b


def _load_strict(make, sd: dict) -> torch.nn.Module:
    """The transformers model ``make()`` built on the meta device (no initialisation to throw away) with every
    parameter and buffer taken from ``sd``: none missing, none left over."""
    with torch.device("meta"):
        model = make()
    missing, unexpected = model.load_state_dict(sd, strict=False, assign=True)
    assert not missing and not unexpected, (missing[:5], unexpected[:5])
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    return model.eval()


# ---------------------------------------------------------------------------------------------------------------
# DPT (MiDaS v3 layout -> transformers' DPT layout)

VIT_BLOCK = {"norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.output.dense",
             "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
HEAD = {"output_conv1": "conv1", "output_conv2.0": "conv2", "output_conv2.2": "conv3"}  # Depth Anything's head
FUSION = {"out_conv": "projection", "resConfUnit1.conv1": "residual_layer1.convolution1",
          "resConfUnit1.conv2": "residual_layer1.convolution2", "resConfUnit2.conv1": "residual_layer2.convolution1",
          "resConfUnit2.conv2": "residual_layer2.convolution2"}


def decoder_name(key: str) -> str | None:
    """transformers' name of a DPT decoder or head parameter (``scratch.layerN_rn``; ``scratch.refinenetN``, whose
    fusion stage runs from the deepest level, refinenet4, up; MiDaS' ``scratch.output_conv.N`` and Depth Anything's
    ``scratch.output_conv1`` / ``output_conv2.N``); None for other keys."""
    if m := re.fullmatch(r"scratch\.layer(\d)_rn\.weight", key):
        return f"neck.convs.{int(m[1]) - 1}.weight"
    if m := re.fullmatch(r"scratch\.refinenet(\d)\.(.+)\.(weight|bias)", key):
        return f"neck.fusion_stage.layers.{4 - int(m[1])}.{FUSION[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"scratch\.output_conv\.(\d)\.(weight|bias)", key):
        return f"head.head.{m[1]}.{m[2]}"
    if m := re.fullmatch(r"scratch\.(output_conv1|output_conv2\.\d)\.(weight|bias)", key):
        return f"head.{HEAD[m[1]]}.{m[2]}"
    return None


def midas_to_transformers_dpt(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A MiDaS v3 DPT state dict (ours) in ``DPTForDepthEstimation``'s names."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        k = key.replace("pretrained.model.", "", 1)
        if m := re.fullmatch(r"blocks\.(\d+)\.attn\.qkv\.weight", k):
            _split_qkv(out, f"dpt.encoder.layer.{m[1]}.attention.attention.", ("query", "key", "value"), value,
                       sd[key.replace("weight", "bias")])
        elif re.fullmatch(r"blocks\.\d+\.attn\.qkv\.bias", k) or k.startswith("head."):
            continue  # the bias goes with its weight; the ViT's ImageNet classifier has no counterpart
        elif m := re.fullmatch(r"blocks\.(\d+)\.(norm1|norm2|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)", k):
            out[f"dpt.encoder.layer.{m[1]}.{VIT_BLOCK[m[2]]}.{m[3]}"] = value
        elif m := re.fullmatch(r"patch_embed\.backbone\.stem\.(conv|norm)\.(.+)", k):
            out[f"dpt.embeddings.backbone.bit.embedder.{'convolution' if m[1] == 'conv' else 'norm'}.{m[2]}"] = value
        elif m := re.fullmatch(r"patch_embed\.backbone\.stages\.(\d+)\.blocks\.(\d+)\.(.+)", k):
            out[f"dpt.embeddings.backbone.bit.encoder.stages.{m[1]}.layers.{m[2]}.{m[3]}"] = value
        elif m := re.fullmatch(r"patch_embed\.proj\.(weight|bias)", k):
            hybrid = "pretrained.model.patch_embed.backbone.stem.conv.weight" in sd
            out[f"dpt.embeddings.{'projection' if hybrid else 'patch_embeddings.projection'}.{m[1]}"] = value
        elif k in ("cls_token", "pos_embed", "norm.weight", "norm.bias"):
            name = {"cls_token": "embeddings.cls_token", "pos_embed": "embeddings.position_embeddings"}.get(k)
            out[f"dpt.{name or k.replace('norm', 'layernorm')}"] = value
        elif m := re.fullmatch(r"pretrained\.act_postprocess(\d)\.(0\.project\.0|3|4)\.(weight|bias)", key):
            i = int(m[1]) - 1
            part = {"0.project.0": f"readout_projects.{i}.0", "3": f"layers.{i}.projection",
                    "4": f"layers.{i}.resize"}[m[2]]
            out[f"neck.reassemble_stage.{part}.{m[3]}"] = value
        elif name := decoder_name(key):
            out[name] = value
        else:
            raise KeyError(f"no transformers name for {key}")
    return out


def transformers_dpt(kind: str) -> torch.nn.Module:
    """``DPTForDepthEstimation`` configured as MiDaS v3's DPT-Large or DPT-Hybrid (timm's LayerNorm eps 1e-6)."""
    from transformers import DPTConfig, DPTForDepthEstimation

    common = dict(image_size=384, patch_size=16, readout_type="project", layer_norm_eps=1e-6, qkv_bias=True,
                  fusion_hidden_size=256, head_in_index=-1, add_projection=False)
    if kind == "dpt_large":
        config = DPTConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                           backbone_out_indices=[5, 11, 17, 23], neck_hidden_sizes=[256, 512, 1024, 1024], **common)
    else:
        bit = dict(global_padding="same", layer_type="bottleneck", depths=[3, 4, 9],
                   out_features=["stage1", "stage2", "stage3"], embedding_dynamic_padding=True)
        config = DPTConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                           is_hybrid=True, backbone_config=bit, backbone_featmap_shape=[1, 1024, 24, 24],
                           neck_ignore_stages=[0, 1], backbone_out_indices=[2, 5, 8, 11],
                           neck_hidden_sizes=[256, 512, 768, 768], **common)
    return DPTForDepthEstimation(config)


def _dpt_pair(kind: str, hw: tuple[int, int]):
    ours = build_midas(kind, None, seed=4)
    reference = _load_strict(lambda: transformers_dpt(kind), midas_to_transformers_dpt(ours.state_dict()))
    if kind != "dpt_large":  # its hybrid embedding refuses other sizes (a check only: the table is resized anyway)
        reference.dpt.embeddings.image_size = hw
    return ours, reference


# transformers' DPT takes square patch grids only (it does not pass the grid's shape to its neck)
DPT_INPUT = {"dpt_large": (64, 64), "dpt_hybrid": (96, 96)}


@pytest.mark.parametrize("kind", [pytest.param("dpt_large", marks=pytest.mark.slow), "dpt_hybrid"])
def test_dpt_matches_transformers(kind):
    hw = DPT_INPUT[kind]
    ours, reference = _dpt_pair(kind, hw)
    x = random_image(*hw, seed=1)  # multiples of 32 off the 384 grid: both resize the position table
    with torch.inference_mode():
        got, want = ours(x), reference(pixel_values=x).predicted_depth
    assert got.shape == want.shape == (1, *hw) and want.std() > 0
    assert rel_l2(got, want) <= TOLERANCE, rel_l2(got, want)


def test_the_dpt_comparison_notices_a_wrong_hook():
    """The check can fail: the same weights with one hooked block moved differ far beyond the tolerance."""
    ours, reference = _dpt_pair("dpt_hybrid", (96, 96))
    reference.config.backbone_out_indices = [2, 5, 7, 11]
    x = random_image(96, 96, seed=1)
    with torch.inference_mode():
        assert rel_l2(ours(x), reference(pixel_values=x).predicted_depth) > 1e-3


# ---------------------------------------------------------------------------------------------------------------
# Depth Anything V2 (the official layout -> transformers' DepthAnything layout)

DINO_BLOCK = {"norm1": "norm1", "norm2": "norm2", "attn.proj": "attention.o_proj", "mlp.fc1": "mlp.fc1",
              "mlp.fc2": "mlp.fc2", "ls1.gamma": "layer_scale1.lambda1", "ls2.gamma": "layer_scale2.lambda1"}


def depth_anything_to_transformers(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An official Depth Anything V2 state dict (ours) in ``DepthAnythingForDepthEstimation``'s names."""
    out: dict[str, torch.Tensor] = {}
    embeddings = {"cls_token": "cls_token", "mask_token": "mask_token", "pos_embed": "position_embeddings",
                  "patch_embed.proj.weight": "patch_embeddings.projection.weight",
                  "patch_embed.proj.bias": "patch_embeddings.projection.bias"}
    for key, value in sd.items():
        k = key.replace("pretrained.", "", 1)
        if k in embeddings:
            out[f"backbone.embeddings.{embeddings[k]}"] = value
        elif k in ("norm.weight", "norm.bias"):
            out[f"backbone.layernorm.{k.split('.')[1]}"] = value
        elif m := re.fullmatch(r"blocks\.(\d+)\.attn\.qkv\.weight", k):
            _split_qkv(out, f"backbone.encoder.layer.{m[1]}.attention.", ("q_proj", "k_proj", "v_proj"), value,
                       sd[key.replace("weight", "bias")])
        elif re.fullmatch(r"blocks\.\d+\.attn\.qkv\.bias", k):
            continue
        elif m := re.fullmatch(r"blocks\.(\d+)\.(norm1|norm2|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)", k):
            out[f"backbone.encoder.layer.{m[1]}.{DINO_BLOCK[m[2]]}.{m[3]}"] = value
        elif m := re.fullmatch(r"blocks\.(\d+)\.(ls1\.gamma|ls2\.gamma)", k):
            out[f"backbone.encoder.layer.{m[1]}.{DINO_BLOCK[m[2]]}"] = value
        elif m := re.fullmatch(r"depth_head\.(projects|resize_layers)\.(\d)\.(weight|bias)", key):
            part = "projection" if m[1] == "projects" else "resize"
            out[f"neck.reassemble_stage.layers.{m[2]}.{part}.{m[3]}"] = value
        elif name := decoder_name(key.removeprefix("depth_head.")):
            out[name] = value
        else:
            raise KeyError(f"no transformers name for {key}")
    return out


DEPTH_ANYTHING = {  # kind -> (width, layers, heads, features, out_channels, hooked blocks counted from 1)
    "depth_anything_v2_small": (384, 12, 6, 64, [48, 96, 192, 384], [3, 6, 9, 12]),
    "depth_anything_v2_base": (768, 12, 12, 128, [96, 192, 384, 768], [3, 6, 9, 12]),
    "depth_anything_v2_large": (1024, 24, 16, 256, [256, 512, 1024, 1024], [5, 12, 18, 24]),
}


def transformers_depth_anything(kind: str) -> torch.nn.Module:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    width, layers, heads, features, channels, hooks = DEPTH_ANYTHING[kind]
    backbone = Dinov2Config(image_size=518, patch_size=14, hidden_size=width, num_hidden_layers=layers,
                            num_attention_heads=heads, mlp_ratio=4, layer_norm_eps=1e-6, layerscale_value=1.0,
                            out_indices=hooks, apply_layernorm=True, reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, patch_size=14, reassemble_hidden_size=width,
                                 reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=channels,
                                 fusion_hidden_size=features, head_hidden_size=32, head_in_index=-1,
                                 depth_estimation_type="relative", max_depth=1)
    return DepthAnythingForDepthEstimation(config)


def dinov2_interpolate_pos_encoding(self, embeddings: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """DINOv2's ``interpolate_pos_encoding`` as Depth Anything V2 runs it (its ``dinov2.py``): the square table
    resized bicubically, in float32, by ``scale_factor = (n + 0.1) / sqrt(N)`` per side, without antialiasing."""
    table = self.position_embeddings
    n = table.shape[1] - 1
    side = int(n ** 0.5)
    grid = table[:, 1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
    h0, w0 = height // self.patch_size + 0.1, width // self.patch_size + 0.1
    grid = torch.nn.functional.interpolate(grid, scale_factor=(h0 / side, w0 / side), mode="bicubic",
                                           antialias=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, table.shape[-1])
    return torch.cat((table[:, :1], grid.to(table.dtype)), dim=1)


def _depth_anything_pair(kind: str):
    ours = build_depth_anything(kind, None, seed=5)
    reference = _load_strict(lambda: transformers_depth_anything(kind),
                             depth_anything_to_transformers(ours.state_dict()))
    return ours, reference


@pytest.mark.parametrize("kind", ["depth_anything_v2_small", pytest.param("depth_anything_v2_base",
                                  marks=pytest.mark.slow), pytest.param("depth_anything_v2_large",
                                                                        marks=pytest.mark.slow)])
def test_depth_anything_matches_transformers_at_its_own_size(kind):
    ours, reference = _depth_anything_pair(kind)
    x = random_image(518, 518, seed=2)  # the position table's own grid: neither resizes it
    with torch.inference_mode():
        got, want = ours(x), reference(pixel_values=x).predicted_depth
    assert got.shape == want.shape == (1, 518, 518) and want.std() > 0
    assert rel_l2(got, want) <= TOLERANCE, rel_l2(got, want)


def test_depth_anything_matches_transformers_on_a_non_square_grid(monkeypatch):
    from transformers.models.dinov2.modeling_dinov2 import Dinov2Embeddings

    ours, reference = _depth_anything_pair("depth_anything_v2_small")
    x = random_image(140, 182, seed=3)  # 10x13 patches
    with torch.inference_mode():
        plain = reference(pixel_values=x).predicted_depth
        monkeypatch.setattr(Dinov2Embeddings, "interpolate_pos_encoding", dinov2_interpolate_pos_encoding)
        got, want = ours(x), reference(pixel_values=x).predicted_depth
    assert got.shape == want.shape == (1, 140, 182)
    assert rel_l2(got, want) <= TOLERANCE, rel_l2(got, want)
    assert rel_l2(got, plain) > 10 * TOLERANCE  # the resize offset is a real difference, not rounding
