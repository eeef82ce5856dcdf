"""CLIP image encoders for guidance: the same functions as open_clip's, run faster and leaner on frozen weights.

Guidance differentiates a CLIP image embedding w.r.t. the image, never w.r.t. the weights. That allows:

- **Input-gradient-only layers.** The gradient of ``x @ W.T + b`` w.r.t. ``x`` needs only ``W``, so linear layers
  keep no activation for backward (``frozen_linear``); the MLP keeps only its hidden pre-activation and recomputes
  the activation in backward (``_FrozenMLP``).
- **Batch-first attention.** open_clip runs ``nn.MultiheadAttention`` on batch-first tensors: its packed input
  projection then multiplies a transposed 3-D tensor, which PyTorch computes as a batched GEMM over a copy of the
  weight per token (most of the time of a bf16 ViT on CPU). Here the projection is one GEMM over all tokens and
  attention is ``scaled_dot_product_attention`` on views of its output.
- **A patch embedding as a GEMM.** The stride=kernel patch convolution is a reshape and a matmul.

``VisionTransformerEncoder`` is used for open_clip's ``VisionTransformer`` in the configuration of OpenAI's and
OpenCLIP's ViTs (class-token pooling, learnable positions, pre-norm blocks, no layer scale or attentional pooler);
anything else keeps open_clip's own ``encode_image`` (see :func:`fast_image_encoder`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import VisionTransformer
from torch import nn

__all__ = ["frozen_linear", "frozen_mlp", "VisionTransformerEncoder", "OpenClipEncoder", "set_vision_precision"]


class _FrozenLinear(torch.autograd.Function):
    """``F.linear`` whose backward gives only the input's gradient, so it keeps nothing but the weight."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(weight)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        return grad.matmul(weight), None, None


def frozen_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear``; under autograd with a frozen weight and bias, without keeping ``x`` for backward."""
    if torch.is_grad_enabled() and x.requires_grad and not weight.requires_grad and not (
            bias is not None and bias.requires_grad):
        return _FrozenLinear.apply(x, weight, bias)
    return F.linear(x, weight, bias)


class _FrozenMLP(torch.autograd.Function):
    """``fc2(act(fc1(x)))`` keeping only ``fc1(x)``; the activation is recomputed in backward."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, act):
        h = F.linear(x, w1, b1)
        ctx.save_for_backward(h, w1, w2)
        ctx.act = act
        return F.linear(act(h), w2, b2)

    @staticmethod
    def backward(ctx, grad):
        h, w1, w2 = ctx.saved_tensors
        grad_a = grad.matmul(w2)
        with torch.enable_grad():
            h = h.detach().requires_grad_()
            (grad_h,) = torch.autograd.grad(ctx.act(h), h, grad_a)
        return grad_h.matmul(w1), None, None, None, None, None


def frozen_mlp(x, fc1: nn.Linear, act: nn.Module, fc2: nn.Linear) -> torch.Tensor:
    params = (fc1.weight, fc1.bias, fc2.weight, fc2.bias)
    if torch.is_grad_enabled() and x.requires_grad and not any(p is not None and p.requires_grad for p in params):
        return _FrozenMLP.apply(x, *params, act)
    return fc2(act(fc1(x)))


