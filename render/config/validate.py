"""``check_inputs``: everything that can be checked without loading a model, checked up front.

Every schedule is evaluated over every frame, prompts are parsed, sizes and paths are checked. All problems are
collected and raised together as :class:`ConfigErrors`, each naming the setting, the value and the fix, so that a
typo costs seconds, not a GPU hour.
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import random
import shutil
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from flow.extract import VideoInputError, probe_video
from render.config import precision
from render.config.depth_plan import DepthPlan, plan_depth
from render.config.diffusion_plan import TINY, DiffusionPlan, plan_diffusion
from render.config.flow_plan import RAFT_WEIGHTS, FlowPlan, plan_flow
from render.config.frame_checks import check_loop, check_step_images
from render.config.issues import ConfigErrors, ConfigIssue
from render.config.limits import (
    check_batch_name,
    check_device_available,
    check_finite,
    check_frame_count,
    check_frame_size,
    check_home_paths,
    check_image_prompts,
    check_models_dir,
    check_step_limit,
    check_steps,
    image_problem,
    omegaconf_issue,
)
from render.config.model_defaults import with_model_defaults
from render.config.plan import SEED_MODULUS, RenderPlan, VideoSource
from render.config.schema import Config, schedule_fields
from render.guidance.clip_models import ClipSpec, auto_cpu_precision
from render.models import registry
from render.models.url_cache import UrlFetchError, cache_dir, fetch_url, is_url
from transforms.keyframes import VALUE_NAMES, ScheduleError, parse_schedule
from transforms.prompts import PromptSchedule, evaluate_prompt_schedule

log = logging.getLogger(__name__)
SIZE_MULTIPLE = 64
DEFAULT_FPS = 12.0  # DD's video cell
MIN_FPS, MAX_FPS = 0.1, 1000.0  # a slide show to a slow-motion source; beyond, schedules in seconds overflow
AUDIO_CACHE_DIR = Path("~/.cache/disco-anim/audio")
SCHEDULE_FIX = 'write keys as "frame: (value)", e.g. "0: (1.0), 10: (1.05)"; see README "Schedules"'


def to_settings(cfg: DictConfig) -> Config:
    """The composed config as typed schema objects; keys the schema does not know are errors.

    Hydra rejects unknown keys except those added with ``+key=value``, which would otherwise be silently ignored.
    """
    unknown = _unknown_keys(cfg, Config)
    if unknown:
        raise ConfigErrors(unknown)
    try:
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:  # "${nope}", or a value an interpolation makes of the wrong type
        raise ConfigErrors([omegaconf_issue(exc)]) from None


def _unknown_keys(node: DictConfig, schema: type, prefix: str = "") -> list[ConfigIssue]:
    fields = {f.name for f in dataclasses.fields(schema)}
    issues = []
    for key in node.keys():
        path = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(str(key), sorted(fields), n=1)
            hint = f"did you mean {prefix}{close[0]}?" if close else f"known: {', '.join(sorted(fields))}"
            issues.append(ConfigIssue(path, node[key], "unknown setting", f"{hint} (see README 'Settings')"))
            continue
        child = node._get_node(key)
        child_type = OmegaConf.get_type(child) if isinstance(child, DictConfig) else None
        if child_type is not None and dataclasses.is_dataclass(child_type):
            issues += _unknown_keys(child, child_type, f"{path}.")
    return issues


def check_inputs(cfg: Config, output_dir: Path | None = None, *, quiet: bool = False) -> RenderPlan:
    """Validate ``cfg`` and evaluate its schedules; returns the plan or raises :class:`ConfigErrors`.

    With ``output_dir``, also checks that it is writable and has room for the run. ``quiet`` skips warnings (used
    when re-planning a saved config to compare it).
    """
    issues: list[ConfigIssue] = []
    max_frames = check_frame_count(_check_frames(cfg, issues), "animation.max_frames", issues)
    _check_output(cfg, issues)
    _check_paths(cfg, issues)
    device = _check_device(cfg, issues)
    _check_limits(cfg, device, issues)
    _check_camera(cfg, issues)
    _check_3d_options(cfg, issues)
    depth = _check_depth(cfg, issues)
    video, flow = _check_video(cfg, max_frames, issues)
    fps = _output_fps(cfg, video)
    _check_exports(cfg, fps, issues)
    diffusion = _check_diffusion(cfg, device, issues)
    model = diffusion.model if diffusion is not None else with_model_defaults(cfg.model)
    width, height = _check_size(cfg, model.width_height, issues)
    check_frame_size(width, height, _generator_kind(cfg, diffusion), device, issues)
    n_frames = video.n_frames if video is not None else max_frames
    if _check_batches(cfg, max_frames, issues):
        n_frames = cfg.n_batches
    audio = _check_audio(cfg, n_frames, fps, issues)
    if n_frames is None:  # auto, from the song (video_input's auto was resolved by the source above)
        n_frames = audio.n_frames if audio is not None else 1
    n_frames = check_frame_count(n_frames, "animation.max_frames", issues)
    variables = audio.variables() if audio is not None else {}
    schedules = _evaluate_schedules(cfg, n_frames, fps, issues, variables)
    clock = audio.b if audio is not None else None
    fade = (cfg.prompt_blend, cfg.prompt_blend_interpolation.value)
    text = _prompts(cfg.text_prompts, "text_prompts", n_frames, fps, issues, clock, fade)
    image = _prompts(cfg.image_prompts, "image_prompts", n_frames, fps, issues, clock, fade)
    fetched = _fetch_urls(cfg, image, issues)
    if "animation.fov" in schedules:
        _check_range(schedules["animation.fov"], "animation.fov", cfg.animation.fov, 0.0, 180.0,
                     "give a field of view between 0 and 180 degrees, e.g. 40", issues)
    if "animation.zoom" in schedules and np.any(schedules["animation.zoom"] == 0):
        frame = int(np.argmax(schedules["animation.zoom"] == 0))
        issues.append(ConfigIssue("animation.zoom", cfg.animation.zoom, f"frame {frame}: a zoom of 0 collapses the "
                                  "image to a point", "zoom is a factor per frame: 1 keeps the size, 1.05 magnifies"))
    add = lambda *issue: issues.append(ConfigIssue(*issue))  # noqa: E731
    check_step_images(cfg, model.steps, add)
    check_loop(cfg, n_frames, add)
    seed = _seed(cfg, issues)
    if output_dir is not None and not issues:
        _check_output_dir(output_dir, n_frames, width, height, issues)
    if not issues:
        _check_weight_files(weight_files(diffusion, depth, flow), issues)
    if issues:
        raise ConfigErrors(issues)
    for fallback in (diffusion and diffusion.fallback, depth and depth.fallback):
        if fallback and not quiet:
            log.warning("%s", fallback)
    if flow is not None and flow.note and not quiet:
        log.info("%s", flow.note)
    if video is not None:
        video = dataclasses.replace(video, size=(width, height))
    precisions = choose_precisions(cfg, device, diffusion, depth, flow)
    for choice in precisions.values():
        if choice.warning and not quiet:
            log.warning("%s", choice.warning)
    return RenderPlan(n_frames=n_frames, width=width, height=height, fps=fps, seed=seed, schedules=schedules,
                      text_prompts=text, image_prompts=image, device=device, diffusion=diffusion, depth=depth,
                      video=video, flow=flow, audio=audio, precisions=precisions, fetched=MappingProxyType(fetched),
                      **_seed_policy(cfg))


def choose_precisions(cfg: Config, device: torch.device, diffusion: DiffusionPlan | None, depth: DepthPlan | None,
                      flow: FlowPlan | None) -> dict[str, precision.PrecisionChoice]:
    """Each model's precision, from the settings and what the device can do (render/config/precision.py)."""
    wanted = []
    if diffusion is not None:
        model = diffusion.model
        wanted.append(("unet", lambda hw: precision.choose_unet(model.precision.value, hw)))
        for name in model.clip_models:
            spec = ClipSpec.parse(name)
            wanted.append((f"clip {spec.name}", lambda hw, spec=spec: precision.choose_clip(
                model.clip_precision.value, hw, auto_cpu_precision(spec))))
    if depth is not None and depth.name != "flat":
        wanted.append(("depth", lambda hw: precision.choose_depth(cfg.depth.precision.value, hw)))
    if flow is not None and flow.name.startswith("raft"):
        wanted.append(("flow", lambda hw: precision.choose_flow(cfg.flow.precision.value, hw)))
    if not wanted:
        return {}
    hw = precision.probe(device)
    return {name: choose(hw) for name, choose in wanted}


