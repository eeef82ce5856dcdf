"""Building the generator's networks once per run: the diffusion UNet, the secondary model, the CLIP models and LPIPS,
from the weight files the plan located (downloading missing ones when allowed), or small seeded random networks of the
same classes for ``model=tiny``."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from render.config.diffusion_plan import TINY, DiffusionPlan
from render.diffusion.secondary import SecondaryDiffusionImageNet2
from render.diffusion.unet import UNET_CONFIGS, UNetConfig, UNetModel, load_unet
from render.guidance.clip_models import ClipPerceptor, ClipSpec, auto_cpu_precision, load_clip
from render.guidance.lpips_loss import build_lpips
from render.models import registry
from render.models.download import ensure
from render.models.weights import WeightFileError, check_state_dict, load_weights

log = logging.getLogger(__name__)

TINY_UNET = UNetConfig(image_size=64, model_channels=32, num_res_blocks=1, attention_resolutions=(8,),
                       num_head_channels=32, use_scale_shift_norm=True, resblock_updown=True, learn_sigma=True)
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


def resolve_precision(value: str, device: torch.device, *, for_clip: bool = False,
                      clip: ClipSpec | None = None) -> str:
    """``auto``: bf16 for the UNet (faster on CPU and GPU). For a CLIP model's image encoder (``clip``, or
    ``for_clip`` for an unnamed one): fp16 on CUDA; on CPU the choice measured per architecture,
    :func:`render.guidance.clip_models.auto_cpu_precision` (bf16 for ViTs and ResNets, fp32 otherwise)."""
    if value != "auto":
        return value
    if clip is not None or for_clip:
        if device.type == "cuda":
            return "fp16"
        return auto_cpu_precision(clip) if clip is not None else "fp32"
    return "bf16"


def load_networks(plan: DiffusionPlan, device: torch.device, *, progress: bool = True) -> Networks:
    model = plan.model
    if plan.missing:
        ensure(plan.missing, model.models_dir, allow_download=model.download, progress=progress)
    tiny = model.diffusion_model == TINY
    precision = resolve_precision(model.precision.value, device)
    unet = _unet(model.diffusion_model, plan.files, precision, model.use_checkpoint, model.channels_last)
    secondary = _secondary(tiny, plan.files) if model.use_secondary_model else None
    perceptors = [load_clip(spec, _clip_file(spec, plan.files), device,
                            resolve_precision(model.clip_precision.value, device, clip=spec))
                  for spec in map(ClipSpec.parse, model.clip_models)]
    lpips = None
    if model.frames_scale or model.init_scale:
        lpips = build_lpips(None if tiny else plan.files.get("vgg16"), device)
    unet = unet.to(device)
    if secondary is not None:
        secondary = secondary.to(device)
    log.info("networks: %s (%s), secondary %s, CLIP %s", model.diffusion_model, precision,
             "on" if secondary is not None else "off", ", ".join(f"{p.spec.name} ({p.precision})" for p in perceptors))
    return Networks(unet=unet, secondary=secondary, perceptors=perceptors, lpips=lpips, files=dict(plan.files))


def _unet(name: str, files: dict[str, Path], precision: str, use_checkpoint: bool, channels_last: bool) -> nn.Module:
    kwargs = dict(use_checkpoint=use_checkpoint, precision=precision, channels_last=channels_last)
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
    return files[registry.lookup(f"{spec.arch}/{spec.tag}").key]
