"""The guidance gradient and the secondary model against Disco Diffusion v5.7's own formulas, written out here.

The reference side imports none of the project's guidance, cutout, loss or secondary-model code: DD's ``cond_fn``,
``MakeCutoutsDango``, ``spherical_dist_loss``, ``tv_loss``, ``range_loss``, ``SecondaryDiffusionImageNet2`` and
``alpha_sigma_to_t`` are restated below from disco.py (reference §4, §6), and the diffusion tables, the respaced
timestep and ``p_mean_variance`` come from guided-diffusion (the package DD runs). Both sides get the same networks
(the same CLIP objects; the secondary model and the UNet as two implementations loaded with one state dict), the
same input and targets, and torch's generator seeded identically before each call, so they draw the same crop sizes,
offsets, flips, affines, noise and jitter. fp32, tiny sizes.

Two things are set so that DD and the project compute the same thing, each an intentional difference listed in the
README ("Where this differs from DD"): the gray inner-crop share is one where DD's ``i <= int(p*n)`` and the
project's ``round(p*n)`` agree, and DD's range loss (a no-op: its gradient is taken w.r.t. ``x_in``, downstream of
the prediction) is compared both ways: the project at ``range_scale=0`` equals DD at any ``range_scale``, and the
project's range term equals DD plus the range loss's gradient through the prediction.
"""
from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from torch import nn

from render.diffusion.schedule import DiffusionSchedule
from render.diffusion.unet import UNetConfig, UNetModel

with warnings.catch_warnings():  # the reference package uses deprecated torch.cuda.amp decorators
    warnings.simplefilter("ignore", FutureWarning)
    from guided_diffusion.script_util import create_gaussian_diffusion

from unet_reference import randomize, reference_unet

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 25
H, W = 64, 96  # not square: the overview letterbox pads
# Cut schedules that exercise both overview branches (n > 4 repeats the plain view; n <= 4 takes plain, gray, flip,
# gray flip), two crop-size powers, and gray shares where DD's count and the project's agree (1 of 3, 1 of 4).
CUTS = {"cut_overview": ("[6]*400+[3]*600", [6] * 400 + [3] * 600),
        "cut_innercut": ("[3]*400+[4]*600", [3] * 400 + [4] * 600),
        "cut_ic_pow": ("[1]*400+[2]*600", [1] * 400 + [2] * 600),
        "cut_icgray_p": ("[0.2]*1000", [0.2] * 1000)}
SCALES = dict(clip_guidance_scale=5000.0, tv_scale=80.0, range_scale=150.0, sat_scale=40.0, cutn_batches=2,
              clamp_grad=True, clamp_max=0.05)
TINY_CLIP_CFGS = [  # a ViT and a ModifiedResNet, so both vision towers are checked
    dict(image_size=64, layers=2, width=64, patch_size=16, head_width=32),
    dict(image_size=64, layers=(1, 1, 1, 1), width=16, head_width=16),
]
TINY_UNET = UNetConfig(image_size=64, model_channels=32, num_res_blocks=1, attention_resolutions=(8,),
                       num_head_channels=32, use_scale_shift_norm=True, resblock_updown=True, learn_sigma=True)
NORMALIZE = T.Normalize(mean=[0.48145466, 0.4578275, 0.40821073], std=[0.26862954, 0.26130258, 0.27577711])


# ---------------------------------------------------------------------------------------- DD, as disco.py writes it

def dd_alpha_sigma_to_t(alpha, sigma):
    return torch.atan2(sigma, alpha) * 2 / math.pi


def dd_t_to_alpha_sigma(t):
    return torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)


class DDConvBlock(nn.Sequential):
    def __init__(self, c_in, c_out):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True))


class DDSkipBlock(nn.Module):
    def __init__(self, main, skip=None):
        super().__init__()
        self.main = nn.Sequential(*main)
        self.skip = skip if skip else nn.Identity()

    def forward(self, input):
        return torch.cat([self.main(input), self.skip(input)], dim=1)


