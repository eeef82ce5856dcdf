"""DDIM and PLMS samplers as DD runs them (guided-diffusion's progressive loops), k-diffusion style.

One calling convention: a *denoiser* maps ``(x, index)`` to a ``ModelPrediction``; guidance is a denoiser wrapping
another (``ScoreGuidance``), so the samplers contain no guidance code. Samplers are generators yielding a
``StepOutput`` per step. All sampler arithmetic runs under ``torch.no_grad``: a ``cond_fn`` that needs autograd
enables it itself (as DD's does), and it receives the respaced step index; ``schedule.model_time(index)`` gives
the timestep the network sees.

The arithmetic follows guided-diffusion operation by operation (eps re-derived from x0, float32 coefficients from
float64 tables, the same random draws), so trajectories agree with the reference under the same seed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from .schedule import DiffusionSchedule

__all__ = ["ModelPrediction", "StepOutput", "Denoiser", "EpsDenoiser", "ScoreGuidance", "prepare_start",
           "sample_ddim", "sample_plms", "symmetry_steps", "mirror_symmetry"]


@dataclass
class ModelPrediction:
    """``eps`` and ``pred_xstart`` drive the update (guided when wrapped); ``model_pred_xstart`` is the network's
    own, unguided x0, which is what DD shows and saves."""

    eps: torch.Tensor
    pred_xstart: torch.Tensor
    model_pred_xstart: torch.Tensor


@dataclass
class StepOutput:
    index: int
    sample: torch.Tensor
    pred_xstart: torch.Tensor  # the model's unguided x0 at this step


class Denoiser(Protocol):
    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> ModelPrediction: ...


CondFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class EpsDenoiser:
    """Wraps an eps-predicting UNet: index -> model time, drops the learned-sigma channels, eps -> x0 (optionally
    clamped to [-1, 1]), and eps re-derived from that x0 as the reference samplers do."""

    def __init__(self, model: Callable, schedule: DiffusionSchedule, clip_denoised: bool = False):
        self.model, self.schedule, self.clip_denoised = model, schedule, clip_denoised

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> ModelPrediction:
        out = self.model(x, self.schedule.model_time(index))
        eps = out[:, : x.shape[1]] if out.shape[1] == 2 * x.shape[1] else out
        pred_xstart = self.schedule.predict_xstart_from_eps(x, index, eps)
        if self.clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        eps = self.schedule.predict_eps_from_xstart(x, index, pred_xstart)
        return ModelPrediction(eps, pred_xstart, pred_xstart)


class ScoreGuidance:
    """Score conditioning (Song et al., guided-diffusion's ``condition_score``):
    ``eps' = eps - sqrt(1 - alpha_bar) * cond_fn(x, index)``, x0 recomputed from eps'; the unguided x0 is kept."""

    def __init__(self, denoiser: Denoiser, schedule: DiffusionSchedule, cond_fn: CondFn):
        self.denoiser, self.schedule, self.cond_fn = denoiser, schedule, cond_fn

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> ModelPrediction:
        pred = self.denoiser(x, index)
        alpha_bar = self.schedule.alpha_bar(index, x)
        eps = pred.eps - (1 - alpha_bar).sqrt() * self.cond_fn(x, index)
        pred_xstart = self.schedule.predict_xstart_from_eps(x, index, eps)
        eps = self.schedule.predict_eps_from_xstart(x, index, pred_xstart)
        return ModelPrediction(eps, pred_xstart, pred.model_pred_xstart)


def prepare_start(schedule: DiffusionSchedule, noise: torch.Tensor, init: torch.Tensor | None = None,
                  skip_steps: int = 0) -> tuple[torch.Tensor, list[int]]:
    """The first x and the step indices (noisiest first). With an init (zeros when skipping without one), x is the
    init noised to the first index with ``noise``; otherwise x is the noise."""
    indices = list(range(schedule.num_timesteps - skip_steps))[::-1]
    if not indices:
        raise ValueError(f"skip_steps={skip_steps} leaves no step of {schedule.num_timesteps}")
    if skip_steps and init is None:
        init = torch.zeros_like(noise)
    if init is None:
        return noise, indices
    first = torch.full((noise.shape[0],), indices[0], dtype=torch.long, device=noise.device)
    return schedule.q_sample(init, first, noise), indices


def _batch_index(i: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), i, dtype=torch.long, device=x.device)


def _not_last(index: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (index != 0).float().view(-1, *([1] * (x.ndim - 1)))


def ddim_step(schedule: DiffusionSchedule, x, index, pred: ModelPrediction, eta: float, noise) -> torch.Tensor:
    """DDIM's update (its equation 12) with ``sigma = eta * sqrt((1-ab_prev)/(1-ab)) * sqrt(1 - ab/ab_prev)``."""
    alpha_bar, alpha_bar_prev = schedule.alpha_bar(index, x), schedule.alpha_bar_prev(index, x)
    sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
    mean = pred.pred_xstart * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev - sigma**2) * pred.eps
    return mean + _not_last(index, x) * sigma * noise


