"""DD's noise schedule: guided-diffusion's linear betas, respaced like its SpacedDiffusion (reference §4).

Arrays are float64 NumPy, as guided-diffusion keeps them; coefficients are taken out as float32 tensors shaped to
broadcast against an image batch, exactly as guided-diffusion's ``_extract_into_tensor`` does, so that sampler
arithmetic matches the reference bit for bit.
"""
from __future__ import annotations

import numpy as np
import torch

from render.diffusion.respacing import (
    diffusion_steps_for,
    linear_betas,
    space_timesteps,
)

__all__ = ["DiffusionSchedule", "linear_betas", "space_timesteps"]


class DiffusionSchedule:
    """A respaced linear-beta diffusion (guided-diffusion's SpacedDiffusion with DD's settings).

    ``index`` arguments are respaced step indices (0 = least noisy, ``num_timesteps - 1`` = noisiest): an int or a
    LongTensor of shape (B,).
    """

    def __init__(self, diffusion_steps: int = 1000, timestep_respacing: str | int = "",
                 rescale_timesteps: bool = True):
        base_alphas_cumprod = np.cumprod(1.0 - linear_betas(diffusion_steps))
        kept = space_timesteps(diffusion_steps, timestep_respacing or [diffusion_steps])
        betas, last, timestep_map = [], 1.0, []
        for i, alpha_cumprod in enumerate(base_alphas_cumprod):
            if i in kept:
                betas.append(1 - alpha_cumprod / last)
                last = alpha_cumprod
                timestep_map.append(i)
        self.original_num_steps = diffusion_steps
        self.rescale_timesteps = rescale_timesteps
        self.timestep_map = np.array(timestep_map, dtype=np.int64)
        self.betas = np.array(betas, dtype=np.float64)
        self.num_timesteps = len(self.betas)
        self.alphas_cumprod = np.cumprod(1.0 - self.betas, axis=0)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self._tensors: dict = {}

    @classmethod
    def for_steps(cls, steps: int) -> "DiffusionSchedule":
        """DD's schedule for ``steps`` sampling steps: ``(1000//steps)*steps`` diffusion steps, ``ddim{steps}``."""
        return cls(diffusion_steps_for(steps), f"ddim{steps}", rescale_timesteps=True)

    def __repr__(self) -> str:
        return (f"DiffusionSchedule(num_timesteps={self.num_timesteps}, "
                f"original_num_steps={self.original_num_steps}, rescale_timesteps={self.rescale_timesteps})")

    def _table(self, name: str, device) -> torch.Tensor:
        key = (name, torch.device(device))
        if key not in self._tensors:
            self._tensors[key] = torch.from_numpy(getattr(self, name)).to(device)
        return self._tensors[key]

    def coef(self, name: str, index, like: torch.Tensor) -> torch.Tensor:
        """Array ``name`` at ``index`` as float32, shaped (B, 1, ..., 1) to broadcast against ``like``."""
        index = torch.as_tensor(index, device=like.device, dtype=torch.long)
        if index.ndim == 0:
            index = index.expand(like.shape[0])
        values = self._table(name, like.device)[index].float()
        return values.view(-1, *([1] * (like.ndim - 1))).expand(like.shape)

    def model_time(self, index):
        """The timestep the network (and DD's cond_fn) sees: ``timestep_map[index] * 1000 / original_num_steps``
        when rescaling (float32, as guided-diffusion computes it). A float for an int index, else a tensor."""
        tensor = torch.as_tensor(index, dtype=torch.long)
        times = self._table("timestep_map", tensor.device)[tensor].float()
        if self.rescale_timesteps:
            times = times * (1000.0 / self.original_num_steps)
        return times.item() if isinstance(index, (int, np.integer)) else times

    def alpha_bar(self, index, like: torch.Tensor) -> torch.Tensor:
        return self.coef("alphas_cumprod", index, like)

    def alpha_bar_prev(self, index, like: torch.Tensor) -> torch.Tensor:
        return self.coef("alphas_cumprod_prev", index, like)

    def q_sample(self, x0: torch.Tensor, index, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) noise."""
        return (self.coef("sqrt_alphas_cumprod", index, x0) * x0
                + self.coef("sqrt_one_minus_alphas_cumprod", index, x0) * noise)

    def predict_xstart_from_eps(self, x: torch.Tensor, index, eps: torch.Tensor) -> torch.Tensor:
        return (self.coef("sqrt_recip_alphas_cumprod", index, x) * x
                - self.coef("sqrt_recipm1_alphas_cumprod", index, x) * eps)

    def predict_eps_from_xstart(self, x: torch.Tensor, index, pred_xstart: torch.Tensor) -> torch.Tensor:
        return ((self.coef("sqrt_recip_alphas_cumprod", index, x) * x - pred_xstart)
                / self.coef("sqrt_recipm1_alphas_cumprod", index, x))
