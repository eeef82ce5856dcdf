"""Disco Diffusion's ``cond_fn``: the gradient that steers each sampling step toward the prompts.

For a noisy ``x`` at step ``index`` a clean image is predicted (by the secondary model, or by the UNet itself),
blended back toward ``x`` by the noise level (``x_in = pred*s + x*(1-s)``, ``s = sqrt(1-ᾱ)``), cut into CLIP-sized
views and compared with the prompt embeddings; regularisers (total variation, range, saturation, LPIPS to the init)
are added, and the gradient w.r.t. ``x`` is returned, NaNs zeroed and reported, its RMS clamped.

Unlike DD, every setting comes from the object's own settings (DD read globals, so its Video Input overrides never
applied), the step's own noise level is used (DD read a global step counter that PLMS's extra evaluation did not
advance), and ``range_scale`` acts (DD differentiated the range loss of the prediction w.r.t. ``x_in``, which lies
downstream of the prediction, so the term contributed nothing).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from render.diffusion.samplers import EpsDenoiser
from render.diffusion.schedule import DiffusionSchedule
from render.diffusion.secondary import alpha_sigma_to_t
from render.guidance.clip_models import ClipPerceptor
from render.guidance.compiled import compile_static
from render.guidance.cut_schedules import CutSchedules, schedule_index
from render.guidance.cutouts import MakeCutoutsDango
from render.guidance.losses import range_loss, saturation_loss, spherical_dist_to_unit, tv_loss
from render.guidance.lpips_loss import LpipsToImage
from render.guidance.targets import Targets

log = logging.getLogger(__name__)
PredictX0 = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class GuidanceSettings:
    clip_guidance_scale: float = 5000.0
    tv_scale: float = 0.0
    range_scale: float = 150.0
    sat_scale: float = 0.0
    cutn_batches: int = 4
    clamp_grad: bool = True
    clamp_max: float = 0.05
    batch_cutouts: bool = False  # all cutn_batches batches of a CLIP model in one forward+backward
    compile: bool = False  # the CLIP image encoders through torch.compile


@dataclass
class GuidanceStats:
    nan_steps: list[int] = field(default_factory=list)  # step indices whose gradient was NaN and zeroed
    clip_losses: list[float] = field(default_factory=list)  # per step, summed over models and cutout batches


class SecondaryX0:
    """Clean-image prediction by the secondary model at the step's noise level."""

    def __init__(self, model: nn.Module, alphas_cumprod: np.ndarray):
        self.model = model
        self.alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float64)

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ab = self.alphas_cumprod[index.cpu()].to(x.device)
        t = alpha_sigma_to_t(ab.sqrt(), (1 - ab).sqrt()).float()
        return self.model(x, t).pred


class UNetX0:
    """Clean-image prediction by the UNet itself, never clamped: DD's ``p_mean_variance(..., clip_denoised=False)``
    inside ``cond_fn``, whatever ``clip_denoised`` the sampler uses."""

    def __init__(self, unet: Callable, schedule: DiffusionSchedule):
        self.denoiser = EpsDenoiser(unet, schedule, clip_denoised=False)

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.denoiser(x, index).model_pred_xstart


