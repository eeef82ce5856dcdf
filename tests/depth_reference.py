"""What the depth networks' reference tests share: the tolerance, the error measure and their random inputs."""
from __future__ import annotations

import torch

TOLERANCE = 1e-5  # relative L2 error within fp32 rounding


def rel_l2(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours - reference).norm() / reference.norm()).item()


def random_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A normalised-looking (1,3,h,w) input: N(0, 1), seeded."""
    return torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(seed))
