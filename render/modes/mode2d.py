"""The still mode (animation.mode=none) and Disco Diffusion's 2D mode."""
from __future__ import annotations

import torch

from render.config.plan import FrameParams
from render.modes.base import ChainedMode, FrameInit
from transforms.camera2d import warp2d


class StillMode(ChainedMode):
    """``animation.mode=none``: every frame starts from the init image (or noise), independent of the others."""

    def prepare(self, params: FrameParams) -> FrameInit:
        return FrameInit(self.first_init(params))

    def warp(self, previous: torch.Tensor, params: FrameParams) -> torch.Tensor:
        return previous  # no camera


class Mode2D(ChainedMode):
    """Disco Diffusion's 2D mode: translate, then rotate and zoom about the centre, edges wrapping."""

    def warp(self, previous: torch.Tensor, params: FrameParams) -> torch.Tensor:
        return warp2d(previous, params["animation.angle"], params["animation.zoom"],
                      params["animation.translation_x"], params["animation.translation_y"])