AUTO_FRAMES = "auto"


def _check_frames(cfg: Config, issues: list[ConfigIssue]) -> int | None:
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
    except (TypeError, ValueError):
        frames = None
    if frames is None or frames < 1:
        problem = "must be at least 1" if frames is not None else "must be a whole number of frames or auto"
        issues.append(ConfigIssue("animation.max_frames", value, problem, "set animation.max_frames to the number "
                                  "of frames to render, e.g. 60, or to auto (the length of audio.path)"))
        return 1
    return frames


def _check_size(cfg: Config, model_size: list[int], issues: list[ConfigIssue]) -> tuple[int, int]:
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
        floored = value // SIZE_MULTIPLE * SIZE_MULTIPLE
        if floored != value:
            log.warning("%s=%d is not a multiple of %d; using %d (as Disco Diffusion does)",
                        name, value, SIZE_MULTIPLE, floored)
        size.append(floored)
    return size[0], size[1]


def _check_output(cfg: Config, issues: list[ConfigIssue]) -> None:
    if cfg.output.fps is not None and not MIN_FPS <= cfg.output.fps <= MAX_FPS:
        issues.append(ConfigIssue("output.fps", cfg.output.fps, f"must be between {MIN_FPS:g} and {MAX_FPS:g} "
                                  "frames per second", "set output.fps=12 (or 24), or null for the default"))
    if not 0 <= cfg.output.crf <= 51:
        issues.append(ConfigIssue("output.crf", cfg.output.crf, "x264 accepts 0 to 51",
                                  "use 17 for near-lossless, 23 for x264's default"))


