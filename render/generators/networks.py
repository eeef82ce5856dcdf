"""Building the generator's networks once per run: the diffusion UNet, the secondary model, the CLIP models and LPIPS,
from the weight files the plan located (downloading missing ones when allowed), or small seeded random networks of the
same classes for ``model=tiny``."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from render.config.diffusion_plan import (
    CUSTOM,
    LPIPS_FILE,
    TINY,
    DiffusionPlan,
    custom_unet_config,
)
from render.config.precision import PrecisionChoice
from render.diffusion.secondary import SecondaryDiffusionImageNet2
from render.diffusion.unet import UNET_CONFIGS, UNetConfig, UNetModel, load_unet
from render.guidance.clip_models import ClipPerceptor, load_clip
from render.guidance.clip_spec import ClipSpec
from render.guidance.lpips_loss import build_lpips
from render.models import openclip_files, registry
from render.models.download import ensure
from render.models.weights import WeightFileError, check_state_dict, load_weights

log = logging.getLogger(__name__)

# Every level at 32 channels (the fewest GroupNorm32 allows): at the tiny preset's 256x128 the default multipliers
# (1, 2, 3, 4) cost 25 GFLOP a step, more than the rest of a guided step; these cost 9 (benchmarks/README.md).
TINY_UNET = UNetConfig(image_size=64, model_channels=32, num_res_blocks=1, attention_resolutions=(8,),
                       channel_mult=(1, 1, 1, 1), num_head_channels=32, use_scale_shift_norm=True,
                       resblock_updown=True, learn_sigma=True)
TINY_SECONDARY_CHANNELS = 8
TINY_SEED = 0


@dataclass
class Networks:
    unet: nn.Module
    secondary: nn.Module | None
    perceptors: list[ClipPerceptor]
    lpips: nn.Module | None
    files: dict[str, Path] = field(default_factory=dict)  # the weight files used, for the run record


def rerandomize_(module: nn.Module, seed: int, std: float = 0.02) -> nn.Module:
    """Give every parameter seeded random values: guided-diffusion zero-initialises its output layers, so a
    default-initialised model predicts nothing at all."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * std)
    return module


def load_networks(plan: DiffusionPlan, device: torch.device, precisions: Mapping[str, PrecisionChoice], *,
                  progress: bool = True) -> Networks:
    """``precisions``: the plan's choice per model (``unet``, ``clip ARCH:TAG``; render/config/precision.py)."""
    model, files = plan.model, dict(plan.files)
    if plan.missing:
        ensure(plan.missing, model.models_dir, allow_download=model.download, progress=progress)
    for key in plan.hub_missing:  # CLIPs the registry does not list: open_clip fetches them into the models folder
        arch, tag = key.split(":", 1)
        files[key] = openclip_files.fetch(openclip_files.lookup(arch, tag), model.models_dir)
    tiny = model.diffusion_model == TINY
    precision = precisions["unet"].value
    unet = _unet(model, files, precision)
    secondary = _secondary(tiny, files) if model.use_secondary_model else None
    perceptors = [load_clip(spec, _clip_file(spec, files), device, precisions[f"clip {spec.name}"].value)
                  for spec in map(ClipSpec.parse, model.clip_models)]
    lpips = build_lpips(None if tiny else files[LPIPS_FILE], device) if plan.lpips else None
    unet = unet.to(device)
    if secondary is not None:
        secondary = secondary.to(device)
    log.info("networks: %s (%s), secondary %s, CLIP %s", model.diffusion_model, precision,
             "on" if secondary is not None else "off", ", ".join(f"{p.spec.name} ({p.precision})" for p in perceptors))
    return Networks(unet=unet, secondary=secondary, perceptors=perceptors, lpips=lpips, files=files)


def _unet(model, files: dict[str, Path], precision: str) -> nn.Module:
    name = model.diffusion_model
    kwargs = dict(use_checkpoint=model.use_checkpoint, precision=precision, channels_last=model.channels_last)
    if name == CUSTOM:
        return load_unet(custom_unet_config(model), files[CUSTOM], **kwargs).eval().requires_grad_(False)
    if name == TINY:
        return rerandomize_(UNetModel(TINY_UNET, **kwargs), TINY_SEED).eval().requires_grad_(False)
    key = registry.lookup(name).key
    try:
        return load_unet(UNET_CONFIGS[key], files[key], **kwargs).eval().requires_grad_(False)
    except ValueError as exc:  # a readable file of another network
        raise WeightFileError(files[key], f"is not the {key} diffusion model: {str(exc)[:500]}") from None


def _secondary(tiny: bool, files: dict[str, Path]) -> nn.Module:
    if tiny:
        model = rerandomize_(SecondaryDiffusionImageNet2(TINY_SECONDARY_CHANNELS), TINY_SEED + 1)
    else:
        model = SecondaryDiffusionImageNet2()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = files[registry.lookup("secondary").key]
            state = check_state_dict(path, load_weights(path, mmap=False))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightFileError(path, f"is not the secondary model: {str(exc)[:500]}") from None
    return model.eval().requires_grad_(False)


def _clip_file(spec: ClipSpec, files: dict[str, Path]) -> Path | None:
    if spec.is_tiny:
        return None
    if spec.name in files:  # fetched by open_clip
        return files[spec.name]
    return files[registry.lookup(f"{spec.arch}/{spec.tag}").key]
