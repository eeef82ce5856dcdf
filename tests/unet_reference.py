"""guided-diffusion's UNet (the code DD runs) built for one of our configs, and every parameter re-randomised."""
from __future__ import annotations

import warnings

import torch

from render.diffusion.unet import UNetConfig

with warnings.catch_warnings():  # the reference package uses deprecated torch.cuda.amp decorators
    warnings.simplefilter("ignore", FutureWarning)
    from guided_diffusion.unet import UNetModel as RefUNet


def reference_unet(cfg: UNetConfig, **kw) -> RefUNet:
    """guided-diffusion's UNetModel for the same architecture, as create_model would build it."""
    return RefUNet(image_size=cfg.image_size, in_channels=3, model_channels=cfg.model_channels,
                   out_channels=cfg.out_channels, num_res_blocks=cfg.num_res_blocks,
                   attention_resolutions=cfg.attention_ds, dropout=cfg.dropout, channel_mult=cfg.channel_mult,
                   num_heads=cfg.num_heads, num_head_channels=cfg.num_head_channels,
                   num_heads_upsample=cfg.num_heads_upsample, use_scale_shift_norm=cfg.use_scale_shift_norm,
                   resblock_updown=cfg.resblock_updown, use_new_attention_order=cfg.use_new_attention_order, **kw)


@torch.no_grad()
def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter redrawn: weights ~ N(0, 1/fan_in), norm scales ~ 1 + N(0, 0.1), biases ~ N(0, 0.1)."""
    gen = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        value = torch.randn(p.shape, generator=gen)
        if p.ndim > 1:
            value *= p[0].numel() ** -0.5
        else:
            value = value * 0.1 + (1.0 if name.endswith("weight") else 0.0)
        p.copy_(value)
    return model.eval()
