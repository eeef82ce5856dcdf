"""Seamless loops (``animation.loop=true``, 2D and 3D): the last ``loop_frames`` frames close the loop on frame 0.

On loop frame ``k`` (``k = 0 .. L-1`` for frames ``n-L .. n-1``) the ramp is ``r = (k + 1) / L``, reaching 1 on the
last frame. Two things pull toward frame 0 there:

- the **init** (a mode wrapper, like colour coherence): ``init' = round8(b·back + (1-b)·init)`` with
  ``b = loop_init_blend · r``, where ``init`` is the mode's own init (the previous frame warped by the camera step)
  and ``back`` is frame 0 warped by the *reversed* camera step of this frame (angle and rotations negated, zoom
  inverted, translations negated; 3D with frame 0's depth): what comes one camera step before frame 0, so that the
  last frame's ordinary step leads into frame 0. ``round8`` rounds to 8 bits as turbo's blends do.
- the **guidance**: the frame's ``FrameInit.target`` is frame 0 and ``target_weight = loop_scale · r``; the generator
  adds frame 0's CLIP image embedding (16 cutouts, as an image prompt) to the prompt targets with that weight (the
  prompts' weights sum to 1).

Only inits made from the previous frame are blended (a turbo in-between frame is blended as it is saved). Frame 0's
saved output is kept in the mode's state, so a resumed run blends and targets exactly the same image.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType

import torch

from render.config.plan import FrameParams
from render.disk.quantize import from_stored_u8
from render.modes.base import AnimationMode, FrameInit, FrameZeroWrapper
from render.modes.mode3d import blend

FIRST_KEY = "loop_first"
_NEGATED = ("animation.angle", "animation.translation_x", "animation.translation_y", "animation.translation_z",
            "animation.rotation_3d_x", "animation.rotation_3d_y", "animation.rotation_3d_z")


@dataclass(frozen=True)
class Loop:
    n_frames: int
    frames: int  # loop_frames
    init_blend: float = 1.0
    scale: float = 1.0

    def ramp(self, frame: int) -> float:
        """0 before the loop frames, then (k+1)/L on loop frame k."""
        k = frame - (self.n_frames - self.frames)
        return 0.0 if k < 0 or frame <= 0 else (k + 1) / self.frames


def reversed_step(params: FrameParams) -> FrameParams:
    """``params`` with the camera step reversed: rotations and translations negated, the zoom inverted."""
    values = {name: (-v if name in _NEGATED else 1.0 / v if name == "animation.zoom" and v else v)
              for name, v in params.values.items()}
    return dataclasses.replace(params, values=MappingProxyType(values))


class LoopMode(FrameZeroWrapper):
    """An animation mode whose last frames are pulled toward frame 0 (see the module's docstring)."""

    KEY = FIRST_KEY

    def __init__(self, inner: AnimationMode, loop: Loop):
        super().__init__(inner)
        self.loop = loop

    @property
    def first(self) -> torch.Tensor | None:
        """Frame 0's saved output, uint8 (1,3,H,W) on the CPU."""
        return self.frame_zero

    def prepare(self, params: FrameParams) -> FrameInit:
        init = self.inner.prepare(params)
        ramp = self.loop.ramp(params.frame)
        if ramp == 0 or self.first is None or init.image is None or not init.from_previous:
            return init
        first = from_stored_u8(self.first, init.image.device)
        back = self.inner.warp_image(first, reversed_step(params))
        image = blend(back, self.loop.init_blend * ramp, init.image)
        weight = self.loop.scale * ramp
        return dataclasses.replace(init, image=image, target=first if weight > 0 else None, target_weight=weight)


def with_loop(mode: AnimationMode, loop: Loop | None) -> AnimationMode:
    """``mode`` itself without a loop, else wrapped in :class:`LoopMode`."""
    return mode if loop is None else LoopMode(mode, loop)
