"""The preview generator: the camera path in seconds, the warped previous frame unchanged."""
from __future__ import annotations

import torch

from render.config.plan import FrameParams
from render.generators.perlin import perlin_image
from render.modes.base import FrameInit


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
