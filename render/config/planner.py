"""``plan_run``: the settings (and, once resolved, the assets) to a :class:`RenderPlan`, as a pure function.

Without assets it is the draft every input problem is named by, in well under a second and without torch: the
schema, every schedule over every frame, prompts, limits, sizes, the choice of models, depth and flow from the files
present. With the :class:`~render.config.assets.Assets` that :func:`resolve_assets` gathered from the draft (device,
song, source video, fetched images, verified weights) it is the final plan a run renders; the same settings and
assets always give the same plan, so a resume or branch compares plans without resolving anything twice. All problems
are raised together as ``ConfigErrors``, each naming the setting, the value and the fix.
"""
from __future__ import annotations

from pathlib import Path

from render.config import checks
from render.config.assets import (
    Assets,
    check_pinned_files,
    check_run_dir,
    resolve_assets,
)
from render.config.camera_path import check_camera_path, with_camera_path
from render.config.custom_model import check_custom
from render.config.depth_plan import DepthPlan, plan_depth
from render.config.diffusion_plan import TINY, DiffusionPlan, plan_diffusion
from render.config.flow_plan import FlowPlan, plan_flow
from render.config.frame_checks import check_loop, check_step_images
from render.config.frame_values import (
    evaluate_prompts,
    evaluate_schedules,
    parse_schedules,
)
from render.config.issues import ConfigErrors, ConfigIssue
from render.config.limits import (
    check_batch_name,
    check_finite,
    check_frame_count,
    check_frame_memory,
    check_frame_sides,
    check_home_paths,
    check_models_dir,
    check_step_limit,
    check_steps,
    check_url_settings,
)
from render.config.model_defaults import with_model_defaults
from render.config.pins import Pins
from render.config.plan import RenderPlan, VideoSource
from render.config.precision import (
    PrecisionChoice,
    choose_clip,
    choose_depth,
    choose_flow,
    choose_unet,
)
from render.config.schema import Config
from render.config.settings import (
    setting_value,
    video_model_settings,
    video_override_names,
)
from render.guidance.clip_spec import ClipSpec, vision_cpu_precision
from render.guidance.compiled import compile_unavailable
from render.models import registry
from transforms.prompts import PromptSchedule


def plan_and_resolve(settings: Config, output_dir: Path | None = None, *, pins: Pins | None = None,
                     resuming: bool = False) -> RenderPlan:
    """The recipe's first steps: the draft plan, the assets resolved from it, the final plan (and, with
    ``output_dir``, the run dir checked for writing and room). ``pins``: what a resumed or branched run's ``auto``
    settings chose when it started; ``resuming`` (not branching): its weight files must be the ones it used."""
    assets = resolve_assets(plan_run(settings, pins=pins), settings, pins)
    plan = plan_run(settings, assets)
    if resuming and pins is not None:
        check_pinned_files(plan, pins)
    if output_dir is not None:
        check_run_dir(output_dir, plan)
    return plan


def plan_run(settings: Config, assets: Assets | None = None, *, pins: Pins | None = None) -> RenderPlan:
    """The plan of ``settings`` (a draft without ``assets``); raises :class:`ConfigErrors`. ``pins`` (or
    ``assets.pins``): the choices a resumed run's ``auto`` settings made when it started."""
    cfg, issues = settings, []
    pins = (assets.pins if assets is not None else pins) or Pins()
    max_frames = check_frame_count(checks.check_frames(cfg, issues), "animation.max_frames", issues)
    _check_settings(cfg, issues)
    depth = _plan_depth(cfg, issues, pins)
    flow = _plan_flow(cfg, issues, pins)
    video_info = assets.video if assets is not None else None
    nth = max(cfg.animation.extract_nth_frame, 1)
    fps = checks.output_fps(cfg, video_info.fps if video_info is not None else None, nth)
    checks.check_exports(cfg, fps, issues)
    diffusion = _plan_diffusion(cfg, assets, issues, pins)
    model = diffusion.model if diffusion is not None else with_model_defaults(cfg.model)
    width, height = checks.frame_size(cfg, pins.size or model.width_height, issues)
    check_frame_sides(width, height, issues)
    if cfg.generator.value == "diffusion":
        check_custom(model, width, height, _adder(issues))
    stills = checks.check_batches(cfg, max_frames, issues)
    n_frames = _frame_count(cfg, max_frames, stills, assets)
    n_frames = check_frame_count(n_frames, "animation.max_frames", issues) if n_frames is not None else None
    values = _frame_values(cfg, n_frames, fps, assets, issues)
    check_step_images(cfg, model.steps, _adder(issues))
    if assets is not None:
        check_frame_memory(width, height, _generator_kind(cfg, diffusion), assets.memory, str(assets.device), issues)
        _check_device(diffusion, assets, issues)
    if issues:
        raise ConfigErrors(issues)
    video = None
    if video_info is not None:
        video = VideoSource(Path(cfg.animation.video_init_path).expanduser().resolve(), video_info, nth,
                            n_frames, (width, height), assets.video_sha256)
    precisions = choose_precisions(cfg, assets, diffusion, depth, flow, pins) if assets is not None else {}
    warnings = _warnings(cfg, (width, height), diffusion, depth, precisions)
    return RenderPlan(n_frames=n_frames or 0, width=width, height=height, fps=fps,
                      seed=assets.seed if assets is not None else (cfg.seed or 0), **values, diffusion=diffusion,
                      depth=depth, video=video, flow=flow, precisions=precisions, assets=assets,
                      warnings=tuple(warnings), notes=tuple(n for n in (flow and flow.note,) if n),
                      **checks.seed_policy(cfg))


