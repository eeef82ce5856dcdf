"""The animation-mode interface: a frame's init, the chain state it carries, and the shared bookkeeping.

A mode has two steps per frame. ``prepare(params)`` returns the frame's :class:`FrameInit` (the image the generator
starts from, or the finished frame itself when the mode makes it alone). ``commit(frame, params)`` takes the frame
(already 8-bit exact), records what the next frame is warped from, and returns the image to save (the same frame,
except for turbo's blends). ``extra_images()`` names further images of the frame to save (VR eyes, depth maps). What a
mode carries between frames is ``state``, a small dataclass of 8-bit frames that resume saves and restores exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch

from render.config.plan import FrameParams
from render.disk.quantize import from_stored_u8, to_stored_u8

InitSource = Callable[[FrameParams], "torch.Tensor | None"]


@dataclass
class FrameInit:
    image: torch.Tensor | None  # (1,3,H,W) in [0,1], or None for "start from noise"
    final: bool = False  # True: ``image`` is the frame itself and no generator runs
    from_previous: bool = False  # True: made from earlier frames (DD then uses frames_scale/frames_skip_steps)
    target: torch.Tensor | None = None  # an image whose CLIP embedding the guidance also targets (seamless loops)
    target_weight: float = 0.0  # its weight against the prompts (whose weights sum to 1)


@dataclass
class ChainState:
    previous: torch.Tensor | None = None  # the last saved frame, (1,3,H,W) in [0,1]


class AnimationMode(Protocol):
    state: ChainState

    def prepare(self, params: FrameParams) -> FrameInit: ...

    def commit(self, frame: torch.Tensor, params: FrameParams) -> torch.Tensor: ...

    def warp_image(self, image: torch.Tensor, params: FrameParams) -> torch.Tensor:
        """Any image moved by the frame's step (the camera's; video input: the source's optical flow)."""
        ...

    def extra_images(self, saved: torch.Tensor, params: FrameParams) -> dict[str, "np.ndarray"]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict, device: torch.device) -> None: ...


class FrameZeroWrapper:
    """A wrapper of a mode that keeps the first frame it saved (8-bit, on the CPU) in the state under ``KEY``; the
    inner mode does everything else."""

    KEY = "frame_zero"

    def __init__(self, inner: AnimationMode):
        self.inner = inner
        self.frame_zero: torch.Tensor | None = None  # uint8 (1,3,H,W)

    @property
    def state(self):
        return self.inner.state

    def warp_image(self, image: torch.Tensor, params: FrameParams) -> torch.Tensor:
        return self.inner.warp_image(image, params)

    def commit(self, frame: torch.Tensor, params: FrameParams) -> torch.Tensor:
        saved = self.inner.commit(frame, params)
        if self.frame_zero is None:
            self.frame_zero = to_stored_u8(saved)
        return saved

    def extra_images(self, saved: torch.Tensor, params: FrameParams) -> dict[str, np.ndarray]:
        return self.inner.extra_images(saved, params)

    def state_dict(self) -> dict:
        return {**self.inner.state_dict(), self.KEY: self.frame_zero}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        state = dict(state)
        self.frame_zero = state.pop(self.KEY, None)
        self.inner.load_state_dict(state, device)


class ChainedMode:
    """Shared bookkeeping: the first frame (or any frame with no predecessor) starts from ``first_init``."""

    def __init__(self, first_init: InitSource):
        self.first_init = first_init
        self.state = ChainState()

    def prepare(self, params: FrameParams) -> FrameInit:
        if self.state.previous is None:
            return FrameInit(self.first_init(params))
        return FrameInit(self.warp(self.state.previous, params), from_previous=True)

    def commit(self, frame: torch.Tensor, params: FrameParams) -> torch.Tensor:
        self.state.previous = frame
        return frame

    def extra_images(self, saved: torch.Tensor, params: FrameParams) -> dict[str, np.ndarray]:
        return {}

    def state_dict(self) -> dict:
        return {"previous": to_stored_u8(self.state.previous)}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.state.previous = from_stored_u8(state["previous"], device)

    def warp(self, previous: torch.Tensor, params: FrameParams) -> torch.Tensor:
        raise NotImplementedError

    def warp_image(self, image: torch.Tensor, params: FrameParams) -> torch.Tensor:
        """Any image moved by the camera step of ``params`` (what a loop warps frame 0 with)."""
        return self.warp(image, params)
