"""CLIP guidance pieces: cut schedules, cutouts, losses, targets, the secondary model and the cond_fn gradient."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from render.diffusion.secondary import SecondaryDiffusionImageNet2, alpha_sigma_to_t
from render.guidance.clip_models import ClipSpec, load_clip
from render.guidance.cond import (
    ClipGuidance,
    CutSchedules,
    GuidanceSettings,
    SecondaryX0,
)
from render.guidance.cut_schedules import (
    CutScheduleError,
    parse_cut_schedule,
    schedule_index,
)
from render.guidance.cutouts import MakeCutouts, MakeCutoutsDango, clip_normalize
from render.guidance.losses import (
    range_loss,
    saturation_loss,
    spherical_dist_loss,
    tv_loss,
)
from render.guidance.targets import TargetBuilder
from transforms.prompts import Prompt

CPU = torch.device("cpu")


# --- cut schedules ---------------------------------------------------------------------------------------------

def test_dd_default_cut_schedules():
    overview = parse_cut_schedule("[12]*400+[4]*600")
    assert overview.shape == (1000,) and overview.dtype == np.int64
    assert overview[0] == 12 and overview[399] == 12 and overview[400] == 4 and overview[999] == 4
    gray = parse_cut_schedule("[0.2]*400+[0]*600", integer=False)
    assert gray[399] == pytest.approx(0.2) and gray[400] == 0
    pulp = parse_cut_schedule("[15]*100+[15]*100+[12]*100+[12]*100+[6]*100+[4]*100+[2]*200+[0]*200")
    assert list(pulp[[0, 250, 450, 550, 700, 999]]) == [15, 12, 6, 4, 2, 0]
    assert list(parse_cut_schedule("5")[:3]) == [5, 5, 5] and parse_cut_schedule("1000*[3]")[999] == 3


def test_schedule_index_is_dds():
    assert schedule_index(996.0) == 3  # 250 steps: the first model time is 996
    assert schedule_index(0.0) == 999


@pytest.mark.parametrize("text", ["[12]*400", "[12]*400+[4]*601", "__import__('os').system('x')", "[1]*10**9",
                                  "[a]*1000", "[1.5]*1000", "[-1]*1000", "lambda: [1]*1000", "[12]*1e3"])
def test_bad_cut_schedules_are_rejected_without_eval(text):
    with pytest.raises(CutScheduleError):
        parse_cut_schedule(text)


# --- losses against hand-computed values ---------------------------------------------------------------------------

def test_spherical_distance():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    # unit vectors 90 degrees apart: |a-b| = sqrt(2); 2*asin(sqrt(2)/2)^2 = 2*(pi/4)^2
    assert spherical_dist_loss(a, b).item() == pytest.approx(2 * (math.pi / 4) ** 2)
    assert spherical_dist_loss(a, a * 3).item() == pytest.approx(0.0, abs=1e-6)


def test_tv_range_saturation():
    x = torch.zeros(1, 1, 2, 2)
    x[0, 0, 0, 1] = 1.0  # one step right of (0,0), one step down to (1,1) from (0,1) -> replicate-padded
    # dx^2: (0,0)->1, (0,1)->0 (padded), (1,0)->0, (1,1)->0; dy^2: (0,1)->1; mean over 4 pixels = 2/4
    assert tv_loss(x).item() == pytest.approx(0.5)
    y = torch.tensor([[[[1.5, -2.0], [0.0, 0.5]]]])
    assert range_loss(y).item() == pytest.approx((0.5**2 + 1.0**2) / 4)
    assert saturation_loss(y).item() == pytest.approx((0.5 + 1.0) / 4)


# --- cutouts -------------------------------------------------------------------------------------------------------

def test_dango_cutout_counts_overview_variants_and_gray():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 128)
    cuts = MakeCutoutsDango(32, overview=4, inner_crop=5, ic_size_pow=1.0, ic_grey_p=0.4, augment=None)(x)
    assert cuts.shape == (9, 3, 32, 32)
    plain, gray, flipped, gray_flipped = cuts[:4]
    assert torch.allclose(flipped, plain.flip(-1)) and torch.allclose(gray_flipped, gray.flip(-1))
    assert torch.allclose(gray[0], gray[1]) and not torch.allclose(plain[0], plain[1])
    # letterboxed: the 64x128 image is padded to 128x128, so the top and bottom quarters are black
    assert plain[:, :6].abs().max() < 1e-6 and plain[:, 10:22].abs().mean() > 0.1
    inner = cuts[4:]
    is_gray = [bool(torch.allclose(c[0], c[1])) for c in inner]
    assert is_gray == [True, True, False, False, False]  # round(0.4*5) = 2 gray crops, the first ones


def test_no_gray_crop_at_zero_probability():
    # DD's i <= int(p*n) made the first crop gray even at p=0
    cuts = MakeCutoutsDango(16, overview=0, inner_crop=4, ic_size_pow=1.0, ic_grey_p=0.0, augment=None)(
        torch.rand(1, 3, 48, 48))
    assert not any(torch.allclose(c[0], c[1]) for c in cuts)


def test_overview_above_four_repeats_plain_view():
    cuts = MakeCutoutsDango(16, overview=6, inner_crop=0, ic_size_pow=1.0, ic_grey_p=0.0, augment=None)(
        torch.rand(1, 3, 32, 32))
    assert cuts.shape[0] == 6 and all(torch.equal(cuts[0], c) for c in cuts)


def test_image_prompt_cutouts():
    torch.manual_seed(1)
    cuts = MakeCutouts(24, cutn=16)(torch.rand(1, 3, 40, 60))
    assert cuts.shape == (16, 3, 24, 24)
    # the last 3 (i > 16 - 4) are the whole padded image: identical
    assert torch.equal(cuts[13], cuts[14]) and torch.equal(cuts[14], cuts[15])


def test_clip_normalize():
    x = torch.full((1, 3, 2, 2), 0.48145466)
    assert clip_normalize(x)[0, 0].abs().max() < 1e-6


# --- secondary model -----------------------------------------------------------------------------------------------

def expected_secondary_keys(n_levels=5):
    keys = {"timestep_embed.weight"}
    convs = ["net.0.0", "net.1.0", "net.3.0", "net.4"]

    def level(prefix, depth):
        names = [f"{prefix}.main.1.0", f"{prefix}.main.2.0"]
        if depth == n_levels:
            return names + [f"{prefix}.main.3.0", f"{prefix}.main.4.0"]
        return names + level(f"{prefix}.main.3", depth + 1) + [f"{prefix}.main.4.0", f"{prefix}.main.5.0"]

    for conv in convs + level("net.2", 1):
        keys |= {f"{conv}.weight", f"{conv}.bias"}
    return keys


def test_secondary_layout_matches_the_checkpoint():
    model = SecondaryDiffusionImageNet2()
    assert set(model.state_dict()) == expected_secondary_keys()
    assert sum(p.numel() for p in model.parameters()) == 13_841_547  # reference §6: 13.84 M
    assert model.state_dict()["net.2.main.3.main.3.main.3.main.3.main.1.0.weight"].shape == (512, 256, 3, 3)


def test_secondary_loads_a_saved_state_dict_strict(tmp_path):
    saved = SecondaryDiffusionImageNet2(base_channels=8)
    torch.save(saved.state_dict(), tmp_path / "secondary.pth")
    loaded = SecondaryDiffusionImageNet2(base_channels=8)
    loaded.load_state_dict(torch.load(tmp_path / "secondary.pth"), strict=True)
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([0.3, 0.7])
    assert torch.equal(saved(x, t).pred, loaded(x, t).pred)


def test_secondary_v_parameterisation():
    model = SecondaryDiffusionImageNet2(base_channels=8)
    x, t = torch.randn(1, 3, 32, 32), torch.tensor([0.25])
    out = model(x, t)
    a, s = math.cos(math.pi / 8), math.sin(math.pi / 8)
    assert torch.allclose(out.pred, x * a - out.v * s, atol=1e-6)
    assert torch.allclose(out.eps, x * s + out.v * a, atol=1e-6)
    assert alpha_sigma_to_t(torch.tensor(a), torch.tensor(s)).item() == pytest.approx(0.25)


# --- targets -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_clips():
    return [load_clip(ClipSpec.parse(n), None, CPU) for n in ("tiny-vit-32:random", "tiny-rn:random")]


def test_text_targets_weights_are_normalised_and_cached(tiny_clips):
    builder = TargetBuilder(tiny_clips, side_x=64, side_y=64)
    targets = builder.build([Prompt("a lighthouse", 2.0), Prompt("yellow", -1.0)], [], seed=1)
    assert len(targets) == 2
    assert torch.allclose(targets[0].weights, torch.tensor([2.0, -1.0]))  # divided by |2 - 1| = 1
    assert targets[0].embeds.shape == (2, 32)
    assert torch.allclose(targets[0].embeds[0], tiny_clips[0].encode_text(["a lighthouse"])[0], atol=1e-5)
    assert builder.build([Prompt("a lighthouse", 2.0), Prompt("yellow", -1.0)], [], seed=1) is targets


def test_fuzzy_prompts_and_image_prompts(tiny_clips, tmp_path):
    Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)).save(tmp_path / "p.png")
    fuzzy = TargetBuilder(tiny_clips, side_x=64, side_y=64, fuzzy_prompt=True, rand_mag=0.05)
    t = fuzzy.build([Prompt("x", 1.0)], [Prompt(str(tmp_path / "p.png"), 3.0)], seed=2)[0]
    assert t.embeds.shape == (25 + 25 * 16, 32)
    assert t.weights.sum().item() == pytest.approx(1.0)
    # one text prompt (weight 1) and 16 cuts of weight 3/16 each, each fuzzed 25 times; normalised by |sum|
    assert t.weights[0].item() == pytest.approx(1 / (25 + 25 * 3))
    assert t.embeds.min() < 0  # DD clamped fuzzy embeddings to [0, 1]; not here
    again = TargetBuilder(tiny_clips, side_x=64, side_y=64, fuzzy_prompt=True, rand_mag=0.05)
    assert torch.equal(again.build([Prompt("x", 1.0)], [Prompt(str(tmp_path / "p.png"), 3.0)], seed=2)[0].embeds,
                       t.embeds)  # seeded: a cache miss gives the same targets


# --- the cond_fn ---------------------------------------------------------------------------------------------------

def make_guidance(perceptors, secondary, **settings):
    alphas_cumprod = np.linspace(0.99, 0.01, 50)
    cuts = CutSchedules(*(np.full(1000, v) for v in (2, 2, 1.0, 0.0)))
    return ClipGuidance(alphas_cumprod=alphas_cumprod, model_time=lambda i: i.float() * 20,
                        predict_x0=SecondaryX0(secondary, alphas_cumprod), perceptors=perceptors,
                        settings=GuidanceSettings(**settings), cuts=cuts, augment=None)


def test_guided_step_moves_the_clip_embedding_toward_the_prompt(tiny_clips):
    torch.manual_seed(0)
    secondary = SecondaryDiffusionImageNet2(base_channels=8).eval()
    perceptor = tiny_clips[0]
    guidance = make_guidance([perceptor], secondary, clip_guidance_scale=1000.0, range_scale=0.0,
                             cutn_batches=1, clamp_grad=False)
    target = TargetBuilder([perceptor], side_x=64, side_y=64).build([Prompt("a red square")], [], seed=0)
    guidance.set_frame(target, None, 0.0)
    x = torch.randn(1, 3, 64, 64) * 0.5
    index = torch.tensor([10])

    def distance(img):
        with torch.no_grad():
            embed = perceptor.encode_image(torch.nn.functional.interpolate((img + 1) / 2, size=64))
            return spherical_dist_loss(embed, target[0].embeds).item()

    grad = guidance(x, index)
    assert grad.shape == x.shape and grad.abs().max() > 0
    # cond_fn returns the gradient of the log-likelihood: stepping along it lowers the CLIP distance
    step = 0.05 / grad.square().mean().sqrt()
    assert distance(x + step * grad) < distance(x) < distance(x - step * grad)


def test_clamp_limits_the_gradient_rms(tiny_clips):
    secondary = SecondaryDiffusionImageNet2(base_channels=8).eval()
    guidance = make_guidance(tiny_clips, secondary, clip_guidance_scale=5000.0, clamp_grad=True, clamp_max=0.01,
                             cutn_batches=2)
    guidance.set_frame(TargetBuilder(tiny_clips, side_x=64, side_y=64).build([Prompt("x")], [], 0), None, 0.0)
    grad = guidance(torch.randn(1, 3, 64, 64), torch.tensor([5]))
    assert grad.square().mean().sqrt().item() == pytest.approx(0.01, rel=1e-4)


def test_nan_gradient_is_zeroed_and_reported(tiny_clips):
    secondary = SecondaryDiffusionImageNet2(base_channels=8).eval()
    guidance = make_guidance(tiny_clips, secondary, clip_guidance_scale=1.0)
    guidance.set_frame(TargetBuilder(tiny_clips, side_x=64, side_y=64).build([Prompt("x")], [], 0), None, 0.0)
    x = torch.randn(1, 3, 64, 64)
    x[0, 0, 0, 0] = float("nan")
    grad = guidance(x, torch.tensor([7]))
    assert torch.equal(grad, torch.zeros_like(x)) and guidance.stats.nan_steps == [7]


def test_regulariser_gradients_match_autograd_of_dd_formula(tiny_clips):
    # With CLIP off, the gradient is -d/dx of tv*TV + range*R(pred) + sat*S through x_in = pred*s + x*(1-s).
    secondary = SecondaryDiffusionImageNet2(base_channels=8).eval()
    guidance = make_guidance(tiny_clips, secondary, clip_guidance_scale=0.0, tv_scale=10.0, range_scale=5.0,
                             sat_scale=3.0, clamp_grad=False)
    guidance.set_frame([], None, 0.0)
    x = (torch.randn(1, 3, 32, 32) * 2).requires_grad_()
    index = torch.tensor([20])
    grad = guidance(x.detach(), index)
    s = math.sqrt(1 - guidance.alphas_cumprod[20])
    pred = guidance.predict_x0(x, index)
    x_in = pred * s + x * (1 - s)
    loss = tv_loss(x_in).sum() * 10 + range_loss(pred).sum() * 5 + saturation_loss(x_in) * 3
    expected = -torch.autograd.grad(loss, x)[0]
    assert torch.allclose(grad, expected, atol=1e-6)
