"""The composed config as typed settings: unknown keys named (with a "did you mean"), and the settings a mode changes."""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from render.config.issues import ConfigErrors, ConfigIssue, omegaconf_issue
from render.config.schema import Config

VIDEO_OVERRIDES = {  # animation.video_init_* -> model.* in video_input mode (DD applied only some: README, Video input)
    "video_init_steps": "steps", "video_init_clip_guidance_scale": "clip_guidance_scale",
    "video_init_tv_scale": "tv_scale", "video_init_range_scale": "range_scale", "video_init_sat_scale": "sat_scale",
    "video_init_cutn_batches": "cutn_batches", "video_init_skip_steps": "skip_steps",
    "video_init_frames_scale": ("init_scale", "frames_scale"), "video_init_frames_skip_steps": "frames_skip_steps",
}


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


def _field_names(schema: type) -> list[str]:
    return sorted(f.name for f in dataclasses.fields(schema))


def _unknown_keys(node: DictConfig, schema: type, prefix: str = "") -> list[ConfigIssue]:
    fields = set(_field_names(schema))
    issues = []
    for key in node.keys():
        path = f"{prefix}{key}"
        if key not in fields:
            issues.append(ConfigIssue(path, node[key], "unknown setting",
                                      f"{unknown_key_hint(path)} (see README 'Settings')"))
            continue
        child = node._get_node(key)
        child_type = OmegaConf.get_type(child) if isinstance(child, DictConfig) else None
        if child_type is not None and dataclasses.is_dataclass(child_type):
            issues += _unknown_keys(child, child_type, f"{path}.")
    return issues


def unknown_key_hint(key: str) -> str:
    """"did you mean animation.zoom?" for ``animation.zoomm``: the closest setting of the group the key is in (or of
    any group, for a key in the wrong one); else the group's settings."""
    parts = str(key).split(".")
    schema: type = Config
    for i, part in enumerate(parts[:-1]):
        field = next((f for f in dataclasses.fields(schema) if f.name == part), None)
        if field is None or not dataclasses.is_dataclass(_field_type(schema, part)):
            parts = parts[: i + 1]
            break
        schema = _field_type(schema, part)
    prefix = ".".join(parts[:-1])
    names = _field_names(schema)
    close = difflib.get_close_matches(parts[-1], names, n=1, cutoff=0.6)
    if close:
        return f"did you mean {prefix + '.' if prefix else ''}{close[0]}?"
    anywhere = difflib.get_close_matches(str(key), all_setting_paths(), n=1, cutoff=0.75)
    if anywhere:
        return f"did you mean {anywhere[0]}?"
    return f"known{' in ' + prefix if prefix else ''}: {', '.join(names)}"


def _field_type(schema: type, name: str) -> Any:
    field = next(f for f in dataclasses.fields(schema) if f.name == name)
    default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
    return type(default) if dataclasses.is_dataclass(default) else None


def all_setting_paths(schema: type = Config, prefix: str = "") -> list[str]:
    """Every setting's dotted path (``animation.zoom``, ``seed``, ...)."""
    paths = []
    for f in dataclasses.fields(schema):
        sub = _field_type(schema, f.name)
        paths += all_setting_paths(sub, f"{prefix}{f.name}.") if sub is not None else [f"{prefix}{f.name}"]
    return paths


def setting_value(cfg: Any, path: str) -> Any:
    """The value of a dotted setting path of the typed settings."""
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _video_targets(name: str) -> tuple[str, ...]:
    targets = VIDEO_OVERRIDES[name]
    return (targets,) if isinstance(targets, str) else targets


def video_model_settings(cfg: Config):
    """The model settings a run uses: in video_input mode the ``video_init_*`` values that are set replace them
    (``video_init_frames_scale`` is both frame 0's ``init_scale`` and the later frames' ``frames_scale``, as in DD)."""
    if cfg.animation.mode.value != "video_input":
        return cfg.model
    changes = {t: getattr(cfg.animation, name) for name in VIDEO_OVERRIDES for t in _video_targets(name)
               if getattr(cfg.animation, name) is not None}
    return dataclasses.replace(cfg.model, **changes)


def video_override_names(cfg: Config) -> dict[str, str]:
    """``model.X -> animation.video_init_Y`` for the model settings a video_input run takes from its own settings,
    so that an error names the setting the user wrote."""
    if cfg.animation.mode.value != "video_input":
        return {}
    return {f"model.{t}": f"animation.{name}" for name in VIDEO_OVERRIDES for t in _video_targets(name)
            if getattr(cfg.animation, name) is not None}
