"""Animation modes: how each frame's init is made from the frames before it.

A mode has two steps per frame. ``prepare(params)`` returns the frame's :class:`FrameInit` (the image the generator
starts from, or the finished frame itself when the mode makes it alone). ``commit(frame, params)`` records the frame
that was saved, so the next frame is warped from exactly what is on disk. What a mode carries between frames is
``state``, a small dataclass that resume can save and restore.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from depth.base import DepthEstimator
from render.plan import FrameParams
from transforms.camera2d import warp2d
from transforms.camera3d import warp3d

InitSource = Callable[[FrameParams], "torch.Tensor | None"]


@dataclass
class FrameInit:
    image: torch.Tensor | None  # (1,3,H,W) in [0,1], or None for "start from noise"
    final: bool = False  # True: ``image`` is the frame itself and no generator runs
    from_previous: bool = False  # True: made from earlier frames (DD then uses frames_scale/frames_skip_steps)


@dataclass
class ChainState:
    previous: torch.Tensor | None = None  # the last saved frame, (1,3,H,W) in [0,1]


class AnimationMode(Protocol):
    state: ChainState

    def prepare(self, params: FrameParams) -> FrameInit: ...

    def commit(self, frame: torch.Tensor, params: FrameParams) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict, device: torch.device) -> None: ...


def _to_u8(frame: torch.Tensor | None) -> torch.Tensor | None:
    """A committed frame (k/255 values) stored exactly and compactly."""
    return None if frame is None else frame.mul(255).round().to(torch.uint8).cpu()


def _from_u8(frame: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if frame is None else frame.to(device).float().div(255)


class _Chained:
    """Shared bookkeeping: the first frame (or any frame with no predecessor) starts from ``first_init``."""

    def __init__(self, first_init: InitSource):
        self.first_init = first_init
        self.state = ChainState()

    def prepare(self, params: FrameParams) -> FrameInit:
        if self.state.previous is None:
            return FrameInit(self.first_init(params))
        return FrameInit(self.warp(self.state.previous, params), from_previous=True)

    def commit(self, frame: torch.Tensor, params: FrameParams) -> None:
        self.state.previous = frame

    def state_dict(self) -> dict:
        return {"previous": _to_u8(self.state.previous)}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.state.previous = _from_u8(state["previous"], device)

    def warp(self, previous: torch.Tensor, params: FrameParams) -> torch.Tensor:
        raise NotImplementedError


class StillMode(_Chained):
    """``animation.mode=none``: every frame starts from the init image (or noise), independent of the others."""

    def prepare(self, params: FrameParams) -> FrameInit:
        return FrameInit(self.first_init(params))


class Mode2D(_Chained):
    """Disco Diffusion's 2D mode: translate, then rotate and zoom about the centre, edges wrapping."""

    def warp(self, previous: torch.Tensor, params: FrameParams) -> torch.Tensor:
        return warp2d(previous, params["animation.angle"], params["animation.zoom"],
                      params["animation.translation_x"], params["animation.translation_y"])


class Mode3D(_Chained):
    """Disco Diffusion's 3D mode: estimate depth of the previous frame, move the camera, warp."""

    def __init__(self, first_init: InitSource, depth: DepthEstimator, *, near: float, far: float,
                 padding_mode: str, sampling_mode: str):
        super().__init__(first_init)
        self.depth = depth
        self.near, self.far = near, far
        self.padding_mode, self.sampling_mode = padding_mode, sampling_mode

    def warp(self, previous: torch.Tensor, params: FrameParams) -> torch.Tensor:
        depth = self.depth(previous)
        translation = (params["animation.translation_x"], params["animation.translation_y"],
                       params["animation.translation_z"])
        rotation = (params["animation.rotation_3d_x"], params["animation.rotation_3d_y"],
                    params["animation.rotation_3d_z"])
        return warp3d(previous, depth, translation, rotation, fov=params["animation.fov"], near=self.near,
                      far=self.far, padding_mode=self.padding_mode, sampling_mode=self.sampling_mode)
