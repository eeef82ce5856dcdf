"""The diffusion generator end to end with model=tiny, model=auto's fallback, and refusal of missing real weights."""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from flow.extract import probe_video
from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.diffusion import samplers

TINY_DIFFUSION = ["model=tiny", "width=128", "height=64", "animation.max_frames=3", "seed=7", "model.steps=10",
                  "output.preset=ultrafast"]


def frames_of(run_dir):
    return [np.asarray(Image.open(p)) for p in sorted((run_dir / "frames").glob("*.png"))]


def test_tiny_diffusion_renders_a_video_deterministically(compose_config, tmp_path):
    cfg = compose_config("animation=3d_zoom", *TINY_DIFFUSION)
    result = render_animation(cfg, tmp_path / "a", progress=False)
    assert probe_video(result.video).frames == 3
    render_animation(cfg, tmp_path / "b", progress=False)
    a, b = frames_of(tmp_path / "a"), frames_of(tmp_path / "b")
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), "same config and seed must give the same frames"
    other_seed = compose_config("animation=3d_zoom", *TINY_DIFFUSION, "seed=8", "animation.max_frames=1", "output=png")
    render_animation(other_seed, tmp_path / "c", progress=False)
    assert not np.array_equal(a[0], frames_of(tmp_path / "c")[0])


def test_frames_use_dd_skip_steps_and_the_warped_init(compose_config, tmp_path, monkeypatch):
    calls = []
    original = samplers.prepare_start

    def spy(schedule, noise, init=None, skip_steps=0):
        calls.append((skip_steps, None if init is None else init.detach().clone()))
        return original(schedule, noise, init, skip_steps)

    monkeypatch.setattr("render.generators.diffusion.prepare_start", spy)
    render_animation(compose_config("animation=2d_zoom", *TINY_DIFFUSION, "model.skip_steps=2",
                                    "model.frames_skip_steps=60%", "output=png"), tmp_path, progress=False)
    assert [skip for skip, _ in calls] == [2, 6, 6]  # frame 0: skip_steps; later frames: floor(10 * 60%)
    assert calls[0][1] is None and calls[1][1] is not None  # frame 0 from noise, frame 1 from the warped frame 0
    assert calls[1][1].min() >= -1 and calls[1][1].max() <= 1


def test_guidance_changes_the_picture(compose_config, tmp_path):
    base = ["animation=none", *TINY_DIFFUSION, "animation.max_frames=1", "output=png"]
    render_animation(compose_config(*base), tmp_path / "guided", progress=False)
    render_animation(compose_config(*base, "model.clip_guidance_scale=0", "model.range_scale=0"), tmp_path / "free",
                     progress=False)
    guided, free = frames_of(tmp_path / "guided")[0], frames_of(tmp_path / "free")[0]
    assert np.abs(guided.astype(int) - free.astype(int)).mean() > 0.5


def asymmetry(image: np.ndarray) -> float:
    """Mean absolute difference between an image and its left-right mirror."""
    return float(np.abs(image.astype(int) - image[:, ::-1].astype(int)).mean())


def test_symmetry_mirrors_the_left_half_once_at_its_step(compose_config, tmp_path, monkeypatch):
    from render.generators import diffusion as gen_module

    seen = []
    original = gen_module.mirror_symmetry

    def spy(x, **kw):
        out = original(x, **kw)
        seen.append((x.clone(), out.clone()))
        return out

    monkeypatch.setattr(gen_module, "mirror_symmetry", spy)
    base = ["animation=none", *TINY_DIFFUSION, "output=png", "animation.max_frames=1"]
    render_animation(compose_config(*base, "model.use_horizontal_symmetry=true", "model.transformation_percent=[0.5]"),
                     tmp_path / "sym", progress=False)
    assert len(seen) == 1  # one point, once
    before, after = seen[0]
    half = before.shape[-1] // 2
    assert torch.equal(after[..., :half], before[..., :half])  # the left half kept
    assert torch.equal(after[..., half:], before[..., :half].flip(-1))  # and mirrored onto the right
    render_animation(compose_config(*base), tmp_path / "plain", progress=False)
    sym, plain = frames_of(tmp_path / "sym")[0], frames_of(tmp_path / "plain")[0]
    assert asymmetry(sym) < 0.5 * asymmetry(plain)  # the frame itself is far more symmetric


def test_plms_samples_differently_and_ignores_symmetry_as_dd(compose_config, tmp_path, monkeypatch):
    base = ["animation=none", *TINY_DIFFUSION, "output=png", "animation.max_frames=1"]
    calls = []
    monkeypatch.setattr("render.generators.diffusion.sample_plms",
                        lambda *a, **kw: calls.append(kw) or samplers.sample_plms(*a, **kw))
    render_animation(compose_config(*base, "model.diffusion_sampling_mode=plms"), tmp_path / "plms", progress=False)
    render_animation(compose_config(*base, "model.diffusion_sampling_mode=plms", "model.use_horizontal_symmetry=true",
                                    "model.transformation_percent=[0.5]"), tmp_path / "plms_sym", progress=False)
    render_animation(compose_config(*base), tmp_path / "ddim", progress=False)
    assert calls == [{"order": 2}, {"order": 2}]  # DD's PLMS order
    plms, plms_sym, ddim = (frames_of(tmp_path / d)[0] for d in ("plms", "plms_sym", "ddim"))
    assert np.array_equal(plms, plms_sym)  # DD's PLMS loop takes no transformation_fn
    assert np.abs(plms.astype(int) - ddim.astype(int)).mean() > 0.5


