"""The frame loop: parameters -> init (mode) -> frame (generator) -> 8-bit PNG on disk.

It knows neither the animation mode nor the generator, only their interfaces, so diffusion, depth and flow plug in
without changing it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable

from tqdm import tqdm

from render.generators import FrameGenerator
from render.images import from_uint8, to_uint8
from render.modes import AnimationMode
from render.plan import RenderPlan
from render.run_dir import RunDir

log = logging.getLogger(__name__)


@dataclass
class LoopResult:
    frames: list[int] = field(default_factory=list)


def render_frames(plan: RenderPlan, mode: AnimationMode, generator: FrameGenerator, run: RunDir,
                  frames: Iterable[int] | None = None, *, progress: bool = True) -> LoopResult:
    """Render ``frames`` (default: all) in order and save each as ``frames/{frame:05d}.png`` atomically."""
    frames = list(range(plan.n_frames) if frames is None else frames)
    result = LoopResult()
    bar = tqdm(frames, desc="frames", unit="frame", disable=not progress, dynamic_ncols=True)
    for index in bar:
        params = plan.params(index)
        init = mode.prepare(params)
        frame = init.image if init.final else generator(init, params)
        image = to_uint8(frame)
        run.save_frame(index, image)
        mode.commit(from_uint8(image, frame.device), params)
        result.frames.append(index)
    bar.close()
    return result