UPSCALES = (1, 2, 4)


def _check_exports(cfg: Config, fps: float, issues: list[ConfigIssue]) -> None:
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
def _fetch_urls(cfg: Config, image_prompts: PromptSchedule, issues: list[ConfigIssue]) -> dict[str, Path]:
    """Download (once, into the cache) every image given as a URL; a failure is the setting's problem."""
    urls = {p.text: "image_prompts" for prompts in image_prompts.frames for p in prompts if is_url(p.text)}
    if is_url(cfg.init_image):
        urls[cfg.init_image] = "init_image"
    fetched, folder = {}, cache_dir(cfg.url_cache_dir)
    for url, setting in urls.items():
        try:
            fetched[url] = fetch_url(url, folder, max_bytes=int(cfg.url_max_mb * 1e6), timeout=cfg.url_timeout)
        except UrlFetchError as exc:
            issues.append(ConfigIssue(setting, url, exc.reason, "check the URL and the connection, raise url_max_mb "
                                      "or url_timeout, or download the image and give its path"))
    return fetched


def _check_paths(cfg: Config, issues: list[ConfigIssue]) -> None:
    if cfg.init_image in (None, "") or is_url(cfg.init_image):
        return
    problem = image_problem(Path(os.path.expanduser(cfg.init_image)))
    if problem:
        issues.append(ConfigIssue("init_image", cfg.init_image, problem,
                                  "give the path of a PNG or JPEG file (relative to where you run main.py), "
                                  "or init_image=null"))