def _layer_norm(norm: nn.LayerNorm, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """LayerNorm in the stream's dtype (float32 statistics on CPU), output cast to the GEMMs' dtype."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps).to(dtype)


class VisionTransformerEncoder:
    """open_clip's ``VisionTransformer.forward`` for an image batch, computed with the layers above.

    Matmul weights are used in their stored dtype (``gemm_dtype``); the residual stream, the norms and the
    embeddings run in ``stream_dtype`` (the dtype of ``class_embedding``)."""

    def __init__(self, visual: VisionTransformer):
        if not supports_vit(visual):
            raise ValueError("unsupported VisionTransformer configuration")
        self.visual = visual

    @property
    def gemm_dtype(self) -> torch.dtype:
        return self.visual.conv1.weight.dtype

    @property
    def stream_dtype(self) -> torch.dtype:
        return self.visual.class_embedding.dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        v = self.visual
        gemm, stream = self.gemm_dtype, self.stream_dtype
        n = x.shape[0]
        ph, pw = v.conv1.kernel_size
        gh, gw = x.shape[2] // ph, x.shape[3] // pw
        patches = x.to(gemm).reshape(n, 3, gh, ph, gw, pw).permute(0, 2, 4, 1, 3, 5).reshape(n, gh * gw, 3 * ph * pw)
        tokens = frozen_linear(patches, v.conv1.weight.reshape(v.conv1.out_channels, -1)).to(stream)
        cls = v.class_embedding.reshape(1, 1, -1).expand(n, 1, -1).to(stream)
        h = torch.cat([cls, tokens], dim=1) + v.positional_embedding.to(stream)
        h = v.ln_pre(h) if isinstance(v.ln_pre, nn.Identity) else _layer_norm(v.ln_pre, h, stream)
        for block in v.transformer.resblocks:
            h = h + _attention(block.attn, _layer_norm(block.ln_1, h, gemm)).to(stream)
            h = h + frozen_mlp(_layer_norm(block.ln_2, h, gemm), block.mlp.c_fc, block.mlp.gelu,
                               block.mlp.c_proj).to(stream)
        pooled = F.layer_norm(h[:, 0], v.ln_post.normalized_shape, v.ln_post.weight, v.ln_post.bias, v.ln_post.eps)
        return (pooled @ v.proj.to(pooled.dtype)).float()


def _attention(attn: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    n, length, width = x.shape
    heads = attn.num_heads
    qkv = frozen_linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(n, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4).unbind(0)
    out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, width)
    return frozen_linear(out, attn.out_proj.weight, attn.out_proj.bias)


def supports_vit(visual: nn.Module) -> bool:
    """Whether ``VisionTransformerEncoder`` computes exactly what this open_clip vision tower computes."""
    if not isinstance(visual, VisionTransformer):
        return False
    if visual.attn_pool is not None or visual.pool_type != "tok" or visual.final_ln_after_pool:
        return False
    if visual.training or visual.conv1.bias is not None:  # PatchDropout is the identity in eval mode
        return False
    if tuple(visual.conv1.kernel_size) != tuple(visual.conv1.stride) or visual.proj is None:
        return False
    for block in visual.transformer.resblocks:
        attn = getattr(block, "attn", None)
        if not isinstance(attn, nn.MultiheadAttention) or attn.in_proj_weight is None or not attn.batch_first:
            return False
        if hasattr(block, "ln_1_kv") or not all(isinstance(getattr(block, n), nn.Identity) for n in ("ls_1", "ls_2")):
            return False
        if not isinstance(block.ln_1, nn.LayerNorm) or not isinstance(block.ln_2, nn.LayerNorm):
            return False
        if list(dict(block.mlp.named_children())) != ["c_fc", "gelu", "c_proj"]:
            return False
        if attn.bias_k is not None or attn.add_zero_attn:
            return False
    return True


class OpenClipEncoder:
    """open_clip's own forward of a vision tower, input cast to its dtype (and layout), output float32."""

    def __init__(self, visual: nn.Module, channels_last: bool = False):
        self.visual, self.channels_last = visual, channels_last

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(next(self.visual.parameters()).dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.visual(x).float()


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
VIT_STREAM_FP32 = False


def set_vision_precision(visual: nn.Module, precision: str):
    """Store the vision tower's weights for ``precision`` (in place) and return its image encoder (a callable from
    normalised images to float32 embeddings).

    - open_clip ViTs of the supported configuration: the GEMM weights (patch embedding, attention projections,
      MLP) in ``precision``; :class:`VisionTransformerEncoder` runs them.
    - ModifiedResNet (OpenAI's RN50 etc.): every weight in ``precision``; below float32, channels-last layout on
      CPU (oneDNN's bf16 convolutions are several times faster NHWC than NCHW; in float32 NCHW is faster here).
    - anything else: every weight in ``precision``, open_clip's forward.
    """
    dtype = DTYPES[precision]
    if supports_vit(visual):
        gemm = {id(visual.conv1.weight)}
        for block in visual.transformer.resblocks:
            gemm |= {id(p) for p in (block.attn.in_proj_weight, block.attn.in_proj_bias, block.attn.out_proj.weight,
                                     block.attn.out_proj.bias, block.mlp.c_fc.weight, block.mlp.c_fc.bias,
                                     block.mlp.c_proj.weight, block.mlp.c_proj.bias)}
        stream = torch.float32 if VIT_STREAM_FP32 else dtype
        for p in visual.parameters():
            p.data = p.data.to(dtype if id(p) in gemm else stream)
        return VisionTransformerEncoder(visual)
    visual.to(dtype)
    channels_last = isinstance(visual, ModifiedResNet) and dtype != torch.float32
    if channels_last:
        visual.to(memory_format=torch.channels_last)
    return OpenClipEncoder(visual, channels_last)
