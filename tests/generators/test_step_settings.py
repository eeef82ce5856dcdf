"""``model.batch_cutouts`` and ``model.compile`` reach the guided step; compile without a toolchain is a named error."""
from __future__ import annotations

import pytest
import torch

from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.generators.diffusion import DiffusionGenerator
from render.generators.networks import load_networks
from render.guidance import compiled

TINY = ["model=tiny", "width=128", "height=64", "animation.max_frames=2", "model.steps=10", "animation=none"]


def generator(compose_config, *overrides) -> DiffusionGenerator:
    plan = plan_and_resolve(to_settings(compose_config(*TINY, *overrides)))
    networks = load_networks(plan.diffusion, torch.device("cpu"), plan.precisions, progress=False)
    return DiffusionGenerator(networks, plan, "none", progress=False)


def test_dds_loop_and_eager_networks_by_default(compose_config):
    gen = generator(compose_config)
    assert not gen.guidance.settings.batch_cutouts and not gen.guidance.settings.compile
    assert isinstance(gen.denoiser.model, torch.nn.Module) and not hasattr(gen.denoiser.model, "_orig_mod")
    assert gen.guidance.encoders == [p.encode_image for p in gen.guidance.perceptors]


@pytest.mark.skipif(compiled.compile_unavailable(torch.device("cpu")) is not None, reason="no C++ compiler here")
def test_settings_reach_the_step(compose_config):
    gen = generator(compose_config, "model.batch_cutouts=true", "model.compile=true")
    assert gen.guidance.settings.batch_cutouts and gen.guidance.settings.compile
    unet = gen.denoiser.model  # torch.compile's wrapper around the very network loaded (compiled on first call)
    assert hasattr(unet, "_orig_mod") and isinstance(unet._orig_mod, torch.nn.Module)
    assert hasattr(gen.guidance.predict_x0.model, "_orig_mod")  # the secondary model
    assert all(e is not p.encode_image for e, p in zip(gen.guidance.encoders, gen.guidance.perceptors))


def test_compile_without_a_toolchain_is_a_named_error(compose_config, monkeypatch):
    monkeypatch.setattr(compiled.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(ConfigErrors) as info:
        plan_and_resolve(to_settings(compose_config(*TINY, "model.compile=true")))
    issue = next(i for i in info.value.issues if i.setting == "model.compile")
    assert "C++ compiler" in issue.problem and "model.compile=false" in issue.fix