def _check_limits(cfg: Config, device: torch.device, issues: list[ConfigIssue]) -> None:
    """render/config/limits.py: finite numbers, a plain batch_name, the models folder, image prompt files, the
    device, the sampler's step counts."""
    check_finite(cfg, issues)
    check_home_paths(cfg, issues)
    check_batch_name(cfg.batch_name, issues)
    check_models_dir(cfg.model.models_dir, issues)
    check_image_prompts(cfg.image_prompts, issues)
    check_device_available(cfg.device, device, issues)
    if cfg.generator.value == "diffusion":
        steps_setting = "animation.video_init_steps" if _video_override_names(cfg).get("model.steps") else \
            "model.steps"
        check_steps(video_model_settings(cfg).steps, steps_setting, issues)
        check_step_limit(video_model_settings(cfg).steps, steps_setting, issues)


def _generator_kind(cfg: Config, diffusion: DiffusionPlan | None) -> str:
    if cfg.generator.value != "diffusion":
        return "preview"
    tiny = diffusion is not None and diffusion.model.diffusion_model == TINY
    return "tiny" if tiny else "diffusion"


def estimated_run_bytes(n_frames: int, width: int, height: int) -> int:
    """A generous estimate of a run's disk use: PNGs of detailed frames (~raw size), two states, the video."""
    raw = width * height * 3
    return n_frames * raw + 2 * raw * 2 + n_frames * raw // 10 + (1 << 20)


def _check_output_dir(output_dir: Path, n_frames: int, width: int, height: int, issues: list[ConfigIssue]) -> None:
    output_dir = Path(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        issues.append(ConfigIssue("hydra.run.dir", str(output_dir), f"cannot write there ({exc})",
                                  "run from a writable folder or set hydra.run.dir=<writable folder>"))
        return
    need, free = estimated_run_bytes(n_frames, width, height), shutil.disk_usage(output_dir).free
    if need > free:
        issues.append(ConfigIssue("animation.max_frames", n_frames,
                                  f"the run needs about {need / 1e9:.1f} GB and {output_dir} has {free / 1e9:.1f} GB "
                                  "free", "free disk space, render fewer frames, or set hydra.run.dir elsewhere"))


def _check_device(cfg: Config, issues: list[ConfigIssue]) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(cfg.device)
    except (RuntimeError, ValueError) as exc:
        issues.append(ConfigIssue("device", cfg.device, f"not a torch device ({exc})", "use auto, cpu or cuda"))
        return torch.device("cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        issues.append(ConfigIssue("device", cfg.device, "CUDA is not available on this machine",
                                  "use device=cpu or device=auto"))
    return device


def _check_diffusion(cfg: Config, device: torch.device, issues: list[ConfigIssue]) -> DiffusionPlan | None:
    if cfg.generator.value != "diffusion":
        return None
    plan, problems = plan_diffusion(video_model_settings(cfg), init_image=bool(cfg.init_image), device=device)
    renamed = _video_override_names(cfg)
    issues += [ConfigIssue(renamed.get(p.setting, p.setting), p.value, p.problem, p.fix) for p in problems]
    return plan


def weight_files(diffusion: DiffusionPlan | None, depth: DepthPlan | None,
                 flow: FlowPlan | None) -> list[tuple[str, str, Path]]:
    """``(setting, registry key, path)`` of every weight file the plans use that is on disk already."""
    found = []
    if diffusion is not None:
        # the registry's files; a custom checkpoint and open_clip's own downloads have no published sha256
        found += [("model.name", key, path) for key, path in diffusion.files.items()
                  if key not in diffusion.missing and key in registry.REGISTRY]
    if depth is not None:
        found += [("depth.name", key, path) for key, path in depth.files.items() if key not in depth.missing]
    if flow is not None and flow.file is not None and not flow.missing:
        found.append(("flow.name", RAFT_WEIGHTS[flow.name], flow.file))
    return found


