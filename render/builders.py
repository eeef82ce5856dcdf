"""Building a run's parts from its settings and plan: the animation mode (with frame 0's init), its depth or flow
estimator, the networks, and the frame generator."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from depth.base import DepthEstimator, FlatDepth
from depth.stabilize import DepthStabilizer
from render.config.depth_plan import DepthPlan
from render.config.flow_plan import RAFT_WEIGHTS, FlowPlan
from render.config.plan import RenderPlan
from render.config.schema import Config, FlowConfig, schedule_fields
from render.disk.images import load_image
from render.disk.quantize import image_to_frame
from render.generators.base import FrameGenerator, StepHook
from render.generators.preview import CameraGenerator, PreviewGenerator
from render.models.download import ensure
from render.modes.base import AnimationMode, InitSource
from render.modes.mode2d import Mode2D, StillMode
from render.modes.mode3d import Camera, Mode3D, Turbo


def animated_schedules(plan: RenderPlan, mode_name: str) -> dict:
    """The schedules the current mode uses, for the plot."""
    return {path: plan.schedules[path] for path, f in schedule_fields() if mode_name in f.metadata.get("modes", ())}


def build_init_source(settings: Config, plan: RenderPlan, device: torch.device) -> InitSource:
    """Frame 0's init: ``init_image`` if given, else Perlin noise if ``perlin_init``, else None (noise)."""
    if settings.init_image:
        image = image_to_frame(load_image(plan.local_image(settings.init_image), plan.width, plan.height), device)
        return lambda params: image
    if settings.perlin_init:
        from render.generators.perlin import perlin_image

        mode = settings.perlin_mode.value
        return lambda params: perlin_image(plan.height, plan.width, mode, params.seed).to(device)
    return lambda params: None


@dataclass
class ModeParts:
    """The animation mode a run renders with, and what the outputs need of its parts."""

    mode: AnimationMode
    flows: Any = None  # video input's PairFlows (the optical-flow blend export carries frames along them)
    depth_flicker: Callable[[], list[float]] | None = None  # a 3D run's per-frame depth flicker (for run.json)


def build_mode(settings: Config, plan: RenderPlan) -> ModeParts:
    """The animation mode, with colour coherence around it when ``color_coherence`` is set, and the seamless loop
    around that when ``animation.loop`` is."""
    from render.modes.color_coherence import with_color_coherence
    from render.modes.seamless_loop import Loop, with_loop

    anim, device = settings.animation, plan.device
    if settings.generator.value == "camera":  # each frame drawn from the scene: no chain, nothing to warp
        return ModeParts(StillMode(lambda params: None))
    loop = Loop(plan.n_frames, anim.loop_frames, anim.loop_init_blend, anim.loop_scale) if anim.loop else None
    first_init = build_init_source(settings, plan, device)
    name, flows, depth_flicker = anim.mode.value, None, None
    if name == "none":
        mode = StillMode(first_init)
    elif name == "2d":
        mode = Mode2D(first_init)
    elif name == "3d":
        mode = build_mode3d(settings, plan, device, first_init)
        depth_flicker = mode.depth_flicker_series
    elif name == "video_input":
        mode = build_video_mode(settings, plan, device)
        flows = mode.flows
    else:
        raise ValueError(f"animation.mode={name!r} is not implemented")
    return ModeParts(with_loop(with_color_coherence(mode, settings.color_coherence.value), loop), flows, depth_flicker)


def build_mode3d(settings: Config, plan: RenderPlan, device: torch.device, first_init: InitSource) -> Mode3D:
    anim, depth = settings.animation, settings.depth
    estimator = build_depth_estimator(plan.depth, device, flat_value=depth.flat_value,
                                      precision=plan.precision("depth"), models_dir=settings.model.models_dir,
                                      allow_download=settings.model.download, nyu_metric=depth.nyu_metric)
    camera = Camera(near=anim.near_plane, far=anim.far_plane, padding_mode=anim.padding_mode.value,
                    sampling_mode=anim.sampling_mode.value)
    turbo = Turbo(anim.turbo_steps, anim.turbo_preroll) if anim.turbo_mode else None
    vr = (anim.vr_eye_angle, anim.vr_ipd) if anim.vr_mode else None
    stabilizer = DepthStabilizer(depth.stabilize_strength) if depth.stabilize else None
    return Mode3D(first_init, estimator, camera, turbo=turbo, vr=vr, save_depth=depth.save_depth_maps,
                  stabilizer=stabilizer)


