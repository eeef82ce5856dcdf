"""The guidance image encoders compute what open_clip computes: embeddings and input gradients."""
from __future__ import annotations

import copy

import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

from render.generators.networks import rerandomize_
from render.guidance.clip_models import (
    TINY_TEXT,
    ClipSpec,
    auto_cpu_precision,
    build_tiny_clip,
)
from render.guidance.fast_clip import (
    OpenClipEncoder,
    VisionTransformerEncoder,
    frozen_linear,
    frozen_mlp,
    set_vision_precision,
    supports_vit,
)


def _embedding_and_grad(encode, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_()
    out = encode(x)
    weights = torch.linspace(-1, 1, out.shape[-1])
    (grad,) = torch.autograd.grad((out * weights).sum(), x)
    return out.detach(), grad


def _vit(quick_gelu: bool = False, **vision) -> CLIP:
    cfg = dict(image_size=64, layers=2, width=64, patch_size=16, head_width=32) | vision
    torch.manual_seed(0)
    model = CLIP(embed_dim=32, vision_cfg=CLIPVisionCfg(**cfg), text_cfg=CLIPTextCfg(**TINY_TEXT),
                 quick_gelu=quick_gelu)
    return rerandomize_(model, seed=3, std=0.05).eval().requires_grad_(False)


@pytest.mark.parametrize("quick_gelu", [False, True])
def test_vit_encoder_matches_open_clip_in_fp32(quick_gelu):
    model = _vit(quick_gelu)
    x = torch.randn(3, 3, 64, 64)
    ref_out, ref_grad = _embedding_and_grad(model.encode_image, x)
    encoder = set_vision_precision(copy.deepcopy(model.visual), "fp32")
    assert isinstance(encoder, VisionTransformerEncoder)
    out, grad = _embedding_and_grad(encoder, x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref_out, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(grad, ref_grad, atol=2e-6, rtol=1e-4)


def test_vit_encoder_in_bf16_stays_close_to_fp32():
    model = _vit()
    x = torch.randn(2, 3, 64, 64)
    ref_out, ref_grad = _embedding_and_grad(model.encode_image, x)
    out, grad = _embedding_and_grad(set_vision_precision(copy.deepcopy(model.visual), "bf16"), x)
    cos = torch.nn.functional.cosine_similarity
    assert cos(out, ref_out).min() > 0.99
    assert cos(grad.flatten(1), ref_grad.flatten(1)).min() > 0.95


def test_unsupported_vit_configurations_keep_open_clips_forward():
    model = _vit(attentional_pool=True)
    assert not supports_vit(model.visual)
    encoder = set_vision_precision(copy.deepcopy(model.visual), "fp32")
    assert isinstance(encoder, OpenClipEncoder)
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(encoder(x), model.encode_image(x))


def test_resnet_encoder_channels_last_bf16_is_close_and_fp32_is_exact():
    model = rerandomize_(build_tiny_clip("tiny-rn"), seed=4, std=0.05).eval().requires_grad_(False)
    x = torch.randn(2, 3, 64, 64)
    ref_out, ref_grad = _embedding_and_grad(model.encode_image, x)
    out32, grad32 = _embedding_and_grad(set_vision_precision(copy.deepcopy(model.visual), "fp32"), x)
    torch.testing.assert_close(out32, ref_out)
    torch.testing.assert_close(grad32, ref_grad)
    encoder = set_vision_precision(copy.deepcopy(model.visual), "bf16")
    assert encoder.channels_last and next(encoder.visual.parameters()).dtype == torch.bfloat16
    out, grad = _embedding_and_grad(encoder, x)
    assert out.dtype == torch.float32 and grad.dtype == torch.float32
    cos = torch.nn.functional.cosine_similarity
    assert cos(out, ref_out).min() > 0.98
    # the input gradient is what guidance uses; this tiny random tower's is ~1e-17, below cosine_similarity's eps
    grad, ref_grad = grad.double().flatten(1), ref_grad.double().flatten(1)
    unit = grad / grad.norm(dim=1, keepdim=True)
    ref_unit = ref_grad / ref_grad.norm(dim=1, keepdim=True)
    assert (unit * ref_unit).sum(1).min() > 0.95
    assert ((grad.norm(dim=1) / ref_grad.norm(dim=1)) - 1).abs().max() < 0.2  # measured 0.11: bf16 through 4 stages


def test_frozen_layers_give_the_input_gradient_only():
    torch.manual_seed(1)
    fc1, fc2, act = torch.nn.Linear(8, 16), torch.nn.Linear(16, 4), torch.nn.GELU()
    for p in (*fc1.parameters(), *fc2.parameters()):
        p.requires_grad_(False)
    x = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    fc1.double(), fc2.double()
    assert torch.autograd.gradcheck(lambda v: frozen_linear(v, fc1.weight, fc1.bias), (x,))
    assert torch.autograd.gradcheck(lambda v: frozen_mlp(v, fc1, act, fc2), (x,))
    torch.testing.assert_close(frozen_mlp(x, fc1, act, fc2), fc2(act(fc1(x))))


def test_auto_cpu_precision_per_architecture():
    assert auto_cpu_precision(ClipSpec.parse("ViT-B-32:openai")) == "bf16"
    assert auto_cpu_precision(ClipSpec.parse("RN50:openai")) == "bf16"
    assert auto_cpu_precision(ClipSpec.parse("tiny-vit-16:random")) == "bf16"
    assert auto_cpu_precision(ClipSpec.parse("coca_ViT-B-32:laion2b_s13b_b90k")) == "fp32"  # attentional pooler
