"""Branching a run at a frame (resume=<dir> resume_from=N <changes>): the branched frames are bit-identical to a fresh
run with the new settings, the replaced frames are retained (or deleted), run.json records it; bad branch points are
named errors."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from conftest import compose_overrides
from PIL import Image
from support import frame_hashes

from render.app import render_animation
from render.run import loop
from render.run.checkpoint import Checkpoints
from render.run.resume import ResumeError

TINY = ["model=tiny", "width=64", "height=64", "model.steps=4", "seed=5", "output=png", "output.previews=false",
        "output.quality=false", "animation.max_frames=10"]
RUN_2D = ["animation=2d_zoom", *TINY]
PROMPT_A = 'text_prompts={0: ["a lighthouse:1"]}'
PROMPT_AB = 'text_prompts={0: ["a lighthouse:1"], 6: ["a red forest:1"]}'
ANGLE = 'animation.angle="0: (0), 5: (0), 6: (4)"'  # the old schedule (0) before frame 6, a turn from 6 on


def run(compose_config, run_dir, *overrides, resume_dir=None):
    extra = [f"resume={resume_dir}"] if resume_dir is not None else []
    cfg = compose_config(*extra, *overrides)
    return render_animation(cfg, run_dir, progress=False, overrides=[*extra, *overrides])


def branch(compose_config, run_dir, *overrides):
    return run(compose_config, run_dir, *overrides, resume_dir=run_dir)


@pytest.fixture(scope="module")
def base_2d(tmp_path_factory):
    """A 10-frame tiny diffusion run (prompt A, no turn) and its frame hashes."""
    run_dir = tmp_path_factory.mktemp("base") / "run"
    run(compose_overrides, run_dir, *RUN_2D, PROMPT_A)
    return run_dir, frame_hashes(run_dir)


@pytest.fixture
def base_copy(base_2d, tmp_path):
    """A copy of the base run to branch."""
    source, hashes = base_2d
    target = tmp_path / "run"
    shutil.copytree(source, target)
    return target, hashes


@pytest.mark.parametrize("change", [PROMPT_AB, ANGLE], ids=["prompt", "schedule"])
def test_branch_is_bit_identical_to_a_fresh_run_with_the_new_settings(compose_config, base_copy, tmp_path,
                                                                       change):
    run_dir, old = base_copy
    result = branch(compose_config, run_dir, "resume_from=6", change)
    assert result.frames == [6, 7, 8, 9]  # only the frames from the branch point on were rendered
    fresh = tmp_path / "fresh"
    run(compose_config, fresh, *RUN_2D, PROMPT_A, change)
    expected = frame_hashes(fresh)
    assert frame_hashes(run_dir) == expected
    assert [expected[f"{f:05d}.png"] for f in range(6)] == [old[f"{f:05d}.png"] for f in range(6)]
    assert all(expected[f"{f:05d}.png"] != old[f"{f:05d}.png"] for f in range(6, 10))  # the change took effect

    record = json.loads((run_dir / "run.json").read_text())
    (entry,) = record["branches"]
    assert entry["frame"] == 6 and entry["retained"].startswith("retained/")
    assert entry["changed"] == (["text_prompts.6"] if change == PROMPT_AB else ["animation.angle"])
    assert [f["frame"] for f in record["frames"]] == list(range(10)) and record["status"] == "completed"
    retained = run_dir / entry["retained"]
    kept = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (retained / "frames").glob("*.png")}
    assert kept == {f"{f:05d}.png": old[f"{f:05d}.png"] for f in range(6, 10)}  # the replaced frames, unchanged
    assert sorted(p.name for p in (retained / "state").glob("*.state")) == [f"{f:05d}.state" for f in range(6, 10)]
    assert "a red forest" not in (retained / "config.yaml").read_text()
    assert Checkpoints(retained / "state").read(retained / "state" / "00009.state").frame == 9  # readable


def test_branch_then_plain_resume_after_a_stop_before_the_first_new_frame(compose_config, base_copy, tmp_path,
                                                                          monkeypatch):
    """Stopped between writing the new config and finishing frame 6: a plain resume continues the branch."""
    run_dir, _ = base_copy

    def stop_at_6(name):
        if name == "frame:6":
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "fault_point", stop_at_6)
    with pytest.raises(KeyboardInterrupt):
        branch(compose_config, run_dir, "resume_from=6", PROMPT_AB)
    monkeypatch.undo()
    assert Checkpoints(run_dir / "state").latest_frame() == 5
    assert branch(compose_config, run_dir).frames == [6, 7, 8, 9]
    run(compose_config, tmp_path / "fresh", *RUN_2D, PROMPT_AB)
    assert frame_hashes(run_dir) == frame_hashes(tmp_path / "fresh")


def test_branch_without_retain_deletes_and_branch_at_zero_restarts(compose_config, base_copy):
    run_dir, old = base_copy
    result = branch(compose_config, run_dir, "resume_from=0", "resume_retain=false")
    assert result.frames == list(range(10))
    assert frame_hashes(run_dir) == old  # nothing changed: the same frames again
    assert not (run_dir / "retained").exists()
    assert json.loads((run_dir / "run.json").read_text())["branches"][0] == {
        **json.loads((run_dir / "run.json").read_text())["branches"][0], "frame": 0, "changed": [], "retained": None}


@pytest.mark.parametrize("overrides, message", [
    (["resume_from=11"], "past the run's last finished frame (9)"),
    (["resume_from=-1"], "0 or more"),
    (["resume_from=4", "width=128"], "the frame size 64x64 -> 128x64"),
    (["resume_from=4", "animation=3d_zoom"], "animation.mode 2d -> 3d"),
    (["resume_from=10"], "nothing is left to render"),
])
def test_bad_branch_points_are_named_errors_and_touch_nothing(compose_config, base_copy, overrides, message):
    run_dir, old = base_copy
    with pytest.raises(ResumeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        branch(compose_config, run_dir, *overrides)
    assert frame_hashes(run_dir) == old and not (run_dir / "retained").exists()
    assert len(Checkpoints(run_dir / "state").files()) == 10


def test_resume_from_needs_a_run(compose_config, tmp_path):
    with pytest.raises(ResumeError, match="no run is given"):
        run(compose_config, tmp_path, *RUN_2D, "resume_from=3")


def test_keep_states_limits_the_branch_points(compose_config, tmp_path):
    run(compose_config, tmp_path, "animation=2d_zoom", *TINY[:-1], "animation.max_frames=5", "generator=preview",
        "output.keep_states=2")
    assert Checkpoints(tmp_path / "state").frames() == [3, 4]
    with pytest.raises(ResumeError, match="(?s)state of frame 1 was not kept.*frames 0, 4, 5"):
        branch(compose_config, tmp_path, "resume_from=2")


def test_states_refer_to_the_frames_they_hold(compose_config, tmp_path):
    """Colour coherence keeps frame 0's sample in every state: each state refers to frame 0's PNG for it and to its
    own frame's PNG for the previous frame, and stores no image."""
    run(compose_config, tmp_path, "animation=2d_zoom", "width=256", "height=256", "seed=5", "output=png",
        "output.previews=false", "animation.max_frames=4", "generator=preview", "color_coherence=lab")
    store = Checkpoints(tmp_path / "state")
    states = [Checkpoints.read(p) for p in store.files()]
    assert len(states) == 4 and all(torch.equal(s.mode["color_coherence_sample"], states[0].mode[
        "color_coherence_sample"]) for s in states)
    assert torch.equal(states[0].mode["color_coherence_sample"], states[0].mode["previous"])  # frame 0, once
    assert [store.frames_of(p) for p in store.files()] == [{0}, {0, 1}, {0, 2}, {0, 3}]
    assert not list((tmp_path / "state").rglob("*.u8"))
    assert all(p.stat().st_size < 256 * 256 * 3 / 8 for p in store.files())  # no image


