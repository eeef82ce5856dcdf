"""Schedule and samplers against guided-diffusion's SpacedDiffusion and its DDIM/PLMS loops, as DD calls them."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from unet_reference import randomize, reference_unet

from render.diffusion.samplers import (
    EpsDenoiser,
    ScoreGuidance,
    mirror_symmetry,
    prepare_start,
    sample_ddim,
    sample_plms,
    symmetry_steps,
)
from render.diffusion.schedule import DiffusionSchedule, space_timesteps
from render.diffusion.unet import UNetConfig, load_unet

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from guided_diffusion.respace import space_timesteps as ref_space_timesteps
    from guided_diffusion.script_util import create_gaussian_diffusion

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = UNetConfig(image_size=32, model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(16,),
                  num_heads=2, learn_sigma=True, resblock_updown=True)
SHAPE = (1, 3, 32, 32)


def reference_diffusion(steps: int):
    """What DD builds for ``steps``: reference §4."""
    return create_gaussian_diffusion(steps=(1000 // steps) * steps if steps < 1000 else steps, learn_sigma=True,
                                     noise_schedule="linear", timestep_respacing=f"ddim{steps}",
                                     rescale_timesteps=True)


@pytest.fixture(scope="module")
def models():
    ref = randomize(reference_unet(TINY), seed=11).requires_grad_(False)
    return ref, load_unet(TINY, ref.state_dict())


# ------------------------------------------------------------------------------------------- schedule

@pytest.mark.parametrize("steps", [25, 100, 250, 1000, 150])
def test_schedule_arrays_equal_reference(steps):
    ours, ref = DiffusionSchedule.for_steps(steps), reference_diffusion(steps)
    assert ours.num_timesteps == ref.num_timesteps == steps
    assert ours.original_num_steps == ref.original_num_steps
    np.testing.assert_array_equal(ours.timestep_map, ref.timestep_map)
    for name in ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                 "sqrt_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(ref, name), err_msg=name)
        assert getattr(ours, name).dtype == np.float64


def test_dd_conformance_numbers():
    s250 = DiffusionSchedule.for_steps(250)
    first_t = s250.model_time(s250.num_timesteps - 1)
    assert first_t == 996.0 and 1000 - (int(first_t) + 1) == 3  # DD's cut-schedule index (reference §8)
    assert s250.model_time(0) == 0.0 and s250.timestep_map[1] == 4
    s150 = DiffusionSchedule.for_steps(150)  # 150 does not divide 1000: 900 diffusion steps, stride 6
    assert s150.original_num_steps == 900 and s150.timestep_map[-1] == 894
    assert s150.model_time(149) == pytest.approx(993.3333, abs=1e-4)
    assert DiffusionSchedule.for_steps(2000).original_num_steps == 2000


def test_model_time_matches_the_reference_wrapper():
    ref = reference_diffusion(150)
    seen = []
    ref._wrap_model(lambda x, t: seen.append(t))(None, torch.arange(150))
    torch.testing.assert_close(DiffusionSchedule.for_steps(150).model_time(torch.arange(150)), seen[0],
                               rtol=0, atol=0)


@pytest.mark.parametrize("spec", ["ddim50", "ddim7", "10,15,20", "7", "1,2,3,4,5", "300"])
def test_space_timesteps_equals_reference(spec):
    assert space_timesteps(300, spec) == ref_space_timesteps(300, spec)


def test_space_timesteps_errors():
    with pytest.raises(ValueError, match="exactly 7 steps"):
        space_timesteps(10, "ddim7")
    with pytest.raises(ValueError, match="section of 5 steps into 6"):
        space_timesteps(10, "6,6")


def test_unspaced_schedule_is_the_linear_schedule():
    s = DiffusionSchedule(1000, "", rescale_timesteps=False)
    assert s.num_timesteps == 1000 and s.betas[0] == pytest.approx(1e-4) and s.betas[-1] == pytest.approx(0.02)
    assert s.model_time(500) == 500.0


def test_schedule_maths_equal_reference():
    ours, ref = DiffusionSchedule.for_steps(100), reference_diffusion(100)
    gen = torch.Generator().manual_seed(0)
    x, x0, eps = (torch.randn(3, 3, 8, 8, generator=gen) for _ in range(3))
    t = torch.tensor([0, 42, 99])
    exact = dict(rtol=0, atol=0)
    torch.testing.assert_close(ours.q_sample(x0, t, eps), ref.q_sample(x0, t, eps), **exact)
    torch.testing.assert_close(ours.predict_xstart_from_eps(x, t, eps), ref._predict_xstart_from_eps(x, t, eps),
                               **exact)
    torch.testing.assert_close(ours.predict_eps_from_xstart(x, t, x0), ref._predict_eps_from_xstart(x, t, x0),
                               **exact)
    ab = ours.alpha_bar(t, x)
    assert ab.shape == x.shape and ab.dtype == torch.float32
    assert ab[1, 0, 0, 0].item() == pytest.approx(ref.alphas_cumprod[42], rel=1e-7)
    assert ours.alpha_bar(5, x)[2, 1, 3, 3].item() == pytest.approx(ref.alphas_cumprod[5], rel=1e-7)


# ------------------------------------------------------------------------------------------- denoisers

def test_eps_denoiser_and_score_guidance(models):
    ref_model, model = models
    schedule, ref = DiffusionSchedule.for_steps(10), reference_diffusion(10)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(SHAPE, generator=gen)
    t = torch.tensor([7])
    pred = EpsDenoiser(model, schedule)(x, t)
    out = ref.p_mean_variance(ref_model, x, t, clip_denoised=False)
    torch.testing.assert_close(pred.pred_xstart, out["pred_xstart"], rtol=1e-5, atol=1e-4)
    assert pred.model_pred_xstart is pred.pred_xstart

    grad = torch.randn(SHAPE, generator=gen)
    guided = ScoreGuidance(EpsDenoiser(model, schedule), schedule, lambda x_, i: grad)(x, t)
    ref_guided = ref.condition_score(lambda x_, t_: grad, out, x, t, model_kwargs={})
    torch.testing.assert_close(guided.pred_xstart, ref_guided["pred_xstart"], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(guided.model_pred_xstart, pred.pred_xstart)  # the unguided x0 is kept
    assert (guided.pred_xstart - pred.pred_xstart).abs().max() > 0.1
    torch.testing.assert_close(guided.eps, schedule.predict_eps_from_xstart(x, t, guided.pred_xstart))


def test_clip_denoised_clamps_x0(models):
    _, model = models
    schedule = DiffusionSchedule.for_steps(10)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3)) * 3
    t = torch.tensor([9])
    free, clipped = EpsDenoiser(model, schedule)(x, t), EpsDenoiser(model, schedule, clip_denoised=True)(x, t)
    assert free.pred_xstart.abs().max() > 1 and clipped.pred_xstart.abs().max() <= 1
    torch.testing.assert_close(clipped.pred_xstart, free.pred_xstart.clamp(-1, 1))


def test_prepare_start():
    schedule, ref = DiffusionSchedule.for_steps(10), reference_diffusion(10)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4))
    x, indices = prepare_start(schedule, noise)
    assert x is noise and indices == list(range(9, -1, -1))
    x, indices = prepare_start(schedule, noise, skip_steps=3)
    assert indices == list(range(6, -1, -1))
    torch.testing.assert_close(x, noise * float(ref.sqrt_one_minus_alphas_cumprod[6]))
    init = torch.rand(SHAPE) * 2 - 1
    x, _ = prepare_start(schedule, noise, init, skip_steps=3)
    torch.testing.assert_close(x, ref.q_sample(init, torch.tensor([6]), noise), rtol=0, atol=0)
    with pytest.raises(ValueError, match="skip_steps=10"):
        prepare_start(schedule, noise, skip_steps=10)


# ------------------------------------------------------------------------------------------- trajectories

def grad_toward(target: torch.Tensor):
    """A cond_fn of (x, model time): the gradient of -0.1 * ||x - target||^2, weighted by the time."""
    def grad(x, t_model):
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            loss = -((x - target) ** 2).sum() * 0.1 * (1 + t_model.float().view(-1, 1, 1, 1) / 1000)
            return torch.autograd.grad(loss.sum(), x)[0]
    return grad


def model_grad(model, target):
    """A DD-like cond_fn: the gradient through the UNet's eps of a loss on it."""
    def grad(x, t_model):
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            eps = model(x, t_model)[:, :3]
            return -torch.autograd.grad(((eps - target) ** 2).sum() * 0.01, x)[0]
    return grad


