"""The videos of a finished run: the frames as an mp4, the extras each mode asks for (VR side by side; video input's
flow- or linear-blended export and the source's audio), and the opt-in smoother (``output.interpolate_fps``) and
larger (``output.upscale``) copies."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from render.config.plan import RenderPlan
from render.config.schema import Config
from render.output.ffmpeg import (
    mux_audio,
    mux_subtitles,
    stitch_side_by_side,
    stitch_smooth,
    stitch_video,
)
from render.output.parameters import SRT_FILE
from render.run.run_dir import RunDir

log = logging.getLogger(__name__)
BLEND_EXPORTS = {"optical_flow": ("flow_blend", "_flow"), "linear": ("linear_blend", "_blend")}


def stitch_outputs(settings: Config, plan: RenderPlan, run: RunDir, flows=None) -> Path:
    """Encode every video of the run; returns the main one. ``flows``: video input's source flows (the optical-flow
    blend export carries frames along them)."""
    encode = dict(fps=plan.fps, crf=settings.output.crf, preset=settings.output.preset.value)
    video = stitch_video(run.frames_dir, run.video_path, **encode)
    made = [video, *smooth_exports(settings, plan, run, encode)]
    if settings.animation.vr_mode:
        made.append(stitch_side_by_side(run.root / "vr", _sibling(run, "_vr"), **encode))
    if plan.video is not None:
        blend = settings.animation.video_init_blend_mode.value
        if blend in BLEND_EXPORTS:
            from render.modes.video_input import blend_exports

            folder, suffix = BLEND_EXPORTS[blend]
            carried = flows if blend == "optical_flow" else None
            frames = blend_exports(run.frames_dir, run.root / folder, plan.n_frames, carried)
            made.append(stitch_video(frames, _sibling(run, suffix), **encode))
    length = plan.n_frames / plan.fps
    if settings.audio.path:  # the song wins over a source video's own sound
        for path in made:
            mux_audio(path, Path(os.path.expanduser(settings.audio.path)), offset=settings.audio.offset,
                      duration=min(length, settings.audio.duration or length))
    elif plan.video is not None and plan.video.info.has_audio:
        for path in made:
            mux_audio(path, plan.video.path, duration=length)
    if settings.output.subtitles:  # every frame's parameters as a subtitle track
        for path in made:
            mux_subtitles(path, run.root / SRT_FILE)
    for path in made:
        log.info("video: %s", path)
    return video


def smooth_exports(settings: Config, plan: RenderPlan, run: RunDir, encode: dict) -> list[Path]:
    """``<batch>_<N>fps.mp4`` (motion-interpolated to N fps) and ``<batch>[_<N>fps]_2x.mp4`` (Lanczos-upscaled, of the
    interpolated frames when both are asked for), each encoded from the PNG frames."""
    target, scale = settings.output.interpolate_fps, settings.output.upscale
    made, stem = [], ""
    common = dict(fps=plan.fps, n_frames=plan.n_frames, crf=encode["crf"], preset=encode["preset"])
    if target is not None:
        stem = f"_{target:g}fps"
        made.append(stitch_smooth(run.frames_dir, _sibling(run, stem), to_fps=target, **common))
    if scale != 1:
        made.append(stitch_smooth(run.frames_dir, _sibling(run, f"{stem}_{scale}x"), to_fps=target, scale=scale,
                                  **common))
    return made


def _sibling(run: RunDir, suffix: str) -> Path:
    return run.video_path.with_name(f"{run.video_path.stem}{suffix}{run.video_path.suffix}")