def _adder(issues: list[ConfigIssue]):
    return lambda *issue: issues.append(ConfigIssue(*issue))


def _check_settings(cfg: Config, issues: list[ConfigIssue]) -> None:
    """The checks of single settings (no frame count or model needed)."""
    checks.check_output(cfg, issues)
    checks.check_image_files(cfg, issues)
    checks.check_device_name(cfg, issues)
    check_finite(cfg, issues)
    check_home_paths(cfg, issues)
    check_batch_name(cfg.batch_name, issues)
    check_models_dir(cfg.model.models_dir, issues)
    check_url_settings(cfg.url_timeout, cfg.url_max_mb, issues)
    checks.check_camera(cfg, issues)
    checks.check_3d_options(cfg, issues)
    checks.check_video_settings(cfg, issues)
    checks.check_audio_settings(cfg, issues)
    checks.check_seed(cfg, issues)
    check_camera_path(cfg, issues)
    if cfg.generator.value == "camera" and cfg.animation.mode.value == "video_input":
        issues.append(ConfigIssue("generator", "camera", "draws the camera of the 2d and 3d modes; video_input has "
                                  "no camera", "use generator=preview, or animation.mode=2d or 3d"))
    if cfg.generator.value == "diffusion":
        steps_setting = video_override_names(cfg).get("model.steps", "model.steps")
        check_steps(video_model_settings(cfg).steps, steps_setting, issues)
        check_step_limit(video_model_settings(cfg).steps, steps_setting, issues)


def _plan_depth(cfg: Config, issues: list[ConfigIssue], pins: Pins) -> DepthPlan | None:
    """The depth plan of a 3D run (None for other modes): which model, its files, the fallback to announce."""
    depth = cfg.depth
    if not checks.check_depth_settings(cfg, issues) or cfg.animation.mode.value != "3d" or \
            cfg.generator.value == "camera":  # the camera preview's scene has its own depth
        return None
    plan = plan_depth(depth, cfg.model.models_dir, allow_download=cfg.model.download,
                      pinned=(pins.depth, pins.midas_weight))
    for key, path in plan.files.items():  # a file without a published sha256: refused before it is fetched
        try:
            registry.vouched_file(registry.lookup(key), path)
        except registry.UnverifiedModelFile as exc:
            issues.append(ConfigIssue("depth.name", depth.name.value, exc.problem, exc.fix))
    if plan.problem:
        issues.append(ConfigIssue("depth.name", depth.name.value, plan.problem, "download the files "
                                  "(model.download=true when online), or use depth=tiny or depth=flat"))
    return plan


def _plan_flow(cfg: Config, issues: list[ConfigIssue], pins: Pins) -> FlowPlan | None:
    if cfg.animation.mode.value != "video_input":
        return None
    flow = plan_flow(cfg.flow, cfg.model.models_dir, allow_download=cfg.model.download, pinned=pins.flow)
    if flow.problem:
        issues.append(ConfigIssue("flow.name", cfg.flow.name.value, flow.problem,
                                  "download the file (model.download=true when online), or use flow=dis"))
    return flow


def first_init(cfg: Config) -> bool:
    """Frame 0 starts from an image: ``init_image``, Perlin noise, or the source video's first frame."""
    return bool(cfg.init_image) or bool(cfg.perlin_init) or cfg.animation.mode.value == "video_input"


def _plan_diffusion(cfg: Config, assets: Assets | None, issues: list[ConfigIssue],
                    pins: Pins) -> DiffusionPlan | None:
    if cfg.generator.value != "diffusion":
        return None
    chained = cfg.animation.mode.value != "none"
    plan, problems = plan_diffusion(video_model_settings(cfg), first_init=first_init(cfg), chained=chained,
                                    hub=assets.hub if assets is not None else None, pinned=pins.model)
    renamed = video_override_names(cfg)
    issues += [ConfigIssue(renamed.get(p.setting, p.setting), p.value, p.problem, p.fix) for p in problems]
    return plan


def _frame_count(cfg: Config, max_frames: int | None, stills: bool, assets: Assets | None) -> int | None:
    """Frames to render: ``n_batches`` stills; in video_input at most the frames extracted; ``auto``: the song's or
    the source video's length (None until the assets are resolved)."""
    if stills:
        return cfg.n_batches
    video = assets.video if assets is not None else None
    if video is not None:
        available = video.selected_frames(max(cfg.animation.extract_nth_frame, 1))
        return available if max_frames is None else min(max_frames, available)
    if max_frames is None:
        return assets.audio.n_frames if assets is not None and assets.audio is not None else None
    return max_frames


