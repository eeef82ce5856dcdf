"""What the diffusion generator will need, decided from the settings and the files present (nothing loaded, nothing
hashed).

Resolves ``model=auto`` (the real preset when its files are present, else ``tiny`` with a loud warning), parses the
cut schedules and ``frames_skip_steps``, says whether LPIPS guides the run, and lists the weight files with where
they are (or will be downloaded to). An explicitly chosen real preset never falls back: missing files are downloaded
when ``model.download`` is on and otherwise are an error listing each file, its sha256 and where to put it. What needs
open_clip or torch (a CLIP's tag in open_clip's table, a custom checkpoint's keys) is checked when the assets are
resolved (:func:`check_clips`, :func:`check_custom_checkpoint`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from render.config.issues import ConfigIssue
from render.config.model_defaults import with_model_defaults
from render.config.presets import model_preset
from render.config.schema import ModelConfig
from render.guidance.clip_spec import ClipModelError, ClipSpec
from render.guidance.cut_schedules import (
    CutScheduleError,
    CutSchedules,
    parse_cut_schedule,
)
from render.models import registry

TINY = "tiny"
CUSTOM = "custom"
LPIPS_FILE = "vgg16"


@dataclass(frozen=True)
class HubClips:
    """CLIPs the registry does not list, as the assets found them: open_clip's file when it fetched it before."""

    files: dict[str, Path] = field(default_factory=dict)  # ARCH:TAG -> file
    missing: tuple[str, ...] = ()  # ARCH:TAG not fetched yet
    where: dict[str, str] = field(default_factory=dict)  # ARCH:TAG -> where it comes from and goes (for messages)


@dataclass(frozen=True)
class DiffusionPlan:
    model: ModelConfig  # the effective settings (after auto)
    cuts: CutSchedules
    frames_skip_steps: int  # steps skipped on frames that start from the previous frame
    lpips: bool  # LPIPS pulls a frame toward its init (needs_lpips)
    files: dict[str, Path]  # registry key -> path in the models folder (present, or to be downloaded there)
    missing: tuple[str, ...] = ()  # keys to download before building
    hub_missing: tuple[str, ...] = ()  # ARCH:TAG of CLIPs from open_clip's table to fetch before building
    fallback: str | None = None  # why auto fell back to tiny
    notes: list[str] = field(default_factory=list)


def frames_skip(steps: int, text: str) -> int:
    """DD's ``calc_frames_skip_steps``: ``floor(steps * pct / 100)`` for ``"60%"``; a plain number is a count."""
    text = str(text).strip()
    if text.endswith("%"):
        return math.floor(steps * float(text[:-1]) / 100)
    return int(float(text))


def needs_lpips(model: ModelConfig, first_init: bool, chained: bool = True) -> bool:
    """Whether LPIPS guides the run: ``frames_scale`` pulls every frame made from the previous one (``chained``: an
    animation) toward its init, and ``init_scale`` pulls frame 0 toward its init when there is one (``init_image``,
    Perlin noise, or the source video's first frame). The one rule the plan and the network builder both use."""
    return bool(chained and model.frames_scale) or bool(first_init and model.init_scale)


def required_files(model: ModelConfig, lpips: bool) -> list[str]:
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
    if lpips and not tiny:
        keys.append(registry.lookup(LPIPS_FILE).key)
    return keys


def registry_clip(spec: ClipSpec) -> bool:
    """Whether the registry lists this CLIP's file (else open_clip's own table is asked)."""
    try:
        registry.lookup(f"{spec.arch}/{spec.tag}")
        return True
    except KeyError:
        return False


