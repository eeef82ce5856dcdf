"""Building a run's parts from its settings: the animation mode (with frame 0's init) and the frame generator."""
from __future__ import annotations

from pathlib import Path

import torch

from depth.base import build_depth_estimator
from render.generators import FrameGenerator, PreviewGenerator
from render.images import from_uint8, load_image
from render.mode3d import Camera, Mode3D, Turbo
from render.modes import AnimationMode, InitSource, Mode2D, StillMode
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
    """The animation mode, with colour coherence around it when ``color_coherence`` is set."""
    from render.color_coherence import with_color_coherence

    return with_color_coherence(_build_mode(settings, plan, device), settings.color_coherence.value)


def _build_mode(settings: Config, plan: RenderPlan, device: torch.device) -> AnimationMode:
    first_init = build_init_source(settings, plan, device)
    anim = settings.animation
    name = anim.mode.value
    if name == "none":
        return StillMode(first_init)
    if name == "2d":
        return Mode2D(first_init)
    if name == "3d":
        return build_mode3d(settings, plan, device, first_init)
    if name == "video_input":
        return build_video_mode(settings, plan, device)
    raise ValueError(f"animation.mode={name!r} is not implemented")


def build_mode3d(settings: Config, plan: RenderPlan, device: torch.device, first_init: InitSource) -> Mode3D:
    anim, depth = settings.animation, settings.depth
    estimator = build_depth_estimator(plan.depth, device, flat_value=depth.flat_value,
                                      precision=depth.precision.value, models_dir=settings.model.models_dir,
                                      allow_download=settings.model.download)
    camera = Camera(near=anim.near_plane, far=anim.far_plane, padding_mode=anim.padding_mode.value,
                    sampling_mode=anim.sampling_mode.value)
    turbo = Turbo(anim.turbo_steps, anim.turbo_preroll) if anim.turbo_mode else None
    vr = (anim.vr_eye_angle, anim.vr_ipd) if anim.vr_mode else None
    return Mode3D(first_init, estimator, camera, turbo=turbo, vr=vr, save_depth=depth.save_depth_maps)


def flow_cache_root(settings: Config) -> Path:
    from render.mode_video import DEFAULT_CACHE_DIR

    return Path(settings.flow.cache_dir or DEFAULT_CACHE_DIR).expanduser()


def build_video_mode(settings: Config, plan: RenderPlan, device: torch.device):
    """Source frames extracted (once, cached), the flow estimator loaded, the mode that carries output along it."""
    from flow.cache import FlowCache
    from flow.plan import build_flow_estimator
    from render.mode_video import Consistency, PairFlows, SourceFrames, VideoMode

    anim = settings.animation
    frames = SourceFrames(plan.video, flow_cache_root(settings)).ensure()
    flows = None
    if anim.video_init_flow_warp or anim.video_init_blend_mode.value == "optical_flow":
        estimator = build_flow_estimator(plan.flow, settings.flow, device, models_dir=settings.model.models_dir,
                                         allow_download=settings.model.download)
        flows = PairFlows(frames, estimator, FlowCache(flow_cache_root(settings)))
    consistency = None
    if anim.video_init_check_consistency:
        consistency = Consistency(anim.consistency_occlusion_weight, anim.consistency_edge_weight,
                                  anim.consistency_dilation, anim.consistency_blur)
    return VideoMode(frames, flows, flow_warp=anim.video_init_flow_warp, flow_blend=anim.video_init_flow_blend,
                     consistency=consistency,
                     previews=settings.flow.save_previews, device=device)


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
