"""guided-diffusion's UNet (the network of DD's checkpoints), written for speed and memory on CPU and GPU.

Module names and parameter shapes are exactly guided-diffusion's ``UNetModel`` (time_embed, input_blocks,
middle_block, output_blocks, out; ResBlock in_layers/emb_layers/out_layers/skip_connection; AttentionBlock
norm/qkv/attention/proj_out; Downsample/Upsample op/conv), so its state dicts and DD's .pt files load strictly.

What differs is how it runs: attention is ``scaled_dot_product_attention`` on a (B, HW, C) view of channels-last
activations, and the norms, convolutions and adds are the lean primitives of ``render.diffusion.lean_ops`` (float32
GroupNorm statistics, recomputation in backward, convolutions that keep only their weight, a GEMM for weight-bound
3x3 convolutions on CPU, a fused upsample-conv).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from render.diffusion.lean_ops import (
    add_inplace,
    add_upsampled,
    checkpointed,
    conv,
    conv2d,
    group_norm,
    norm_silu,
    upsample_conv,
    zero_module,
)
from render.diffusion.unet_levels import DEFAULT_CHANNEL_MULT, NORM_GROUPS, int_tuple
from render.models.weights import check_state_dict, load_weights
from render.user_error import UserError

__all__ = ["UNetConfig", "UNET_CONFIGS", "UNetModel", "UNetStateDictError", "load_unet", "read_state_dict",
           "state_dict_mismatch", "timestep_embedding", "PRECISIONS"]

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a guided-diffusion UNet, with ``model_and_diffusion_defaults()``'s defaults.

    ``attention_resolutions`` are in pixels (``"32,16,8"`` or ``(32, 16, 8)``) and become downsample factors
    ``image_size // r`` as ``create_model`` does; ``channel_mult=None`` picks ``create_model``'s default for the
    image size.
    """

    image_size: int = 64
    model_channels: int = 128
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16, 8)
    channel_mult: tuple[float, ...] | None = None
    learn_sigma: bool = False
    num_heads: int = 4
    num_head_channels: int = -1
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = True
    resblock_updown: bool = False
    dropout: float = 0.0
    use_new_attention_order: bool = False
    in_channels: int = field(default=3, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "attention_resolutions", int_tuple(self.attention_resolutions))
        if self.channel_mult is None or self.channel_mult == "":
            if self.image_size not in DEFAULT_CHANNEL_MULT:
                raise ValueError(f"UNetConfig: no default channel_mult for image_size={self.image_size}; give one")
            object.__setattr__(self, "channel_mult", DEFAULT_CHANNEL_MULT[self.image_size])
        else:
            object.__setattr__(self, "channel_mult", int_tuple(self.channel_mult))

    @property
    def out_channels(self) -> int:
        return self.in_channels * (2 if self.learn_sigma else 1)

    @property
    def attention_ds(self) -> tuple[int, ...]:
        return tuple(self.image_size // r for r in self.attention_resolutions)


_DD_BIG = dict(model_channels=256, num_res_blocks=2, attention_resolutions=(32, 16, 8), learn_sigma=True,
               num_head_channels=64, resblock_updown=True, use_scale_shift_norm=True)
_DD_FINETUNE = dict(image_size=256, model_channels=128, num_res_blocks=2, attention_resolutions=(16,),
                    learn_sigma=True, num_heads=1, resblock_updown=False, use_scale_shift_norm=False)
_FINETUNES = ("pixelartdiffusion_expanded", "pixel_art_diffusion_hard_256", "pixel_art_diffusion_soft_256",
              "pixelartdiffusion4k", "watercolordiffusion_2", "watercolordiffusion", "PulpSciFiDiffusion")

UNET_CONFIGS: dict[str, UNetConfig] = {
    "512x512_diffusion_uncond_finetune_008100": UNetConfig(image_size=512, **_DD_BIG),
    "256x256_diffusion_uncond": UNetConfig(image_size=256, **_DD_BIG),
    "portrait_generator_v001": UNetConfig(
        image_size=512, model_channels=128, num_res_blocks=2, attention_resolutions=(32, 16, 8), learn_sigma=True,
        num_heads=4, resblock_updown=True, use_scale_shift_norm=True),
    **{name: UNetConfig(**_DD_FINETUNE) for name in _FINETUNES},
}


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (cos half, then sin half) of float timesteps, float32, shape (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = timesteps[:, None].float() * freqs.to(timesteps.device)[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


# ---------------------------------------------------------------------------------------------------- blocks

class Upsample(nn.Module):
    """Nearest x2, then an optional 3x3 conv (``conv``)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None):
        super().__init__()
        self.channels, self.use_conv = channels, use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x):
        if self.use_conv:
            return upsample_conv(self.conv, x)
        return F.interpolate(x, scale_factor=2, mode="nearest")


class Downsample(nn.Module):
    """Stride-2 3x3 conv or 2x2 average pool (``op``)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None):
        super().__init__()
        self.channels, self.use_conv = channels, use_conv
        self.op = nn.Conv2d(channels, out_channels or channels, 3, stride=2, padding=1) if use_conv else nn.AvgPool2d(2)

    def forward(self, x):
        return conv(self.op, x) if self.use_conv else self.op(x)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, conditioned on the timestep embedding, optionally resampling."""

    def __init__(self, channels, emb_channels, dropout, out_channels=None, *, use_scale_shift_norm=False,
                 use_checkpoint=False, up=False, down=False):
        super().__init__()
        out = out_channels or channels
        self.use_scale_shift_norm, self.use_checkpoint, self.updown = use_scale_shift_norm, use_checkpoint, up or down
        self.in_layers = nn.Sequential(nn.GroupNorm(NORM_GROUPS, channels), nn.SiLU(),
                                       nn.Conv2d(channels, out, 3, padding=1))
        if up or down:
            resample = Upsample if up else Downsample
            self.h_upd, self.x_upd = resample(channels, False), resample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out if use_scale_shift_norm else out))
        self.out_layers = nn.Sequential(nn.GroupNorm(NORM_GROUPS, out), nn.SiLU(), nn.Dropout(dropout),
                                        zero_module(nn.Conv2d(out, out, 3, padding=1)))
        self.skip_connection = nn.Identity() if out == channels else nn.Conv2d(channels, out, 1)

    def forward(self, x, emb):
        return checkpointed(self._forward, x, emb, enabled=self.use_checkpoint)

    def _forward(self, x, emb):
        if isinstance(x, tuple) and not (torch.is_grad_enabled() and any(p.requires_grad for p in x)):
            x = torch.cat(x, dim=1)  # an output block's (h, skip): without autograd, concatenated once
        up = isinstance(self.h_upd, Upsample)
        h = norm_silu(self.in_layers[0], x, resample=self.h_upd if isinstance(self.h_upd, Downsample) else None)
        h = upsample_conv(self.in_layers[2], h) if up else conv(self.in_layers[2], h)
        with torch.autocast(emb.device.type, enabled=False):
            emb_out = self.emb_layers(emb.float())[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = norm_silu(self.out_layers[0], h, scale, shift)
        else:
            h = norm_silu(self.out_layers[0], add_inplace(h, emb_out.to(h.dtype)))
        if self.training and self.out_layers[2].p > 0:
            h = self.out_layers[2](h)
        h = conv(self.out_layers[3], h)
        if up and isinstance(self.skip_connection, nn.Identity):
            return add_upsampled(h, x)
        return add_inplace(h, self._skip(x))

    def _skip(self, x):
        module = self.skip_connection
        if isinstance(x, torch.Tensor):
            x = self.x_upd(x)
            return x if isinstance(module, nn.Identity) else conv(module, x)
        if isinstance(module, nn.Identity):
            return torch.cat(x, dim=1)
        # a 1x1 conv of a concatenation is the sum of 1x1 convs of its parts: the concatenation need not exist
        out, start = None, 0
        for part in x:
            y = conv2d(part, module.weight[:, start:start + part.shape[1]], module.bias if out is None else None)
            out, start = (y if out is None else add_inplace(out, y)), start + part.shape[1]
        return out


class QKVAttention(nn.Module):
    """Multi-head attention on packed qkv (B, T, 3C); ``legacy`` packs (heads, qkv, ch), else (qkv, heads, ch)."""

    def __init__(self, n_heads: int, legacy: bool):
        super().__init__()
        self.n_heads, self.legacy = n_heads, legacy

    def forward(self, qkv):
        b, t, width = qkv.shape
        ch = width // (3 * self.n_heads)
        if self.legacy:
            q, k, v = qkv.view(b, t, self.n_heads, 3, ch).unbind(3)
        else:
            q, k, v = qkv.view(b, t, 3, self.n_heads, ch).unbind(2)
        # the reference scales q and k by ch**-0.25 each: the same 1/sqrt(ch) as SDPA's default
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return a.transpose(1, 2).reshape(b, t, self.n_heads * ch)


class AttentionBlock(nn.Module):
    """Self-attention over all positions; qkv and proj_out are 1x1 Conv1d in the checkpoint, applied as linear."""

    def __init__(self, channels, num_heads=1, num_head_channels=-1, use_checkpoint=False,
                 use_new_attention_order=False):
        super().__init__()
        if num_head_channels != -1:
            if channels % num_head_channels:
                raise ValueError(f"channels {channels} not divisible by num_head_channels {num_head_channels}")
            num_heads = channels // num_head_channels
        self.channels, self.num_heads, self.use_checkpoint = channels, num_heads, use_checkpoint
        self.norm = nn.GroupNorm(NORM_GROUPS, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.attention = QKVAttention(num_heads, legacy=not use_new_attention_order)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x):
        return checkpointed(self._forward, x, enabled=self.use_checkpoint)

    def _forward(self, x):
        b, c, hgt, wid = x.shape
        tokens = group_norm(self.norm, x).permute(0, 2, 3, 1).reshape(b, hgt * wid, c)  # a view if channels-last
        qkv = F.linear(tokens, self.qkv.weight[:, :, 0], self.qkv.bias)
        h = F.linear(self.attention(qkv), self.proj_out.weight[:, :, 0], self.proj_out.bias)
        return x + h.view(b, hgt, wid, c).permute(0, 3, 1, 2)


class TimestepEmbedSequential(nn.Sequential):
    """A Sequential that passes the timestep embedding to the ResBlocks in it."""

    def forward(self, x, emb):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            else:
                x = conv(layer, x) if isinstance(layer, nn.Conv2d) else layer(x)
        return x


# ---------------------------------------------------------------------------------------------------- the model

class UNetModel(nn.Module):
    """guided-diffusion's UNetModel (unconditional) for a ``UNetConfig``: ``forward(x, timesteps) -> output``.

    ``precision``: "fp32"; "bf16" (CPU or CUDA) or "fp16" (CUDA only) keep the torso's convolutions in that dtype,
    as guided-diffusion's ``convert_to_fp16`` does, and run the torso in it (what autocast would compute, without
    re-casting the weights on every call); GroupNorm statistics, the timestep embedding and the output head stay
    float32. ``channels_last`` stores weights and activations NHWC: much faster on CPU, for bf16 above all.
    ``use_checkpoint`` recomputes each block in backward (torch.utils.checkpoint, non-reentrant).
    """

    def __init__(self, config: UNetConfig, *, use_checkpoint: bool = False, precision: str = "fp32",
                 channels_last: bool = False):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: expected one of {sorted(PRECISIONS)}")
        self.config, self.precision, self.channels_last = config, precision, channels_last
        self.dtype = PRECISIONS[precision]
        self.use_checkpoint = use_checkpoint
        mc, emb_ch = config.model_channels, 4 * config.model_channels
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))
        chans, ch, ds = self._build_input_blocks()
        self.middle_block = TimestepEmbedSequential(
            self._res(ch), self._attn(ch, config.num_heads), self._res(ch))
        ch = self._build_output_blocks(chans, ch, ds)
        self.out = nn.Sequential(nn.GroupNorm(NORM_GROUPS, ch), nn.SiLU(),
                                 zero_module(nn.Conv2d(ch, config.out_channels, 3, padding=1)))
        for torso in (self.input_blocks, self.middle_block, self.output_blocks):
            for m in torso.modules():
                if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                    m.to(self.dtype)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def _res(self, channels, out_channels=None, **kw):
        cfg = self.config
        return ResBlock(channels, 4 * cfg.model_channels, cfg.dropout, out_channels,
                        use_scale_shift_norm=cfg.use_scale_shift_norm, use_checkpoint=self.use_checkpoint, **kw)

    def _attn(self, channels, num_heads):
        cfg = self.config
        return AttentionBlock(channels, num_heads, cfg.num_head_channels, self.use_checkpoint,
                              cfg.use_new_attention_order)

    def _build_input_blocks(self):
        cfg, mc = self.config, self.config.model_channels
        ch = int(cfg.channel_mult[0] * mc)
        blocks = [TimestepEmbedSequential(nn.Conv2d(cfg.in_channels, ch, 3, padding=1))]
        chans, ds = [ch], 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers = [self._res(ch, int(mult * mc))]
                ch = int(mult * mc)
                if ds in cfg.attention_ds:
                    layers.append(self._attn(ch, cfg.num_heads))
                blocks.append(TimestepEmbedSequential(*layers))
                chans.append(ch)
            if level != len(cfg.channel_mult) - 1:
                down = self._res(ch, down=True) if cfg.resblock_updown else Downsample(ch, True)
                blocks.append(TimestepEmbedSequential(down))
                chans.append(ch)
                ds *= 2
        self.input_blocks = nn.ModuleList(blocks)
        return chans, ch, ds

    def _build_output_blocks(self, chans, ch, ds):
        cfg, mc = self.config, self.config.model_channels
        heads_up = cfg.num_heads if cfg.num_heads_upsample == -1 else cfg.num_heads_upsample
        blocks = []
        for level, mult in list(enumerate(cfg.channel_mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                layers = [self._res(ch + chans.pop(), int(mult * mc))]
                ch = int(mult * mc)
                if ds in cfg.attention_ds:
                    layers.append(self._attn(ch, heads_up))
                if level and i == cfg.num_res_blocks:
                    layers.append(self._res(ch, up=True) if cfg.resblock_updown else Upsample(ch, True))
                    ds //= 2
                blocks.append(TimestepEmbedSequential(*layers))
        self.output_blocks = nn.ModuleList(blocks)
        return ch

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Model output (B, out_channels, H, W) in x's dtype; ``timesteps`` (B,) are model times (0..1000)."""
        if self.precision == "fp16" and x.device.type != "cuda":
            raise ValueError(f"precision='fp16' runs only on CUDA, not on {x.device.type}: use 'bf16' or 'fp32'")
        timesteps = torch.as_tensor(timesteps, device=x.device).reshape(-1).expand(x.shape[0])
        with torch.autocast(x.device.type, enabled=False):
            emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels))
        h = x.to(self.dtype)
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        hs = []
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block((h, hs.pop()), emb)
        head = self.out[2]
        with torch.autocast(x.device.type, enabled=False):
            h = conv(head, norm_silu(self.out[0], h.to(head.weight.dtype)))
        return h.to(x.dtype).contiguous()