def test_auto_falls_back_to_tiny_with_a_loud_warning(compose_config, tmp_path):
    cfg = compose_config("animation=none", f"model.models_dir={tmp_path / 'empty'}", "model=auto")
    plan = plan_and_resolve(to_settings(cfg))
    assert plan.diffusion.model.diffusion_model == "tiny"
    assert (plan.width, plan.height) == (256, 128)  # the tiny preset's size
    warning = "\n".join(plan.warnings)
    for name in ("512x512_diffusion_uncond_finetune_008100.pt", "secondary_model_imagenet_2.pth", "RN50.pt"):
        assert name in warning
    assert "python -m render.models" in warning


def test_auto_uses_the_real_preset_when_its_files_are_present(compose_config, tmp_path, monkeypatch):
    from render.config.diffusion_plan import required_files
    from render.config.presets import model_preset
    from render.models import registry

    placeholder = hashlib.sha256(b"placeholder").hexdigest()
    for key in required_files(model_preset("disco512"), lpips=True):
        file = registry.lookup(key)  # the registry made to describe the placeholder, so that it verifies
        monkeypatch.setitem(registry.REGISTRY, file.key, dataclasses.replace(file, sha256=placeholder, size=None,
                                                                             sha256_prefix=None))
        (tmp_path / file.filename).write_bytes(b"placeholder")
    plan = plan_and_resolve(to_settings(compose_config(f"model.models_dir={tmp_path}", "model=auto")))
    assert plan.diffusion.model.diffusion_model == "512x512_diffusion_uncond_finetune_008100"
    assert plan.diffusion.fallback is None and plan.diffusion.missing == ()


def test_named_real_preset_never_falls_back(compose_config, tmp_path):
    cfg = compose_config("model=disco512", f"model.models_dir={tmp_path}", "model.download=false")
    with pytest.raises(ConfigErrors) as info:
        plan_and_resolve(to_settings(cfg))
    text = str(info.value)
    assert "512x512_diffusion_uncond_finetune_008100.pt" in text and str(tmp_path) in text
    assert "9c111ab89e214862b76e1fa6a1b3f1d329b1a88281885943d2cdbe357ad57648" in text  # its sha256


@pytest.mark.parametrize("override, setting", [
    ('model.cut_overview="[12]*400"', "model.cut_overview"),
    ("model.frames_skip_steps=100%", "model.frames_skip_steps"),
    ("model.skip_steps=20", "model.skip_steps"),
    ("model.clip_models=[ViT-B-32]", "model.clip_models"),
    ("model.clip_models=[NoSuchNet:openai]", "model.clip_models"),
    ("model.diffusion_model=512x512_diffusion", "model.diffusion_model"),
    ("model.precision=fp16", "model.precision"),
])
def test_model_settings_are_validated_before_loading(compose_config, override, setting):
    if "fp16" in override and torch.cuda.is_available():
        pytest.skip("fp16 is valid with CUDA")
    with pytest.raises(ConfigErrors) as info:
        plan_and_resolve(to_settings(compose_config("model=tiny", "model.steps=20", override)))
    assert setting in {i.setting for i in info.value.issues}


def test_guidance_x0_is_never_clamped_and_the_secondary_stays_fp32(compose_config):
    """DD's cond_fn asks the UNet for x0 with clip_denoised=False whatever the sampler does; the secondary model is
    float32 at any model.precision."""
    from render.generators.diffusion import DiffusionGenerator
    from render.generators.networks import load_networks
    from render.guidance.cond import UNetX0

    for secondary in (False, True):
        plan = plan_and_resolve(to_settings(compose_config(
            "animation=none", *TINY_DIFFUSION, "model.clip_denoised=true", "model.precision=bf16",
            f"model.use_secondary_model={str(secondary).lower()}")))
        networks = load_networks(plan.diffusion, torch.device("cpu"), plan.precisions, progress=False)
        gen = DiffusionGenerator(networks, plan, "none", progress=False)
        assert gen.denoiser.clip_denoised  # the sampler clamps, as asked
        if secondary:
            assert {p.dtype for p in networks.secondary.parameters()} == {torch.float32}
            continue
        predict = gen.guidance.predict_x0
        assert isinstance(predict, UNetX0) and not predict.denoiser.clip_denoised
        x = torch.randn(1, 3, 64, 128) * 40  # far out of range: the UNet's x0 leaves [-1, 1]
        index = torch.tensor([gen.schedule.num_timesteps - 1])
        with torch.no_grad():
            raw, clamped = predict(x, index), gen.denoiser(x, index).model_pred_xstart
        assert raw.abs().max() > 1 and clamped.abs().max() <= 1