def plan_diffusion(model: ModelConfig, *, first_init: bool, chained: bool = True, hub: HubClips | None = None,
                   pinned: str | None = None) -> tuple[DiffusionPlan | None, list[ConfigIssue]]:
    """The diffusion plan of ``model``; ``first_init``: frame 0 starts from an image, ``chained``: later frames
    start from the previous one (see :func:`needs_lpips`);
    ``hub``: the CLIPs from open_clip's table as the assets found them (None before they are resolved: taken as
    present); ``pinned``: the diffusion model ``auto`` chose when the run started (render/config/pins.py)."""
    issues: list[ConfigIssue] = []
    hub = hub or HubClips()
    model, fallback = _resolve_auto(model, needs_lpips(model, first_init, chained), hub, pinned)
    model = with_model_defaults(model)
    _check_names(model, issues)
    _check_numbers(model, issues)
    cuts = _cut_schedules(model, issues)
    skip = _frames_skip(model, issues)
    if issues:
        return None, issues
    lpips = needs_lpips(model, first_init, chained)
    files, missing = _locate(model, lpips, issues)
    hub_missing = tuple(name for name in hub_clip_names(model) if name in hub.missing)
    files.update({name: path for name, path in hub.files.items() if name in hub_clip_names(model)})
    if not model.download:
        issues += [ConfigIssue("model.clip_models", name, hub.where.get(name, f"CLIP model {name} is not in the "
                                                                            "models folder yet"),
                               "set model.download=true (online) to fetch it once, or choose a CLIP from "
                               "`python -m render.models --list`") for name in hub_missing]
    if issues:
        return None, issues
    return DiffusionPlan(model=model, cuts=cuts, frames_skip_steps=skip, lpips=lpips, files=files,
                         missing=tuple(missing), hub_missing=hub_missing, fallback=fallback), issues


def hub_clip_names(model: ModelConfig) -> tuple[str, ...]:
    """ARCH:TAG of the CLIPs that come through open_clip's table (neither tiny nor in the registry)."""
    try:
        specs = [ClipSpec.parse(name) for name in model.clip_models]
    except ClipModelError:
        return ()
    return tuple(s.name for s in specs if not s.is_tiny and not registry_clip(s))


def _resolve_auto(model: ModelConfig, lpips: bool, hub: HubClips,
                  pinned: str | None = None) -> tuple[ModelConfig, str | None]:
    if model.name != "auto":
        return model, None
    if pinned == TINY:  # the run started without the files: it goes on with the networks that made its frames
        return tiny_fallback(model), None
    if pinned is not None:
        return replace(model, name=f"auto ({model.diffusion_model})"), None
    models_dir = registry.resolve_models_dir(model.models_dir)
    try:
        keys = required_files(model, lpips)
    except (KeyError, ClipModelError):
        return model, None  # reported by the checks below
    missing = [registry.lookup(k) for k in keys if registry.find(registry.lookup(k), models_dir) is None]
    hub_missing = [name for name in hub_clip_names(model) if name in hub.missing]
    if not missing and not hub_missing:
        return replace(model, name=f"auto ({model.diffusion_model})"), None
    lines = "\n".join([f"    {f.filename}  ->  {registry.target_path(f, models_dir)}" for f in missing] +
                      [f"    CLIP {name} (open_clip fetches it into {models_dir / 'open_clip'})"
                       for name in hub_missing])
    reason = (f"model=auto: {len(missing) + len(hub_missing)} weight file(s) missing in {models_dir}, so this run "
              f"uses model=tiny (small random networks: the pictures will not be meaningful).\n{lines}\n"
              f"  Get them with `python -m render.models {' '.join(f.key for f in missing)}` "
              f"(or set model.models_dir / ${registry.MODELS_DIR_ENV}), or choose model=tiny to silence this.")
    return tiny_fallback(model), reason


NETWORK_SETTINGS = ("name", "diffusion_model", "clip_models", "use_secondary_model", "custom_path", "custom_model",
                    "download")


def tiny_fallback(model: ModelConfig) -> ModelConfig:
    """The tiny preset in place of ``model=auto``'s missing networks, with every other setting the user changed from
    auto's (``model.steps=50``, a cut schedule, the scales) kept: only the networks fall back."""
    auto = model_preset("auto")
    changed = {f.name: getattr(model, f.name) for f in fields(model)
               if f.name not in NETWORK_SETTINGS and getattr(model, f.name) != getattr(auto, f.name)}
    return replace(model_preset(TINY), **changed, name="tiny (auto fallback)")


CLIP_FIX = "write ARCH:TAG, e.g. ViT-B-32:openai, ViT-B-32:laion2b_e16, or tiny-vit-32:random"