def _check_weight_files(files: list[tuple[str, str, Path]], issues: list[ConfigIssue]) -> None:
    """Each file against its sha256 before any model is built; the digest is cached beside the file (keyed by size
    and mtime), so a big file is hashed on its first use only."""
    for setting, key, path in files:
        file = registry.lookup(key)
        try:
            registry.verify(path, file)
        except registry.ChecksumMismatch as exc:
            issues.append(ConfigIssue(setting, str(path), f"weight file {file.filename} is not the published file "
                                      f"{key!r}: {exc.summary}", exc.fix))
        except registry.UnverifiedModelFile as exc:
            issues.append(ConfigIssue(setting, str(path), exc.problem, exc.fix))
        except OSError as exc:
            issues.append(ConfigIssue(setting, str(path), f"weight file {file.filename} cannot be read: "
                                      f"{exc.strerror or exc}", f"check its permissions, or delete it and run "
                                      f"{registry.download_command([file], path.parent)}"))


def _check_camera(cfg: Config, issues: list[ConfigIssue]) -> None:
    near, far = cfg.animation.near_plane, cfg.animation.far_plane
    if not near > 0:
        issues.append(ConfigIssue("animation.near_plane", near, "must be positive", "use DD's 200"))
    if not far > near:
        issues.append(ConfigIssue("animation.far_plane", far, "must be greater than near_plane", "use DD's 10000"))


VIDEO_OVERRIDES = {  # animation.video_init_* -> model.* in video_input mode (DD applied only some: README, Video input)
    "video_init_steps": "steps", "video_init_clip_guidance_scale": "clip_guidance_scale",
    "video_init_tv_scale": "tv_scale", "video_init_range_scale": "range_scale", "video_init_sat_scale": "sat_scale",
    "video_init_cutn_batches": "cutn_batches", "video_init_skip_steps": "skip_steps",
    "video_init_frames_scale": ("init_scale", "frames_scale"), "video_init_frames_skip_steps": "frames_skip_steps",
}


def video_model_settings(cfg: Config):
    """The model settings a run uses: in video_input mode the ``video_init_*`` values that are set replace them
    (``video_init_frames_scale`` is both frame 0's ``init_scale`` and the later frames' ``frames_scale``, as in DD)."""
    if cfg.animation.mode.value != "video_input":
        return cfg.model
    changes = {}
    for name, targets in VIDEO_OVERRIDES.items():
        value = getattr(cfg.animation, name)
        if value is not None:
            changes.update({t: value for t in ((targets,) if isinstance(targets, str) else targets)})
    return dataclasses.replace(cfg.model, **changes)


def _video_override_names(cfg: Config) -> dict[str, str]:
    """``model.X -> animation.video_init_Y`` for the model settings a video_input run takes from its own settings,
    so that an error names the setting the user wrote."""
    if cfg.animation.mode.value != "video_input":
        return {}
    names = {}
    for name, targets in VIDEO_OVERRIDES.items():
        if getattr(cfg.animation, name) is not None:
            names.update({f"model.{t}": f"animation.{name}" for t in ((targets,) if isinstance(targets, str) else targets)})
    return names


def _check_batches(cfg: Config, max_frames: int | None, issues: list[ConfigIssue]) -> bool:
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


def _seed_policy(cfg: Config) -> dict:
    """DD's seeds: 2D/3D ``seed + frame``; video input ``seed + frame + 1`` (the seed steps on frame 0 too), or the
    same seed on every frame with ``video_init_seed_continuity``; a batch of stills is seeded once (``seed``) and
    continues the random stream."""
    if cfg.animation.mode.value == "none" and cfg.n_batches > 1:
        return {"seed_stride": 0, "seed_stream": True}
    if cfg.animation.mode.value != "video_input":
        return {}
    return {"seed_offset": 0, "seed_stride": 0} if cfg.animation.video_init_seed_continuity else {"seed_offset": 1}


def _output_fps(cfg: Config, video: VideoSource | None) -> float:
    if cfg.output.fps is not None and MIN_FPS <= cfg.output.fps <= MAX_FPS:  # else an error is recorded
        return float(cfg.output.fps)
    if video is not None and video.info.fps > 0:
        return video.info.fps / video.nth
    return DEFAULT_FPS