def run_ours(sampler, model, schedule, noise, init, skip, cond, seed, **kw):
    denoiser = EpsDenoiser(model, schedule)
    if cond is not None:
        denoiser = ScoreGuidance(denoiser, schedule, lambda x, i: cond(x, schedule.model_time(i)))
    x, indices = prepare_start(schedule, noise, init, skip)
    torch.manual_seed(seed)
    return list(sampler(denoiser, schedule, x, indices, **kw))


def assert_trajectories_agree(ours, reference):
    assert len(ours) == len(reference) > 2
    for step, (a, b) in enumerate(zip(ours, reference)):
        for name, got, expected in (("sample", a.sample, b["sample"]), ("x0", a.pred_xstart, b["pred_xstart"])):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4, msg=lambda m: f"{name}, step {step}: {m}")
    assert (ours[0].sample - ours[-1].sample).abs().max() > 0.1  # it moved


@pytest.mark.parametrize("guided", [True, False])
def test_ddim_trajectory_equals_reference(models, guided):
    ref_model, model = models
    steps, skip, eta, seed = 12, 4, 0.8, 5
    schedule, ref = DiffusionSchedule.for_steps(steps), reference_diffusion(steps)
    gen = torch.Generator().manual_seed(6)
    noise, init = torch.randn(SHAPE, generator=gen), torch.rand(SHAPE, generator=gen) * 2 - 1
    target = torch.zeros(SHAPE)
    ours = run_ours(sample_ddim, model, schedule, noise, init, skip, grad_toward(target) if guided else None, seed,
                    eta=eta)
    torch.manual_seed(seed)
    reference = list(ref.ddim_sample_loop_progressive(
        ref_model, SHAPE, noise=noise, clip_denoised=False, model_kwargs={},
        cond_fn=grad_toward(target) if guided else None, skip_timesteps=skip, init_image=init,
        randomize_class=True, eta=eta))
    assert [o.index for o in ours] == list(range(steps - skip - 1, -1, -1))
    assert_trajectories_agree(ours, reference)


