"""MiDaS v3 / AdaBins networks: checkpoint layout, strict loading, DD's pre- and post-processing.

The expected key names and shapes below are those of the official checkpoints' models: they were read from
MiDaS v3 (``midas/dpt_depth.py``, ``vit.py``, ``blocks.py``, ``midas_net.py``, ``midas_net_custom.py``) and AdaBins
(``models/unet_adaptive_bins.py``, ``miniViT.py``, ``layers.py``) and cross-checked by building those original
models (timm 0.4.12, gen-efficientnet 1.0.2; MiDaS v2.1 large on torchvision's ``resnext101_32x8d``, the network
WSL-Images' hub entry builds) and loading our state dicts into them with ``strict=True``. A renamed module or a
changed width fails here. ``dpt_hybrid_nyu`` is intel-isl/DPT's NYU finetune of DPT-Hybrid: DPT's
``DPTDepthModel`` has the same modules as MiDaS v3's (its scale, shift and invert options are plain attributes),
so its layout is DPT-Hybrid's.

The big networks run on tiny inputs (64x96 where the architecture allows); each is built once per module.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from depth import adabins as ab
from depth import estimators as est
from depth.estimators import (
    AdabinsDepth,
    BlendedDepth,
    CheckpointMismatch,
    MidasDepth,
    adabins_input_size,
    build_adabins,
    build_midas,
    midas_input_size,
)
from depth.midas import FeatureFusionBlockV21, create_midas, resize_pos_embed
from render.models import registry
from render.models.catalog import DEPTH_FILES

torch.set_num_threads(2)

# family -> (number of entries in the state dict, characteristic (key, shape) pairs)
EXPECTED = {
    "dpt_large": (368, [
        ("pretrained.model.cls_token", (1, 1, 1024)),
        ("pretrained.model.pos_embed", (1, 577, 1024)),
        ("pretrained.model.patch_embed.proj.weight", (1024, 3, 16, 16)),
        ("pretrained.model.blocks.0.norm1.weight", (1024,)),
        ("pretrained.model.blocks.0.attn.qkv.weight", (3072, 1024)),
        ("pretrained.model.blocks.0.attn.proj.weight", (1024, 1024)),
        ("pretrained.model.blocks.0.mlp.fc1.weight", (4096, 1024)),
        ("pretrained.model.blocks.0.mlp.fc2.bias", (1024,)),
        ("pretrained.model.blocks.23.attn.qkv.weight", (3072, 1024)),
        ("pretrained.model.blocks.23.mlp.fc1.weight", (4096, 1024)),
        ("pretrained.model.norm.weight", (1024,)),
        ("pretrained.model.head.weight", (1000, 1024)),
        ("pretrained.act_postprocess1.0.project.0.weight", (1024, 2048)),
        ("pretrained.act_postprocess1.3.weight", (256, 1024, 1, 1)),
        ("pretrained.act_postprocess1.4.weight", (256, 256, 4, 4)),
        ("pretrained.act_postprocess2.0.project.0.weight", (1024, 2048)),
        ("pretrained.act_postprocess2.3.weight", (512, 1024, 1, 1)),
        ("pretrained.act_postprocess2.4.weight", (512, 512, 2, 2)),
        ("pretrained.act_postprocess3.0.project.0.weight", (1024, 2048)),
        ("pretrained.act_postprocess3.3.weight", (1024, 1024, 1, 1)),
        ("pretrained.act_postprocess4.0.project.0.weight", (1024, 2048)),
        ("pretrained.act_postprocess4.3.weight", (1024, 1024, 1, 1)),
        ("pretrained.act_postprocess4.4.weight", (1024, 1024, 3, 3)),
        ("scratch.layer1_rn.weight", (256, 256, 3, 3)),
        ("scratch.layer2_rn.weight", (256, 512, 3, 3)),
        ("scratch.layer3_rn.weight", (256, 1024, 3, 3)),
        ("scratch.layer4_rn.weight", (256, 1024, 3, 3)),
        ("scratch.refinenet1.out_conv.weight", (256, 256, 1, 1)),
        ("scratch.refinenet1.resConfUnit1.conv1.weight", (256, 256, 3, 3)),
        ("scratch.refinenet1.resConfUnit2.conv2.bias", (256,)),
        ("scratch.refinenet4.resConfUnit1.conv2.weight", (256, 256, 3, 3)),
        ("scratch.refinenet4.out_conv.bias", (256,)),
        ("scratch.output_conv.0.weight", (128, 256, 3, 3)),
        ("scratch.output_conv.2.weight", (32, 128, 3, 3)),
        ("scratch.output_conv.4.weight", (1, 32, 1, 1)),
    ]),
    "dpt_hybrid": (368, [
        ("pretrained.model.cls_token", (1, 1, 768)),
        ("pretrained.model.pos_embed", (1, 577, 768)),
        ("pretrained.model.patch_embed.backbone.stem.conv.weight", (64, 3, 7, 7)),
        ("pretrained.model.patch_embed.backbone.stem.norm.weight", (64,)),
        ("pretrained.model.patch_embed.backbone.stem.norm.bias", (64,)),
        ("pretrained.model.patch_embed.backbone.stages.0.blocks.0.downsample.conv.weight", (256, 64, 1, 1)),
        ("pretrained.model.patch_embed.backbone.stages.0.blocks.0.downsample.norm.weight", (256,)),
        ("pretrained.model.patch_embed.backbone.stages.0.blocks.0.conv2.weight", (64, 64, 3, 3)),
        ("pretrained.model.patch_embed.backbone.stages.0.blocks.0.norm3.bias", (256,)),
        ("pretrained.model.patch_embed.backbone.stages.1.blocks.0.downsample.conv.weight", (512, 256, 1, 1)),
        ("pretrained.model.patch_embed.backbone.stages.1.blocks.0.conv2.weight", (128, 128, 3, 3)),
        ("pretrained.model.patch_embed.backbone.stages.1.blocks.0.norm3.bias", (512,)),
        ("pretrained.model.patch_embed.backbone.stages.2.blocks.0.downsample.conv.weight", (1024, 512, 1, 1)),
        ("pretrained.model.patch_embed.backbone.stages.2.blocks.0.conv2.weight", (256, 256, 3, 3)),
        ("pretrained.model.patch_embed.backbone.stages.2.blocks.8.conv3.weight", (1024, 256, 1, 1)),
        ("pretrained.model.patch_embed.proj.weight", (768, 1024, 1, 1)),
        ("pretrained.model.blocks.11.attn.qkv.weight", (2304, 768)),
        ("pretrained.model.head.weight", (1000, 768)),
        ("pretrained.act_postprocess3.0.project.0.weight", (768, 1536)),
        ("pretrained.act_postprocess3.3.weight", (768, 768, 1, 1)),
        ("pretrained.act_postprocess4.0.project.0.weight", (768, 1536)),
        ("pretrained.act_postprocess4.3.weight", (768, 768, 1, 1)),
        ("pretrained.act_postprocess4.4.weight", (768, 768, 3, 3)),
        ("scratch.layer1_rn.weight", (256, 256, 3, 3)),
        ("scratch.layer2_rn.weight", (256, 512, 3, 3)),
        ("scratch.layer3_rn.weight", (256, 768, 3, 3)),
        ("scratch.layer4_rn.weight", (256, 768, 3, 3)),
        ("scratch.refinenet2.resConfUnit1.conv1.weight", (256, 256, 3, 3)),
        ("scratch.output_conv.0.weight", (128, 256, 3, 3)),
        ("scratch.output_conv.2.weight", (32, 128, 3, 3)),
        ("scratch.output_conv.4.weight", (1, 32, 1, 1)),
    ]),
    "midas_v21": (666, [
        ("pretrained.layer1.0.weight", (64, 3, 7, 7)),  # conv1
        ("pretrained.layer1.1.weight", (64,)),  # bn1
        ("pretrained.layer1.1.running_var", (64,)),
        ("pretrained.layer1.1.num_batches_tracked", ()),
        ("pretrained.layer1.4.0.conv1.weight", (256, 64, 1, 1)),  # index 4: ResNeXt's layer1 (after relu, maxpool)
        ("pretrained.layer1.4.0.conv2.weight", (256, 8, 3, 3)),  # 32 groups of 8 channels
        ("pretrained.layer1.4.0.conv3.weight", (256, 256, 1, 1)),
        ("pretrained.layer1.4.0.downsample.0.weight", (256, 64, 1, 1)),
        ("pretrained.layer1.4.0.downsample.1.running_mean", (256,)),
        ("pretrained.layer1.4.2.bn3.bias", (256,)),
        ("pretrained.layer2.0.conv1.weight", (512, 256, 1, 1)),
        ("pretrained.layer2.0.conv2.weight", (512, 16, 3, 3)),
        ("pretrained.layer2.0.downsample.0.weight", (512, 256, 1, 1)),
        ("pretrained.layer2.3.conv3.weight", (512, 512, 1, 1)),
        ("pretrained.layer3.0.conv1.weight", (1024, 512, 1, 1)),
        ("pretrained.layer3.0.conv2.weight", (1024, 32, 3, 3)),
        ("pretrained.layer3.22.conv3.weight", (1024, 1024, 1, 1)),  # 23 blocks
        ("pretrained.layer3.22.bn3.running_var", (1024,)),
        ("pretrained.layer4.0.conv1.weight", (2048, 1024, 1, 1)),
        ("pretrained.layer4.0.conv2.weight", (2048, 64, 3, 3)),
        ("pretrained.layer4.0.downsample.0.weight", (2048, 1024, 1, 1)),
        ("pretrained.layer4.2.conv3.weight", (2048, 2048, 1, 1)),
        ("pretrained.layer4.2.bn3.running_mean", (2048,)),
        ("scratch.layer1_rn.weight", (256, 256, 3, 3)),
        ("scratch.layer2_rn.weight", (256, 512, 3, 3)),
        ("scratch.layer3_rn.weight", (256, 1024, 3, 3)),
        ("scratch.layer4_rn.weight", (256, 2048, 3, 3)),
        ("scratch.refinenet4.resConfUnit1.conv1.weight", (256, 256, 3, 3)),
        ("scratch.refinenet4.resConfUnit1.conv1.bias", (256,)),
        ("scratch.refinenet3.resConfUnit2.conv2.weight", (256, 256, 3, 3)),
        ("scratch.refinenet1.resConfUnit2.conv2.bias", (256,)),
        ("scratch.output_conv.0.weight", (128, 256, 3, 3)),
        ("scratch.output_conv.2.weight", (32, 128, 3, 3)),
        ("scratch.output_conv.4.weight", (1, 32, 1, 1)),
        ("scratch.output_conv.4.bias", (1,)),
    ]),
    "midas_small": (482, [
        ("pretrained.layer1.0.weight", (32, 3, 3, 3)),
        ("pretrained.layer1.1.weight", (32,)),
        ("pretrained.layer1.1.running_var", (32,)),
        ("pretrained.layer1.3.0.conv_dw.weight", (32, 1, 3, 3)),
        ("pretrained.layer1.3.0.bn1.running_mean", (32,)),
        ("pretrained.layer1.3.0.bn1.num_batches_tracked", ()),
        ("pretrained.layer1.3.0.conv_pw.weight", (24, 32, 1, 1)),
        ("pretrained.layer1.3.0.bn2.weight", (24,)),
        ("pretrained.layer1.4.0.conv_pw.weight", (144, 24, 1, 1)),
        ("pretrained.layer2.0.0.conv_pw.weight", (192, 32, 1, 1)),
        ("pretrained.layer3.0.0.conv_pw.weight", (288, 48, 1, 1)),
        ("pretrained.layer3.1.0.conv_pw.weight", (576, 96, 1, 1)),
        ("pretrained.layer3.1.4.conv_dw.weight", (816, 1, 5, 5)),
        ("pretrained.layer4.0.0.conv_pw.weight", (816, 136, 1, 1)),
        ("pretrained.layer4.1.0.conv_pw.weight", (1392, 232, 1, 1)),
        ("pretrained.layer4.1.0.conv_pwl.weight", (384, 1392, 1, 1)),
        ("pretrained.layer4.1.0.bn3.running_mean", (384,)),
        ("scratch.layer1_rn.weight", (64, 32, 3, 3)),
        ("scratch.layer2_rn.weight", (128, 48, 3, 3)),
        ("scratch.layer3_rn.weight", (256, 136, 3, 3)),
        ("scratch.layer4_rn.weight", (512, 384, 3, 3)),
        ("scratch.refinenet4.out_conv.weight", (256, 512, 1, 1)),
        ("scratch.refinenet4.resConfUnit1.conv1.weight", (512, 512, 3, 3)),
        ("scratch.refinenet3.out_conv.weight", (128, 256, 1, 1)),
        ("scratch.refinenet2.out_conv.weight", (64, 128, 1, 1)),
        ("scratch.refinenet1.out_conv.weight", (64, 64, 1, 1)),
        ("scratch.output_conv.0.weight", (32, 64, 3, 3)),
        ("scratch.output_conv.2.weight", (32, 32, 3, 3)),
        ("scratch.output_conv.4.weight", (1, 32, 1, 1)),
    ]),
    "adabins_nyu": (973, [
        ("encoder.original_model.conv_stem.weight", (48, 3, 3, 3)),
        ("encoder.original_model.bn1.weight", (48,)),
        ("encoder.original_model.bn1.num_batches_tracked", ()),
        ("encoder.original_model.blocks.0.0.conv_dw.weight", (48, 1, 3, 3)),
        ("encoder.original_model.blocks.0.0.bn1.running_var", (48,)),
        ("encoder.original_model.blocks.0.0.se.conv_reduce.weight", (12, 48, 1, 1)),
        ("encoder.original_model.blocks.0.0.se.conv_expand.bias", (48,)),
        ("encoder.original_model.blocks.0.0.conv_pw.weight", (24, 48, 1, 1)),
        ("encoder.original_model.blocks.4.6.bn3.weight", (176,)),
        ("encoder.original_model.blocks.6.2.conv_pw.weight", (3072, 512, 1, 1)),
        ("encoder.original_model.blocks.6.2.se.conv_reduce.weight", (128, 3072, 1, 1)),
        ("encoder.original_model.blocks.6.2.conv_pwl.weight", (512, 3072, 1, 1)),
        ("encoder.original_model.conv_head.weight", (2048, 512, 1, 1)),
        ("encoder.original_model.bn2.running_var", (2048,)),
        ("adaptive_bins_layer.patch_transformer.positional_encodings", (500, 128)),
        ("adaptive_bins_layer.patch_transformer.embedding_convPxP.weight", (128, 128, 16, 16)),
        ("adaptive_bins_layer.patch_transformer.transformer_encoder.layers.3.self_attn.in_proj_weight", (384, 128)),
        ("adaptive_bins_layer.patch_transformer.transformer_encoder.layers.3.self_attn.out_proj.bias", (128,)),
        ("adaptive_bins_layer.patch_transformer.transformer_encoder.layers.3.linear1.weight", (1024, 128)),
        ("adaptive_bins_layer.patch_transformer.transformer_encoder.layers.3.linear2.weight", (128, 1024)),
        ("adaptive_bins_layer.patch_transformer.transformer_encoder.layers.0.norm2.bias", (128,)),
        ("adaptive_bins_layer.conv3x3.weight", (128, 128, 3, 3)),
        ("adaptive_bins_layer.regressor.0.weight", (256, 128)),
        ("adaptive_bins_layer.regressor.2.weight", (256, 256)),
        ("adaptive_bins_layer.regressor.4.weight", (256, 256)),
        ("decoder.conv2.weight", (2048, 2048, 1, 1)),
        ("decoder.up1._net.0.weight", (1024, 2224, 3, 3)),
        ("decoder.up2._net.0.weight", (512, 1088, 3, 3)),
        ("decoder.up3._net.0.weight", (256, 552, 3, 3)),
        ("decoder.up4._net.0.weight", (128, 280, 3, 3)),
        ("decoder.up4._net.4.running_var", (128,)),
        ("decoder.conv3.weight", (128, 128, 3, 3)),
        ("conv_out.0.weight", (256, 128, 1, 1)),
    ]),
}

EXPECTED["dpt_hybrid_nyu"] = EXPECTED["dpt_hybrid"]  # one architecture, two trainings
# keys the official files do not have (a module the original does not hold)
ABSENT = {
    "midas_v21": ["pretrained.fc.weight", "pretrained.layer1.4.fc.weight", "scratch.refinenet1.out_conv.weight",
                  "scratch.output_conv.6.weight", "scratch.activation.weight"],
}
FAMILIES = ["dpt_large", "dpt_hybrid", "dpt_hybrid_nyu", "midas_v21", "midas_small", "adabins_nyu"]

DPT_INPUT = (64, 96)  # multiples of 32: the ViT's 24x24 position grid is resized to 4x6
ADABINS_INPUT = (384, 384)  # >= 129 patches of 16x16 on the half-resolution decoder output


def _rand_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _save_official(family: str, sd: dict, path):
    """The layout of the published file: MiDaS files are bare state dicts; AdaBins_nyu.pt is a training
    checkpoint (``model`` from a DataParallel model, ``optimizer``, ``epoch``)."""
    if family == "adabins_nyu":
        optimizer = {"state": {}, "param_groups": [{"lr": 3.5e-4, "betas": (0.9, 0.999), "weight_decay": 0.1,
                                                    "params": [0, 1, 2]}]}
        torch.save({"model": {f"module.{k}": v for k, v in sd.items()}, "optimizer": optimizer, "epoch": 24}, path)
    else:
        torch.save(sd, path)


class Built:
    def __init__(self, family, src, loaded, path, sd):
        self.family, self.src, self.loaded, self.path, self.sd = family, src, loaded, path, sd


def _build_family(family: str, tmp_path_factory) -> Built:
    make = (lambda p: build_adabins(p, seed=1)) if family == "adabins_nyu" else (lambda p: build_midas(family, p, 1))
    src = make(None)
    sd = src.state_dict()
    path = tmp_path_factory.mktemp(family) / registry.lookup(family).filename
    _save_official(family, sd, path)
    return Built(family, src, make(path), path, sd)


@pytest.fixture(scope="module", params=FAMILIES)
def built(request, tmp_path_factory):
    b = _build_family(request.param, tmp_path_factory)
    yield b
    del b.src, b.loaded, b.sd


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint layout and strict loading, per family


def test_state_dict_layout_matches_official_checkpoint(built):
    count, expected = EXPECTED[built.family]
    sd = built.sd
    assert len(sd) == count
    for key, shape in expected:
        assert key in sd, f"{built.family}: {key} missing (renamed module?)"
        assert tuple(sd[key].shape) == shape, f"{built.family}: {key} has shape {tuple(sd[key].shape)}"
    roots = {"adabins_nyu": ("encoder.original_model.", "decoder.", "adaptive_bins_layer.", "conv_out.")}
    allowed = roots.get(built.family, ("pretrained.", "scratch."))
    assert all(k.startswith(allowed) for k in sd)
    assert not [k for k in ABSENT.get(built.family, []) if k in sd]


def test_random_weights_are_not_default_init(built):
    sd = built.sd
    weights = {k: v for k, v in sd.items() if k.endswith("weight") and v.ndim >= 2}
    biases = [v for k, v in sd.items() if k.endswith("bias")]
    assert all(v.abs().max() > 0 for v in biases)  # default init leaves many biases (and MiDaS' head) at zero
    for k, v in list(weights.items())[::25]:  # N(0, 1/fan_in)
        assert v.std().item() == pytest.approx(1 / math.sqrt(v[0].numel()), rel=0.25), k
    running_var = [v for k, v in sd.items() if k.endswith("running_var")]
    assert all(((v >= 0.5) & (v <= 1.5)).all() for v in running_var)


def test_randomize_depends_on_seed_and_name_only():
    def make():
        torch.manual_seed(123)  # default init differs from the drawn values
        return nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.Linear(5, 3))

    a, b, c = est.randomize_(make(), 7), est.randomize_(make(), 7), est.randomize_(make(), 8)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a[0].weight, c[0].weight)
    assert not torch.equal(a[0].weight[:3, :5], a[2].weight)  # another name draws other values
    assert ((a[1].weight >= 0.75) & (a[1].weight <= 1.25)).all()


def test_loaded_file_equals_source_model(built):
    loaded_sd = built.loaded.state_dict()
    assert loaded_sd.keys() == built.sd.keys()
    assert all(torch.equal(loaded_sd[k], v) for k, v in built.sd.items())
    assert not any(p.requires_grad for p in built.loaded.parameters())
    assert not built.loaded.training
    if built.family == "adabins_nyu":
        x = _rand_image(*ADABINS_INPUT)
        with torch.inference_mode():
            edges_a, a = built.src(x)
            edges_b, b = built.loaded(x)
        assert a.shape == (1, 1, ADABINS_INPUT[0] // 2, ADABINS_INPUT[1] // 2)
        assert torch.equal(edges_a, edges_b)
        assert edges_a.shape == (1, ab.N_BINS + 1)
        assert edges_a[0, 0].item() == pytest.approx(ab.MIN_DEPTH) and edges_a[0, -1].item() == pytest.approx(10.0)
        assert ((a >= ab.MIN_DEPTH) & (a <= ab.MAX_DEPTH)).all()
    else:
        x = (_rand_image(*DPT_INPUT) - 0.5) / 0.5
        with torch.inference_mode():
            a, b = built.src(x), built.loaded(x)
        assert a.shape == (1, *DPT_INPUT)
        assert (a >= 0).all()  # non_negative head
    assert a.std() > 0
    assert torch.equal(a, b)


def test_end_to_end_estimator_on_loaded_weights(built):
    image = _rand_image(48, 80, seed=3)
    if built.family == "adabins_nyu":
        depth = AdabinsDepth(built.loaded, "cpu", "fp32")(image)
        assert ((depth >= ab.MIN_DEPTH) & (depth <= ab.MAX_DEPTH + 1e-3)).all()
    else:
        depth = MidasDepth(built.loaded, built.family, "cpu", "fp32")(image)
        assert (depth >= est.MIN_MIDAS_DEPTH).all()
        assert (depth <= est.DD_DISPARITY_OFFSET / est.DD_DISPARITY_SCALE + 0.05).all()  # disparity >= 0 (ReLU)
    assert depth.shape == (1, 1, 48, 80)
    assert depth.dtype == torch.float32
    assert torch.isfinite(depth).all() and (depth > 0).all()
    assert depth.std() > 0


# ---------------------------------------------------------------------------------------------------------------
# Loading: wrapping, prefixes, renames and clear errors


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    net = build_midas("midas_small", None, seed=4)
    path = tmp_path_factory.mktemp("small") / "midas_v21_small-70d6b9c8.pt"
    torch.save(net.state_dict(), path)
    return net, path


def test_wrapped_and_prefixed_midas_checkpoint_loads(small_file, tmp_path):
    net, _ = small_file
    path = tmp_path / "wrapped.pt"
    torch.save({"model": {f"module.{k}": v for k, v in net.state_dict().items()}, "optimizer": {}, "epoch": 3}, path)
    loaded = build_midas("midas_small", path)
    x = _rand_image(64, 96)
    with torch.inference_mode():
        assert torch.equal(loaded(x), net(x))


def test_file_of_another_model_is_refused_with_its_name(small_file):
    _, path = small_file
    with pytest.raises(CheckpointMismatch) as info:
        build_midas("dpt_hybrid", path)
    msg = str(info.value)
    assert str(path) in msg
    assert "not a MiDaS dpt_hybrid weight file" in msg
    assert "looks like a midas_small file" in msg
    assert "pretrained.model.cls_token" in msg  # a missing key is named


# what each family's file is loaded as, and how the refusal names the file it got
OTHER = {"dpt_large": "midas_v21", "dpt_hybrid": "dpt_large", "dpt_hybrid_nyu": "midas_v21",
         "midas_v21": "midas_small", "midas_small": "midas_v21", "adabins_nyu": "dpt_hybrid_nyu"}
LOOKS_LIKE = {"dpt_hybrid": "dpt_hybrid or dpt_hybrid_nyu", "dpt_hybrid_nyu": "dpt_hybrid or dpt_hybrid_nyu"}


def test_a_file_of_another_family_is_refused_naming_the_file_and_what_it_is(built):
    other = OTHER[built.family]
    with pytest.raises(CheckpointMismatch) as info:
        build_midas(other, built.path)
    msg = str(info.value)
    assert msg.startswith(f"{built.path}: not a MiDaS {other} weight file (strict load failed)")
    assert f"it looks like a {LOOKS_LIKE.get(built.family, built.family)} file" in msg
    assert "fix: " in msg and built.path.name in msg.splitlines()[-1]
    if built.family != "adabins_nyu":
        with pytest.raises(CheckpointMismatch, match="not a AdaBins NYU weight file"):
            build_adabins(built.path)


def test_renamed_key_and_wrong_shape_are_named(small_file, tmp_path):
    net, _ = small_file
    sd = dict(net.state_dict())
    sd["scratch.refinenet9.out_conv.weight"] = sd.pop("scratch.refinenet1.out_conv.weight")
    sd["scratch.layer1_rn.weight"] = sd["scratch.layer1_rn.weight"][:, :16].clone()
    path = tmp_path / "renamed.pt"
    torch.save(sd, path)
    with pytest.raises(CheckpointMismatch) as info:
        build_midas("midas_small", path)
    msg = str(info.value)
    assert str(path) in msg
    assert "1 missing, 1 unexpected, 1 mis-shaped" in msg
    assert "scratch.refinenet1.out_conv.weight" in msg and "scratch.refinenet9.out_conv.weight" in msg
    assert "scratch.layer1_rn.weight: file (64, 16, 3, 3), model (64, 32, 3, 3)" in msg


def test_unreadable_and_missing_files(tmp_path):
    junk = tmp_path / "dpt_large-midas-2f21e586.pt"
    junk.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(CheckpointMismatch, match=str(junk)):
        build_midas("tiny", junk)
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        build_adabins(tmp_path / "nowhere.pt")
    with pytest.raises(ValueError, match="unknown MiDaS kind"):
        build_midas("midas_v30", None)


def test_unwrap_and_adabins_legacy_names():
    w = torch.zeros(2)
    assert est.unwrap_state_dict({"a.b": w}) == {"a.b": w}
    assert est.unwrap_state_dict({"model": {"module.a.b": w}, "optimizer": {}, "epoch": 1}) == {"a.b": w}
    assert est.unwrap_state_dict({"state_dict": {"a": w}, "epoch": 1}) == {"a": w}
    old = {"adaptive_bins_layer.embedding_conv.weight": w,
           "adaptive_bins_layer.patch_transformer.embedding_encoder.bias": w, "decoder.conv2.weight": w}
    assert set(est.remap_adabins_keys(old)) == {"adaptive_bins_layer.conv3x3.weight",
                                                "adaptive_bins_layer.patch_transformer.embedding_convPxP.bias",
                                                "decoder.conv2.weight"}
    with pytest.raises(TypeError):
        est.unwrap_state_dict([w])


# ---------------------------------------------------------------------------------------------------------------
# Pre- and post-processing


@pytest.mark.parametrize("hw, kind, expected", [
    ((768, 1280), "dpt_large", (384, 640)),  # DD's 1280x768 frame
    ((512, 512), "dpt_large", (384, 384)),
    ((1280, 768), "dpt_hybrid", (640, 384)),  # portrait
    ((1080, 1920), "dpt_large", (384, 672)),  # 682.7 rounds to 21 x 32
    ((128, 256), "dpt_large", (192, 384)),  # small frames grow: the side whose scale is nearer 1 fits
    ((400, 400), "dpt_hybrid", (384, 384)),
    ((768, 1280), "midas_small", (160, 256)),  # upper_bound: both sides inside 256
    ((512, 512), "midas_small", (256, 256)),
    ((1080, 1920), "midas_small", (128, 256)),  # 144 rounds to 128 (half to even)
    ((64, 96), "midas_small", (160, 256)),
    ((768, 1280), "midas_v21", (224, 384)),  # upper_bound: 384 x 0.3 = 230.4 rounds to 7 x 32
    ((512, 512), "midas_v21", (384, 384)),
    ((1080, 1920), "midas_v21", (224, 384)),  # 216 rounds up to 224
    ((1280, 768), "midas_v21", (384, 224)),
    ((64, 96), "midas_v21", (256, 384)),  # small frames grow until one side is 384
    ((768, 1280), "dpt_hybrid_nyu", (384, 640)),  # minimal, as DPT-Hybrid
    ((128, 256), "tiny", (128, 256)),
    ((24, 1280), "dpt_large", (32, 384)),  # MiDaS would give height 0
])
def test_midas_input_size(hw, kind, expected):
    size = midas_input_size(*hw, kind)
    assert size == expected
    assert all(s % 32 == 0 for s in size)


@pytest.mark.parametrize("hw, expected", [
    ((64, 96), (365, 548)), ((128, 256), (316, 633)), ((768, 1280), (547, 912)), ((1080, 1920), (530, 942)),
    ((500, 1000), (500, 1000)), ((448, 448), (448, 448)),
])
def test_adabins_input_size(hw, expected):
    h, w = adabins_input_size(*hw)
    assert (h, w) == expected
    assert est.MIN_ADABINS_AREA - (h + w) <= h * w <= est.MAX_ADABINS_AREA
    assert abs(w / h - hw[1] / hw[0]) < 0.01


def test_resize_pos_embed():
    pos = torch.randn(1, 1 + 24 * 24, 8)
    assert resize_pos_embed(pos, 24, 24) is pos
    out = resize_pos_embed(pos, 4, 6)
    assert out.shape == (1, 1 + 24, 8)
    assert torch.equal(out[:, 0], pos[:, 0])  # the class token's embedding is kept
    grid = pos[0, 1:].reshape(24, 24, 8)
    assert torch.allclose(out[0, 1:].reshape(4, 6, 8).mean((0, 1)), grid.mean((0, 1)), atol=0.2)


def test_midas_v21_fusion_adds_relu_of_its_input_as_midas_in_place_relu_does():
    """MiDaS' plain ResidualConvUnit starts with ``nn.ReLU(inplace=True)`` on its input and then adds that input
    back: the skip carries ``relu(x)``. Written out here with MiDaS' in-place ReLU, compared with ours."""
    block = est.randomize_(FeatureFusionBlockV21(8), seed=3).eval()
    g = torch.Generator().manual_seed(0)
    x, skip = torch.randn(1, 8, 4, 6, generator=g), torch.randn(1, 8, 4, 6, generator=g)

    def midas_unit(unit, t):  # relu_ overwrites t, so the sum below adds relu(t)
        relu = nn.ReLU(inplace=True)
        out = unit.conv2(relu(unit.conv1(relu(t))))
        return out + t

    with torch.no_grad():
        ref = midas_unit(block.resConfUnit2, x.clone() + midas_unit(block.resConfUnit1, skip.clone()))
        ref = F.interpolate(ref, scale_factor=2, mode="bilinear", align_corners=True)
        x_before, skip_before = x.clone(), skip.clone()
        ours = block(x, skip)
        plain = lambda u, t: t + u.conv2(F.relu(u.conv1(F.relu(t))))  # noqa: E731 (what DPT's units compute)
        other = F.interpolate(plain(block.resConfUnit2, x + plain(block.resConfUnit1, skip)), scale_factor=2,
                              mode="bilinear", align_corners=True)
    assert ours.shape == (1, 8, 8, 12)
    assert torch.allclose(ours, ref, atol=1e-5)
    assert not torch.allclose(ours, other, atol=1e-3)  # the difference is real on inputs with negative values
    assert torch.equal(x, x_before) and torch.equal(skip, skip_before)  # ours does not write into its inputs