def _check_video(cfg: Config, max_frames: int | None,
                 issues: list[ConfigIssue]) -> tuple[VideoSource | None, FlowPlan | None]:
    """Video input: the source video readable with frames, the flow backend's files; None, None in other modes.
    ``max_frames`` None (auto) takes every extracted frame."""
    anim = cfg.animation
    if anim.mode.value != "video_input":
        return None, None

    bad = len(issues)
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
    flow = plan_flow(cfg.flow, cfg.model.models_dir, allow_download=cfg.model.download)
    if flow.problem:
        issues.append(ConfigIssue("flow.name", cfg.flow.name.value, flow.problem,
                                  "download the file (model.download=true when online), or use flow=dis"))
    if not anim.video_init_path:
        issues.append(ConfigIssue("animation.video_init_path", anim.video_init_path, "video_input needs a video",
                                  "set animation.video_init_path=path/to/video.mp4"))
        return None, flow
    path = Path(os.path.expanduser(anim.video_init_path)).resolve()
    try:
        info = probe_video(path)
    except VideoInputError as exc:
        issues.append(ConfigIssue("animation.video_init_path", anim.video_init_path, exc.problem, exc.fix))
        return None, flow
    if len(issues) > bad:
        return None, flow
    available = info.selected_frames(anim.extract_nth_frame)
    n_frames = available if max_frames is None else min(max_frames, available)
    return VideoSource(path, info, anim.extract_nth_frame, n_frames, (0, 0)), flow


def _check_3d_options(cfg: Config, issues: list[ConfigIssue]) -> None:
    anim = cfg.animation
    if anim.mode.value != "3d":
        for name in ("turbo_mode", "vr_mode"):
            if getattr(anim, name):
                issues.append(ConfigIssue(f"animation.{name}", True, f"needs animation.mode=3d (it is {anim.mode.value})",
                                          f"use animation=3d_zoom or animation=3d_orbit, or set animation.{name}=false"))
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


def _check_depth(cfg: Config, issues: list[ConfigIssue]) -> DepthPlan | None:
    """The depth plan of a 3D run (None for other modes): which model, its files, the fallback to announce."""
    depth = cfg.depth
    if depth.name.value == "flat" and not depth.flat_value > 0:
        issues.append(ConfigIssue("depth.flat_value", depth.flat_value, "the plane must be in front of the camera",
                                  "use a positive depth, e.g. 1.0"))
    if depth.midas_weight is not None and not 0.0 <= depth.midas_weight <= 1.0:
        issues.append(ConfigIssue("depth.midas_weight", depth.midas_weight, "must be between 0 and 1",
                                  "use 1.0 for MiDaS alone, DD's 0.3 to blend with AdaBins, or null for automatic"))
        return None
    if not 0.0 <= depth.stabilize_strength <= 1.0:
        issues.append(ConfigIssue("depth.stabilize_strength", depth.stabilize_strength, "must be between 0 and 1",
                                  "use 0.7, or depth.stabilize=false for DD's per-frame depth"))
    if cfg.animation.mode.value != "3d":
        return None
    plan = plan_depth(depth, cfg.model.models_dir, allow_download=cfg.model.download)
    for key, path in plan.files.items():  # a pinned digest that is not a sha256: refused before a fetch
        try:
            registry.vouched_file(registry.lookup(key), path)
        except registry.UnverifiedModelFile as exc:
            issues.append(ConfigIssue("depth.name", depth.name.value, exc.problem, exc.fix))
    if plan.problem:
        issues.append(ConfigIssue("depth.name", depth.name.value, plan.problem,
                                  "download the files (model.download=true when online), or use depth=tiny or "
                                  "depth=flat"))
    return plan


