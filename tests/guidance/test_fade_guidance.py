"""Prompt fades in the guidance: mid-fade, the cond_fn gradient is the weighted sum of the two prompt sets'."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.diffusion.secondary import SecondaryDiffusionImageNet2
from render.guidance.clip_models import ClipSpec, load_clip
from render.guidance.cond import (
    ClipGuidance,
    CutSchedules,
    GuidanceSettings,
    SecondaryX0,
)
from render.guidance.targets import TargetBuilder, mix_targets
from render.output.plots import prompt_fade_panels
from transforms.prompts import evaluate_prompt_schedule

CPU = torch.device("cpu")


def guidance_for(perceptors):
    torch.manual_seed(0)
    secondary = SecondaryDiffusionImageNet2(base_channels=8).eval()
    alphas_cumprod = np.linspace(0.99, 0.01, 50)
    cuts = CutSchedules(*(np.full(1000, v) for v in (2, 2, 1.0, 0.0)))
    return ClipGuidance(alphas_cumprod=alphas_cumprod, model_time=lambda i: i.float() * 20,
                        predict_x0=SecondaryX0(secondary, alphas_cumprod), perceptors=perceptors,
                        settings=GuidanceSettings(clip_guidance_scale=1000.0, range_scale=50.0, tv_scale=10.0,
                                                  cutn_batches=2, clamp_grad=False),
                        cuts=cuts, augment=None)


def test_mid_fade_gradient_is_the_weighted_sum_of_both_sets():
    perceptors = [load_clip(ClipSpec.parse(n), None, CPU) for n in ("tiny-vit-32:random", "tiny-rn:random")]
    assert all(p.dtype == torch.float32 for p in perceptors[0].model.parameters())
    schedule = evaluate_prompt_schedule({0: ["a red square:2", "noise:-1"], "4 fade 6 ease_in_out": ["a blue circle"]}, 12)
    old, new = schedule.sets_at(6)
    u = new.weight
    assert 0 < u < 1 and old.weight == pytest.approx(1 - u) and u == pytest.approx(4 * (3 / 6) ** 3)
    builder = TargetBuilder(perceptors, side_x=64, side_y=64)
    old_targets, new_targets = builder.build(old.prompts, (), 0), builder.build(new.prompts, (), 4)
    guidance = guidance_for(perceptors)
    x, index = torch.randn(1, 3, 64, 64) * 0.5, torch.tensor([12])

    def grad(targets):
        guidance.set_frame(targets, None, 0.0)
        torch.manual_seed(1)  # the same cutouts for every call
        return guidance(x, index)

    mixed = grad(mix_targets([(old_targets, old.weight), (new_targets, new.weight)]))
    expected = old.weight * grad(old_targets) + new.weight * grad(new_targets)
    assert mixed.abs().max() > 0
    assert torch.allclose(mixed, expected, rtol=1e-4, atol=1e-6 * expected.abs().max().item())
    assert not torch.allclose(mixed, grad(new_targets), rtol=1e-2)


def test_frames_target_both_sets_and_schedules_png_shows_the_fade(compose_config, tmp_path, monkeypatch):
    cfg = compose_config("width=128", "height=64", "animation.max_frames=8", "seed=1", "generator=preview",
                         "animation=2d_zoom", "output=png", "prompt_blend=4",
                         'text_prompts={0: [a red square], 2 fade 2s: [a blue circle], 6: [a green star]}')
    plan = plan_and_resolve(to_settings(cfg))
    mix = plan.params(3).prompt_mix  # key 2 fades over 2 s = 24 frames, shortened to the 4 frames before key 6
    assert [m.weight for m in mix] == pytest.approx([1 / 2, 1 / 2])
    assert [m.text[0].text for m in mix] == ["a red square", "a blue circle"] and [m.since for m in mix] == [0, 2]
    assert [m.weight for m in plan.params(6).prompt_mix] == pytest.approx([3 / 4, 1 / 4])  # the default 4 frames
    panels, spans = prompt_fade_panels(text_prompts=plan.text_prompts, image_prompts=plan.image_prompts)
    assert spans == [(2, 4), (6, 7)]
    assert list(panels) == ["text_prompts: weight of the incoming key (fades)"]
    calls = []
    import render.output.plots as plots

    real_plot = plots.plot_schedules
    monkeypatch.setattr(plots, "plot_schedules", lambda *a, **k: calls.append(k) or real_plot(*a, **k))
    result = render_animation(cfg, tmp_path / "run", progress=False)
    assert calls[0]["prompt_fades"] == [(2, 4), (6, 7)]
    from PIL import Image

    with Image.open(result.run_dir / "schedules.png") as img:
        assert img.size[0] > 100


def test_bad_default_span_is_named(compose_config):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config("generator=preview", "prompt_blend=soon")))
    assert [i.setting for i in err.value.issues] == ["prompt_blend"]