def test_colour_coherence_turned_on_at_a_branch_matches_to_frame_0(compose_config, tmp_path):
    preview = ["animation=2d_zoom", "generator=preview", "width=64", "height=64", "seed=5", "output=png",
               "output.previews=false", "animation.max_frames=6"]
    run(compose_config, tmp_path, *preview)
    assert branch(compose_config, tmp_path, "resume_from=3", "color_coherence=lab").frames == [3, 4, 5]
    sample = Checkpoints.read(Checkpoints(tmp_path / "state").path(5)).mode["color_coherence_sample"]
    frame_0 = np.asarray(Image.open(tmp_path / "frames" / "00000.png").convert("RGB"))
    assert np.array_equal(sample[0].permute(1, 2, 0).numpy(), frame_0)


TURBO_3D = ["animation=3d_zoom", "depth=tiny", *TINY, "animation.turbo_mode=true", "animation.turbo_steps=3",
            "animation.turbo_preroll=2"]


@pytest.mark.parametrize("at", [5, pytest.param(6, marks=pytest.mark.slow)])  # 5 is diffused, 6 an in-between
def test_branch_with_turbo_is_bit_identical(compose_config, tmp_path, at):
    first, fresh = tmp_path / "first", tmp_path / "fresh"
    run(compose_config, first, *TURBO_3D, PROMPT_A)
    change = PROMPT_AB.replace("6:", f"{at}:")
    assert branch(compose_config, first, f"resume_from={at}", change).frames == list(range(at, 10))
    run(compose_config, fresh, *TURBO_3D, change)
    assert frame_hashes(first) == frame_hashes(fresh)


def test_branch_of_a_video_input_run(compose_config, tiny_video, tmp_path):
    video = ["animation=video_input", f"animation.video_init_path={tiny_video}", "animation.extract_nth_frame=1",
             "animation.video_init_steps=4", "animation.video_init_skip_steps=1", "flow=dis",
             f"flow.cache_dir={tmp_path / 'cache'}", *TINY[:-1]]
    first, fresh = tmp_path / "first", tmp_path / "fresh"
    run(compose_config, first, *video, PROMPT_A)
    change = PROMPT_AB.replace("6:", "3:")
    assert branch(compose_config, first, "resume_from=3", change).frames == [3, 4, 5]
    run(compose_config, fresh, *video, change)
    assert frame_hashes(first) == frame_hashes(fresh)