def _check_audio(cfg: Config, n_frames: int | None, fps: float, issues: list[ConfigIssue]):
    """The song's per-frame features (cached by content), or None without ``audio.path``; ``n_frames`` None
    (max_frames=auto) makes as many frames as the song lasts, the last one covering its tail."""
    audio = cfg.audio
    if not audio.path:
        return None
    if not 0.0 <= audio.beat_decay <= 1.0:
        issues.append(ConfigIssue("audio.beat_decay", audio.beat_decay, "must be between 0 and 1",
                                  "use 0.8 (a short pulse) to 0.95 (a long one)"))
        return None
    from audio.analysis import AudioError, analyze_cached

    try:
        return analyze_cached(Path(os.path.expanduser(audio.path)), fps,
                              Path(os.path.expanduser(audio.cache_dir or AUDIO_CACHE_DIR)), offset=audio.offset,
                              duration=audio.duration, beat_decay=audio.beat_decay, n_frames=n_frames)
    except AudioError as exc:
        issues.append(ConfigIssue("audio.path", audio.path, str(exc), "give a readable audio file (wav, flac, mp3, "
                                  "m4a), or audio.path=null"))
        return None


def _evaluate_schedules(cfg: Config, n_frames: int, fps: float, issues: list[ConfigIssue],
                        variables: dict | None = None) -> dict[str, np.ndarray]:
    """Every schedule over every frame; ``variables`` (the song's features) may appear in value expressions."""
    out = {}
    interpolation = cfg.animation.interp_spline.value
    names = VALUE_NAMES | frozenset(variables or ())
    for path, _ in schedule_fields():
        text = _lookup(cfg, path)
        try:
            out[path] = parse_schedule(text, interpolation, names=names).evaluate(n_frames, fps if fps > 0 else 12.0,
                                                                                 variables)
        except ScheduleError as exc:
            issues.append(ConfigIssue(path, text, str(exc), SCHEDULE_FIX))
    return out


def _prompts(prompts, setting: str, n_frames: int, fps: float, issues: list[ConfigIssue],
             beat_clock: np.ndarray | None = None, fade: tuple = (0, "linear")) -> PromptSchedule:
    try:
        return evaluate_prompt_schedule(prompts, n_frames, fps if fps > 0 else 12.0, setting=setting,
                                        beat_clock=beat_clock, fade=fade[0], fade_curve=fade[1])
    except ScheduleError as exc:
        if exc.setting == "prompt_blend":
            if not any(i.setting == "prompt_blend" for i in issues):
                issues.append(ConfigIssue("prompt_blend", fade[0], exc.reason, "give frames (24), seconds (2s) or "
                                          "beats of the song (4b), or 0 for hard switches"))
            return PromptSchedule(frames=((),) * n_frames, change_frames=())
        issues.append(ConfigIssue(exc.setting or setting, dict(prompts or {}), exc.reason,
                                  f'write {setting} as {{frame: ["text:weight", ...]}}, e.g. {{0: ["a lighthouse:2", '
                                  f'"yellow"]}}'))
        return PromptSchedule(frames=((),) * n_frames, change_frames=())


def _check_range(values: np.ndarray, setting: str, text: str, lo: float, hi: float, fix: str,
                 issues: list[ConfigIssue]) -> None:
    bad = (values <= lo) | (values >= hi)
    if np.any(bad):
        frame = int(np.argmax(bad))
        issues.append(ConfigIssue(setting, text, f"frame {frame}: {values[frame]:g} is outside ({lo:g}, {hi:g})", fix))


def _seed(cfg: Config, issues: list[ConfigIssue]) -> int:
    if cfg.seed is None:
        return random.SystemRandom().randrange(SEED_MODULUS)
    if not 0 <= cfg.seed < SEED_MODULUS:
        issues.append(ConfigIssue("seed", cfg.seed, f"must be in 0..{SEED_MODULUS - 1}",
                                  "pick any non-negative 32-bit integer, or seed=null for a random one"))
    return int(cfg.seed) % SEED_MODULUS


def _lookup(cfg: Config, path: str):
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj
