"""The application: from a composed config to frames, plots and a video, as a numbered recipe."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from depth.base import build_depth_estimator
from render.generators import FrameGenerator, PreviewGenerator
from render.images import from_uint8, load_image
from render.loop import render_frames
from render.modes import AnimationMode, InitSource, Mode2D, Mode3D, StillMode
from render.plan import FrameParams, RenderPlan
from render.plots import plot_schedules
from render.run_dir import RunDir
from render.schema import Config, schedule_fields
from render.validate import check_inputs, to_settings
from render.video import stitch_video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    frames: list[int]
    video: Path | None


def render_animation(cfg: DictConfig, output_dir: Path, *, progress: bool = True) -> RunResult:
    # 1. Check every input before anything heavy is built; all problems are reported together.
    settings = to_settings(cfg)
    plan = check_inputs(settings)
    device = plan.device
    log.info("rendering %d frames at %dx%d on %s, seed %d", plan.n_frames, plan.width, plan.height, device, plan.seed)

    # 2. The run directory: resolved config (with the seed actually used) and the schedule plot.
    run = RunDir(output_dir, settings.batch_name).create()
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["seed"] = plan.seed
    run.write_text(run.config_path, OmegaConf.to_yaml(resolved))
    mode_name = settings.animation.mode.value
    plot_schedules(animated_schedules(plan, mode_name), run.schedules_plot, fps=plan.fps,
                   prompt_changes=plan.text_prompts.change_frames,
                   title=f"{settings.batch_name}: animation.mode={mode_name}")

    # 3. Build the mode and the generator.
    mode = build_mode(settings, plan, device)
    generator = build_generator(settings, plan, device, progress=progress)

    # 4. Render every frame.
    result = render_frames(plan, mode, generator, run, progress=progress)

    # 5. Stitch the video.
    video = None
    if settings.output.video:
        video = stitch_video(run.frames_dir, run.video_path, fps=plan.fps, crf=settings.output.crf,
                             preset=settings.output.preset.value)
        log.info("video: %s", video)
    log.info("%d frames in %s", len(result.frames), run.frames_dir)
    return RunResult(run_dir=run.root, frames=result.frames, video=video)


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
