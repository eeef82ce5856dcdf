"""Frame generators: ``(frame init, frame params) -> frame``; the init's image may be None (start from noise).

The frame loop knows only this interface. ``preview`` returns the init itself: the camera-path preview that shows a
move in seconds before any GPU time is spent. The diffusion generator plugs in the same way.
"""
from __future__ import annotations

from typing import Protocol

import torch

from render.modes import FrameInit
from render.perlin import perlin_image
from render.plan import FrameParams


class FrameGenerator(Protocol):
    def __call__(self, init: FrameInit, params: FrameParams) -> torch.Tensor:
        """Return the frame as a ``(1,3,H,W)`` float tensor in [0,1]; ``init.image`` may be None (noise)."""
        ...


class PreviewGenerator:
    """The warped previous frame, unchanged; with no init (frame 0 without an init image), DD's Perlin noise."""

    def __init__(self, height: int, width: int, perlin_mode: str, device: torch.device):
        self.height, self.width = height, width
        self.perlin_mode = perlin_mode
        self.device = device

    def __call__(self, init: FrameInit, params: FrameParams) -> torch.Tensor:
        if init.image is not None:
            return init.image
        return perlin_image(self.height, self.width, self.perlin_mode, params.seed).to(self.device)
