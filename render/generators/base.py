"""Frame generators: ``(frame init, frame params) -> frame``; the init's image may be None (start from noise).

The frame loop knows only this interface. ``preview`` returns the init itself: the camera-path preview that shows a
move in seconds before any GPU time is spent. The diffusion generator plugs in the same way.
"""
from __future__ import annotations

from typing import Protocol

import torch

from render.config.plan import FrameParams
from render.modes.base import FrameInit


class FrameGenerator(Protocol):
    def __call__(self, init: FrameInit, params: FrameParams) -> torch.Tensor:
        """Return the frame as a ``(1,3,H,W)`` float tensor in [0,1]; ``init.image`` may be None (noise)."""
        ...


class StepHook(Protocol):
    def __call__(self, frame: int, step: int, n_steps: int, pred_xstart: torch.Tensor) -> None:
        """Called after each sampler step with that step's predicted clean image ``(1,3,H,W)`` in [-1, 1]; ``step``
        counts from 0 (the first step the frame runs) to ``n_steps - 1``."""
        ...