def _check_names(model: ModelConfig, issues: list[ConfigIssue]) -> None:
    if model.diffusion_model == CUSTOM:
        if not model.custom_path:
            issues.append(ConfigIssue("model.custom_path", model.custom_path, "diffusion_model=custom needs the "
                                      "checkpoint's path", "model.custom_path=/path/to/model.pt"))
        elif not Path(model.custom_path).expanduser().is_file():
            issues.append(ConfigIssue("model.custom_path", model.custom_path, "file not found",
                                      "give the path of a .pt checkpoint"))
    elif model.diffusion_model != TINY:
        try:
            registry.lookup(model.diffusion_model)
        except KeyError as exc:
            issues.append(ConfigIssue("model.diffusion_model", model.diffusion_model, str(exc).strip('"'),
                                      "use a key from `python -m render.models --list`, or tiny"))
    if not model.clip_models:
        issues.append(ConfigIssue("model.clip_models", model.clip_models, "no CLIP model: nothing guides the image",
                                  "e.g. model.clip_models=[ViT-B-32:openai]"))
    for name in model.clip_models:
        try:
            ClipSpec.parse(name)
        except ClipModelError as exc:
            issues.append(ConfigIssue("model.clip_models", name, str(exc), CLIP_FIX))


def _check_numbers(model: ModelConfig, issues: list[ConfigIssue]) -> None:
    if model.steps < 1:
        issues.append(ConfigIssue("model.steps", model.steps, "must be at least 1", "DD uses 250"))
    elif not 0 <= model.skip_steps < model.steps:
        issues.append(ConfigIssue("model.skip_steps", model.skip_steps, f"must be in 0..{model.steps - 1}",
                                  "skip fewer steps than model.steps (DD: 10 of 250)"))
    if model.cutn_batches < 1:
        issues.append(ConfigIssue("model.cutn_batches", model.cutn_batches, "must be at least 1", "DD uses 4"))
    if model.eta < 0:
        issues.append(ConfigIssue("model.eta", model.eta, "must not be negative", "DD uses 0.8"))
    if len(model.width_height) != 2:
        issues.append(ConfigIssue("model.width_height", model.width_height, "needs two numbers", "e.g. [1280, 768]"))
    if any(not 0 <= p <= 1 for p in model.transformation_percent):
        issues.append(ConfigIssue("model.transformation_percent", model.transformation_percent,
                                  "each point must be a fraction between 0 and 1", "DD uses [0.09]"))


def _cut_schedules(model: ModelConfig, issues: list[ConfigIssue]) -> CutSchedules | None:
    parsed = {}
    for name, integer in (("cut_overview", True), ("cut_innercut", True), ("cut_ic_pow", False),
                          ("cut_icgray_p", False)):
        try:
            parsed[name] = parse_cut_schedule(getattr(model, name), integer=integer)
        except CutScheduleError as exc:
            issues.append(ConfigIssue(f"model.{name}", getattr(model, name), str(exc),
                                      'write DD\'s list arithmetic with 1000 entries, e.g. "[12]*400+[4]*600"'))
            continue
        if name == "cut_icgray_p" and parsed[name].max() > 1:
            issues.append(ConfigIssue("model.cut_icgray_p", model.cut_icgray_p, "each entry is a share of the inner "
                                      "crops, 0 to 1", 'e.g. DD\'s "[0.2]*400+[0]*600"'))
    if len(parsed) < 4:
        return None
    return CutSchedules(parsed["cut_overview"], parsed["cut_innercut"], parsed["cut_ic_pow"], parsed["cut_icgray_p"])


def _frames_skip(model: ModelConfig, issues: list[ConfigIssue]) -> int:
    try:
        skip = frames_skip(model.steps, model.frames_skip_steps)
    except (ValueError, OverflowError):  # "abc", "inf%", "1e400", "nan%"
        issues.append(ConfigIssue("model.frames_skip_steps", model.frames_skip_steps, "not a percentage or a count",
                                  'write e.g. "60%" (DD offers 40% to 80%)'))
        return 0
    if not 0 <= skip < model.steps:
        issues.append(ConfigIssue("model.frames_skip_steps", model.frames_skip_steps,
                                  f"skips {skip} of {model.steps} steps: nothing would be left to diffuse",
                                  'use less than 100%, e.g. "60%"'))
    return skip


def _locate(model: ModelConfig, lpips: bool, issues: list[ConfigIssue]) -> tuple[dict[str, Path], list[str]]:
    models_dir = registry.resolve_models_dir(model.models_dir)
    files, missing = {}, []
    if model.diffusion_model == CUSTOM:
        files[CUSTOM] = Path(model.custom_path).expanduser()
    for key in required_files(model, lpips):
        file = registry.lookup(key)
        files[key] = registry.target_path(file, models_dir)
        if registry.find(file, models_dir) is None:
            missing.append(key)
    if missing and not model.download:
        message = registry.missing_files_message([registry.lookup(k) for k in missing], models_dir, {})
        issues.append(ConfigIssue("model.name", model.name, f"weight files are missing:\n{message}",
                                  "download them (model.download=true when online), or use model=tiny"))
    return files, missing


