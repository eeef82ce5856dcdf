"""What the diffusion generator will need, checked before any model is built.

Resolves ``model=auto`` (the real preset when its files are present, else ``tiny`` with a loud warning), parses the
cut schedules and ``frames_skip_steps``, and lists the weight files with where they are (or will be downloaded to).
An explicitly chosen real preset never falls back: missing files are downloaded when ``model.download`` is on and
otherwise are an error listing each file, its sha256 and where to put it.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import open_clip
import torch

from render.config.model_defaults import with_model_defaults
from render.config.presets import model_preset
from render.config.schema import ModelConfig
from render.diffusion.unet import UNetConfig, UNetStateDictError, read_state_dict, state_dict_mismatch
from render.guidance.clip_models import ClipModelError, ClipSpec
from render.guidance.compiled import compile_unavailable
from render.guidance.cond import CutSchedules
from render.guidance.cut_schedules import CutScheduleError, parse_cut_schedule
from render.models import openclip_files, registry

log = logging.getLogger(__name__)
TINY = "tiny"
CUSTOM = "custom"
LPIPS_FILE = "vgg16"


@dataclass(frozen=True)
class Problem:
    setting: str
    value: object
    problem: str
    fix: str


@dataclass(frozen=True)
class DiffusionPlan:
    model: ModelConfig  # the effective settings (after auto)
    cuts: CutSchedules
    frames_skip_steps: int  # steps skipped on frames that start from the previous frame
    files: dict[str, Path]  # registry key -> path in the models folder (present, or to be downloaded there)
    missing: tuple[str, ...] = ()  # keys to download before building
    hub_missing: tuple[str, ...] = ()  # ARCH:TAG of CLIPs the registry does not list, for open_clip to fetch
    fallback: str | None = None  # why auto fell back to tiny
    notes: list[str] = field(default_factory=list)


def frames_skip(steps: int, text: str) -> int:
    """DD's ``calc_frames_skip_steps``: ``floor(steps * pct / 100)`` for ``"60%"``; a plain number is a count."""
    text = str(text).strip()
    if text.endswith("%"):
        return math.floor(steps * float(text[:-1]) / 100)
    return int(float(text))


def required_files(model: ModelConfig, needs_lpips: bool) -> list[str]:
    """Registry keys of every weight file the model settings need (none for tiny networks)."""
    keys = []
    tiny = model.diffusion_model == TINY
    if not tiny:
        if model.diffusion_model != CUSTOM:  # a custom checkpoint is the user's file, not the registry's
            keys.append(registry.lookup(model.diffusion_model).key)
        if model.use_secondary_model:
            keys.append(registry.lookup("secondary").key)
    for name in model.clip_models:
        spec = ClipSpec.parse(name)
        if not spec.is_tiny and registry_clip(spec):
            keys.append(registry.lookup(f"{spec.arch}/{spec.tag}").key)
    if needs_lpips and not tiny:
        keys.append(registry.lookup(LPIPS_FILE).key)
    return keys


def registry_clip(spec: ClipSpec) -> bool:
    """Whether the registry lists this CLIP's file (else open_clip's own table is asked)."""
    try:
        registry.lookup(f"{spec.arch}/{spec.tag}")
        return True
    except KeyError:
        return False


def hub_clips(model: ModelConfig) -> list[openclip_files.OpenClipFile]:
    """The CLIPs that come through open_clip's download: known to open_clip, not to the registry."""
    specs = [ClipSpec.parse(name) for name in model.clip_models]
    files = [openclip_files.lookup(s.arch, s.tag) for s in specs if not s.is_tiny and not registry_clip(s)]
    return [f for f in files if f is not None]  # an unknown tag is reported by the checks


def plan_diffusion(model: ModelConfig, *, init_image: bool, device: torch.device) -> tuple[DiffusionPlan | None,
                                                                                          list[Problem]]:
    problems: list[Problem] = []
    model, fallback = _resolve_auto(model, init_image)
    model = with_model_defaults(model)
    _check_names(model, problems)
    _check_numbers(model, device, problems)
    cuts = _cut_schedules(model, problems)
    skip = _frames_skip(model, problems)
    files, missing, hub_files, hub_missing = {}, [], {}, []
    if not problems:
        files, missing = _locate(model, init_image, problems)
        hub_files, hub_missing = _locate_hub(model, problems)
    if problems:
        return None, problems
    return DiffusionPlan(model=model, cuts=cuts, frames_skip_steps=skip, files={**files, **hub_files},
                         missing=tuple(missing), hub_missing=tuple(hub_missing), fallback=fallback), problems


def _needs_lpips(model: ModelConfig, init_image: bool) -> bool:
    return bool(model.frames_scale) or bool(init_image and model.init_scale)


