"""What every frame gets: its schedule values, prompts and seed, computed once before rendering starts."""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

import numpy as np
import torch

from transforms.prompts import Prompt, PromptSchedule

if TYPE_CHECKING:
    from render.diffusion_plan import DiffusionPlan

SEED_MODULUS = 2**32


@dataclass(frozen=True)
class FrameParams:
    """One frame's inputs. ``values`` maps schedule settings (``"animation.zoom"``) to this frame's value."""

    frame: int
    seed: int
    values: Mapping[str, float]
    text_prompts: tuple[Prompt, ...] = ()
    image_prompts: tuple[Prompt, ...] = ()

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

    def frame_seed(self, frame: int) -> int:
        """Disco Diffusion's seed sequence for 2D/3D: ``seed + frame`` (kept in 32 bits)."""
        return (self.seed + frame) % SEED_MODULUS

    def params(self, frame: int) -> FrameParams:
        if not 0 <= frame < self.n_frames:
            raise IndexError(f"frame {frame} is outside 0..{self.n_frames - 1}")
        values = MappingProxyType({name: float(v[frame]) for name, v in self.schedules.items()})
        return FrameParams(frame=frame, seed=self.frame_seed(frame), values=values,
                           text_prompts=self.text_prompts.at(frame), image_prompts=self.image_prompts.at(frame))