class DDFourierFeatures(nn.Module):
    def __init__(self, in_features, out_features, std=1.):
        super().__init__()
        assert out_features % 2 == 0
        self.weight = nn.Parameter(torch.randn([out_features // 2, in_features]) * std)

    def forward(self, input):
        f = 2 * math.pi * input @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


class DDSecondaryDiffusionImageNet2(nn.Module):
    """DD's secondary model, nested as disco.py writes it (``c = 64`` there; smaller here for the gradient tests)."""

    def __init__(self, c=64):
        super().__init__()
        cs = [c, c * 2, c * 2, c * 4, c * 4, c * 8]
        self.timestep_embed = DDFourierFeatures(1, 16)
        self.down = nn.AvgPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)
        self.net = nn.Sequential(
            DDConvBlock(3 + 16, cs[0]), DDConvBlock(cs[0], cs[0]),
            DDSkipBlock([
                self.down, DDConvBlock(cs[0], cs[1]), DDConvBlock(cs[1], cs[1]),
                DDSkipBlock([
                    self.down, DDConvBlock(cs[1], cs[2]), DDConvBlock(cs[2], cs[2]),
                    DDSkipBlock([
                        self.down, DDConvBlock(cs[2], cs[3]), DDConvBlock(cs[3], cs[3]),
                        DDSkipBlock([
                            self.down, DDConvBlock(cs[3], cs[4]), DDConvBlock(cs[4], cs[4]),
                            DDSkipBlock([
                                self.down, DDConvBlock(cs[4], cs[5]), DDConvBlock(cs[5], cs[5]),
                                DDConvBlock(cs[5], cs[5]), DDConvBlock(cs[5], cs[4]), self.up,
                            ]),
                            DDConvBlock(cs[4] * 2, cs[4]), DDConvBlock(cs[4], cs[3]), self.up,
                        ]),
                        DDConvBlock(cs[3] * 2, cs[3]), DDConvBlock(cs[3], cs[2]), self.up,
                    ]),
                    DDConvBlock(cs[2] * 2, cs[2]), DDConvBlock(cs[2], cs[1]), self.up,
                ]),
                DDConvBlock(cs[1] * 2, cs[1]), DDConvBlock(cs[1], cs[0]), self.up,
            ]),
            DDConvBlock(cs[0] * 2, cs[0]), nn.Conv2d(cs[0], 3, 3, padding=1),
        )

    def forward(self, input, t):
        embed = self.timestep_embed(t[:, None])[..., None, None].repeat([1, 1, input.shape[2], input.shape[3]])
        v = self.net(torch.cat([input, embed], dim=1))
        alphas, sigmas = (a[:, None, None, None] for a in dd_t_to_alpha_sigma(t))
        return {"v": v, "pred": input * alphas - v * sigmas, "eps": input * sigmas + v * alphas}


def dd_spherical_dist_loss(x, y):
    x = F.normalize(x, dim=-1)
    y = F.normalize(y, dim=-1)
    return (x - y).norm(dim=-1).div(2).arcsin().pow(2).mul(2)


def dd_tv_loss(input):
    input = F.pad(input, (0, 1, 0, 1), 'replicate')
    x_diff = input[..., :-1, 1:] - input[..., :-1, :-1]
    y_diff = input[..., 1:, :-1] - input[..., :-1, :-1]
    return (x_diff**2 + y_diff**2).mean([1, 2, 3])


def dd_range_loss(input):
    return (input - input.clamp(-1, 1)).pow(2).mean([1, 2, 3])


def dd_resize(x, size):
    # DD resizes with ResizeRight's antialiased cubic; torch's antialiased bicubic stands in for it on both sides.
    return F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)


class DDMakeCutoutsDango(nn.Module):
    """DD's MakeCutoutsDango with its 2D/3D augmentations."""

    def __init__(self, cut_size, Overview=4, InnerCrop=0, IC_Size_Pow=0.5, IC_Grey_P=0.2, skip_augs=False):
        super().__init__()
        self.cut_size, self.Overview, self.InnerCrop = cut_size, Overview, InnerCrop
        self.IC_Size_Pow, self.IC_Grey_P, self.skip_augs = IC_Size_Pow, IC_Grey_P, skip_augs
        self.augs = T.Compose([
            T.RandomHorizontalFlip(p=0.4),
            T.Lambda(lambda x: x + torch.randn_like(x) * 0.01),
            T.RandomAffine(degrees=10, translate=(0.05, 0.05), interpolation=T.InterpolationMode.BILINEAR),
            T.Lambda(lambda x: x + torch.randn_like(x) * 0.01),
            T.RandomGrayscale(p=0.1),
            T.Lambda(lambda x: x + torch.randn_like(x) * 0.01),
            T.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.3),
        ])

    def forward(self, input):
        cutouts = []
        gray = T.Grayscale(3)
        sideY, sideX = input.shape[2:4]
        max_size = min(sideX, sideY)
        min_size = min(sideX, sideY, self.cut_size)
        pad_input = F.pad(input, ((sideY - max_size) // 2, (sideY - max_size) // 2,
                                  (sideX - max_size) // 2, (sideX - max_size) // 2))
        cutout = dd_resize(pad_input, self.cut_size)
        if self.Overview > 0:
            if self.Overview <= 4:
                if self.Overview >= 1:
                    cutouts.append(cutout)
                if self.Overview >= 2:
                    cutouts.append(gray(cutout))
                if self.Overview >= 3:
                    cutouts.append(TF.hflip(cutout))
                if self.Overview == 4:
                    cutouts.append(gray(TF.hflip(cutout)))
            else:
                cutout = dd_resize(pad_input, self.cut_size)
                for _ in range(self.Overview):
                    cutouts.append(cutout)
        if self.InnerCrop > 0:
            for i in range(self.InnerCrop):
                size = int(torch.rand([])**self.IC_Size_Pow * (max_size - min_size) + min_size)
                offsetx = torch.randint(0, sideX - size + 1, ())
                offsety = torch.randint(0, sideY - size + 1, ())
                cutout = input[:, :, offsety:offsety + size, offsetx:offsetx + size]
                if i <= int(self.IC_Grey_P * self.InnerCrop):
                    cutout = gray(cutout)
                cutouts.append(dd_resize(cutout, self.cut_size))
        cutouts = torch.cat(cutouts)
        if self.skip_augs is not True:
            cutouts = self.augs(cutouts)
        return cutouts


def dd_cond_fn(x, t, *, cur_t, diffusion, model_stats, secondary_model=None, model=None, skip_augs=False,
               range_through_pred=False, s=SCALES):
    """DD's cond_fn (L1356-1412). ``range_through_pred`` adds the range loss's gradient through the prediction,
    the project's documented fix (DD's own is zero); everything else is DD's."""
    cut_overview, cut_innercut = CUTS["cut_overview"][1], CUTS["cut_innercut"][1]
    cut_ic_pow, cut_icgray_p = CUTS["cut_ic_pow"][1], CUTS["cut_icgray_p"][1]
    with torch.enable_grad():
        x = x.detach().requires_grad_()
        n = x.shape[0]
        if secondary_model is not None:
            alpha = torch.tensor(diffusion.sqrt_alphas_cumprod[cur_t], dtype=torch.float32)
            sigma = torch.tensor(diffusion.sqrt_one_minus_alphas_cumprod[cur_t], dtype=torch.float32)
            cosine_t = dd_alpha_sigma_to_t(alpha, sigma)
            out = secondary_model(x, cosine_t[None].repeat([n]))["pred"]
        else:
            my_t = torch.ones([n], dtype=torch.long) * cur_t
            out = diffusion.p_mean_variance(model, x, my_t, clip_denoised=False, model_kwargs={})["pred_xstart"]
        fac = diffusion.sqrt_one_minus_alphas_cumprod[cur_t]
        x_in = out * fac + x * (1 - fac)
        x_in_grad = torch.zeros_like(x_in)
        for model_stat in model_stats:
            for _ in range(s["cutn_batches"]):
                t_int = int(t.item()) + 1
                cuts = DDMakeCutoutsDango(model_stat["input_resolution"],
                                          Overview=cut_overview[1000 - t_int], InnerCrop=cut_innercut[1000 - t_int],
                                          IC_Size_Pow=cut_ic_pow[1000 - t_int], IC_Grey_P=cut_icgray_p[1000 - t_int],
                                          skip_augs=skip_augs)
                clip_in = NORMALIZE(cuts(x_in.add(1).div(2)))
                image_embeds = model_stat["clip_model"].encode_image(clip_in).float()
                dists = dd_spherical_dist_loss(image_embeds.unsqueeze(1), model_stat["target_embeds"].unsqueeze(0))
                dists = dists.view([cut_overview[1000 - t_int] + cut_innercut[1000 - t_int], n, -1])
                losses = dists.mul(model_stat["weights"]).sum(2).mean(0)
                x_in_grad += torch.autograd.grad(losses.sum() * s["clip_guidance_scale"], x_in)[0] / s["cutn_batches"]
        tv_losses = dd_tv_loss(x_in)
        range_losses = dd_range_loss(out)
        sat_losses = torch.abs(x_in - x_in.clamp(min=-1, max=1)).mean()
        loss = tv_losses.sum() * s["tv_scale"] + range_losses.sum() * s["range_scale"] + sat_losses.sum() * s[
            "sat_scale"]
        x_in_grad += torch.autograd.grad(loss, x_in, allow_unused=True)[0]
        grad = -torch.autograd.grad(x_in, x, x_in_grad, retain_graph=range_through_pred)[0]
        if range_through_pred:
            grad = grad - torch.autograd.grad(range_losses.sum() * s["range_scale"], x)[0]
    if s["clamp_grad"]:
        magnitude = grad.square().mean().sqrt()
        return grad * magnitude.clamp(max=s["clamp_max"]) / magnitude
    return grad


# ---------------------------------------------------------------------------------------- the shared fixtures

def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def tiny_clips() -> list[CLIP]:
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)
    models = []
    for i, vision in enumerate(TINY_CLIP_CFGS):
        torch.manual_seed(10 + i)
        models.append(CLIP(embed_dim=32, vision_cfg=CLIPVisionCfg(**vision), text_cfg=text).eval()
                      .requires_grad_(False))
    return models


@pytest.fixture(scope="module")
def world():
    """Networks, targets and the input, built once: DD's side and ours share the CLIP objects and state dicts."""
    torch.manual_seed(0)
    dd_secondary = DDSecondaryDiffusionImageNet2(c=16)
    with torch.no_grad():
        for p in dd_secondary.parameters():
            p.normal_(0, 0.05)  # DD's file is trained; random but non-degenerate weights here
    dd_secondary.eval().requires_grad_(False)
    dd_unet = randomize(reference_unet(TINY_UNET), seed=3).requires_grad_(False)
    unet = UNetModel(TINY_UNET)
    unet.load_state_dict(dd_unet.state_dict(), strict=True)
    unet.eval().requires_grad_(False)
    clips = tiny_clips()
    gen = torch.Generator().manual_seed(5)
    targets = []
    for clip in clips:
        embeds = torch.randn(2, clip.visual.output_dim, generator=gen)
        weights = torch.tensor([1.0, 0.5])
        targets.append((embeds, weights / weights.sum().abs()))
    x = torch.randn(1, 3, H, W, generator=gen) * 1.2
    diffusion = create_gaussian_diffusion(steps=(1000 // STEPS) * STEPS, learn_sigma=True, noise_schedule="linear",
                                          timestep_respacing=f"ddim{STEPS}", rescale_timesteps=True)
    return dict(dd_secondary=dd_secondary, dd_unet=dd_unet, unet=unet, clips=clips, targets=targets, x=x,
                diffusion=diffusion)


def dd_gradient(world, cur_t, *, secondary, skip_augs, range_through_pred=False):
    """DD's cond_fn on the shared networks. Without the secondary model it runs guided-diffusion's p_mean_variance
    on the project's UNet (the same object ours uses, as the CLIPs are shared): the two UNets agree to ~1e-6
    (test_unets_agree, and tests/diffusion/test_unet.py), but the augmentations' clamps (ColorJitter) turn such
    float noise into local jumps of the gradient, which would measure the UNets' rounding, not the guidance."""
    diffusion = world["diffusion"]
    # guided-diffusion's SpacedDiffusion hands cond_fn the rescaled original timestep (its _WrappedModel)
    t = torch.tensor([float(diffusion.timestep_map[cur_t]) * 1000.0 / diffusion.original_num_steps])
    # DD reads visual.input_resolution (OpenAI's CLIP); open_clip's towers call it image_size
    stats = [{"clip_model": clip, "target_embeds": e, "weights": w, "input_resolution": TINY_CLIP_CFGS[i]["image_size"]}
             for i, (clip, (e, w)) in enumerate(zip(world["clips"], world["targets"]))]
    torch.manual_seed(42)
    return dd_cond_fn(world["x"], t, cur_t=cur_t, diffusion=diffusion, model_stats=stats,
                      secondary_model=world["dd_secondary"] if secondary else None, model=world["unet"],
                      skip_augs=skip_augs, range_through_pred=range_through_pred)


def our_gradient(world, cur_t, *, secondary, skip_augs, range_scale=SCALES["range_scale"]):
    """ClipGuidance as the diffusion generator builds it, on the same networks."""
    from render.diffusion.secondary import SecondaryDiffusionImageNet2
    from render.guidance.clip_models import ClipPerceptor, ClipSpec
    from render.guidance.cond import (
        ClipGuidance,
        CutSchedules,
        GuidanceSettings,
        SecondaryX0,
        UNetX0,
    )
    from render.guidance.cut_schedules import parse_cut_schedule
    from render.guidance.cutouts import dango_augmentations
    from render.guidance.targets import Targets

    schedule = DiffusionSchedule.for_steps(STEPS)
    if secondary:
        net = SecondaryDiffusionImageNet2(16)
        net.load_state_dict(world["dd_secondary"].state_dict(), strict=True)
        predict = SecondaryX0(net.eval().requires_grad_(False), schedule.alphas_cumprod)
    else:
        predict = UNetX0(world["unet"], schedule)
    if "perceptors" not in world:  # built once (the tokenizer is slow to load); they wrap the shared CLIPs
        world["perceptors"] = [ClipPerceptor(ClipSpec(f"tiny{i}", "random"), clip, "fp32") for i, clip in
                               enumerate(world["clips"])]
    perceptors = world["perceptors"]
    cuts = CutSchedules(*(parse_cut_schedule(CUTS[k][0], integer=k in ("cut_overview", "cut_innercut"))
                          for k in ("cut_overview", "cut_innercut", "cut_ic_pow", "cut_icgray_p")))
    settings = GuidanceSettings(**{**SCALES, "range_scale": range_scale})
    guidance = ClipGuidance(alphas_cumprod=schedule.alphas_cumprod, model_time=schedule.model_time,
                            predict_x0=predict, perceptors=perceptors, settings=settings, cuts=cuts,
                            augment=None if skip_augs else dango_augmentations("3d"))
    guidance.set_frame([Targets(e, w) for e, w in world["targets"]], None, 0.0)
    torch.manual_seed(42)
    return guidance(world["x"], torch.tensor([cur_t]))


# ---------------------------------------------------------------------------------------- the tests

CASES = [(secondary, skip_augs, cur_t) for secondary in (True, False) for skip_augs in (False, True)
         for cur_t in (STEPS - 1, 8)]  # a noisy step (schedule index < 400) and a late one


@pytest.mark.parametrize("secondary,skip_augs,cur_t", CASES)
def test_gradient_equals_dd_cond_fn(world, secondary, skip_augs, cur_t):
    """The range term as the project computes it (through the prediction) against DD's cond_fn plus that term."""
    expected = dd_gradient(world, cur_t, secondary=secondary, skip_augs=skip_augs, range_through_pred=True)
    got = our_gradient(world, cur_t, secondary=secondary, skip_augs=skip_augs)
    assert expected.abs().max() > 0
    assert rel_error(got, expected) <= 1e-5


@pytest.mark.parametrize("cur_t", [STEPS - 1, 8])
def test_unets_agree(world, cur_t):
    """The UNet half of DD's no-secondary branch: p_mean_variance's x0 from guided-diffusion's UNet and from the
    project's (same weights), as cond_fn asks for it (clip_denoised=False)."""
    from render.guidance.cond import UNetX0

    with torch.no_grad():
        expected = world["diffusion"].p_mean_variance(world["dd_unet"], world["x"], torch.tensor([cur_t]),
                                                      clip_denoised=False, model_kwargs={})["pred_xstart"]
        got = UNetX0(world["unet"], DiffusionSchedule.for_steps(STEPS))(world["x"], torch.tensor([cur_t]))
    assert rel_error(got, expected) <= 1e-5


@pytest.mark.parametrize("secondary", [True, False])
def test_range_scale_zero_is_dd(world, secondary):
    """DD's range loss contributes nothing: DD at range_scale=150 is the project at range_scale=0."""
    expected = dd_gradient(world, 8, secondary=secondary, skip_augs=False)
    got = our_gradient(world, 8, secondary=secondary, skip_augs=False, range_scale=0.0)
    assert rel_error(got, expected) <= 1e-5
    with_range = our_gradient(world, 8, secondary=secondary, skip_augs=False)
    assert rel_error(with_range, expected) > 1e-3  # and the project's range term does act (x is out of range)


def test_secondary_forward_equals_dd_definition():
    """The project's secondary model at DD's size (64 base channels, the official file's keys) against DD's nested
    definition with the same state dict: v, pred and eps, and DD's alpha_sigma_to_t."""
    from render.diffusion.secondary import SecondaryDiffusionImageNet2, alpha_sigma_to_t

    torch.manual_seed(1)
    dd = DDSecondaryDiffusionImageNet2().eval()
    with torch.no_grad():
        for p in dd.parameters():
            p.normal_(0, 0.03)
    ours = SecondaryDiffusionImageNet2().eval()
    assert list(ours.state_dict()) == list(dd.state_dict())
    ours.load_state_dict(dd.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 96)
    alpha, sigma = torch.tensor([0.9, 0.3]), torch.tensor([0.2, 0.95])
    t = dd_alpha_sigma_to_t(alpha, sigma)
    assert torch.equal(alpha_sigma_to_t(alpha, sigma), t)
    with torch.no_grad():
        expected, got = dd(x, t), ours(x, t)
    for key in ("v", "pred", "eps"):
        assert expected[key].abs().max() > 0
        assert rel_error(getattr(got, key), expected[key]) <= 1e-6, key