def _resolve_auto(model: ModelConfig, init_image: bool) -> tuple[ModelConfig, str | None]:
    if model.name != "auto":
        return model, None
    models_dir = registry.resolve_models_dir(model.models_dir)
    try:
        keys = required_files(model, _needs_lpips(model, init_image))
    except (KeyError, ClipModelError):
        return model, None  # reported by the checks below
    missing = [registry.lookup(k) for k in keys if registry.find(registry.lookup(k), models_dir) is None]
    hub_missing = [f for f in hub_clips(model) if openclip_files.find(f, model.models_dir) is None]
    if not missing and not hub_missing:
        return replace(model, name=f"auto ({model.diffusion_model})"), None
    lines = "\n".join([f"    {f.filename}  ->  {registry.target_path(f, models_dir)}" for f in missing] +
                      [f"    CLIP {f.key} from {f.source}  ->  {openclip_files.folder(models_dir)}" for f in hub_missing])
    reason = (f"model=auto: {len(missing) + len(hub_missing)} weight file(s) missing in {models_dir}, so this run uses "
              f"model=tiny "
              f"(small random networks: the pictures will not be meaningful).\n{lines}\n"
              f"  Get them with `python -m render.models {' '.join(f.key for f in missing)}` "
              f"(or set model.models_dir / ${registry.MODELS_DIR_ENV}), or choose model=tiny to silence this.")
    tiny = replace(model_preset(TINY), name="tiny (auto fallback)", models_dir=model.models_dir)
    return tiny, reason


def custom_unet_config(model: ModelConfig) -> UNetConfig:
    """The UNetConfig of ``diffusion_model=custom`` from ``model.custom_model`` (DD's model_config names)."""
    c = model.custom_model
    return UNetConfig(image_size=c.image_size, model_channels=c.num_channels, num_res_blocks=c.num_res_blocks,
                      attention_resolutions=c.attention_resolutions, channel_mult=c.channel_mult or None,
                      learn_sigma=c.learn_sigma, num_heads=c.num_heads, num_head_channels=c.num_head_channels,
                      num_heads_upsample=c.num_heads_upsample, use_scale_shift_norm=c.use_scale_shift_norm,
                      resblock_updown=c.resblock_updown, use_new_attention_order=c.use_new_attention_order)


def _check_custom(model: ModelConfig, problems: list[Problem]) -> None:
    """The custom checkpoint exists and loads strictly into the configured UNet (keys and shapes only)."""
    path = model.custom_path
    if not path:
        problems.append(Problem("model.custom_path", path, "diffusion_model=custom needs the checkpoint's path",
                                "model.custom_path=/path/to/model.pt"))
        return
    if not Path(path).expanduser().is_file():
        problems.append(Problem("model.custom_path", path, "file not found", "give the path of a .pt checkpoint"))
        return
    try:
        config = custom_unet_config(model)
    except ValueError as exc:
        problems.append(Problem("model.custom_model", dict(vars(model.custom_model)), str(exc),
                                "give channel_mult, or an image_size of 64, 128, 256 or 512"))
        return
    try:
        mismatch = state_dict_mismatch(config, read_state_dict(Path(path).expanduser()))
    except (UNetStateDictError, RuntimeError, OSError, EOFError) as exc:
        problems.append(Problem("model.custom_path", path, f"cannot be read as a checkpoint ({exc})",
                                "give a guided-diffusion state dict saved with torch.save"))
        return
    if mismatch:
        problems.append(Problem("model.custom_path", path, f"does not load strictly into model.custom_model: "
                                f"{mismatch}", "set model.custom_model.* to the settings the model was trained "
                                "with (DD's model_config)"))


def _check_names(model: ModelConfig, problems: list[Problem]) -> None:
    if model.diffusion_model == CUSTOM:
        _check_custom(model, problems)
    elif model.diffusion_model != TINY:
        try:
            registry.lookup(model.diffusion_model)
        except KeyError as exc:
            problems.append(Problem("model.diffusion_model", model.diffusion_model, str(exc).strip('"'),
                                    "use a key from `python -m render.models --list`, or tiny"))
    if not model.clip_models:
        problems.append(Problem("model.clip_models", model.clip_models, "no CLIP model: nothing guides the image",
                                "e.g. model.clip_models=[ViT-B-32:openai]"))
    for name in model.clip_models:
        _check_clip(name, problems)


def _check_clip(name: str, problems: list[Problem]) -> None:
    fix = "write ARCH:TAG, e.g. ViT-B-32:openai, ViT-B-32:laion2b_e16, or tiny-vit-32:random"
    try:
        spec = ClipSpec.parse(name)
    except ClipModelError as exc:
        problems.append(Problem("model.clip_models", name, str(exc), fix))
        return
    if spec.is_tiny:
        return
    if spec.arch not in open_clip.list_models():
        problems.append(Problem("model.clip_models", name, f"open_clip has no architecture {spec.arch!r}", fix))
        return
    if registry_clip(spec) or openclip_files.lookup(spec.arch, spec.tag) is not None:
        return
    tags = openclip_files.known_tags(spec.arch)
    problems.append(Problem("model.clip_models", name, f"neither the model registry nor open_clip has pretrained "
                            f"weights {spec.tag!r} for {spec.arch}; open_clip's tags for it: "
                            f"{', '.join(tags) or 'none'}", fix))


