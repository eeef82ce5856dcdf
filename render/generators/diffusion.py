"""The diffusion generator: one CLIP-guided DDIM/PLMS pass per frame, starting from the frame's init.

Per frame, as Disco Diffusion v5.7 does it:

1. Frame 0 (and any frame from ``init_image``) skips ``skip_steps`` and pulls toward the init with ``init_scale``;
   frames made from the previous frame skip ``frames_skip_steps`` and use ``frames_scale``.
2. The prompt targets come from the cache (recomputed only when the prompts change); during a prompt fade the
   targets of both sets are mixed with their weights (``mix_targets``); an init's ``target`` (a loop's frame 0) adds
   that image's CLIP embedding with ``target_weight``.
3. All randomness (starting noise, DDIM noise, cutouts, augmentations) is drawn from torch's generator seeded with
   the frame's seed inside ``fork_rng``, so a frame is reproducible and nothing leaks to other code.
4. The frame is the last step's ``pred_xstart`` (the model's clean image), as DD saves it.
5. ``on_step(frame, step, n_steps, pred_xstart)``, when given, sees every step's predicted clean image (in [-1, 1];
   ``step`` counts from 0 at the first step run): the run's progress images are written through it.
"""
from __future__ import annotations

import dataclasses
import functools
import logging

import torch
from tqdm import tqdm

from render.config.plan import FrameParams, RenderPlan
from render.diffusion.samplers import (
    EpsDenoiser,
    ScoreGuidance,
    mirror_symmetry,
    prepare_start,
    sample_ddim,
    sample_plms,
    symmetry_steps,
)
from render.diffusion.schedule import DiffusionSchedule
from render.generators.base import StepHook
from render.generators.networks import Networks
from render.guidance.compiled import compile_static
from render.guidance.cond import ClipGuidance, GuidanceSettings, SecondaryX0, UNetX0
from render.guidance.cutouts import dango_augmentations
from render.guidance.targets import TargetBuilder, Targets, mix_targets
from render.modes.base import FrameInit
from render.user_error import UserError

log = logging.getLogger(__name__)


class SamplingError(UserError, RuntimeError):
    """A sample became NaN or infinite; names the frame and step."""

    exit_code, resumable = 1, True


def _compiled(networks: Networks) -> Networks:
    """``model.compile``: the UNet and the secondary model through torch.compile (``ClipGuidance`` compiles the
    CLIP image encoders it calls; the perceptors stay eager for prompts and measurements)."""
    secondary = None if networks.secondary is None else compile_static(networks.secondary)
    return dataclasses.replace(networks, unet=compile_static(networks.unet), secondary=secondary)