def test_ddim_with_model_gradient_guidance_equals_reference(models):
    ref_model, model = models
    schedule, ref = DiffusionSchedule.for_steps(8), reference_diffusion(8)
    gen = torch.Generator().manual_seed(7)
    noise, target = torch.randn(SHAPE, generator=gen), torch.randn(SHAPE, generator=gen) * 0.1
    ours = run_ours(sample_ddim, model, schedule, noise, None, 0, model_grad(model, target), 8, eta=0.8)
    torch.manual_seed(8)
    reference = list(ref.ddim_sample_loop_progressive(ref_model, SHAPE, noise=noise, clip_denoised=False,
                                                      model_kwargs={}, cond_fn=model_grad(ref_model, target), eta=0.8))
    assert_trajectories_agree(ours, reference)


def test_ddim_generator_replaces_the_global_rng(models):
    _, model = models
    schedule = DiffusionSchedule.for_steps(6)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(9))
    seeded = run_ours(sample_ddim, model, schedule, noise, None, 0, None, seed=10, eta=1.0)
    x, indices = prepare_start(schedule, noise)
    torch.manual_seed(999)
    own = list(sample_ddim(EpsDenoiser(model, schedule), schedule, x, indices, eta=1.0,
                           generator=torch.Generator().manual_seed(10)))
    torch.testing.assert_close(own[-1].sample, seeded[-1].sample, rtol=0, atol=0)
    other = list(sample_ddim(EpsDenoiser(model, schedule), schedule, x, indices, eta=1.0,
                             generator=torch.Generator().manual_seed(11)))
    assert (other[-1].sample - own[-1].sample).abs().max() > 1e-3


@pytest.mark.parametrize("order,guided,skip", [(2, True, 3), (2, False, 0), (3, False, 0), (4, True, 0)])
def test_plms_trajectory_equals_reference(models, order, guided, skip):
    ref_model, model = models
    steps = 10
    schedule, ref = DiffusionSchedule.for_steps(steps), reference_diffusion(steps)
    gen = torch.Generator().manual_seed(12)
    noise, init, target = torch.randn(SHAPE, generator=gen), torch.rand(SHAPE, generator=gen) * 2 - 1, torch.ones(SHAPE)
    init = init if skip else None
    cond = grad_toward(target) if guided else None
    ours = run_ours(sample_plms, model, schedule, noise, init, skip, cond, 0, order=order)
    reference = list(ref.plms_sample_loop_progressive(ref_model, SHAPE, noise=noise, clip_denoised=False,
                                                      model_kwargs={}, cond_fn=cond, skip_timesteps=skip,
                                                      init_image=init, order=order))
    assert_trajectories_agree(ours, reference)


