"""Building a run's parts from its settings: the animation mode (with frame 0's init) and the frame generator."""
from __future__ import annotations

from pathlib import Path

import torch

from depth.base import build_depth_estimator
from render.generators import FrameGenerator, PreviewGenerator
from render.images import from_uint8, load_image
from render.modes import AnimationMode, InitSource, Mode2D, Mode3D, StillMode
from render.plan import RenderPlan
from render.schema import Config, schedule_fields


def animated_schedules(plan: RenderPlan, mode_name: str) -> dict:
    """The schedules the current mode uses, for the plot."""
    return {path: plan.schedules[path] for path, f in schedule_fields() if mode_name in f.metadata.get("modes", ())}


def build_init_source(settings: Config, plan: RenderPlan, device: torch.device) -> InitSource:
    """Frame 0's init: ``init_image`` if given, else Perlin noise if ``perlin_init``, else None (noise)."""
    if settings.init_image:
        image = from_uint8(load_image(Path(settings.init_image).expanduser(), plan.width, plan.height), device)
        return lambda params: image
    if settings.perlin_init:
        from render.perlin import perlin_image

        mode = settings.perlin_mode.value
        return lambda params: perlin_image(plan.height, plan.width, mode, params.seed).to(device)
    return lambda params: None


def build_mode(settings: Config, plan: RenderPlan, device: torch.device) -> AnimationMode:
    first_init = build_init_source(settings, plan, device)
    anim = settings.animation
    name = anim.mode.value
    if name == "none":
        return StillMode(first_init)
    if name == "2d":
        return Mode2D(first_init)
    if name == "3d":
        return Mode3D(first_init, build_depth_estimator(settings.depth, device), near=anim.near_plane,
                      far=anim.far_plane, padding_mode=anim.padding_mode.value,
                      sampling_mode=anim.sampling_mode.value)
    raise ValueError(f"animation.mode={name!r} is not implemented")


def build_generator(settings: Config, plan: RenderPlan, device: torch.device, *,
                    progress: bool = True) -> FrameGenerator:
    name = settings.generator.value
    if name == "preview":
        return PreviewGenerator(plan.height, plan.width, settings.perlin_mode.value, device)
    if name == "diffusion":
        from render.diffusion_generator import DiffusionGenerator
        from render.networks import load_networks

        networks = load_networks(plan.diffusion, device, progress=progress)
        return DiffusionGenerator(networks, plan, plan.diffusion, settings.animation.mode.value, progress=progress)
    raise ValueError(f"generator={name!r} is not implemented")