class DiffusionGenerator:
    def __init__(self, networks: Networks, plan: RenderPlan, mode_name: str, *, progress: bool = True,
                 on_step: StepHook | None = None):
        diffusion = plan.diffusion
        model = diffusion.model
        if model.compile:
            networks = _compiled(networks)
        self.model, self.plan, self.diffusion, self.progress = model, plan, diffusion, progress
        self.on_step = on_step
        self.schedule = DiffusionSchedule.for_steps(model.steps)
        self.denoiser = EpsDenoiser(networks.unet, self.schedule, clip_denoised=model.clip_denoised)
        self.guidance = ClipGuidance(
            alphas_cumprod=self.schedule.alphas_cumprod, model_time=self.schedule.model_time,
            predict_x0=self._x0_predictor(networks), perceptors=networks.perceptors,
            settings=GuidanceSettings(model.clip_guidance_scale, model.tv_scale, model.range_scale, model.sat_scale,
                                      model.cutn_batches, model.clamp_grad, model.clamp_max,
                                      batch_cutouts=model.batch_cutouts, compile=model.compile),
            cuts=diffusion.cuts, augment=None if model.skip_augs else dango_augmentations(mode_name),
            lpips=networks.lpips)
        self.guided = ScoreGuidance(self.denoiser, self.schedule, self.guidance)
        self.targets = TargetBuilder(networks.perceptors, side_x=plan.width, side_y=plan.height,
                                     fuzzy_prompt=model.fuzzy_prompt, rand_mag=model.rand_mag,
                                     skip_augs=model.skip_augs, local_image=plan.local_image)

    def _x0_predictor(self, networks: Networks):
        if networks.secondary is not None:
            return SecondaryX0(networks.secondary, self.schedule.alphas_cumprod)
        return UNetX0(networks.unet, self.schedule)

    def __call__(self, init: FrameInit, params: FrameParams) -> torch.Tensor:
        skip, scale = self._frame_settings(init)
        targets = self._prompt_targets(params)
        if init.target is not None and init.target_weight > 0:  # a seamless loop's frame 0
            image = self.targets.image_targets(init.target, self.plan.frame_seed(0))
            targets = mix_targets([(targets, 1.0), (image, init.target_weight)])
        start = None if init.image is None else init.image * 2 - 1
        self.guidance.set_frame(targets, start, scale)
        if self.plan.seed_stream:  # DD's batch of stills: one seeding, then the global stream goes on (resumable:
            if params.frame == 0:  # the checkpoint keeps the generators' states after every frame)
                torch.manual_seed(params.seed)
            x0 = self._sample(start, skip, params.frame)
        else:
            with torch.random.fork_rng(devices=self._cuda_devices()):
                torch.manual_seed(params.seed)
                x0 = self._sample(start, skip, params.frame)
        if self.guidance.stats.nan_steps:
            log.warning("frame %d: guidance gradient was NaN at steps %s (zeroed)", params.frame,
                        self.guidance.stats.nan_steps)
        return x0.add(1).div(2).clamp(0, 1)

    def _frame_settings(self, init: FrameInit) -> tuple[int, float]:
        """DD: frames from the previous frame use frames_skip_steps and frames_scale, others skip_steps, init_scale."""
        if init.from_previous:
            return self.diffusion.frames_skip_steps, self.model.frames_scale
        return self.model.skip_steps, self.model.init_scale

    def _prompt_targets(self, params: FrameParams) -> list[Targets]:
        """The frame's prompt sets (two or more while prompts fade), each seeded by the frame where it began, so a
        cache miss gives the same result."""
        mix = params.prompt_mix or self.plan.prompt_mix(params.frame)
        return mix_targets([(self.targets.build(m.text, m.images, self.plan.frame_seed(m.since)), m.weight)
                            for m in mix if m.weight > 0])

    def _cuda_devices(self) -> list[int]:
        return [self.plan.device.index or 0] if self.plan.device.type == "cuda" else []

    def _sample(self, start: torch.Tensor | None, skip: int, frame: int) -> torch.Tensor:
        shape = (1, 3, self.plan.height, self.plan.width)
        noise = torch.randn(shape, device=self.plan.device)
        x, indices = prepare_start(self.schedule, noise, start, skip)
        steps = self._steps(x, indices)
        last = None
        bar = tqdm(steps, total=len(indices), desc=f"frame {frame}", unit="step", leave=False,
                   disable=not self.progress, dynamic_ncols=True)
        for step, last in enumerate(bar):
            if not torch.isfinite(last.sample).all():
                raise SamplingError(f"frame {frame}: the sample became NaN or infinite at step {last.index}; "
                                    f"lower clip_guidance_scale or enable clamp_grad")
            if self.on_step is not None:
                self.on_step(frame, step, len(indices), last.pred_xstart)
        bar.close()
        return last.pred_xstart

    def _steps(self, x: torch.Tensor, indices: list[int]):
        model = self.model
        if model.diffusion_sampling_mode.value == "plms":
            return sample_plms(self.guided, self.schedule, x, indices, order=2)
        transform, at = None, ()
        if model.use_horizontal_symmetry or model.use_vertical_symmetry:
            transform = functools.partial(mirror_symmetry, horizontal=model.use_horizontal_symmetry,
                                          vertical=model.use_vertical_symmetry)
            at = symmetry_steps(len(indices), model.transformation_percent)
        return sample_ddim(self.guided, self.schedule, x, indices, eta=model.eta, transform=transform,
                           transform_steps=at)