def test_plms_order_1_is_deterministic_ddim(models):
    """The reference cannot run order 1 (it reads the previous step's output on the first step); ours is DDIM."""
    _, model = models
    schedule = DiffusionSchedule.for_steps(6)
    x, indices = prepare_start(schedule, torch.randn(SHAPE, generator=torch.Generator().manual_seed(16)))
    plms = list(sample_plms(EpsDenoiser(model, schedule), schedule, x, indices, order=1))
    ddim = list(sample_ddim(EpsDenoiser(model, schedule), schedule, x, indices, eta=0.0))
    for a, b in zip(plms, ddim):
        torch.testing.assert_close(a.sample, b.sample, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="order=5"):
        next(sample_plms(EpsDenoiser(model, schedule), schedule, x, indices, order=5))


def test_plms_first_step_calls_the_model_twice_and_last_returns_x0(models):
    _, model = models
    schedule = DiffusionSchedule.for_steps(5)
    calls = []

    def denoiser(x, index):
        calls.append(int(index[0]))
        return EpsDenoiser(model, schedule)(x, index)

    x, indices = prepare_start(schedule, torch.randn(SHAPE, generator=torch.Generator().manual_seed(13)))
    steps = list(sample_plms(denoiser, schedule, x, indices))
    assert calls == [4, 3, 3, 2, 1, 0]
    last_x0 = EpsDenoiser(model, schedule)(steps[-2].sample, torch.tensor([0])).pred_xstart
    torch.testing.assert_close(steps[-1].sample, last_x0)


def test_symmetry_steps_and_transform(models):
    ref_model, model = models
    steps, percents = 10, [0.3]
    schedule, ref = DiffusionSchedule.for_steps(steps), reference_diffusion(steps)
    assert symmetry_steps(250, [0.09]) == {227} and symmetry_steps(10, [0.3, 0.5]) == {7, 5}
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(14))
    applied = {"ours": [], "ref": []}

    def transform(who, counter):
        def fn(x):
            applied[who].append(len(counter))
            return mirror_symmetry(x, horizontal=True)
        return fn

    ours = []
    x, indices = prepare_start(schedule, noise)
    torch.manual_seed(15)
    for out in sample_ddim(EpsDenoiser(model, schedule), schedule, x, indices, eta=0.8,
                           transform=transform("ours", ours), transform_steps=symmetry_steps(len(indices), percents)):
        ours.append(out)
    reference = []
    torch.manual_seed(15)
    for out in ref.ddim_sample_loop_progressive(ref_model, SHAPE, noise=noise, clip_denoised=False, model_kwargs={},
                                                eta=0.8, transformation_fn=transform("ref", reference),
                                                transformation_percent=percents):
        reference.append(out)
    assert applied["ours"] == applied["ref"] == [2]  # before the 3rd step (indices 9, 8, 7): 7 = int(10 * 0.7)
    assert_trajectories_agree(ours, reference)


def test_mirror_symmetry():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    h = mirror_symmetry(x, horizontal=True)
    assert h[0, 0, 0].tolist() == [0, 1, 1, 0]
    v = mirror_symmetry(x, vertical=True)
    assert v[0, 0, :, 0].tolist() == [0, 4, 4, 0]
    assert torch.equal(mirror_symmetry(x), x)


def test_sampling_runs_without_autograd(models):
    _, model = models
    schedule = DiffusionSchedule.for_steps(4)
    seen = []

    def cond_fn(x, index):
        seen.append(torch.is_grad_enabled())
        return torch.zeros_like(x)

    trainable = load_unet(TINY, model.state_dict()).requires_grad_(True)
    x, indices = prepare_start(schedule, torch.randn(SHAPE))
    for out in sample_ddim(ScoreGuidance(EpsDenoiser(trainable, schedule), schedule, cond_fn), schedule, x, indices):
        assert not out.sample.requires_grad and not out.pred_xstart.requires_grad
        assert torch.is_grad_enabled()  # the caller's grad mode is left alone between steps
    assert seen == [False] * 4