def sample_ddim(denoiser: Denoiser, schedule: DiffusionSchedule, x: torch.Tensor, indices: Sequence[int], *,
                eta: float = 0.0, generator: torch.Generator | None = None,
                transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                transform_steps: Iterable[int] = ()) -> Iterator[StepOutput]:
    """DDIM from x over ``indices``. Fresh noise is drawn every step, even with eta=0, as the reference does.
    ``transform`` (DD's symmetry) replaces x before the steps whose index is in ``transform_steps``."""
    transform_steps = set(transform_steps)
    for i in indices:
        with torch.no_grad():
            if transform is not None and i in transform_steps:
                x = transform(x)
            index = _batch_index(i, x)
            pred = denoiser(x, index)
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = ddim_step(schedule, x, index, pred, eta, noise)
        yield StepOutput(i, x, pred.model_pred_xstart)


def _adams_bashforth(eps: list[torch.Tensor]) -> torch.Tensor:
    if len(eps) == 1:
        return eps[-1]
    if len(eps) == 2:
        return (3 * eps[-1] - eps[-2]) / 2
    if len(eps) == 3:
        return (23 * eps[-1] - 16 * eps[-2] + 5 * eps[-3]) / 12
    return (55 * eps[-1] - 59 * eps[-2] + 37 * eps[-3] - 9 * eps[-4]) / 24


def _plms_update(schedule, x, index, eps):
    """x_{t-1} from an eps estimate (DDIM with eta=0)."""
    alpha_bar_prev = schedule.alpha_bar_prev(index, x)
    pred_xstart = schedule.predict_xstart_from_eps(x, index, eps)
    return pred_xstart * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev) * eps


def sample_plms(denoiser: Denoiser, schedule: DiffusionSchedule, x: torch.Tensor, indices: Sequence[int], *,
                order: int = 2) -> Iterator[StepOutput]:
    """Pseudo linear multistep: a pseudo improved Euler first step (two model calls), then Adams-Bashforth of
    ``order`` on the past eps. The last step (index 0) returns the (guided) x0 as the sample, as the reference."""
    if order not in (1, 2, 3, 4):
        raise ValueError(f"order={order}: must be 1, 2, 3 or 4")
    old_eps: list[torch.Tensor] = []
    for n, i in enumerate(indices):
        with torch.no_grad():
            index = _batch_index(i, x)
            pred = denoiser(x, index)
            if order > 1 and n == 0:
                alpha_bar_prev = schedule.alpha_bar_prev(index, x)
                euler = pred.pred_xstart * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev) * pred.eps
                old_eps = [pred.eps]
                eps_prime = (pred.eps + denoiser(euler, index - 1).eps) / 2
            else:
                old_eps.append(pred.eps)
                eps_prime = _adams_bashforth(old_eps[-order:])
            mean = _plms_update(schedule, x, index, eps_prime)
            if len(old_eps) >= order:
                old_eps.pop(0)
            keep = _not_last(index, x)
            x = mean * keep + pred.pred_xstart * (1 - keep)
        yield StepOutput(i, x, pred.model_pred_xstart)


def symmetry_steps(n_indices: int, percents: Iterable[float]) -> set[int]:
    """The step indices at which DD's symmetry applies: ``int(n_indices * (1 - p))`` for each fraction p of the
    run (kostarion's guided-diffusion compares these with the step index, so p=0.09 acts 9 % into the run)."""
    return {int(n_indices * (1 - p)) for p in percents}


def mirror_symmetry(x: torch.Tensor, horizontal: bool = False, vertical: bool = False) -> torch.Tensor:
    """DD's symmetry transform: the left half mirrored onto the right, and/or the top half onto the bottom."""
    if horizontal:
        left = x[..., : x.shape[-1] // 2]
        x = torch.cat((left, left.flip(-1)), dim=-1)
    if vertical:
        top = x[..., : x.shape[-2] // 2, :]
        x = torch.cat((top, top.flip(-2)), dim=-2)
    return x
