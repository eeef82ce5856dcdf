"""The frame loop, with stand-in modes and generators: it only wires the interfaces together."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from render.config.plan import RenderPlan
from render.modes.base import ChainState, FrameInit
from render.run.loop import render_frames
from render.run.run_dir import RunDir
from transforms.prompts import PromptSchedule


def make_plan(n=4, width=8, height=4):
    return RenderPlan(n_frames=n, width=width, height=height, fps=12.0, seed=10,
                      schedules={"animation.zoom": np.linspace(1, 2, n)},
                      text_prompts=PromptSchedule(((),) * n, ()), image_prompts=PromptSchedule(((),) * n, ()))


class RecordingMode:
    def __init__(self):
        self.state = ChainState()
        self.committed = []

    def prepare(self, params):
        value = params["animation.zoom"] / 4
        final = params.frame == 2  # the mode makes frame 2 by itself (like a turbo in-between frame)
        return FrameInit(torch.full((1, 3, 4, 8), value), final=final)

    def commit(self, frame, params):
        self.committed.append((params.frame, frame.clone()))
        return frame

    def extra_images(self, saved, params):
        return {f"extra/{params.frame:05d}.png": np.zeros((2, 2), np.uint16)} if params.frame == 1 else {}


class RecordingGenerator:
    def __init__(self):
        self.calls = []

    def __call__(self, init, params):
        self.calls.append((params.frame, params.seed))
        return init.image + 0.1


def test_loop_wires_mode_generator_and_disk(tmp_path):
    plan, mode, generator = make_plan(), RecordingMode(), RecordingGenerator()
    run = RunDir(tmp_path, "t").create()
    result = render_frames(plan, mode, generator, run, progress=False)
    assert result.frames == [0, 1, 2, 3]
    assert generator.calls == [(0, 10), (1, 11), (3, 13)]  # no generator call for the mode's own frame
    for frame, committed in mode.committed:
        on_disk = np.asarray(Image.open(run.frame_path(frame)))
        # what the mode remembers is exactly the 8-bit frame on disk
        np.testing.assert_array_equal((committed[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8),
                                      on_disk)
    expected_0 = int((1 / 4 + 0.1) * 255)  # truncation, as DD's ToPILImage
    assert np.asarray(Image.open(run.frame_path(0)))[0, 0, 0] == expected_0
    assert np.asarray(Image.open(run.frame_path(2)))[0, 0, 0] == int(plan.params(2)["animation.zoom"] / 4 * 255)
    assert not list(tmp_path.glob("frames/.*"))  # no temp files left behind
    assert [p.name for p in (tmp_path / "extra").iterdir()] == ["00001.png"]


def test_loop_can_render_a_subset(tmp_path):
    run = RunDir(tmp_path, "t").create()
    result = render_frames(make_plan(), RecordingMode(), RecordingGenerator(), run, frames=[2, 3], progress=False)
    assert result.frames == [2, 3]
    assert sorted(p.name for p in run.frames_dir.iterdir()) == ["00002.png", "00003.png"]
