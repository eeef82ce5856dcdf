"""The lean primitives the UNet runs on, CPU and GPU alike:

- GroupNorm keeps float32 statistics whatever the activation dtype; the scale-shift modulation is folded into its
  affine parameters (batch 1); without autograd, SiLU works in place; residual adds always do;
- on CPU, 3x3 convolutions over few positions with many channels (the deep levels, where the weights dominate)
  run as one GEMM over shifted views instead of oneDNN, which re-lays out the weight on every call;
- a nearest-x2 upsample followed by a 3x3 conv runs as four 2x2 convs of the input, without the upsampled tensor;
- under autograd with no parameter needing a gradient (DD's guidance case) only block inputs and conv outputs are
  kept for backward: GroupNorm+SiLU is recomputed there, convolutions keep only their weight (the input gradient
  needs no activation), and skip concatenations are never kept. About a quarter of the reference's activations.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["add_inplace", "add_upsampled", "checkpointed", "conv", "conv2d", "group_norm", "is_channels_last",
           "norm_silu", "upsample_conv", "weight_bound", "zero_module"]


def _lean(x: torch.Tensor, *params) -> bool:
    """Autograd records x's graph but no parameter wants a gradient: nothing but x needs keeping."""
    return torch.is_grad_enabled() and x.requires_grad and not any(p is not None and p.requires_grad for p in params)


def group_norm(norm: nn.GroupNorm, x, scale=None, shift=None):
    """GroupNorm with float32 statistics and output in x's dtype, then ``* (1 + scale) + shift`` if given."""
    weight, bias = norm.weight.float(), norm.bias.float()
    if scale is not None and x.shape[0] == 1:  # fold the modulation into the affine parameters
        weight = weight * (1 + scale.reshape(-1).float())
        bias = bias * (1 + scale.reshape(-1).float()) + shift.reshape(-1).float()
        scale = None
    with torch.autocast(x.device.type, enabled=False):
        if x.device.type == "cpu":  # the CPU kernel accumulates in float32 for bf16 input and float32 affine
            y = F.group_norm(x, norm.num_groups, weight, bias, norm.eps)
        else:
            y = F.group_norm(x.float(), norm.num_groups, weight, bias, norm.eps).to(x.dtype)
    if scale is not None:
        y = torch.addcmul(shift.to(y.dtype), y, 1 + scale.to(y.dtype))
    return y


def _norm_silu(norm, x, scale=None, shift=None, resample=None):
    y = F.silu(group_norm(norm, x, scale, shift), inplace=not torch.is_grad_enabled())
    return y if resample is None else resample(y)


def _cat(parts) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class _RecomputedNormSiLU(torch.autograd.Function):
    """``resample(SiLU(GroupNorm(cat(parts))))`` keeping only its inputs for backward, where it is recomputed.

    For frozen parameters: the recomputation is elementwise work, and it spares keeping the norm's and the
    activation's outputs, and the concatenation of a skip connection."""

    @staticmethod
    def forward(ctx, norm, resample, scale, shift, *parts):
        ctx.norm, ctx.resample = norm, resample
        ctx.save_for_backward(scale, shift, *parts)
        return _norm_silu(norm, _cat(parts), scale, shift, resample)  # autograd.Function runs this without grad

    @staticmethod
    def backward(ctx, grad):
        scale, shift, *parts = ctx.saved_tensors
        parts = [p.detach().requires_grad_() for p in parts]
        with torch.enable_grad():
            z = group_norm(ctx.norm, _cat(parts), scale, shift)
            if ctx.resample is not None:
                grads = torch.autograd.grad(ctx.resample(F.silu(z)), parts, grad)
            else:  # SiLU's backward straight from z, into z's memory (the norm's backward does not read z)
                grad_z = torch.ops.aten.silu_backward.grad_input(grad, z.detach(), grad_input=z.detach())
                grads = torch.autograd.grad(z, parts, grad_z)
        return (None, None, None, None, *grads)


def norm_silu(norm: nn.GroupNorm, x, scale=None, shift=None, *, resample=None):
    """``resample(SiLU(GroupNorm(x) [* (1 + scale) + shift]))``; x is a tensor or a tuple of tensors that it is the
    channel concatenation of.

    Under autograd with frozen parameters only x (or its parts) is kept: the rest is recomputed in backward."""
    parts = (x,) if isinstance(x, torch.Tensor) else tuple(x)
    frozen = not any(t is not None and t.requires_grad for t in (norm.weight, norm.bias, scale, shift))
    if torch.is_grad_enabled() and frozen and any(p.requires_grad for p in parts):
        return _RecomputedNormSiLU.apply(norm, resample, scale, shift, *parts)
    return _norm_silu(norm, _cat(parts), scale, shift, resample)


