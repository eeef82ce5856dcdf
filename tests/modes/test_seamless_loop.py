"""Seamless loops: the init blend of the loop frames (exact), resume, frame 0's CLIP target, the seam metric."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from render.app import render_animation
from render.builders import build_mode
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.disk.quantize import image_to_frame
from render.modes.seamless_loop import LoopMode
from transforms.camera2d import warp2d
from transforms.camera3d import warp3d

CPU = torch.device("cpu")
BASE = ["width=64", "height=64", "animation.max_frames=6", "seed=3", "generator=preview", "output=png",
        "animation.loop=true", "animation.loop_frames=3", "animation.loop_init_blend=0.8", "animation.loop_scale=0.6"]


def frames(n):
    rng = np.random.default_rng(0)
    return [image_to_frame(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(n)]


def reversed_warp(mode_name, image, p):
    """Frame 0 one camera step back, written out with the camera functions themselves."""
    if mode_name == "2d":
        return warp2d(image, -p["animation.angle"], 1 / p["animation.zoom"], -p["animation.translation_x"],
                      -p["animation.translation_y"])
    translation = tuple(-p[f"animation.translation_{a}"] for a in "xyz")
    rotation = tuple(-p[f"animation.rotation_3d_{a}"] for a in "xyz")
    out = warp3d(image, torch.ones(1, 1, 64, 64), translation, rotation, fov=p["animation.fov"], near=200.0,
                 far=10000.0, padding_mode="border", sampling_mode="bicubic")
    return out.mul(255).to(torch.uint8).float().div(255)


@pytest.mark.parametrize("preset", ["animation=2d_zoom", "animation=3d_zoom"])
def test_loop_frames_init_is_the_documented_blend(compose_config, preset):
    overrides = [preset, *BASE, "depth=flat", 'animation.angle="0: (2)"', 'animation.translation_x="0: (1.5)"', 'animation.rotation_3d_y="0: (1)"']
    settings = to_settings(compose_config(*overrides))
    plan = plan_and_resolve(settings)
    looped = build_mode(settings, plan).mode
    plain = build_mode(to_settings(compose_config(*overrides, "animation.loop=false")), plan).mode
    assert isinstance(looped, LoopMode) and not isinstance(plain, LoopMode)
    made = frames(6)
    for f in range(6):
        p = plan.params(f)
        init, expected = looped.prepare(p), plain.prepare(p)
        ramp = max(0, f - 2) / 3  # frames 3, 4, 5 are the loop frames: 1/3, 2/3, 1
        if ramp == 0:
            assert torch.equal(init.image, expected.image) if f else init.image is None
            assert init.target is None
        else:
            b = 0.8 * ramp
            back = reversed_warp(settings.animation.mode.value, made[0], p)
            blend = torch.round((back * b + expected.image * (1 - b)) * 255).clamp(0, 255) / 255
            assert torch.equal(init.image, blend), f"frame {f}"
            assert torch.equal(init.target, made[0]) and init.target_weight == pytest.approx(0.6 * ramp)
        looped.commit(made[f], p)
        plain.commit(made[f], p)


def test_resumed_loop_blends_the_same(compose_config):
    settings = to_settings(compose_config("animation=2d_zoom", *BASE))
    plan = plan_and_resolve(settings)
    mode = build_mode(settings, plan).mode
    made = frames(4)
    for f in range(4):
        mode.prepare(plan.params(f))
        mode.commit(made[f], plan.params(f))
    state = mode.state_dict()
    resumed = build_mode(settings, plan).mode
    resumed.load_state_dict(state, CPU)
    assert torch.equal(resumed.prepare(plan.params(4)).image, mode.prepare(plan.params(4)).image)


def test_frame0_target_pulls_the_clip_embedding_toward_frame0():
    from render.diffusion.secondary import SecondaryDiffusionImageNet2
    from render.guidance.clip_models import ClipSpec, load_clip
    from render.guidance.cond import (
        ClipGuidance,
        CutSchedules,
        GuidanceSettings,
        SecondaryX0,
    )
    from render.guidance.losses import spherical_dist_loss
    from render.guidance.targets import TargetBuilder

    torch.manual_seed(0)
    perceptor = load_clip(ClipSpec.parse("tiny-vit-32:random"), None, CPU)
    first = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8), size=64, mode="bicubic").clamp(0, 1)
    targets = TargetBuilder([perceptor], side_x=64, side_y=64).image_targets(first, seed=5)
    assert targets[0].embeds.shape[0] == 16 and targets[0].weights.sum().item() == pytest.approx(1.0)
    alphas = np.linspace(0.99, 0.01, 50)
    guidance = ClipGuidance(alphas_cumprod=alphas, model_time=lambda i: i.float() * 20,
                            predict_x0=SecondaryX0(SecondaryDiffusionImageNet2(base_channels=8).eval(), alphas),
                            perceptors=[perceptor], cuts=CutSchedules(*(np.full(1000, v) for v in (2, 2, 1.0, 0.0))),
                            settings=GuidanceSettings(clip_guidance_scale=1000.0, range_scale=0.0, cutn_batches=1,
                                                      clamp_grad=False), augment=None)
    guidance.set_frame(targets, None, 0.0)
    x = torch.randn(1, 3, 64, 64) * 0.5
    with torch.no_grad():
        goal = perceptor.encode_image(first)

    def distance(img):
        with torch.no_grad():
            return spherical_dist_loss(perceptor.encode_image((img + 1) / 2), goal).item()

    grad = guidance(x, torch.tensor([10]))
    step = 0.01 / grad.square().mean().sqrt()  # a small step along the gradient (larger ones overshoot)
    assert distance(x + step * grad) < distance(x) < distance(x - step * grad)


def test_run_json_reports_the_seam_next_to_the_median_flicker(compose_config, tmp_path):
    from render.output.quality import pair_flicker, read_frame

    result = render_animation(compose_config("animation=2d_zoom", *BASE, "output.quality=true"), tmp_path / "run",
                              progress=False)
    metrics = json.loads((result.run_dir / "run.json").read_text())["metrics"]
    frames_dir = result.run_dir / "frames"
    seam = pair_flicker(read_frame(frames_dir / "00005.png"), read_frame(frames_dir / "00000.png"))
    assert metrics["loop_flicker"] == pytest.approx(round(seam, 3))
    assert metrics["flicker_median"] is not None and metrics["flicker_median"] >= 0


def test_the_diffusion_generator_adds_frame0s_target(compose_config, tmp_path, monkeypatch, one_thread):
    from render.guidance.cond import ClipGuidance

    seen = []
    real = ClipGuidance.set_frame
    monkeypatch.setattr(ClipGuidance, "set_frame", lambda self, targets, *a: seen.append(targets) or
                        real(self, targets, *a))
    render_animation(compose_config("animation=2d_zoom", "model=tiny", "width=64", "height=64", "seed=3",
                                    "animation.max_frames=3", "animation.loop=true", "animation.loop_frames=1",
                                    "model.steps=4", "output=png", "output.quality=false", "output.previews=false",
                                    "animation.loop_scale=0.5", "text_prompts={0: [a lighthouse]}"),
                     tmp_path / "run", progress=False)
    plain, last = seen[1][0], seen[2][0]
    assert len(plain.weights) == 1 and len(last.weights) == 1 + 16
    assert torch.equal(last.weights[:1], plain.weights) and last.weights[1:].sum().item() == pytest.approx(0.5)


@pytest.mark.parametrize("overrides, setting", [
    (["animation=none", "animation.loop=true", "animation.loop_frames=2"], "animation.loop"),
    (["animation=2d_zoom", "animation.loop=true", "animation.loop_frames=6"], "animation.loop_frames"),
    (["animation=2d_zoom", "animation.loop=true", "animation.loop_frames=2", "animation.loop_init_blend=1.5"],
     "animation.loop_init_blend"),
])
def test_bad_loop_settings_are_named(compose_config, overrides, setting):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config("animation.max_frames=6", "generator=preview", *overrides)))
    assert [i.setting for i in err.value.issues] == [setting]
