"""The guided step without repeated work, and shaped for big GPUs: the same numbers as DD's loop.

- The init's LPIPS features and the unit target embeddings are made once per frame: the gradient equals, bit for
  bit, the step computed as DD computes it (its loop restated below, with ``lpips(x_in, init)`` every step).
- ``batch_cutouts`` draws the same cutouts in the same order (the encoder inputs are compared) and gives the same
  gradient within float32 rounding.
- ``compile`` (torch.compile of the CLIP image encoders) gives the same gradient within float32 rounding.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from render.diffusion.secondary import SecondaryDiffusionImageNet2
from render.guidance.clip_models import ClipSpec, load_clip
from render.guidance.compiled import compile_unavailable
from render.guidance.cond import ClipGuidance, CutSchedules, GuidanceSettings, SecondaryX0
from render.guidance.cutouts import MakeCutoutsDango, dango_augmentations
from render.guidance.losses import spherical_dist_loss
from render.guidance.lpips_loss import LpipsToImage, build_lpips
from render.guidance.targets import TargetBuilder
from transforms.prompts import Prompt

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")
H, W = 64, 96  # not square: the overview letterbox pads


@pytest.fixture(scope="module")
def world():
    torch.manual_seed(0)
    clips = [load_clip(ClipSpec.parse(n), None, CPU) for n in ("tiny-vit-16:random", "tiny-rn:random")]
    secondary = SecondaryDiffusionImageNet2(base_channels=8).eval().requires_grad_(False)
    targets = TargetBuilder(clips, side_x=W, side_y=H).build([Prompt("a lighthouse"), Prompt("fog", 0.5)], [], 0)
    return clips, secondary, targets, build_lpips(None, CPU)


def make_guidance(world, **settings) -> ClipGuidance:
    clips, secondary, targets, lpips = world
    alphas_cumprod = np.linspace(0.99, 0.01, 50)
    cuts = CutSchedules(*(np.full(1000, v) for v in (5, 3, 1.0, 0.34)))
    guidance = ClipGuidance(alphas_cumprod=alphas_cumprod, model_time=lambda i: i.float() * 20,
                            predict_x0=SecondaryX0(secondary, alphas_cumprod), perceptors=clips,
                            settings=GuidanceSettings(**{"cutn_batches": 3, "tv_scale": 10.0, **settings}),
                            cuts=cuts, augment=dango_augmentations("3d"), lpips=lpips)
    init = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(1)) * 2 - 1
    guidance.set_frame(targets, init, 1500.0)
    return guidance


def seeded(guidance: ClipGuidance, x: torch.Tensor, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient at step 20 with torch's generator seeded, and the generator's state afterwards."""
    torch.manual_seed(seed)
    grad = guidance(x, torch.tensor([20]))
    return grad, torch.get_rng_state()


def dd_clip_grad(guidance: ClipGuidance, x_in: torch.Tensor, k: int) -> torch.Tensor:
    """DD's loop as this project ran it before: target embeddings normalised inside every loss, a float per batch."""
    overview, inner, ic_pow, ic_gray = guidance.cuts.at(k)
    total, batches, loss_sum = torch.zeros_like(x_in), guidance.settings.cutn_batches, 0.0
    for perceptor, target in zip(guidance.perceptors, guidance.targets):
        make_cutouts = MakeCutoutsDango(perceptor.input_resolution, overview, inner, ic_pow, ic_gray, guidance.augment)
        for _ in range(batches):
            embeds = perceptor.encode_image(make_cutouts(x_in.add(1).div(2)))
            dists = spherical_dist_loss(embeds[:, None], target.embeds[None])
            losses = dists.view(overview + inner, x_in.shape[0], -1).mul(target.weights).sum(2).mean(0)
            loss_sum += float(losses.detach().sum())
            grad = torch.autograd.grad(losses.sum() * guidance.settings.clip_guidance_scale, x_in)[0]
            total = total + grad / batches
    guidance.stats.clip_losses.append(loss_sum)
    return total


def test_lpips_to_a_fixed_image_is_lpips_bit_for_bit(world):
    lpips = world[3]
    init = torch.rand(1, 3, H, W) * 2 - 1
    x = (torch.rand(1, 3, H, W) * 2 - 1).requires_grad_()
    expected = lpips(x, init)
    got = LpipsToImage(lpips, init)(x)
    assert got.shape == expected.shape == (1, 1, 1, 1) and expected.item() > 0
    assert torch.equal(got, expected)
    assert torch.equal(torch.autograd.grad(got.sum(), x)[0], torch.autograd.grad(expected.sum(), x)[0])


def test_step_with_per_frame_constants_made_once_equals_dds_loop_bit_for_bit(world, monkeypatch):
    x = torch.randn(1, 3, H, W)
    ours = make_guidance(world)
    got, state = seeded(ours, x)
    dd = make_guidance(world)
    monkeypatch.setattr(dd, "_clip_grad", lambda x_in, k: dd_clip_grad(dd, x_in, k))
    monkeypatch.setattr(dd, "lpips_to_init", lambda x_in: dd.lpips(x_in, dd.init))  # VGG on the init every step
    expected, expected_state = seeded(dd, x)
    assert expected.abs().max() > 0
    assert torch.equal(got, expected) and torch.equal(state, expected_state)
    assert ours.stats.clip_losses == dd.stats.clip_losses


def record_inputs(guidance: ClipGuidance) -> list[list[torch.Tensor]]:
    """Wrap the guidance's encoders so that every batch of cutouts they see is kept, per model."""
    seen: list[list[torch.Tensor]] = [[] for _ in guidance.encoders]

    def recording(i, encode):
        return lambda cuts: (seen[i].append(cuts.detach().clone()), encode(cuts))[1]

    guidance.encoders = [recording(i, e) for i, e in enumerate(guidance.encoders)]
    return seen


def test_batched_cutouts_are_dds_cutouts_and_give_its_gradient(world):
    x = torch.randn(1, 3, H, W)
    loop, batched = make_guidance(world), make_guidance(world, batch_cutouts=True)
    loop_inputs, batched_inputs = record_inputs(loop), record_inputs(batched)
    expected, expected_state = seeded(loop, x)
    got, state = seeded(batched, x)
    assert [len(s) for s in loop_inputs] == [3, 3] and [len(s) for s in batched_inputs] == [1, 1]
    for sequential, one_call in zip(loop_inputs, batched_inputs):
        assert torch.equal(torch.cat(sequential), one_call[0])  # the same cutouts, augmentations, order
    assert torch.equal(state, expected_state)  # and nothing more drawn
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert batched.stats.clip_losses == pytest.approx(loop.stats.clip_losses, rel=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(compile_unavailable(CPU) is not None, reason=f"{compile_unavailable(CPU)}")
def test_compiled_encoders_give_the_eager_gradient(world):
    x = torch.randn(1, 3, H, W)
    eager, compiled = make_guidance(world, batch_cutouts=True), make_guidance(world, batch_cutouts=True, compile=True)
    expected, _ = seeded(eager, x)
    got, _ = seeded(compiled, x)
    again, _ = seeded(compiled, x, seed=6)  # a second step reuses the compiled graphs
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert not torch.equal(again, got)


def test_settings_default_to_dds_loop():
    settings = GuidanceSettings()
    assert settings.batch_cutouts is False and settings.compile is False
    assert {f.name for f in dataclasses.fields(settings)} >= {"batch_cutouts", "compile"}