class UNetStateDictError(UserError, ValueError):
    """A state dict that does not fit the UNet config: lists the missing, unexpected and wrongly shaped keys."""


def state_dict_mismatch(config: UNetConfig, state: Mapping[str, torch.Tensor]) -> str | None:
    """Why ``state`` does not load strictly into a UNet of ``config`` (None when it does)."""
    with torch.device("meta"):
        expected = {k: v.shape for k, v in UNetModel(config).state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(f"{k}: {tuple(state[k].shape)} != {tuple(s)}" for k, s in expected.items()
                    if k in state and tuple(state[k].shape) != tuple(s))
    if not (missing or unexpected or shapes):
        return None
    return (f"state dict does not fit {config}:\n  missing keys: {_listed(missing)}\n"
            f"  unexpected keys: {_listed(unexpected)}\n  shape mismatches: {_listed(shapes)}")


def _listed(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return f"{len(keys)}: {shown}{', ...' if len(keys) > limit else ''}" if keys else "none"


def read_state_dict(source: str | Path) -> Mapping[str, torch.Tensor]:
    """A checkpoint's state dict, memory-mapped (reading its keys and shapes touches no weights)."""
    state = load_weights(Path(source))  # an unreadable file is a WeightFileError naming it and the fix
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    return check_state_dict(Path(source), state)


def load_unet(config: UNetConfig | str, source: str | Path | Mapping[str, torch.Tensor], **model_kwargs) -> UNetModel:
    """Build a UNetModel and load a guided-diffusion state dict (a path or a mapping) strictly.

    Returns the model in eval mode with ``requires_grad_(False)`` (gradients w.r.t. the input still flow).
    A mismatch raises a ValueError listing the missing, unexpected and wrongly shaped keys.
    """
    if isinstance(config, str):
        config = UNET_CONFIGS[config]
    state = source if isinstance(source, Mapping) else read_state_dict(source)
    problem = state_dict_mismatch(config, state)
    if problem:
        raise UNetStateDictError(problem)
    with torch.device("meta"):
        model = UNetModel(config, **model_kwargs)
    model = model.to_empty(device="cpu")
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)
