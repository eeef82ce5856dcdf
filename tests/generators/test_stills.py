"""DD's batch of stills: ``animation=none`` with ``n_batches`` renders n images from one seeded stream, each its own
PNG, reproducibly and resumably."""
from __future__ import annotations

import signal

import numpy as np
import pytest
import torch
from PIL import Image
from support import frame_hashes, run_main

from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings

STILLS = ["animation=none", "model=tiny", "width=128", "height=64", "seed=5", "model.steps=4", "output=png",
          "model.clip_models=[tiny-vit-32:random]"]


def frames_of(run_dir):
    return [np.asarray(Image.open(p)) for p in sorted((run_dir / "frames").glob("*.png"))]


def test_stills_continue_one_seeded_stream(compose_config, tmp_path, monkeypatch):
    from render.generators import diffusion as gen_module

    seen = []  # the torch RNG state at the start of each still's sampling
    original = gen_module.DiffusionGenerator._sample

    def spy(self, *args):
        seen.append(torch.get_rng_state())
        return original(self, *args)

    monkeypatch.setattr(gen_module.DiffusionGenerator, "_sample", spy)
    plan = plan_and_resolve(to_settings(compose_config(*STILLS, "n_batches=3")))
    assert plan.n_frames == 3 and [plan.params(f).seed for f in range(3)] == [5, 5, 5]
    render_animation(compose_config(*STILLS, "n_batches=3"), tmp_path / "batch", progress=False)
    stills = frames_of(tmp_path / "batch")
    assert len(stills) == 3
    assert not np.array_equal(stills[0], stills[1]) and not np.array_equal(stills[1], stills[2])
    torch.manual_seed(5)
    assert torch.equal(seen[0], torch.get_rng_state())  # still 0: seeded once with the seed
    assert not torch.equal(seen[1], seen[0]) and not torch.equal(seen[2], seen[1])  # then the stream goes on
    render_animation(compose_config(*STILLS), tmp_path / "one", progress=False)
    assert np.array_equal(frames_of(tmp_path / "one")[0], stills[0])  # the first still is the single still


@pytest.mark.slow  # subprocesses; run with python -m pytest -m slow
def test_a_killed_batch_resumes_bit_identically(compose_config, tmp_path):
    args = [*STILLS, "n_batches=2"]
    render_animation(compose_config(*args), tmp_path / "whole", progress=False)
    killed = run_main(*args, f"hydra.run.dir={tmp_path / 'killed'}", env={"DISCO_ANIM_FAULT": "frame:1"})
    assert killed.returncode == -signal.SIGKILL
    assert len(list((tmp_path / "killed" / "frames").glob("*.png"))) == 1
    assert run_main(f"resume={tmp_path / 'killed'}").returncode == 0
    assert frame_hashes(tmp_path / "killed") == frame_hashes(tmp_path / "whole")


@pytest.mark.parametrize("overrides, setting", [
    (["animation=2d_zoom", "n_batches=2"], "n_batches"),
    (["animation=none", "n_batches=0"], "n_batches"),
    (["animation=none", "n_batches=2", "animation.max_frames=3"], "animation.max_frames"),
])
def test_bad_batches_are_named(compose_config, overrides, setting):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config("model=tiny", *overrides)))
    assert setting in str(err.value)
