"""What every frame gets: its schedule values, prompts and seed, computed once before rendering starts."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

import numpy as np
import torch

from flow.extract import VideoInfo
from transforms.prompts import Prompt, PromptSchedule

if TYPE_CHECKING:
    from audio.analysis import AudioFeatures
    from render.config.depth_plan import DepthPlan
    from render.config.diffusion_plan import DiffusionPlan
    from render.config.flow_plan import FlowPlan
    from render.config.precision import PrecisionChoice

SEED_MODULUS = 2**32


@dataclass(frozen=True)
class VideoSource:
    """The source video as validation found it: what to extract and at which size."""

    path: Path
    info: VideoInfo
    nth: int
    n_frames: int  # frames rendered: min(max_frames, frames extracted)
    size: tuple[int, int]  # (width, height) of the render
    content_sha256: str  # of the file's bytes: the key of its extracted frames and flow in the cache


@dataclass(frozen=True)
class PromptMix:
    """One combination of text and image prompts a frame targets, with its share of the guidance; ``since`` is
    the frame it came into force (its targets are seeded by that frame's seed)."""

    text: tuple[Prompt, ...]
    images: tuple[Prompt, ...]
    weight: float
    since: int


@dataclass(frozen=True)
class FrameParams:
    """One frame's inputs. ``values`` maps schedule settings (``"animation.zoom"``) to this frame's value."""

    frame: int
    seed: int
    values: Mapping[str, float]
    text_prompts: tuple[Prompt, ...] = ()
    image_prompts: tuple[Prompt, ...] = ()
    prompt_mix: tuple[PromptMix, ...] = ()  # what the guidance targets (two or more during prompt fades)

    def __getitem__(self, name: str) -> float:
        return self.values[name]


@dataclass(frozen=True)
class RenderPlan:
    """Every schedule evaluated over every frame, plus the frame size, rate and seed."""

    n_frames: int
    width: int
    height: int
    fps: float
    seed: int
    schedules: Mapping[str, np.ndarray]
    text_prompts: PromptSchedule
    image_prompts: PromptSchedule
    device: torch.device = torch.device("cpu")
    diffusion: "DiffusionPlan | None" = None  # what the diffusion generator needs; None for the preview
    depth: "DepthPlan | None" = None  # the 3D mode's depth estimator and its files; None for other modes
    video: VideoSource | None = None  # video input: the source video and what is extracted from it
    flow: "FlowPlan | None" = None  # video input: the optical flow backend
    audio: "AudioFeatures | None" = None  # the song's per-frame features (audio.path), muxed into the videos
    seed_offset: int = 0
    seed_stride: int = 1
    precisions: Mapping[str, "PrecisionChoice"] = field(default_factory=dict)  # per model: value and reason
    seed_stream: bool = False  # stills (n_batches): seeded once at frame 0, later frames continue the stream
    fetched: Mapping[str, Path] = field(default_factory=dict)  # image URLs (init_image, image prompts) -> cached files

    def local_image(self, text: str) -> Path:
        """Where an image setting's file is: the cached download of a URL, else the path itself."""
        return self.fetched.get(text) or Path(text).expanduser()

    def frame_seed(self, frame: int) -> int:
        """Disco Diffusion's seed sequence: ``seed + offset + stride*frame`` (kept in 32 bits); 2D/3D ``seed +
        frame``, video input ``seed + frame + 1`` or a constant seed (see ``render.config.validate._seed_policy``)."""
        return (self.seed + self.seed_offset + self.seed_stride * frame) % SEED_MODULUS

    def precision(self, model: str) -> str:
        """The precision chosen for ``model`` (``unet``, ``clip ARCH:TAG``, ``depth``, ``flow``); fp32 when the run
        has no such model."""
        choice = self.precisions.get(model)
        return choice.value if choice is not None else "fp32"

    def params(self, frame: int) -> FrameParams:
        if not 0 <= frame < self.n_frames:
            raise IndexError(f"frame {frame} is outside 0..{self.n_frames - 1}")
        values = MappingProxyType({name: float(v[frame]) for name, v in self.schedules.items()})
        return FrameParams(frame=frame, seed=self.frame_seed(frame), values=values,
                           text_prompts=self.text_prompts.at(frame), image_prompts=self.image_prompts.at(frame),
                           prompt_mix=self.prompt_mix(frame))

    def prompt_mix(self, frame: int) -> tuple[PromptMix, ...]:
        """The text and image prompt sets of ``frame`` combined: outside fades one mix of weight 1; while text or
        image prompts fade, every pair of their sets, weighted by the product of the two weights."""
        return tuple(PromptMix(t.prompts, i.prompts, t.weight * i.weight, max(t.since, i.since))
                     for t in self.text_prompts.sets_at(frame) for i in self.image_prompts.sets_at(frame))
