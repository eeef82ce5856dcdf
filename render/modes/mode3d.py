"""Disco Diffusion's 3D mode: depth of the previous frame, camera move, warp; with turbo and VR.

**Turbo** (``turbo_mode``; DD's blending of two warped chains): after ``turbo_preroll`` frames, only every
``turbo_steps``-th frame is diffused. From the preroll frame on, an *old* chain is warped along with the *new* one; an
in-between frame ``f`` is ``bf*new + (1-bf)*old`` with ``bf = ((f % steps) + 1) / steps`` and is not diffused (for
``turbo_steps=3``: 2/3, then 1.0). A diffused frame restarts the old chain from its init. With turbo on, every saved
frame after frame 0 is ``diffused/steps + init*(1 - 1/steps)`` while the pure diffused frame is what the next frame
warps from. Frame 0 is always diffused.

**VR** (``vr_mode``): each saved frame is also seen by two eyes, ``±vr_ipd/2 · cos(angle)`` to the side and turned
``∓vr_eye_angle`` degrees toward the centre, through DD's fisheye lens: ``vr/{frame:05d}_l.png`` and ``_r.png``.

**Depth over time** (the setting and the module ``depth.stabilize``): after each warp the depth it used is moved by
that frame's camera step into the next frame's view (``depth_prior``, kept in 16-bit float so that a resumed run holds
the same one). The next chain image's depth is measured against it (``depth_flicker``, one value per frame for
``run.json``) and, with a stabiliser, held to it; the eye views and saved depth maps use that held depth too. Turbo's
old chain and ``warp_image`` use the estimator's depth as it is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from depth.base import DepthEstimator
from depth.stabilize import DepthStabilizer, depth_flicker, move_depth
from render.config.plan import FrameParams
from render.disk.quantize import (
    frame_to_image,
    from_stored_u8,
    round_to_levels,
    to_stored_u8,
    truncate_to_levels,
)
from render.modes.base import FrameInit, InitSource
from transforms.camera3d import warp3d, warp3d_vr_eye

DEPTH_PNG_SCALE = 6553.5  # 16-bit depth maps: value = depth * 6553.5, so 0..10 depth units fill 0..65535


@dataclass(frozen=True)
class Turbo:
    steps: int = 3
    preroll: int = 10

    def skips(self, frame: int) -> bool:
        """An in-between frame: after the preroll, not a multiple of ``steps``."""
        return frame > self.preroll and frame % self.steps != 0

    def blend_factor(self, frame: int) -> float:
        return ((frame % self.steps) + 1) / self.steps


@dataclass(frozen=True)
class Camera:
    near: float = 200.0
    far: float = 10000.0
    padding_mode: str = "border"
    sampling_mode: str = "bicubic"


@dataclass
class State3D:
    previous: torch.Tensor | None = None  # what the next frame warps from (the pure diffused frame)
    old: torch.Tensor | None = None  # turbo's old chain
    new: torch.Tensor | None = None  # this frame's warp of previous (turbo blends the saved frame with it)
    depth_prior: torch.Tensor | None = None  # float16 (1,1,H,W): the last warp's depth in the next view, NaN unseen
    depth_flicker: list[float] = field(default_factory=list)  # per frame (depth.stabilize's measure), in percent


def to_f16_bytes(depth: torch.Tensor | None) -> torch.Tensor | None:
    """A float16 map as its bytes (uint8, last axis doubled): the checkpoint keeps it in state/blobs/ like frames."""
    return None if depth is None else depth.to(torch.float16).contiguous().cpu().view(torch.uint8)


def from_f16_bytes(data: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if data is None else data.contiguous().view(torch.float16).to(device)


def blend(a: torch.Tensor, weight: float, b: torch.Tensor) -> torch.Tensor:
    """``weight*a + (1-weight)*b`` rounded to 8 bits, as ``cv2.addWeighted`` on the 8-bit frames."""
    return round_to_levels(a * weight + b * (1 - weight))


class Mode3D:
    def __init__(self, first_init: InitSource, depth: DepthEstimator, camera: Camera, *, turbo: Turbo | None = None,
                 vr: tuple[float, float] | None = None, save_depth: bool = False,
                 stabilizer: DepthStabilizer | None = None):
        self.first_init, self.depth, self.camera = first_init, depth, camera
        self.turbo, self.vr, self.save_depth, self.stabilizer = turbo, vr, save_depth, stabilizer
        self.state = State3D()
        self._last_depth: torch.Tensor | None = None
        self._depth_memo: tuple[torch.Tensor, torch.Tensor] | None = None  # (image, its depth)
        self._chain_memo: tuple[torch.Tensor, torch.Tensor] | None = None  # (chain image, its held depth)
        self._image_depth: tuple[torch.Tensor, torch.Tensor] | None = None  # warp_image's (image, its depth)

    def _depth_of(self, image: torch.Tensor) -> torch.Tensor:
        """Depth of ``image``, reusing the last result for the same tensor: with VR, the saved frame's depth (for
        the eye views) is also the depth the next frame warps it with."""
        if self._depth_memo is None or self._depth_memo[0] is not image:
            self._depth_memo = (image, self.depth(image))
        return self._depth_memo[1]

    def _chain_depth(self, image: torch.Tensor) -> torch.Tensor:
        """Depth of the chain's image, held to the previous step's (``depth_prior``) when stabilising."""
        prior = self.state.depth_prior
        if self.stabilizer is None or prior is None:
            return self._depth_of(image)
        if self._chain_memo is None or self._chain_memo[0] is not image:
            depth = self._depth_of(image)
            self._chain_memo = (image, self.stabilizer(depth, prior.to(depth.device, torch.float32)))
        return self._chain_memo[1]

    def _carry_depth(self, depth: torch.Tensor, params: FrameParams) -> None:
        """Measure ``depth`` against the prior, then move it by this frame's camera step: the next prior."""
        s, c = self.state, self.camera
        if s.depth_prior is not None:
            flicker = depth_flicker(depth, s.depth_prior.to(depth.device, torch.float32))
            if flicker is not None:
                s.depth_flicker.append(flicker)
        moved = move_depth(depth, *self._step(params), fov=params["animation.fov"], near=c.near, far=c.far)
        s.depth_prior = moved.to(torch.float16)
        self._chain_memo = None

    @staticmethod
    def _step(params: FrameParams) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return (tuple(params[f"animation.translation_{a}"] for a in "xyz"),
                tuple(params[f"animation.rotation_3d_{a}"] for a in "xyz"))

    def _warp(self, image: torch.Tensor, params: FrameParams, depth: torch.Tensor | None = None) -> torch.Tensor:
        depth = self._depth_of(image) if depth is None else depth
        translation, rotation = self._step(params)
        c = self.camera
        warped = warp3d(image, depth, translation, rotation, fov=params["animation.fov"], near=c.near, far=c.far,
                        padding_mode=c.padding_mode, sampling_mode=c.sampling_mode)
        return truncate_to_levels(warped)  # the 8-bit frame DD writes to prevFrameScaled.png

    def warp_image(self, image: torch.Tensor, params: FrameParams) -> torch.Tensor:
        """Any image moved by the camera step of ``params``, with its own depth (kept for the same tensor, so the
        chain's depth memo is left alone)."""
        if self._image_depth is None or not torch.equal(self._image_depth[0], image):
            self._image_depth = (image.clone(), self.depth(image))
        return self._warp(image, params, self._image_depth[1])

    def prepare(self, params: FrameParams) -> FrameInit:
        s, f = self.state, params.frame
        if s.previous is None:
            s.new = None
            return FrameInit(self.first_init(params))
        depth = self._chain_depth(s.previous)
        self._last_depth = depth
        s.new = self._warp(s.previous, params, depth)
        self._carry_depth(depth, params)
        if self.turbo is not None and f == self.turbo.preroll:
            s.old = s.new
        elif self.turbo is not None and self.turbo.skips(f) and s.old is not None:
            s.old = self._warp(s.old, params)
            return FrameInit(blend(s.new, self.turbo.blend_factor(f), s.old), final=True, from_previous=True)
        elif self.turbo is not None and f > self.turbo.preroll:
            s.old = s.new
        return FrameInit(s.new, from_previous=True)

    def commit(self, frame: torch.Tensor, params: FrameParams) -> torch.Tensor:
        s, f = self.state, params.frame
        if self.turbo is not None and self.turbo.skips(f) and s.old is not None:
            s.previous = s.new  # the unblended warp feeds the next frame
            return frame
        s.previous = frame
        if self.turbo is not None and f > 0 and s.new is not None:
            return blend(frame, 1 / self.turbo.steps, s.new)
        return frame

    def extra_images(self, saved: torch.Tensor, params: FrameParams) -> dict[str, np.ndarray]:
        images = {}
        if self.save_depth and self._last_depth is not None:
            depth = (self._last_depth[0, 0].float() * DEPTH_PNG_SCALE).clamp(0, 65535).round()
            images[f"depth/{params.frame:05d}.png"] = depth.cpu().numpy().astype(np.uint16)
        if self.vr is not None:
            images.update(self._eye_views(saved, params))
        self._last_depth = None
        return images

    def _eye_views(self, saved: torch.Tensor, params: FrameParams) -> dict[str, np.ndarray]:
        angle, ipd = self.vr
        depth = self._chain_depth(saved)
        views = {}
        for side, sign in (("l", -1.0), ("r", 1.0)):
            origin = math.cos(math.radians(angle)) * ipd / 2 * sign
            view = warp3d_vr_eye(saved, depth, (origin, 0.0, 0.0), (0.0, -sign * angle, 0.0),
                                 fov=params["animation.fov"], near=self.camera.near, far=self.camera.far,
                                 padding_mode=self.camera.padding_mode, sampling_mode=self.camera.sampling_mode)
            views[f"vr/{params.frame:05d}_{side}.png"] = frame_to_image(view)
        return views

    def state_dict(self) -> dict:
        s = self.state
        prior = s.depth_prior if self.stabilizer is not None else None  # only a stabilised run needs it back
        return {"previous": to_stored_u8(s.previous), "old": to_stored_u8(s.old), "depth_prior": to_f16_bytes(prior),
                "depth_flicker": list(s.depth_flicker)}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.state = State3D(previous=from_stored_u8(state["previous"], device),
                             old=from_stored_u8(state.get("old"), device),
                             depth_prior=from_f16_bytes(state.get("depth_prior"), device),
                             depth_flicker=list(state.get("depth_flicker", [])))
        self._depth_memo = self._chain_memo = None

    def depth_flicker_series(self) -> list[float]:
        """The depth-flicker measure of every frame warped so far (``depth.stabilize``), in percent."""
        return list(self.state.depth_flicker)
