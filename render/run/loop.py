"""The frame loop: parameters -> init (mode) -> frame (generator) -> 8-bit PNG on disk (+ the mode's extra images)
-> checkpoint.

It knows neither the animation mode nor the generator, only their interfaces, so diffusion, depth and flow plug in
without changing it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tqdm import tqdm

from render.config.plan import RenderPlan
from render.disk.faults import fault_point
from render.disk.quantize import frame_to_image, image_to_frame
from render.generators.base import FrameGenerator
from render.modes.base import AnimationMode
from render.run.run_dir import RunDir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameDone:
    frame: int
    seed: int
    seconds: dict[str, float]  # prepare (warp, depth), generate, save


@dataclass
class LoopResult:
    frames: list[int] = field(default_factory=list)
    stopped: bool = False  # a stop was requested and the loop ended after a finished frame


def render_frames(plan: RenderPlan, mode: AnimationMode, generator: FrameGenerator, run: RunDir,
                  frames: Iterable[int] | None = None, *, progress: bool = True,
                  on_frame: Callable[[FrameDone], None] | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  on_start: Callable[[int], None] | None = None) -> LoopResult:
    """Render ``frames`` (default: all) in order; ``on_start(frame)`` runs first, each is saved as
    ``frames/{frame:05d}.png`` atomically, then ``on_frame`` runs (the checkpoint: a frame counts as done once it
    returns)."""
    frames = list(range(plan.n_frames) if frames is None else frames)
    result = LoopResult()
    bar = tqdm(frames, desc="frames", unit="frame", disable=not progress, dynamic_ncols=True)
    for index in bar:
        if on_start is not None:
            on_start(index)
        started = time.perf_counter()
        params = plan.params(index)
        init = mode.prepare(params)
        prepared = time.perf_counter()
        frame = init.image if init.final else generator(init, params)
        generated = time.perf_counter()
        fault_point(f"frame:{index}")
        frame = image_to_frame(frame_to_image(frame), frame.device)  # 8-bit exact: what is on disk is what comes next
        output = mode.commit(frame, params)
        run.save_frame(index, frame_to_image(output))
        for name, extra in mode.extra_images(output, params).items():
            run.save_extra(name, extra)
        saved = time.perf_counter()
        if on_frame is not None:
            on_frame(FrameDone(index, params.seed, {"prepare": prepared - started, "generate": generated - prepared,
                                                    "save": saved - generated}))
        result.frames.append(index)
        if should_stop is not None and should_stop() and index != frames[-1]:
            result.stopped = True
            break
    bar.close()
    return result
