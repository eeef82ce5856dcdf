"""DD's ``diffusion_model='custom'``: a checkpoint of the user's own with its UNet settings, checked strictly before
any model loads, then loaded and rendered."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.diffusion.unet import UNetConfig, UNetModel
from render.generators.networks import load_networks, rerandomize_

ARCH = dict(image_size=64, num_channels=32, num_res_blocks=1, attention_resolutions="8", num_head_channels=32,
            learn_sigma=True, use_scale_shift_norm=True, resblock_updown=True)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = UNetConfig(image_size=64, model_channels=32, num_res_blocks=1, attention_resolutions=(8,),
                        num_head_channels=32, learn_sigma=True, use_scale_shift_norm=True, resblock_updown=True)
    model = rerandomize_(UNetModel(config), seed=9)
    path = tmp_path_factory.mktemp("custom") / "my_finetune.pt"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


def custom_args(path, **arch):
    settings = {**ARCH, **arch}
    return ["model=tiny", "model.diffusion_model=custom", f"model.custom_path={path}", "model.use_secondary_model=false",
            "width=128", "height=64",
            "animation.max_frames=1", "model.steps=4", "seed=3", "output=png",
            *(f"model.custom_model.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in settings.items())]


def test_a_custom_checkpoint_loads_strictly_and_renders(compose_config, checkpoint, tmp_path):
    path, state = checkpoint
    cfg = compose_config("animation=none", *custom_args(path))
    plan = plan_and_resolve(to_settings(cfg))
    assert plan.diffusion.files["custom"] == path and (plan.width, plan.height) == (128, 64)
    networks = load_networks(plan.diffusion, torch.device("cpu"), plan.precisions, progress=False)
    loaded = networks.unet.state_dict()
    assert set(loaded) == set(state) and all(torch.equal(loaded[k].float(), state[k].float()) for k in state
                                             if loaded[k].dtype == torch.float32)
    result = render_animation(cfg, tmp_path / "run", progress=False)
    frame = np.asarray(Image.open(tmp_path / "run" / "frames" / "00000.png"))
    assert frame.shape == (64, 128, 3) and frame.std() > 0
    assert not list(path.parent.glob("*.sha256"))  # nothing written beside the user's file
    assert result is not None


def test_a_mismatched_architecture_is_named_with_its_keys(compose_config, checkpoint):
    path, _ = checkpoint

    def problem(**arch) -> str:
        with pytest.raises(ConfigErrors) as err:
            plan_and_resolve(to_settings(compose_config("animation=none", *custom_args(path, **arch))))
        text = str(err.value)
        assert "model.custom_path" in text and "does not load strictly" in text
        return text

    text = problem(num_res_blocks=2)  # a second res block per level: its keys are missing
    assert "missing keys: 130: input_blocks.10.0.emb_layers.1.bias" in text and "unexpected keys: 30:" in text
    text = problem(learn_sigma=False)  # 3 output channels instead of 6
    assert "missing keys: none" in text and "unexpected keys: none" in text
    assert "shape mismatches: 2: out.2.bias: (6,) != (3,), out.2.weight: (6, 32, 3, 3) != (3, 32, 3, 3)" in text


@pytest.mark.parametrize("path, problem", [(None, "needs the checkpoint's path"), ("nowhere.pt", "file not found"),
                                           ("garbage", "cannot be read as a checkpoint")])
def test_bad_custom_paths_are_named(compose_config, tmp_path, path, problem):
    if path == "garbage":
        path = tmp_path / "garbage.pt"
        path.write_bytes(b"not a checkpoint" * 10)
    args = custom_args(path) if path else [a for a in custom_args("x") if not a.startswith("model.custom_path")]
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config("animation=none", *args)))
    assert "model.custom_path" in str(err.value) and problem in str(err.value)
