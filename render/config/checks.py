"""Checks of the settings alone (no file is read, nothing is loaded): frame counts, sizes, rates, exports, the camera,
3D options, stills, video-input and depth settings, the seed and the device's spelling."""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from render.config.issues import ConfigIssue
from render.config.limits import check_image_prompts, file_problem
from render.config.plan import SEED_MODULUS
from render.config.schema import Config

SIZE_MULTIPLE = 64
DEFAULT_FPS = 12.0  # DD's video cell
MIN_FPS, MAX_FPS = 0.1, 1000.0  # a slide show to a slow-motion source; beyond, schedules in seconds overflow
UPSCALES = (1, 2, 4)
AUTO_FRAMES = "auto"
DEVICE = re.compile(r"^[a-z][a-z0-9_]*(:\d+)?$")
Issues = list[ConfigIssue]


def check_frames(cfg: Config, issues: Issues) -> int | None:
    """``animation.max_frames`` as a frame count, or None for ``auto`` (the song's or the source video's length)."""
    value = cfg.animation.max_frames
    if isinstance(value, str) and value.strip().lower() == AUTO_FRAMES:
        if not cfg.audio.path and cfg.animation.mode.value != "video_input":
            issues.append(ConfigIssue("animation.max_frames", value, "auto takes the length from audio.path (or, in "
                                      "video_input, from the source video), and neither is set",
                                      "set audio.path=song.mp3, or give a number of frames, e.g. "
                                      "animation.max_frames=120"))
            return 1
        return None
    try:
        frames = int(value) if not isinstance(value, bool) and float(value) == int(float(value)) else None
    except (TypeError, ValueError, OverflowError):
        frames = None
    if frames is None or frames < 1:
        problem = "must be at least 1" if frames is not None else "must be a whole number of frames or auto"
        issues.append(ConfigIssue("animation.max_frames", value, problem, "set animation.max_frames to the number "
                                  "of frames to render, e.g. 60, or to auto (the length of audio.path)"))
        return 1
    return frames