class ClipGuidance:
    """``cond_fn(x, index) -> gradient`` for the samplers (used through ``ScoreGuidance``)."""

    def __init__(self, *, alphas_cumprod: np.ndarray, model_time: Callable[[torch.Tensor], torch.Tensor],
                 predict_x0: PredictX0, perceptors: Sequence[ClipPerceptor], settings: GuidanceSettings,
                 cuts: CutSchedules, augment: nn.Module | None, lpips: nn.Module | None = None):
        self.alphas_cumprod = np.asarray(alphas_cumprod, dtype=np.float64)
        self.model_time, self.predict_x0 = model_time, predict_x0
        self.perceptors, self.settings, self.cuts = list(perceptors), settings, cuts
        self.augment, self.lpips = augment, lpips
        encoders = [p.encode_image for p in self.perceptors]
        self.encoders = [compile_static(e) for e in encoders] if settings.compile else encoders
        self.targets: list[Targets] = []
        self.target_units: list[torch.Tensor] = []
        self.init: torch.Tensor | None = None
        self.init_scale = 0.0
        self.lpips_to_init: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.stats = GuidanceStats()

    def set_frame(self, targets: list[Targets], init: torch.Tensor | None, init_scale: float) -> None:
        """The frame's prompt targets, and the image LPIPS pulls toward (in [-1, 1]) with its weight. What stays
        the same for the whole frame is computed here once: the unit target embeddings, the init's VGG features."""
        self.targets, self.init, self.init_scale = targets, init, float(init_scale)
        self.target_units = [F.normalize(t.embeds[None], dim=-1) for t in targets]
        self.lpips_to_init = None
        if init is not None and self.init_scale and self.lpips is not None:
            self.lpips_to_init = LpipsToImage(self.lpips, init)
        self.stats = GuidanceStats()

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        step = int(index[0])
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            pred = self.predict_x0(x, index)
            fac = float(np.sqrt(1.0 - self.alphas_cumprod[step]))
            x_in = pred * fac + x * (1 - fac)
            x_in_grad = self._clip_grad(x_in, schedule_index(float(self.model_time(index)[0])))
            x_in_grad = x_in_grad + self._regulariser_grad(x_in)
            if torch.isnan(x_in_grad).any():
                self.stats.nan_steps.append(step)
                log.warning("guidance gradient is NaN at step %d; zeroed for this step (as DD)", step)
                return torch.zeros_like(x)
            # The range loss is a function of the prediction, upstream of x_in: DD took its gradient w.r.t. x_in,
            # which is zero, so range_scale never acted. Here it reaches x through the prediction.
            range_term = range_loss(pred).sum() * self.settings.range_scale
            grad = -torch.autograd.grad([x_in, range_term], x, [x_in_grad, torch.ones_like(range_term)])[0]
        return self._clamped(grad)

    def _clip_grad(self, x_in: torch.Tensor, k: int) -> torch.Tensor:
        """DD's loop: per CLIP model, ``cutn_batches`` batches of cutouts, each encoded and differentiated on its
        own (or, with ``batch_cutouts``, the same cutouts drawn in the same order and encoded in one call)."""
        overview, inner, ic_pow, ic_gray = self.cuts.at(k)
        total = torch.zeros_like(x_in)
        n_cuts, batches = overview + inner, self.settings.cutn_batches
        if n_cuts == 0 or self.settings.clip_guidance_scale == 0:
            return total
        scale, n = self.settings.clip_guidance_scale, x_in.shape[0]
        loss_sum = torch.zeros((), dtype=torch.float64, device=x_in.device)  # read once a step: no sync per batch
        for perceptor, encode, target, unit in zip(self.perceptors, self.encoders, self.targets, self.target_units):
            if len(target.weights) == 0:
                continue
            make_cutouts = MakeCutoutsDango(perceptor.input_resolution, overview, inner, ic_pow, ic_gray, self.augment)
            if self.settings.batch_cutouts:
                cuts = torch.cat([make_cutouts(x_in.add(1).div(2)) for _ in range(batches)])
                dists = spherical_dist_to_unit(encode(cuts)[:, None], unit)
                losses = dists.view(batches, n_cuts, n, -1).mul(target.weights).sum(3).mean(1)
                loss_sum = loss_sum + losses.detach().double().sum()
                total = total + torch.autograd.grad(losses.sum() * scale, x_in)[0] / batches
                continue
            for _ in range(batches):
                dists = spherical_dist_to_unit(encode(make_cutouts(x_in.add(1).div(2)))[:, None], unit)
                losses = dists.view(n_cuts, n, -1).mul(target.weights).sum(2).mean(0)
                loss_sum = loss_sum + losses.detach().sum().double()
                total = total + torch.autograd.grad(losses.sum() * scale, x_in)[0] / batches
        self.stats.clip_losses.append(loss_sum.item())
        return total

    def _regulariser_grad(self, x_in: torch.Tensor) -> torch.Tensor:
        s = self.settings
        loss = tv_loss(x_in).sum() * s.tv_scale + saturation_loss(x_in) * s.sat_scale
        if self.lpips_to_init is not None:
            loss = loss + self.lpips_to_init(x_in).sum() * self.init_scale
        if not loss.requires_grad:
            return torch.zeros_like(x_in)
        return torch.autograd.grad(loss, x_in)[0]

    def _clamped(self, grad: torch.Tensor) -> torch.Tensor:
        if not self.settings.clamp_grad:
            return grad
        magnitude = grad.square().mean().sqrt()
        if magnitude == 0:
            return grad
        return grad * magnitude.clamp(max=self.settings.clamp_max) / magnitude
