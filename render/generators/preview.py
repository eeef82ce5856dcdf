"""The preview generators, no model: ``preview`` (the warped previous frame unchanged: what the chain does to the
init) and ``camera`` (the camera's path over a reference scene, frame N drawn afresh from it: sharp however long)."""
from __future__ import annotations

import torch

from render.config.plan import FrameParams
from render.disk.quantize import image_to_frame
from render.generators.camera_scene import CameraScene
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


class CameraGenerator:
    """``generator=camera``: frame N of the reference scene seen through the cumulative camera of frames 1..N
    (render/generators/camera_scene.py); the mode's init is not used, so no frame is made from the one before."""

    def __init__(self, scene: CameraScene, device: torch.device):
        self.scene, self.device = scene, device

    def __call__(self, init: FrameInit, params: FrameParams) -> torch.Tensor:
        return image_to_frame(self.scene.frame(params.frame), self.device)