def frame_size(cfg: Config, model_size: list[int], issues: Issues) -> tuple[int, int]:
    """``width`` x ``height`` (the model's own size where null), floored to a multiple of 64 as DD does."""
    size = []
    for i, name in enumerate(("width", "height")):
        value = getattr(cfg, name)
        if value is None:
            value = int(model_size[i]) if len(model_size) == 2 else 512
        if value < SIZE_MULTIPLE:
            issues.append(ConfigIssue(name, value, f"must be at least {SIZE_MULTIPLE} pixels",
                                      f"set {name} to a multiple of {SIZE_MULTIPLE}, e.g. {name}=512"))
            size.append(SIZE_MULTIPLE)
            continue
        size.append(value // SIZE_MULTIPLE * SIZE_MULTIPLE)
    return size[0], size[1]


def floored_sizes(cfg: Config, size: tuple[int, int]) -> list[str]:
    """Warnings for a width or height that is not a multiple of 64 (DD floors them too)."""
    return [f"{name}={getattr(cfg, name)} is not a multiple of {SIZE_MULTIPLE}; using {value} (as Disco Diffusion "
            f"does)" for name, value in zip(("width", "height"), size)
            if getattr(cfg, name) is not None and getattr(cfg, name) != value and getattr(cfg, name) >= SIZE_MULTIPLE]


def check_output(cfg: Config, issues: Issues) -> None:
    if cfg.output.fps is not None and not MIN_FPS <= cfg.output.fps <= MAX_FPS:
        issues.append(ConfigIssue("output.fps", cfg.output.fps, f"must be between {MIN_FPS:g} and {MAX_FPS:g} "
                                  "frames per second", "set output.fps=12 (or 24), or null for the default"))
    if not 0 <= cfg.output.crf <= 51:
        issues.append(ConfigIssue("output.crf", cfg.output.crf, "x264 accepts 0 to 51",
                                  "use 17 for near-lossless, 23 for x264's default"))


def output_fps(cfg: Config, source_fps: float | None, nth: int) -> float:
    """The video's frame rate: ``output.fps``, else the source video's (every nth frame), else DD's 12."""
    if cfg.output.fps is not None and MIN_FPS <= cfg.output.fps <= MAX_FPS:  # else an error is recorded
        return float(cfg.output.fps)
    if source_fps:
        return source_fps / nth
    return DEFAULT_FPS


def check_exports(cfg: Config, fps: float, issues: Issues) -> None:
    """The opt-in smoother and larger copies: a frame rate above the video's, a factor of 2 or 4, and a video."""
    target, scale = cfg.output.interpolate_fps, cfg.output.upscale
    if target is not None and not (math.isfinite(target) and fps < target <= MAX_FPS):
        issues.append(ConfigIssue("output.interpolate_fps", target, f"must be a frame rate above the video's "
                                  f"{fps:g} fps and at most {MAX_FPS:g}",
                                  f"e.g. output.interpolate_fps={2 * fps:g} (twice the frames), or null (off)"))
    if scale not in UPSCALES:
        issues.append(ConfigIssue("output.upscale", scale, "must be 1 (off), 2 or 4",
                                  "output.upscale=2 doubles the width and height"))
    keep = cfg.output.keep_states
    if keep is not None and keep < 1:
        issues.append(ConfigIssue("output.keep_states", keep, "must be 1 or more states to keep, or null (all)",
                                  "output.keep_states=null keeps every frame's state (any frame can be branched)"))
    if not cfg.output.video:
        for name, value, off in (("output.interpolate_fps", target, None), ("output.upscale", scale, 1)):
            if value != off:
                issues.append(ConfigIssue(name, value, "makes a copy of the video, and output.video=false",
                                          f"set output.video=true, or {name}={'null' if off is None else off}"))


def check_camera(cfg: Config, issues: Issues) -> None:
    near, far = cfg.animation.near_plane, cfg.animation.far_plane
    if not near > 0:
        issues.append(ConfigIssue("animation.near_plane", near, "must be positive", "use DD's 200"))
    if not far > near:
        issues.append(ConfigIssue("animation.far_plane", far, "must be greater than near_plane", "use DD's 10000"))


def check_3d_options(cfg: Config, issues: Issues) -> None:
    anim = cfg.animation
    if anim.mode.value != "3d":
        for name in ("turbo_mode", "vr_mode"):
            if getattr(anim, name):
                issues.append(ConfigIssue(f"animation.{name}", True, f"needs animation.mode=3d (it is "
                                          f"{anim.mode.value})", f"use animation=3d_zoom or animation=3d_orbit, or "
                                          f"set animation.{name}=false"))
    if anim.turbo_mode and anim.turbo_steps < 2:
        issues.append(ConfigIssue("animation.turbo_steps", anim.turbo_steps, "turbo needs at least 2 (diffuse every "
                                  "n-th frame)", "use DD's 3 (2 to 6), or animation.turbo_mode=false"))
    if anim.turbo_mode and anim.turbo_preroll < 1:
        issues.append(ConfigIssue("animation.turbo_preroll", anim.turbo_preroll, "turbo needs at least 1 diffused "
                                  "frame before it starts", "use DD's 10"))
    if anim.vr_mode and not (np.isfinite(anim.vr_eye_angle) and abs(anim.vr_eye_angle) < 90):
        issues.append(ConfigIssue("animation.vr_eye_angle", anim.vr_eye_angle, "must be between -90 and 90 degrees",
                                  "use DD's 0.5"))
    if anim.vr_mode and not np.isfinite(anim.vr_ipd):
        issues.append(ConfigIssue("animation.vr_ipd", anim.vr_ipd, "must be a finite number", "use DD's 5.0"))


def check_batches(cfg: Config, max_frames: int | None, issues: Issues) -> bool:
    """True when the run is DD's batch of stills (``n_batches`` > 1 in mode none)."""
    n = cfg.n_batches
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        issues.append(ConfigIssue("n_batches", n, "must be a whole number of at least 1", "e.g. n_batches=4"))
        return False
    if n == 1:
        return False
    if cfg.animation.mode.value != "none":
        issues.append(ConfigIssue("n_batches", n, f"batches of stills need animation=none (DD forced n_batches=1 "
                                  f"in animation); this run is {cfg.animation.mode.value}",
                                  "use animation=none, or set animation.max_frames for an animation"))
        return False
    if max_frames != 1:
        issues.append(ConfigIssue("animation.max_frames", cfg.animation.max_frames, f"with n_batches={n} each "
                                  "batch is one still", "leave animation.max_frames at 1 (the none preset's)"))
        return False
    return True


def seed_policy(cfg: Config) -> dict:
    """DD's seeds: 2D/3D ``seed + frame``; video input ``seed + frame + 1`` (the seed steps on frame 0 too), or the
    same seed on every frame with ``video_init_seed_continuity``; a batch of stills is seeded once (``seed``) and
    continues the random stream."""
    if cfg.animation.mode.value == "none" and cfg.n_batches > 1:
        return {"seed_stride": 0, "seed_stream": True}
    if cfg.animation.mode.value != "video_input":
        return {}
    return {"seed_offset": 0, "seed_stride": 0} if cfg.animation.video_init_seed_continuity else {"seed_offset": 1}


def check_video_settings(cfg: Config, issues: Issues) -> None:
    """video_input's own settings (the source video itself is probed when the assets are resolved)."""
    anim = cfg.animation
    if anim.mode.value != "video_input":
        return
    if anim.extract_nth_frame < 1:
        issues.append(ConfigIssue("animation.extract_nth_frame", anim.extract_nth_frame, "must be at least 1",
                                  "use 1 for every frame, DD's 2 for every other frame"))
    if not 0.0 <= anim.video_init_flow_blend <= 1.0:
        issues.append(ConfigIssue("animation.video_init_flow_blend", anim.video_init_flow_blend, "must be between "
                                  "0 and 1", "use DD's 0.999 (nearly all warped output), or 0 for the source alone"))
    for name in ("consistency_occlusion_weight", "consistency_edge_weight"):
        if not 0.0 <= getattr(anim, name) <= 1.0:
            issues.append(ConfigIssue(f"animation.{name}", getattr(anim, name), "must be between 0 and 1", "use 1.0"))
    if anim.consistency_dilation < 0 or not anim.consistency_blur >= 0:
        issues.append(ConfigIssue("animation.consistency_blur", anim.consistency_blur, "dilation and blur cannot be "
                                  "negative", "use consistency_dilation=0 and consistency_blur=2.0"))
    if not anim.video_init_path:
        issues.append(ConfigIssue("animation.video_init_path", anim.video_init_path, "video_input needs a video",
                                  "set animation.video_init_path=path/to/video.mp4"))


def check_depth_settings(cfg: Config, issues: Issues) -> bool:
    """``depth.flat_value`` and ``depth.midas_weight``; False when the weight is out of range (no depth plan)."""
    depth = cfg.depth
    if depth.name.value == "flat" and not depth.flat_value > 0:
        issues.append(ConfigIssue("depth.flat_value", depth.flat_value, "the plane must be in front of the camera",
                                  "use a positive depth, e.g. 1.0"))
    if depth.midas_weight is not None and not 0.0 <= depth.midas_weight <= 1.0:
        issues.append(ConfigIssue("depth.midas_weight", depth.midas_weight, "must be between 0 and 1",
                                  "use 1.0 for MiDaS alone, DD's 0.3 to blend with AdaBins, or null for automatic"))
        return False
    if not 0.0 <= depth.stabilize_strength <= 1.0:
        issues.append(ConfigIssue("depth.stabilize_strength", depth.stabilize_strength, "must be between 0 and 1",
                                  "use 0.7, or depth.stabilize=false for DD's per-frame depth"))
    return True


def check_audio_settings(cfg: Config, issues: Issues) -> None:
    if cfg.audio.path and not 0.0 <= cfg.audio.beat_decay <= 1.0:
        issues.append(ConfigIssue("audio.beat_decay", cfg.audio.beat_decay, "must be between 0 and 1",
                                  "use 0.8 (a short pulse) to 0.95 (a long one)"))


def check_seed(cfg: Config, issues: Issues) -> None:
    if cfg.seed is not None and not 0 <= cfg.seed < SEED_MODULUS:
        issues.append(ConfigIssue("seed", cfg.seed, f"must be in 0..{SEED_MODULUS - 1}",
                                  "pick any non-negative 32-bit integer, or seed=null for a random one"))


def check_device_name(cfg: Config, issues: Issues) -> None:
    """The spelling of ``device`` (whether this machine has it is asked when the assets are resolved)."""
    if cfg.device != "auto" and not DEVICE.match(str(cfg.device)):
        issues.append(ConfigIssue("device", cfg.device, "not a device name", "use auto, cpu, cuda or cuda:N"))


def check_ranges(cfg: Config, schedules: dict[str, np.ndarray], issues: Issues) -> None:
    """Schedule values that cannot work on some frame: a field of view outside (0, 180), a zoom of 0."""
    fov = schedules.get("animation.fov")
    if fov is not None:
        bad = (fov <= 0.0) | (fov >= 180.0)
        if np.any(bad):
            frame = int(np.argmax(bad))
            issues.append(ConfigIssue("animation.fov", cfg.animation.fov, f"frame {frame}: {fov[frame]:g} is outside "
                                      "(0, 180)", "give a field of view between 0 and 180 degrees, e.g. 40"))
    zoom = schedules.get("animation.zoom")
    if zoom is not None and np.any(zoom == 0):
        frame = int(np.argmax(zoom == 0))
        issues.append(ConfigIssue("animation.zoom", cfg.animation.zoom, f"frame {frame}: a zoom of 0 collapses the "
                                  "image to a point", "zoom is a factor per frame: 1 keeps the size, 1.05 magnifies"))


INIT_IMAGE_FIX = "give the path of a PNG or JPEG file (relative to where you run main.py), or init_image=null"


def check_image_files(cfg: Config, issues: Issues) -> None:
    """``init_image`` and the image prompts name files that exist (a URL is fetched, and every image decoded, when
    the assets are resolved)."""
    check_image_prompts(cfg.image_prompts, issues, decode=False)
    if cfg.init_image in (None, "") or str(cfg.init_image).startswith(("http://", "https://")):
        return
    problem = file_problem(Path(os.path.expanduser(cfg.init_image)))
    if problem:
        issues.append(ConfigIssue("init_image", cfg.init_image, problem, INIT_IMAGE_FIX))
