"""The config store: the schema and the ``model/`` group's generator presets, registered with Hydra's ConfigStore.

They live in Python rather than YAML because ``model=auto`` needs the ``tiny`` preset at run time, when it falls back
to it; your own presets can still be YAML files in ``conf/model/`` (they override the schema defaults the same way).
"""
from __future__ import annotations

import dataclasses

from hydra.core.config_store import ConfigStore

from render.config.schema import Config, ModelConfig

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
        width_height=[256, 128], steps=15, skip_steps=0, frames_skip_steps="60%", cutn_batches=1,
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
