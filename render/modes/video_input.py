"""Video Input mode: restyle a source video frame by frame, each frame started from the previous output carried along
the source's optical flow.

Frame 0 starts from source frame 0. Frame ``f > 0`` starts from the previous output warped onto source frame ``f``
with the backward flow ``f -> f-1``, blended into the source frame (``video_init_flow_blend``). Where the flow is
unreliable (the forward-backward check, frame exits, motion edges; ``video_init_check_consistency``, which DD v5.7
left as a stub) the source frame is used instead: ``init = f*(1-b) + b*(w*warped + (1-w)*f)``.

Source frames are extracted once into the flow cache folder (keyed by the video's content hash, size and
``extract_nth_frame``) and flow is computed once per frame pair and cached there too, so a sweep over one video, or
a resumed run, reads both back.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from flow.cache import FlowCache, FlowKey
from flow.consistency import blend_init, consistency_layers, reliability_mask
from flow.extract import iter_frames
from flow.warp import flow_to_color, warp_with_flow
from render.config.plan import FrameParams, VideoSource
from render.disk.images import save_png_atomic
from render.disk.quantize import (
    frame_to_image,
    from_stored_u8,
    image_to_frame,
    round_array_to_u8,
    to_stored_u8,
    u8_array_to_float,
)
from render.modes.base import ChainState, FrameInit

DEFAULT_CACHE_DIR = Path("~/.cache/disco-anim/flow")


@dataclass(frozen=True)
class Consistency:
    occlusion_weight: float = 1.0
    edge_weight: float = 1.0
    dilation: int = 0
    blur: float = 2.0


class SourceFrames:
    """Extracted source frames as PNGs under the cache (``<root>/frames/<video>-<W>x<H>-n<nth>/00000.png``)."""

    def __init__(self, source: VideoSource, cache_root: Path):
        w, h = source.size
        name = f"{source.content_sha256[:16]}-{w}x{h}-n{source.nth}"
        self.folder = Path(os.path.expanduser(cache_root)) / "frames" / name
        self.source = source

    def ensure(self) -> "SourceFrames":
        done = self.folder / f"done-{self.source.n_frames}"
        if not done.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            frames = iter_frames(self.source.path, self.source.size, self.source.nth, self.source.n_frames)
            for index, frame in enumerate(frames):
                save_png_atomic(frame, self.path(index))
            done.touch()
        return self

    def path(self, index: int) -> Path:
        return self.folder / f"{index:05d}.png"

    def load(self, index: int) -> np.ndarray:
        with Image.open(self.path(index)) as img:
            return np.array(img.convert("RGB"))


class PairFlows:
    """Forward and backward flow of source frames ``(i-1, i)``, computed once and cached."""

    def __init__(self, frames: SourceFrames, estimator, cache: FlowCache):
        self.frames, self.estimator, self.cache = frames, estimator, cache
        self.key = FlowKey.for_video(frames.source.content_sha256, frames.source.size, estimator, frames.source.nth)

    def into(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(flow i-1 -> i on frame i-1's grid, flow i -> i-1 on frame i's grid)``."""
        def compute():
            a, b = self.frames.load(index - 1), self.frames.load(index)
            if hasattr(self.estimator, "pair"):
                return self.estimator.pair(a, b)
            return self.estimator(a, b), self.estimator(b, a)

        return self.cache.get_or_compute(self.key, index - 1, compute)

    def carry(self, previous: np.ndarray, index: int, consistency: Consistency | None) -> tuple[np.ndarray, ...]:
        """The previous output carried onto frame ``index``, and the reliability mask (None without the check)."""
        forward, backward = self.into(index)
        warped = warp_with_flow(previous, backward)
        if consistency is None:
            return warped, None, backward
        layers = consistency_layers(backward, forward)
        mask = reliability_mask(layers, occlusion_weight=consistency.occlusion_weight,
                                edge_weight=consistency.edge_weight, dilation=consistency.dilation,
                                blur_sigma=consistency.blur)
        return warped, mask, backward


class VideoMode:
    def __init__(self, frames: SourceFrames, flows: PairFlows | None, *, flow_warp: bool = True, flow_blend: float,
                 consistency: Consistency | None, previews: bool = False, device: torch.device | str = "cpu"):
        self.frames, self.flows, self.flow_warp, self.flow_blend = frames, flows, flow_warp, flow_blend
        self.consistency, self.previews, self.device = consistency, previews, torch.device(device)
        self.state = ChainState()
        self._extras: dict[str, np.ndarray] = {}

    def prepare(self, params: FrameParams) -> FrameInit:
        f = params.frame
        source = self.frames.load(f)
        self._extras = {}
        if f == 0 or not self.flow_warp or self.flows is None or self.state.previous is None:
            return FrameInit(image_to_frame(source, self.device), from_previous=f > 0)
        previous = frame_to_image(self.state.previous)
        warped, mask, backward = self.flows.carry(previous, f, self.consistency)
        init = blend_init(u8_array_to_float(source), u8_array_to_float(warped), mask, self.flow_blend)
        if self.previews:
            self._extras[f"flow_preview/{f:05d}_flow.png"] = flow_to_color(backward)
            if mask is not None:
                self._extras[f"flow_preview/{f:05d}_mask.png"] = round_array_to_u8(mask)
        init_u8 = round_array_to_u8(init)  # DD writes the init as an 8-bit image
        return FrameInit(image_to_frame(init_u8, self.device), from_previous=True)

    def commit(self, frame: torch.Tensor, params: FrameParams) -> torch.Tensor:
        self.state.previous = frame
        return frame

    def warp_image(self, image: torch.Tensor, params: FrameParams) -> torch.Tensor:
        """Any image carried along the source's optical flow into this frame (as it is without flow)."""
        if params.frame == 0 or self.flows is None:
            return image
        return image_to_frame(self.flows.carry(frame_to_image(image), params.frame, None)[0], image.device)

    def extra_images(self, saved: torch.Tensor, params: FrameParams) -> dict[str, np.ndarray]:
        extras, self._extras = self._extras, {}
        return extras

    def state_dict(self) -> dict:
        return {"previous": to_stored_u8(self.state.previous)}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.state.previous = from_stored_u8(state["previous"], device)


def blend_exports(frames_dir: Path, out_dir: Path, n_frames: int, flows: PairFlows | None) -> Path:
    """DD's export blends, one image per frame (frame 0 copied): with ``flows`` each frame is half itself, half the
    frame before carried along the source's flow (DD's "optical flow" export); without, half itself and half the
    frame before (DD's "linear" export, here in frame order: DD's glob was unsorted)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = None
    for index in range(n_frames):
        with Image.open(frames_dir / f"{index:05d}.png") as img:
            current = np.asarray(img.convert("RGB"))
        if previous is None:
            blended = current
        else:
            other = flows.carry(previous, index, None)[0] if flows is not None else previous
            blended = round_array_to_u8((current.astype(np.float32) + other.astype(np.float32)) / 2, scale=1)
        save_png_atomic(blended, out_dir / f"{index:05d}.png")
        previous = current
    return out_dir