def _check_numbers(model: ModelConfig, device: torch.device, problems: list[Problem]) -> None:
    if model.steps < 1:
        problems.append(Problem("model.steps", model.steps, "must be at least 1", "DD uses 250"))
    elif not 0 <= model.skip_steps < model.steps:
        problems.append(Problem("model.skip_steps", model.skip_steps, f"must be in 0..{model.steps - 1}",
                                "skip fewer steps than model.steps (DD: 10 of 250)"))
    if model.cutn_batches < 1:
        problems.append(Problem("model.cutn_batches", model.cutn_batches, "must be at least 1", "DD uses 4"))
    if model.eta < 0:
        problems.append(Problem("model.eta", model.eta, "must not be negative", "DD uses 0.8"))
    for name in ("precision", "clip_precision"):
        value = getattr(model, name).value
        if value == "fp16" and device.type != "cuda":
            problems.append(Problem(f"model.{name}", value, "fp16 needs a CUDA device", "use bf16 or fp32 on CPU"))
    if model.compile and compile_unavailable(device):
        problems.append(Problem("model.compile", model.compile, compile_unavailable(device),
                                "install it, or set model.compile=false (the same pictures, uncompiled)"))
    if len(model.width_height) != 2:
        problems.append(Problem("model.width_height", model.width_height, "needs two numbers", "e.g. [1280, 768]"))
    if any(not 0 <= p <= 1 for p in model.transformation_percent):
        problems.append(Problem("model.transformation_percent", model.transformation_percent,
                                "each point must be a fraction between 0 and 1", "DD uses [0.09]"))


def _cut_schedules(model: ModelConfig, problems: list[Problem]) -> CutSchedules | None:
    parsed = {}
    for name, integer in (("cut_overview", True), ("cut_innercut", True), ("cut_ic_pow", False),
                          ("cut_icgray_p", False)):
        try:
            parsed[name] = parse_cut_schedule(getattr(model, name), integer=integer)
        except CutScheduleError as exc:
            problems.append(Problem(f"model.{name}", getattr(model, name), str(exc),
                                    'write DD\'s list arithmetic with 1000 entries, e.g. "[12]*400+[4]*600"'))
    if len(parsed) < 4:
        return None
    return CutSchedules(parsed["cut_overview"], parsed["cut_innercut"], parsed["cut_ic_pow"], parsed["cut_icgray_p"])


def _frames_skip(model: ModelConfig, problems: list[Problem]) -> int:
    try:
        skip = frames_skip(model.steps, model.frames_skip_steps)
    except (ValueError, OverflowError):  # "abc", "inf%", "1e400", "nan%"
        problems.append(Problem("model.frames_skip_steps", model.frames_skip_steps, "not a percentage or a count",
                                'write e.g. "60%" (DD offers 40% to 80%)'))
        return 0
    if not 0 <= skip < model.steps:
        problems.append(Problem("model.frames_skip_steps", model.frames_skip_steps,
                                f"skips {skip} of {model.steps} steps: nothing would be left to diffuse",
                                'use less than 100%, e.g. "60%"'))
    return skip


def _locate(model: ModelConfig, init_image: bool, problems: list[Problem]) -> tuple[dict[str, Path], list[str]]:
    models_dir = registry.resolve_models_dir(model.models_dir)
    files, missing = {}, []
    if model.diffusion_model == CUSTOM:
        files[CUSTOM] = Path(model.custom_path).expanduser()
    for key in required_files(model, _needs_lpips(model, init_image)):
        file = registry.lookup(key)
        files[key] = registry.target_path(file, models_dir)
        if registry.find(file, models_dir) is None:
            missing.append(key)
    if missing and not model.download:
        message = registry.missing_files_message([registry.lookup(k) for k in missing], models_dir, {})
        problems.append(Problem("model.name", model.name, f"weight files are missing:\n{message}",
                                "download them (model.download=true when online), or use model=tiny"))
    return files, missing


def _locate_hub(model: ModelConfig, problems: list[Problem]) -> tuple[dict[str, Path], list[str]]:
    """CLIPs from open_clip's table: the file when open_clip fetched it before, else to be fetched at build."""
    files, missing = {}, []
    for file in hub_clips(model):
        path = openclip_files.find(file, model.models_dir)
        if path is not None:
            files[file.key] = path
        elif model.download:
            missing.append(file.key)
        else:
            problems.append(Problem("model.clip_models", file.key, openclip_files.missing_message(
                file, model.models_dir), "set model.download=true (online) to fetch it once, or choose a CLIP "
                "from `python -m render.models --list`"))
    return files, missing


__all__ = ["CUSTOM", "DiffusionPlan", "Problem", "custom_unet_config", "frames_skip", "plan_diffusion",
           "required_files"]
