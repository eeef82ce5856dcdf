"""The depth-estimator interface and the constant-plane estimator."""
from __future__ import annotations

from typing import Protocol

import torch


class DepthEstimator(Protocol):
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """``(1,3,H,W)`` float in [0,1] -> ``(1,1,H,W)`` float depth on the image's device (larger is farther)."""
        ...


class FlatDepth:
    """A plane at constant depth: no parallax, so pure ``translation_z`` is a centre zoom."""

    def __init__(self, value: float = 1.0):
        if not value > 0:
            raise ValueError(f"depth.flat_value must be positive, got {value}")
        self.value = float(value)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        n, _, h, w = image.shape
        return torch.full((n, 1, h, w), self.value, dtype=image.dtype, device=image.device)
