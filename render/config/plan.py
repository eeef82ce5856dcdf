"""What every frame gets: its schedule values, prompts and seed, computed once before rendering starts."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from render.config.diffusion_plan import HubClips
from transforms.prompts import Prompt, PromptSchedule

if TYPE_CHECKING:
    import torch

    from audio.analysis import AudioFeatures
    from flow.extract import VideoInfo
    from render.config.depth_plan import DepthPlan
    from render.config.diffusion_plan import DiffusionPlan
    from render.config.flow_plan import FlowPlan
    from render.config.precision import Hardware, PrecisionChoice

SEED_MODULUS = 2**32


@dataclass(frozen=True)
class VideoSource:
    """The source video as validation found it: what to extract and at which size."""

    path: Path
    info: "VideoInfo"
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
class Assets:
    """What a run's final plan needs from outside its settings, resolved once (render/config/assets.py)."""

    device: "torch.device"
    hardware: "Hardware"
    seed: int
    memory: int | None = None  # bytes of the device's memory (None: unknown)
    audio: "AudioFeatures | None" = None
    video: "VideoInfo | None" = None
    video_sha256: str = ""  # the source video's content hash: the flow cache's key
    fetched: Mapping[str, Path] = field(default_factory=lambda: MappingProxyType({}))
    hub: HubClips = field(default_factory=HubClips)
    clip_cpu_precision: Mapping[str, str] = field(default_factory=dict)  # ARCH:TAG -> what auto picks on a CPU
    weight_sha256: Mapping[str, str] = field(default_factory=dict)  # registry key -> verified digest
    camera_path: Any = None  # animation.camera_path's glTF camera, read (transforms/camera_path.py CameraPath)
    pins: Any = None  # a resumed run's pinned choices (render/config/pins.py Pins)


@dataclass(frozen=True)
class RenderPlan:
    """Every schedule evaluated over every frame, the frame size, rate and seed, and the plans of the models.

    :func:`render.config.planner.plan_run` makes it from the settings alone (a draft: no device, song or source
    video yet) and again with the resolved :class:`~render.config.assets.Assets` (the final plan a run renders)."""

    n_frames: int
    width: int
    height: int
    fps: float
    seed: int
    schedules: Mapping[str, np.ndarray]
    text_prompts: PromptSchedule
    image_prompts: PromptSchedule
    diffusion: "DiffusionPlan | None" = None  # what the diffusion generator needs; None for the preview
    depth: "DepthPlan | None" = None  # the 3D mode's depth estimator and its files; None for other modes
    video: VideoSource | None = None  # video input: the source video and what is extracted from it
    flow: "FlowPlan | None" = None  # video input: the optical flow backend
    seed_offset: int = 0
    seed_stride: int = 1
    seed_stream: bool = False  # stills (n_batches): seeded once at frame 0, later frames continue the stream
    precisions: Mapping[str, "PrecisionChoice"] = field(default_factory=dict)  # per model: value and reason
    assets: Assets | None = None  # None in a draft plan
    warnings: tuple[str, ...] = ()  # said in the log, run.json and report.html: fallbacks, floored sizes, precisions
    notes: tuple[str, ...] = ()  # said in the log: what auto chose where that is a fine choice

    @property
    def device(self) -> "torch.device":
        if self.assets is not None:
            return self.assets.device
        import torch

        return torch.device("cpu")

    @property
    def audio(self) -> "AudioFeatures | None":
        """The song's per-frame features (audio.path), muxed into the videos."""
        return self.assets.audio if self.assets is not None else None

    @property
    def fetched(self) -> Mapping[str, Path]:
        """Image URLs (init_image, image prompts) -> their cached files."""
        return self.assets.fetched if self.assets is not None else MappingProxyType({})

    def local_image(self, text: str) -> Path:
        """Where an image setting's file is: the cached download of a URL, else the path itself."""
        return self.fetched.get(text) or Path(text).expanduser()

    def frame_seed(self, frame: int) -> int:
        """Disco Diffusion's seed sequence: ``seed + offset + stride*frame`` (kept in 32 bits); 2D/3D ``seed +
        frame``, video input ``seed + frame + 1`` or a constant seed (see ``render.config.checks.seed_policy``)."""
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