def build_depth_estimator(plan: DepthPlan, device: torch.device, *, flat_value: float = 1.0,
                          precision: str = "fp32", models_dir: str | None = None,
                          allow_download: bool = False, nyu_metric: bool = True) -> DepthEstimator:
    """The estimator of a depth plan, its model loaded once (files downloaded first when allowed)."""
    if plan.name == "flat":
        return FlatDepth(flat_value)
    from depth.estimators import AdabinsDepth, BlendedDepth, build_adabins, relative_depth

    if plan.missing:
        ensure(plan.missing, models_dir, allow_download=allow_download)
    midas_path = None if plan.name == "tiny" else plan.files[plan.name]  # tiny: seeded random weights
    midas = relative_depth(plan.name, midas_path, device, precision, nyu_metric=nyu_metric)
    if plan.midas_weight >= 1.0:
        return midas
    adabins = AdabinsDepth(build_adabins(plan.files.get("adabins_nyu")), device, precision)
    return BlendedDepth(midas, adabins, plan.midas_weight)


def flow_cache_root(settings: Config) -> Path:
    from render.modes.video_input import DEFAULT_CACHE_DIR

    return Path(os.path.expanduser(settings.flow.cache_dir or DEFAULT_CACHE_DIR))


def build_video_mode(settings: Config, plan: RenderPlan, device: torch.device):
    """Source frames extracted (once, cached), the flow estimator loaded, the mode that carries output along it."""
    from flow.cache import FlowCache
    from render.modes.video_input import Consistency, PairFlows, SourceFrames, VideoMode

    anim = settings.animation
    frames = SourceFrames(plan.video, flow_cache_root(settings)).ensure()
    flows = None
    if anim.video_init_flow_warp or anim.video_init_blend_mode.value == "optical_flow":
        estimator = build_flow_estimator(plan.flow, settings.flow, device, precision=plan.precision("flow"),
                                         models_dir=settings.model.models_dir, allow_download=settings.model.download)
        flows = PairFlows(frames, estimator, FlowCache(flow_cache_root(settings)))
    consistency = None
    if anim.video_init_check_consistency:
        consistency = Consistency(anim.consistency_occlusion_weight, anim.consistency_edge_weight,
                                  anim.consistency_dilation, anim.consistency_blur)
    return VideoMode(frames, flows, flow_warp=anim.video_init_flow_warp, flow_blend=anim.video_init_flow_blend,
                     consistency=consistency,
                     previews=settings.flow.save_previews, device=device)


def build_flow_estimator(plan: FlowPlan, cfg: FlowConfig, device: torch.device, *, precision: str = "fp32",
                         models_dir: str | None = None, allow_download: bool = False):
    """The estimator a flow plan names, its network (RAFT) loaded once."""
    from flow.estimators import DisFlow, FarnebackFlow

    if plan.name == "dis":
        return DisFlow(preset=cfg.dis_preset.value)
    if plan.name == "farneback":
        return FarnebackFlow()
    from flow.raft import RaftFlow

    return RaftFlow(plan.name.split("_")[1], device=device, precision=precision,
                    num_flow_updates=cfg.raft_iters, models_dir=models_dir, allow_download=allow_download)


def weight_files_used(plan: RenderPlan, networks) -> dict[str, Path]:
    """Every weight file the run loaded (for run.json, with its sha256): the networks', depth's and flow's."""
    files = dict(networks.files) if networks is not None else {}
    if plan.depth is not None:
        files.update(plan.depth.files)
    if plan.flow is not None and plan.flow.file is not None:
        files[RAFT_WEIGHTS[plan.flow.name]] = plan.flow.file
    return files


def load_networks(plan: RenderPlan, *, progress: bool = True):
    """The diffusion generator's networks (None for the preview): the recipe loads them once and hands them on."""
    if plan.diffusion is None:
        return None
    from render.generators.networks import load_networks as load

    return load(plan.diffusion, plan.device, plan.precisions, progress=progress)


def build_generator(settings: Config, plan: RenderPlan, networks, *, progress: bool = True,
                    on_step: StepHook | None = None) -> FrameGenerator:
    """The frame generator; ``on_step`` (diffusion only) sees every sampler step's predicted image."""
    name = settings.generator.value
    if name == "preview":
        return PreviewGenerator(plan.height, plan.width, settings.perlin_mode.value, plan.device)
    if name == "camera":
        from render.generators.camera_scene import scene_for

        return CameraGenerator(scene_for(settings, plan), plan.device)
    if name == "diffusion":
        from render.generators.diffusion import DiffusionGenerator

        return DiffusionGenerator(networks, plan, settings.animation.mode.value, progress=progress, on_step=on_step)
    raise ValueError(f"generator={name!r} is not implemented")