def test_midas_v21_head_and_encoder_are_midas_net():
    with torch.device("meta"):
        net = create_midas("midas_v21")
    head = net.scratch.output_conv
    assert len(head) == 6 and head[1].align_corners is False  # MiDaS' Interpolate default; fusion blocks: True
    assert isinstance(head[5], nn.ReLU)  # non_negative=True
    assert [type(m).__name__ for m in net.pretrained.layer1[:4]] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert [len(getattr(net.pretrained, f"layer{i}")) for i in (2, 3, 4)] == [4, 23, 3]
    assert net.pretrained.layer3[0].conv2.groups == 32
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.zeros(1, 3, 48, 64, device="meta"))


class _ConstantNet(nn.Module):
    """A stand-in MiDaS net: records its input, answers a constant disparity at the input's size."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value
        self.scale = nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.full((x.shape[0], *x.shape[2:]), self.value, dtype=x.dtype) * self.scale


@pytest.mark.parametrize("kind, mean, std", [("dpt_large", 0.5, 0.5), ("midas_small", 0.485, 0.229),
                                            ("midas_v21", 0.485, 0.229), ("dpt_hybrid_nyu", 0.5, 0.5)])
def test_midas_preprocessing_and_dd_conversion(kind, mean, std):
    net = _ConstantNet(12.0)
    image = torch.full((1, 3, 96, 160), 0.5)
    depth = MidasDepth(net, kind, "cpu", "fp32")(image)
    (x,) = net.seen
    assert tuple(x.shape[-2:]) == midas_input_size(96, 160, kind)
    assert x[0, 0].mean().item() == pytest.approx((0.5 - mean) / std, abs=1e-5)  # red channel
    assert depth.shape == (1, 1, 96, 160) and depth.dtype == torch.float32
    assert torch.allclose(depth, torch.full_like(depth, (50 - 12) / 19), atol=1e-5)  # DD: (50 - d) / 19


@pytest.mark.parametrize("metres", [0.5, 1.0, 3.0, 7.0])
def test_dpt_hybrid_nyu_output_becomes_metres_or_dds_depth(metres):
    """By DPT's constants the NYU model's output is ``(1/metres - 0.1378) / 0.000305`` (about 2827 at 1 m). With
    ``metric`` (the default, depth.nyu_metric) we return those metres; DD's ``(50 - d) / 19`` is below zero up
    close, so without it everything nearer than ~6.5 m lands on the floor, as in DD."""
    out = (1 / metres - 0.1378) / 0.000305
    if metres == 1.0:
        assert out == pytest.approx(2827, abs=1)
    image = torch.rand(1, 3, 64, 64)
    metric = MidasDepth(_ConstantNet(out), "dpt_hybrid_nyu", "cpu", "fp32", metric=True)(image)
    assert torch.allclose(metric, torch.full_like(metric, metres), rtol=1e-4)
    dd = MidasDepth(_ConstantNet(out), "dpt_hybrid_nyu", "cpu", "fp32")(image)
    assert torch.allclose(dd, torch.full_like(dd, max((50 - out) / 19, est.MIN_MIDAS_DEPTH)), rtol=1e-5)


def test_the_nyu_conversion_is_chosen_by_the_setting(monkeypatch):
    from render.builders import build_depth_estimator
    from render.config.depth_plan import DepthPlan

    built = []
    monkeypatch.setattr(est, "build_midas", lambda kind, path, seed=None: built.append(kind) or _ConstantNet(0.0))
    nyu = DepthPlan("dpt_hybrid_nyu", 1.0, {"dpt_hybrid_nyu": None})
    assert build_depth_estimator(nyu, torch.device("cpu")).metric is True  # depth.nyu_metric's default
    assert build_depth_estimator(nyu, torch.device("cpu"), nyu_metric=False).metric is False
    assert build_depth_estimator(DepthPlan("dpt_hybrid", 1.0, {"dpt_hybrid": None}), torch.device("cpu")).metric \
        is False
    assert built == ["dpt_hybrid_nyu", "dpt_hybrid_nyu", "dpt_hybrid"]


def test_midas_depth_is_clamped_above_zero():
    depth = MidasDepth(_ConstantNet(60.0), "tiny", "cpu", "fp32")(torch.rand(1, 3, 64, 64))
    assert torch.equal(depth, torch.full_like(depth, est.MIN_MIDAS_DEPTH))  # DD would give (50 - 60) / 19 < 0


@pytest.fixture(scope="module")
def tiny():
    return build_midas("tiny", None)


def test_tiny_pipeline_matches_manual_computation(tiny):
    image = _rand_image(128, 256, seed=5)
    estimator = MidasDepth(tiny, "tiny", "cpu", "fp32")
    depth = estimator(image)
    with torch.inference_mode():
        disp = tiny((image - 0.5) / 0.5)  # 128x256 is already the tiny model's input size
    manual = ((50 - disp[:, None]) / 19).clamp_min(est.MIN_MIDAS_DEPTH)
    assert torch.allclose(depth, manual, atol=1e-6)
    assert depth.std() > 1e-3  # not a flat plane
    other = MidasDepth(build_midas("tiny", None, seed=1), "tiny", "cpu", "fp32")(image)
    assert not torch.allclose(other, depth)  # the seed matters


def test_tiny_precisions(tiny):
    image = _rand_image(96, 128, seed=6)
    ref = MidasDepth(build_midas("tiny", None), "tiny", "cpu", "fp32")(image)
    for precision in ("bf16", "fp16"):
        est_p = MidasDepth(build_midas("tiny", None), "tiny", "cpu", precision)
        assert next(est_p.net.parameters()).dtype == est.PRECISIONS[precision]
        out = est_p(image)
        assert out.dtype == torch.float32 and out.shape == ref.shape
        assert (out - ref).abs().max().item() < 0.05, precision
    with pytest.raises(ValueError, match="precision"):
        MidasDepth(tiny, "tiny", "cpu", "fp64")


def test_estimators_reject_bad_images(tiny):
    estimator = MidasDepth(tiny, "tiny", "cpu", "fp32")
    with pytest.raises(ValueError, match=r"\(1,3,H,W\)"):
        estimator(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match=r"\(1,3,H,W\)"):
        estimator(torch.rand(2, 3, 64, 64))


class _ConstantAdabins(nn.Module):
    """A stand-in AdaBins: records its input, answers ``(edges, pred)`` at half resolution, one depth."""

    min_val, max_val = ab.MIN_DEPTH, ab.MAX_DEPTH

    def __init__(self, value):
        super().__init__()
        self.value = value
        self.scale = nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        n, _, h, w = x.shape
        pred = torch.full((n, 1, (h + 1) // 2, (w + 1) // 2), self.value) * self.scale
        return torch.zeros(n, 257), pred


def test_adabins_preprocessing_resize_and_clip():
    net = _ConstantAdabins(25.0)  # beyond NYU's 10 m: clipped
    image = torch.full((1, 3, 64, 96), 0.5)
    depth = AdabinsDepth(net, "cpu", "fp32")(image)
    assert depth.shape == (1, 1, 64, 96)
    assert torch.allclose(depth, torch.full_like(depth, ab.MAX_DEPTH))
    x, x_flipped = net.seen  # the image and its mirror image
    assert tuple(x.shape[-2:]) == adabins_input_size(64, 96) == (365, 548)
    assert torch.allclose(x[0, :, 0, 0], (0.5 - torch.tensor(ab.IMAGENET_MEAN)) / torch.tensor(ab.IMAGENET_STD),
                          atol=1e-4)
    assert torch.equal(x_flipped, x.flip(-1))


def test_adabins_predict_averages_the_mirror_image():
    class Ramp(_ConstantAdabins):
        def forward(self, x):
            self.seen.append(x)
            pred = torch.linspace(1.0, 3.0, x.shape[-1]).expand(1, 1, x.shape[-2], x.shape[-1]).clone()
            return torch.zeros(1, 257), pred

    depth = ab.predict(Ramp(0.0), torch.rand(1, 3, 8, 16))
    assert torch.allclose(depth, torch.full_like(depth, 2.0), atol=1e-6)  # ramp + mirrored ramp = constant


def test_blend():
    one = lambda image: torch.ones(1, 1, 4, 4)  # noqa: E731
    three = lambda image: torch.full((1, 1, 4, 4), 3.0)  # noqa: E731
    blended = BlendedDepth(one, three, 0.3)(torch.rand(1, 3, 4, 4))
    assert torch.allclose(blended, torch.full((1, 1, 4, 4), 0.3 * 1 + 0.7 * 3))
    with pytest.raises(ValueError):
        BlendedDepth(one, three, 1.5)


# ---------------------------------------------------------------------------------------------------------------
# Registry and the renderer's entry point


def test_registry_entries():
    for key, prefix in [("dpt_large", "2f21e586"), ("dpt_hybrid", "501f0c75"), ("midas_v21", "f6b98070"),
                        ("midas_small", "70d6b9c8")]:
        f = registry.lookup(key)
        assert f.kind == "depth"
        assert f.sha256_prefix == prefix and f.sha256.startswith(prefix) and prefix in f.filename
        assert all(u.startswith("https://") for u in f.urls)
    v21 = registry.lookup("midas_v21")
    assert v21.filename == "midas_v21-f6b98070.pt" and v21.size == 422509849
    assert v21.sha256 == "f6b980704cfd7259c7cc2b058c2f160159c55e84b3b6c08331b4156a84629f70"
    assert v21.urls[0] == "https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21-f6b98070.pt"
    nyu = registry.lookup("dpt_hybrid_nyu")  # only the name's prefix is public: the first copy used is recorded
    assert nyu.filename == "dpt_hybrid_nyu-2ce69ec7.pt" and nyu.sha256 is None and nyu.sha256_prefix == "2ce69ec7"
    assert nyu.sha256_unpublished and nyu.kind == "depth"
    assert nyu.urls == ("https://github.com/intel-isl/DPT/releases/download/1_0/dpt_hybrid_nyu-2ce69ec7.pt",)
    ada = registry.lookup("adabins_nyu")
    assert ada.filename == "AdaBins_nyu.pt" and len(ada.sha256) == 64
    assert any("Qmd2mMnDLWePKmgfS8m6ntAg4nhV5VkUyAydYBp8cWWeB7" in u for u in ada.urls)  # DD's IPFS file
    # the catalog's depth entries are the registry's
    assert [registry.lookup(f.key) for f in DEPTH_FILES] == list(DEPTH_FILES)


def test_renderer_builds_tiny_depth_fast():
    import time

    from render.builders import build_depth_estimator
    from render.config.depth_plan import DepthPlan

    estimator = build_depth_estimator(DepthPlan("tiny", 1.0, {}), torch.device("cpu"), precision="fp32")
    assert isinstance(estimator, MidasDepth) and estimator.kind == "tiny"
    frame = _rand_image(128, 256, seed=7)
    estimator(frame)  # warm-up
    t0 = time.perf_counter()
    depth = estimator(frame)
    elapsed = time.perf_counter() - t0
    assert depth.shape == (1, 1, 128, 256) and (depth > 0).all()
    assert elapsed < 1.0, f"tiny depth took {elapsed:.2f}s for a 256x128 frame"


def test_all_parameters_materialised(tiny):
    assert all(not p.is_meta for p in tiny.parameters())
    assert all(np.isfinite(p.detach().numpy()).all() for p in tiny.parameters())
