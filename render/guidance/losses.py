"""DD's guidance losses. Images are in [-1, 1] as inside the diffusion."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def spherical_dist_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared great-circle distance between normalised embeddings: ``2 * asin(|x̂ - ŷ| / 2)**2``."""
    return spherical_dist_to_unit(x, F.normalize(y, dim=-1))


def spherical_dist_to_unit(x: torch.Tensor, y_unit: torch.Tensor) -> torch.Tensor:
    """:func:`spherical_dist_loss` to targets normalised already (once per frame rather than every step)."""
    x = F.normalize(x, dim=-1)
    return (x - y_unit).norm(dim=-1).div(2).arcsin().pow(2).mul(2)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """L2 total variation per image (replicate-padded), as in Mahendran et al."""
    x = F.pad(x, (0, 1, 0, 1), "replicate")
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return (dx**2 + dy**2).mean([1, 2, 3])


def range_loss(x: torch.Tensor) -> torch.Tensor:
    """Mean squared excess outside [-1, 1] per image."""
    return (x - x.clamp(-1, 1)).pow(2).mean([1, 2, 3])


def saturation_loss(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute excess outside [-1, 1] over the batch (DD's ``sat_losses``)."""
    return (x - x.clamp(-1, 1)).abs().mean()