# ---------------------------------------------------------------------------------------------------------------
# Checked when the assets are resolved: these need open_clip or torch.


def check_clips(model: ModelConfig) -> list[ConfigIssue]:
    """Every CLIP the registry does not list is an architecture and pretrained tag open_clip knows."""
    import open_clip

    from render.models import openclip_files

    issues = []
    for spec in map(ClipSpec.parse, model.clip_models):
        if spec.is_tiny or registry_clip(spec):
            continue
        if spec.arch not in open_clip.list_models():
            issues.append(ConfigIssue("model.clip_models", spec.name, f"open_clip has no architecture "
                                      f"{spec.arch!r}", CLIP_FIX))
        elif openclip_files.lookup(spec.arch, spec.tag) is None:
            tags = openclip_files.known_tags(spec.arch)
            issues.append(ConfigIssue("model.clip_models", spec.name, f"neither the model registry nor open_clip "
                                      f"has pretrained weights {spec.tag!r} for {spec.arch}; open_clip's tags for it: "
                                      f"{', '.join(tags) or 'none'}", CLIP_FIX))
    return issues


def find_hub_clips(model: ModelConfig) -> HubClips:
    """Where open_clip keeps the CLIPs of its table that ``model`` names (after :func:`check_clips` passed)."""
    from render.models import openclip_files

    files, missing, where = {}, [], {}
    for name in hub_clip_names(model):
        file = openclip_files.lookup(*name.split(":", 1))
        path = openclip_files.find(file, model.models_dir) if file is not None else None
        if path is not None:
            files[name] = path
        else:
            missing.append(name)
            if file is not None:
                where[name] = openclip_files.missing_message(file, model.models_dir)
    return HubClips(files, tuple(missing), where)


def custom_unet_config(model: ModelConfig):
    """The UNetConfig of ``diffusion_model=custom`` from ``model.custom_model`` (DD's model_config names)."""
    from render.diffusion.unet import UNetConfig

    c = model.custom_model
    return UNetConfig(image_size=c.image_size, model_channels=c.num_channels, num_res_blocks=c.num_res_blocks,
                      attention_resolutions=c.attention_resolutions, channel_mult=c.channel_mult or None,
                      learn_sigma=c.learn_sigma, num_heads=c.num_heads, num_head_channels=c.num_head_channels,
                      num_heads_upsample=c.num_heads_upsample, use_scale_shift_norm=c.use_scale_shift_norm,
                      resblock_updown=c.resblock_updown, use_new_attention_order=c.use_new_attention_order)


def check_custom_checkpoint(model: ModelConfig) -> list[ConfigIssue]:
    """A custom checkpoint loads strictly into the configured UNet (keys and shapes only)."""
    from render.diffusion.unet import (
        UNetStateDictError,
        read_state_dict,
        state_dict_mismatch,
    )

    if model.diffusion_model != CUSTOM or not model.custom_path:
        return []
    path = Path(model.custom_path).expanduser()
    try:
        config = custom_unet_config(model)
    except ValueError as exc:
        return [ConfigIssue("model.custom_model", dict(vars(model.custom_model)), str(exc),
                            "give channel_mult, or an image_size of 64, 128, 256 or 512")]
    try:
        mismatch = state_dict_mismatch(config, read_state_dict(path))
    except (UNetStateDictError, RuntimeError, OSError, EOFError) as exc:
        return [ConfigIssue("model.custom_path", model.custom_path, f"cannot be read as a checkpoint ({exc})",
                            "give a guided-diffusion state dict saved with torch.save")]
    if mismatch:
        return [ConfigIssue("model.custom_path", model.custom_path, f"does not load strictly into "
                            f"model.custom_model: {mismatch}", "set model.custom_model.* to the settings the model "
                            "was trained with (DD's model_config)")]
    return []


__all__ = ["CUSTOM", "DiffusionPlan", "check_clips", "check_custom_checkpoint", "custom_unet_config", "frames_skip",
           "HubClips", "find_hub_clips", "hub_clip_names", "needs_lpips", "plan_diffusion", "required_files"]
