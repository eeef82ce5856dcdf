"""The config store: the schema and the ``model/`` group's generator presets, registered with Hydra's ConfigStore.

They live in Python rather than YAML because ``model=auto`` needs the ``tiny`` preset at run time, when it falls back
to it; your own presets can still be YAML files in ``conf/model/`` (they override the schema defaults the same way).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from render.config.schema import Config, ModelConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
DD_CLIPS = ["ViT-B-32:openai", "ViT-B-16:openai", "RN50:openai"]

MODEL_PRESETS: dict[str, ModelConfig] = {
    # Disco Diffusion v5.7's defaults: the 512 finetune, the secondary model, ViT-B/32 + ViT-B/16 + RN50, 250 steps.
    "auto": ModelConfig(name="auto"),
    "disco512": ModelConfig(name="disco512"),
    "disco256": ModelConfig(name="disco256", diffusion_model="256x256_diffusion_uncond", width_height=[512, 448]),
    # Small networks of the same classes with seeded random weights: the whole pipeline offline in about a minute on
    # a CPU. The pictures are not meaningful; the camera, the loop, the guidance and the files are.
    "tiny": ModelConfig(
        name="tiny", diffusion_model="tiny", clip_models=["tiny-vit-32:random", "tiny-vit-16:random", "tiny-rn:random"],
        width_height=[256, 128], steps=10, skip_steps=0, frames_skip_steps="70%", cutn_batches=1,
        cut_overview="[2]*1000", cut_innercut="[2]*1000", cut_icgray_p="[0.2]*400+[0]*600", init_scale=0.0,
        frames_scale=0.0, use_checkpoint=False, download=False,
    ),
}


def model_preset(name: str) -> ModelConfig:
    """A copy of a built-in preset."""
    return dataclasses.replace(MODEL_PRESETS[name])


def register_configs() -> None:
    """Register the schema with Hydra's ConfigStore (``conf/config.yaml`` lists it first in its defaults), and the
    model presets (``model=tiny``)."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for name, preset in MODEL_PRESETS.items():
        cs.store(group="model", name=name, node=preset)


def hydra_presets() -> dict[str, Any]:
    """The running Hydra app's config name and group choices (``animation=3d_zoom``, ...; Hydra's own groups left
    out), from which :func:`preset_defaults` composes the run's defaults; ``{}`` outside a Hydra app."""
    if not HydraConfig.initialized():
        return {}
    hydra_cfg = HydraConfig.get()
    choices = {str(group): str(choice) for group, choice in hydra_cfg.runtime.choices.items()
               if choice is not None and not str(group).startswith("hydra")}
    return {"config_name": hydra_cfg.job.config_name, "choices": choices}


def preset_defaults(presets: dict[str, Any]) -> dict[str, Any]:
    """The config that ``presets`` (see :func:`hydra_presets`) give with no other override, resolved: what a run
    changed is what differs from it. Empty presets compose ``conf/config.yaml`` as it is."""
    overrides = [f"{group}={choice}" for group, choice in (presets.get("choices") or {}).items()]
    name = presets.get("config_name") or "config"
    register_configs()
    if GlobalHydra.instance().is_initialized():  # inside the app (or a test's compose): its search path
        cfg = compose(config_name=name, overrides=overrides)
    else:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name=name, overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
