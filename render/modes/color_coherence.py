"""Colour coherence (``color_coherence=lab|hsv|rgb``): every init made from the previous frame has its colour
histogram matched to frame 0's, per channel, in the chosen colour space.

Warping and re-diffusing a frame many times lets its colours wander (hue shifts, rising saturation, washed-out or
crushed contrast), one small step per frame. Deforum's answer ("Match Frame 0") is histogram matching of the init to
the first frame; it is done here as a wrapper around any animation mode, so the modes stay unaware of it. ``lab``
matches lightness and the two colour axes separately (usually the least visible correction); ``hsv`` matches hue
as a linear channel (it can rotate rare hues); ``rgb`` matches each primary.

Only inits the generator starts from are matched; frame 0's own output is the reference and is kept in the mode's
state, so a resumed run matches to the same sample.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch
from skimage.exposure import match_histograms

from render.config.plan import FrameParams
from render.disk.quantize import frame_to_image, image_to_frame, round_array_to_u8
from render.modes.base import AnimationMode, FrameInit, FrameZeroWrapper

SPACES = {"lab": (cv2.COLOR_RGB2LAB, cv2.COLOR_LAB2RGB), "hsv": (cv2.COLOR_RGB2HSV, cv2.COLOR_HSV2RGB),
          "rgb": (None, None)}
SAMPLE_KEY = "color_coherence_sample"


def match_colors(image: np.ndarray, reference: np.ndarray, space: str) -> np.ndarray:
    """``image`` (uint8 HxWx3 RGB) with each channel's histogram matched to ``reference``'s in ``space``."""
    if space not in SPACES:
        raise ValueError(f"color_coherence={space!r}: choose one of none, {', '.join(SPACES)}")
    forward, back = SPACES[space]
    src = cv2.cvtColor(image, forward) if forward is not None else image
    ref = cv2.cvtColor(reference, forward) if forward is not None else reference
    matched = round_array_to_u8(match_histograms(src, ref, channel_axis=-1), scale=1)
    return cv2.cvtColor(matched, back) if back is not None else matched


class ColorCoherentMode(FrameZeroWrapper):
    """An animation mode whose inits from previous frames are colour-matched to its first saved frame."""

    KEY = SAMPLE_KEY

    def __init__(self, inner: AnimationMode, space: str):
        if space not in SPACES:
            raise ValueError(f"color_coherence={space!r}: choose one of none, {', '.join(SPACES)}")
        super().__init__(inner)
        self.space = space

    @property
    def sample(self) -> torch.Tensor | None:
        """Frame 0's saved output, uint8 (1,3,H,W) on the CPU."""
        return self.frame_zero

    def prepare(self, params: FrameParams) -> FrameInit:
        init = self.inner.prepare(params)
        if self.sample is None or init.image is None or init.final or not init.from_previous:
            return init
        reference = self.sample[0].permute(1, 2, 0).numpy()
        matched = match_colors(frame_to_image(init.image), reference, self.space)
        return dataclasses.replace(init, image=image_to_frame(matched, init.image.device))


def with_color_coherence(mode: AnimationMode, space: str) -> AnimationMode:
    """``mode`` itself for ``none``, else wrapped in :class:`ColorCoherentMode`."""
    return mode if space == "none" else ColorCoherentMode(mode, space)
