"""The open_clip internals the guidance encoders reach into (render/guidance/fast_clip.py): this fails loudly, with
what moved, when an open_clip release changes them; pyproject.toml pins the major version they hold for."""
from __future__ import annotations

import inspect
from importlib import metadata

import open_clip
import pytest
import torch
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

from render.guidance.fast_clip import (
    VisionTransformerEncoder,
    set_vision_precision,
    supports_vit,
)

MAJOR = 3  # keep equal to the open_clip_torch range in pyproject.toml


def test_the_installed_open_clip_is_the_major_version_the_encoders_are_written_for():
    version = metadata.version("open_clip_torch")
    assert int(version.split(".")[0]) == MAJOR, (
        f"open_clip_torch {version} is installed; render/guidance/fast_clip.py was checked against {MAJOR}.x: "
        f"re-check these tests' attributes and the pyproject.toml range")


@pytest.mark.parametrize("arch", ["ViT-B-32-quickgelu", "ViT-B-16-quickgelu"])
def test_dd_vits_take_the_fast_encoder(arch):
    visual = open_clip.create_model(arch, device="meta").visual.eval()
    assert isinstance(visual, VisionTransformer)
    for name in ("conv1", "class_embedding", "positional_embedding", "ln_pre", "transformer", "ln_post", "proj",
                 "attn_pool", "pool_type", "final_ln_after_pool"):
        assert hasattr(visual, name), f"open_clip's VisionTransformer has no {name!r} any more"
    block = visual.transformer.resblocks[0]
    assert isinstance(block, ResidualAttentionBlock)
    for name in ("attn", "ln_1", "ln_2", "ls_1", "ls_2", "mlp"):
        assert hasattr(block, name), f"open_clip's ResidualAttentionBlock has no {name!r} any more"
    assert isinstance(block.attn, torch.nn.MultiheadAttention) and block.attn.batch_first, (
        "open_clip's attention is no longer batch-first nn.MultiheadAttention")
    assert list(dict(block.mlp.named_children())) == ["c_fc", "gelu", "c_proj"]
    assert supports_vit(visual), "the fast ViT encoder no longer applies to DD's CLIPs: open_clip's layout moved"


def test_the_fast_encoder_follows_the_forward_it_replaces():
    """The steps of open_clip's VisionTransformer.forward that VisionTransformerEncoder re-computes, by name."""
    assert hasattr(VisionTransformer, "_embeds"), "open_clip's VisionTransformer has no _embeds step any more"
    source = inspect.getsource(VisionTransformer._embeds) + inspect.getsource(VisionTransformer.forward)
    for step in ("conv1", "class_embedding", "positional_embedding", "patch_dropout", "ln_pre", "transformer",
                 "_pool", "proj"):
        assert step in source, f"open_clip's VisionTransformer.forward no longer has {step!r}"
    assert callable(VisionTransformerEncoder)


def test_resnets_keep_open_clips_forward():
    visual = open_clip.create_model("RN50-quickgelu", device="meta").visual
    assert isinstance(visual, ModifiedResNet) and not supports_vit(visual)
    assert hasattr(visual, "attnpool") and hasattr(visual, "image_size")
    assert "channels_last" in inspect.getsource(set_vision_precision)