def _frame_values(cfg: Config, n_frames: int | None, fps: float, assets: Assets | None,
                  issues: list[ConfigIssue]) -> dict:
    """Schedules and prompts over every frame; a draft whose values wait for the song (or the source video's
    length) has its schedules parsed only."""
    audio = assets.audio if assets is not None else None
    if n_frames is None or (cfg.audio.path and audio is None):
        parse_schedules(cfg, issues)
        empty = PromptSchedule(frames=(), change_frames=())
        return {"schedules": {}, "text_prompts": empty, "image_prompts": empty}
    variables = audio.variables() if audio is not None else {}
    schedules = evaluate_schedules(cfg, n_frames, fps, issues, variables)
    camera = assets.camera_path if assets is not None else None
    schedules = with_camera_path(cfg, schedules, camera, n_frames, fps)  # animation.camera_path (glTF)
    clock = audio.b if audio is not None else None
    fade = (cfg.prompt_blend, cfg.prompt_blend_interpolation.value)
    text = evaluate_prompts(cfg.text_prompts, "text_prompts", n_frames, fps, issues, clock, fade)
    image = evaluate_prompts(cfg.image_prompts, "image_prompts", n_frames, fps, issues, clock, fade)
    checks.check_ranges(cfg, schedules, issues)
    check_loop(cfg, n_frames, _adder(issues))
    return {"schedules": schedules, "text_prompts": text, "image_prompts": image}


def _check_device(diffusion: DiffusionPlan | None, assets: Assets, issues: list[ConfigIssue]) -> None:
    """What the chosen device must be able to do: fp16 only on CUDA; ``model.compile`` needs its toolchain."""
    if diffusion is None:
        return
    if diffusion.model.compile and (why := compile_unavailable(assets.device)):
        issues.append(ConfigIssue("model.compile", True, why,
                                  "install it, or set model.compile=false (the same pictures, uncompiled)"))
    if assets.device.type == "cuda":
        return
    for name in ("precision", "clip_precision"):
        if getattr(diffusion.model, name).value == "fp16":
            issues.append(ConfigIssue(f"model.{name}", "fp16", "fp16 needs a CUDA device", "use bf16 or fp32 on CPU"))


def _generator_kind(cfg: Config, diffusion: DiffusionPlan | None) -> str:
    if cfg.generator.value != "diffusion":
        return "preview"
    return "tiny" if diffusion is not None and diffusion.model.diffusion_model == TINY else "diffusion"


def choose_precisions(cfg: Config, assets: Assets, diffusion: DiffusionPlan | None, depth: DepthPlan | None,
                      flow: FlowPlan | None, pins: Pins | None = None) -> dict[str, PrecisionChoice]:
    """Each model's precision, from the settings and what the device can do (render/config/precision.py); a
    precision still ``auto`` keeps what it was when a resumed run started."""
    out = _choose_precisions(cfg, assets, diffusion, depth, flow)
    settings = {"unet": "model.precision", "depth": "depth.precision", "flow": "flow.precision"}
    for name, pinned in (pins.precisions if pins is not None else {}).items():
        setting = settings.get(name, "model.clip_precision")
        if name in out and setting_value(cfg, setting).value == "auto" and out[name].value != pinned:
            out[name] = PrecisionChoice(pinned, f"pinned: the run started with {pinned} (here auto picks "
                                        f"{out[name].value}: {out[name].reason})")
    return out


def _choose_precisions(cfg: Config, assets: Assets, diffusion: DiffusionPlan | None, depth: DepthPlan | None,
                       flow: FlowPlan | None) -> dict[str, PrecisionChoice]:
    hw, out = assets.hardware, {}
    if diffusion is not None:
        model = diffusion.model
        out["unet"] = choose_unet(model.precision.value, hw)
        for spec in map(ClipSpec.parse, model.clip_models):
            cpu_choice = (vision_cpu_precision(_tiny_vision(spec)) if spec.is_tiny
                          else assets.clip_cpu_precision.get(spec.name, "fp32"))
            out[f"clip {spec.name}"] = choose_clip(model.clip_precision.value, hw, cpu_choice)
    if depth is not None and depth.name != "flat":
        out["depth"] = choose_depth(cfg.depth.precision.value, hw)
    if flow is not None and flow.name.startswith("raft"):
        out["flow"] = choose_flow(cfg.flow.precision.value, hw)
    return out


def _tiny_vision(spec: ClipSpec) -> dict:
    from render.guidance.clip_spec import TINY_CLIPS

    return TINY_CLIPS[spec.arch][0]


def _warnings(cfg: Config, size: tuple[int, int], diffusion: DiffusionPlan | None, depth: DepthPlan | None,
              precisions: dict[str, PrecisionChoice]) -> list[str]:
    """What the run should say where people look (log, run.json, report.html): fallbacks to random networks, sizes
    floored, precisions chosen against the hardware."""
    found = [w for w in (diffusion and diffusion.fallback, depth and depth.fallback) if w]
    found += checks.floored_sizes(cfg, size)
    found += [c.warning for c in precisions.values() if c.warning]
    return found