class _InputGradConv2d(torch.autograd.Function):
    """conv2d that keeps only its weight for backward: the gradient w.r.t. the input needs no activation."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(weight)
        ctx.shape, ctx.dtype, ctx.stride, ctx.padding = x.shape, x.dtype, stride, padding
        ctx.memory_format = _memory_format(x)
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        # never read, never written: only its shape and layout matter (never touched, so it costs no memory)
        placeholder = torch.empty(ctx.shape, dtype=grad.dtype, device=grad.device, memory_format=ctx.memory_format)
        grad_x = torch.ops.aten.convolution_backward(
            grad, placeholder, weight.to(grad.dtype), None, ctx.stride, ctx.padding, (1, 1), False, (0, 0), 1,
            (True, False, False))[0]
        return grad_x.to(ctx.dtype), None, None, None, None


def _conv3x3_gemm(x, weight, bias):
    """A 3x3, stride 1, padding 1 convolution of channels-last tensors as one GEMM on the 9 shifted views."""
    b, c, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # (B, H+2, W+2, C), a view
    cols = torch.stack([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)], dim=3)
    kernel = weight.permute(0, 2, 3, 1).reshape(weight.shape[0], 9 * c)  # a view of a channels-last weight
    return F.linear(cols.reshape(b * h * w, 9 * c), kernel, bias).view(b, h, w, -1).permute(0, 3, 1, 2)


def weight_bound(x, weight, stride, padding) -> bool:
    """A 3x3 convolution over few positions with many channels: oneDNN re-lays out the weight on every call, which
    costs several times the arithmetic; a GEMM reads the weight where it is (CPU, channels-last)."""
    return (x.device.type == "cpu" and tuple(weight.shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(padding) == (1, 1) and x.shape[0] * x.shape[2] * x.shape[3] <= 256 and weight.shape[1] >= 512
            and is_channels_last(x) and weight.is_contiguous(memory_format=torch.channels_last))


def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0)):
    """F.conv2d; under autograd with a frozen weight and bias, without keeping x for backward."""
    if weight_bound(x, weight, stride, padding):
        return _conv3x3_gemm(x, weight, bias)  # under autograd, a frozen GEMM keeps only its weight
    if _lean(x, weight, bias):
        return _InputGradConv2d.apply(x, weight, bias, stride, padding)
    return F.conv2d(x, weight, bias, stride, padding)


def conv(module: nn.Conv2d, x):
    return conv2d(x, module.weight, module.bias, module.stride, module.padding)


# Rows (and columns) of a 3x3 kernel seen by output phase 0 and 1 of a nearest-x2-upsampled input: phase 0 reads
# input rows (y-1, y) with taps (w0, w1+w2); phase 1 reads (y, y+1) with taps (w0+w1, w2).
_PHASE_TAPS = ((1.0, 0.0, 0.0), (0.0, 1.0, 1.0)), ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def upsample_conv(module: nn.Conv2d, x):
    """``module(nearest_upsample_x2(x))`` for a 3x3, padding 1 conv. Without autograd, on large channels-last
    inputs, without the upsampled tensor: each of the 4 output phases is a 2x2 conv of x with summed taps (2.25x
    fewer FLOPs). Under autograd the plain way is faster and keeps less for backward."""
    sub_pixel = (not torch.is_grad_enabled() and is_channels_last(x) and x.shape[2] * x.shape[3] >= 1024
                 and tuple(module.kernel_size) == (3, 3) and tuple(module.padding) == (1, 1)
                 and tuple(module.stride) == (1, 1))
    if not sub_pixel:
        return conv(module, F.interpolate(x, scale_factor=2, mode="nearest"))
    b, _, h, w = x.shape
    taps = torch.tensor(_PHASE_TAPS, dtype=module.weight.dtype, device=x.device)
    kernels = torch.einsum("aik,bjl,ockl->abocij", taps, taps, module.weight)
    padded = F.pad(x, (1, 1, 1, 1))
    out = x.new_empty((b, h, 2, w, 2, module.out_channels))
    for ph in range(2):
        for pw in range(2):
            kernel = kernels[ph, pw].contiguous(memory_format=torch.channels_last)
            phase = conv2d(padded[:, :, ph:ph + h + 1, pw:pw + w + 1], kernel, module.bias)
            out[:, :, ph, :, pw] = phase.permute(0, 2, 3, 1)
    return out.view(b, 2 * h, 2 * w, -1).permute(0, 3, 1, 2)


def add_inplace(h, y):
    """``h + y``, in place (h is always a fresh output that no backward reads) unless autograd would see an
    in-place op on a view."""
    return h + y if torch.is_grad_enabled() and h._is_view() else h.add_(y)


def add_upsampled(h, x):
    """``h + nearest_upsample_x2(x)`` without the upsampled tensor (a broadcast over 2x2 blocks)."""
    blocks = h.unflatten(3, (x.shape[3], 2)).unflatten(2, (x.shape[2], 2))
    if not torch.is_grad_enabled():
        blocks.add_(x[:, :, :, None, :, None])
        return h
    return (blocks + x[:, :, :, None, :, None]).flatten(4, 5).flatten(2, 3)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if is_channels_last(x) else torch.contiguous_format


def is_channels_last(x: torch.Tensor) -> bool:
    return x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def zero_module(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def checkpointed(fn, *args, enabled: bool):
    if enabled and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)
