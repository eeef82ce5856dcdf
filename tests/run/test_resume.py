"""Runs that survive: SIGKILL at several points and resume bit-identically; signals; refusal of changed configs;
corrupt state; the run record."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from omegaconf import OmegaConf
from support import frame_hashes, run_main

from render.app import render_animation
from render.run.checkpoint import Checkpoints
from render.run.resume import ResumeError

RUN = ["animation=3d_zoom", "model=tiny", "width=128", "height=64", "animation.max_frames=7", "model.steps=5",
       "seed=11", "output.preset=ultrafast"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    proc = run_main(*RUN, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    hashes = frame_hashes(run_dir)
    assert len(hashes) == 7
    return run_dir, hashes


@pytest.mark.parametrize("fault", ["frame:3", pytest.param("write:00003.png", marks=pytest.mark.slow),
                                   pytest.param("write:00003.state", marks=pytest.mark.slow)])
def test_killed_run_resumes_bit_identically(reference, tmp_path, fault):
    _, expected = reference
    killed = run_main(*RUN, f"hydra.run.dir={tmp_path}", env={"DISCO_ANIM_FAULT": fault})
    assert killed.returncode == -signal.SIGKILL
    states = sorted(p.name for p in (tmp_path / "state").glob("*.state"))
    assert states[-1] == "00002.state"  # frame 3 never counted as done
    assert not list((tmp_path / "frames").glob("00004.png"))
    resumed = run_main(f"resume={tmp_path}")
    assert resumed.returncode == 0, resumed.stderr
    assert frame_hashes(tmp_path) == expected
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["status"] == "completed" and record["resumed_at"] == [3]
    assert [f["frame"] for f in record["frames"]] == list(range(7))
    assert [f["seed"] for f in record["frames"]] == [11 + f for f in range(7)]


TURBO = [*RUN[:4], "animation.max_frames=9", *RUN[5:], "animation.turbo_mode=true", "animation.turbo_steps=2",
         "animation.turbo_preroll=2"]


@pytest.mark.slow  # a minute of subprocesses; run with python -m pytest -m slow
@pytest.mark.parametrize("fault, done", [("frame:5", 4), ("write:00006.state", 5)])
def test_killed_turbo_run_resumes_bit_identically(tmp_path, fault, done):
    """Frame 5 is a turbo in-between (no diffusion), frame 6 a diffused one: the old chain is part of the state."""
    straight = tmp_path / "straight"
    assert run_main(*TURBO, f"hydra.run.dir={straight}").returncode == 0
    expected = frame_hashes(straight)
    assert len(expected) == 9
    killed_dir = tmp_path / "killed"
    killed = run_main(*TURBO, f"hydra.run.dir={killed_dir}", env={"DISCO_ANIM_FAULT": fault})
    assert killed.returncode == -signal.SIGKILL
    assert sorted(p.name for p in (killed_dir / "state").glob("*.state"))[-1] == f"{done:05d}.state"
    resumed = run_main(f"resume={killed_dir}")
    assert resumed.returncode == 0, resumed.stderr
    assert frame_hashes(killed_dir) == expected


@pytest.mark.slow  # a killed subprocess; tests/run/test_checkpoint.py checks the fallback in-process
def test_truncated_newest_state_falls_back_to_the_one_before(reference, tmp_path):
    _, expected = reference
    killed = run_main(*RUN, f"hydra.run.dir={tmp_path}", env={"DISCO_ANIM_FAULT": "frame:5"})
    assert killed.returncode == -signal.SIGKILL
    newest = tmp_path / "state" / "00004.state"
    newest.write_bytes(newest.read_bytes()[:200])
    resumed = run_main(f"resume={tmp_path}")
    assert resumed.returncode == 0, resumed.stderr
    assert "corrupt or truncated" in resumed.stderr
    assert frame_hashes(tmp_path) == expected


def test_no_intact_state_is_a_clear_error(tmp_path):
    killed = run_main(*RUN, f"hydra.run.dir={tmp_path}", env={"DISCO_ANIM_FAULT": "frame:2"})
    assert killed.returncode == -signal.SIGKILL
    for state in (tmp_path / "state").glob("*.state"):
        state.write_bytes(b"garbage")
    resumed = run_main(f"resume={tmp_path}")
    assert resumed.returncode == 2 and "no intact state file" in resumed.stderr
    assert "Traceback" not in resumed.stderr


def test_sigint_stops_after_the_frame_and_prints_the_resume_command(reference, tmp_path):
    _, expected = reference
    proc = subprocess.Popen([sys.executable, "main.py", *RUN, f"hydra.run.dir={tmp_path}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list((tmp_path / "state").glob("*.state")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert f"python main.py resume={tmp_path}" in stderr
    done = Checkpoints(tmp_path / "state").latest().frame
    assert done < 6 and len(list((tmp_path / "frames").glob("*.png"))) == done + 1
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "stopped"
    assert run_main(f"resume={tmp_path}").returncode == 0
    assert frame_hashes(tmp_path) == expected


# --- in-process: what a resume may change ------------------------------------------------------------------------

FAST = ["animation=2d_zoom", "generator=preview", "width=128", "height=64", "seed=3", "output=png"]


def first_run(compose_config, run_dir, *extra):
    render_animation(compose_config(*FAST, "animation.max_frames=4", *extra), run_dir, progress=False)


def resume(compose_config, run_dir, *overrides):
    cfg = compose_config(f"resume={run_dir}", *overrides)
    return render_animation(cfg, run_dir, progress=False, overrides=[f"resume={run_dir}", *overrides])


def test_longer_max_frames_is_accepted_and_matches_a_longer_run(compose_config, tmp_path):
    first_run(compose_config, tmp_path / "a")
    result = resume(compose_config, tmp_path / "a", "animation.max_frames=7")
    assert result.frames == [4, 5, 6]
    render_animation(compose_config(*FAST, "animation.max_frames=7"), tmp_path / "b", progress=False)
    assert frame_hashes(tmp_path / "a") == frame_hashes(tmp_path / "b")
    assert OmegaConf.load(tmp_path / "a" / "config.yaml").animation.max_frames == 7


def test_output_only_changes_are_accepted(compose_config, tmp_path):
    first_run(compose_config, tmp_path, "output=mp4")
    result = resume(compose_config, tmp_path, "output.crf=30", "output.preset=ultrafast")
    assert result.frames == [] and result.video is not None


@pytest.mark.parametrize("change, key", [
    ('animation.zoom="0: (1.2)"', "animation.zoom"),
    ("seed=4", "seed"),
    ("animation=2d_spin", "animation.angle"),
    ("width=192", "width"),
])
def test_changes_that_alter_frames_are_refused_naming_the_keys(compose_config, tmp_path, change, key):
    first_run(compose_config, tmp_path)
    with pytest.raises(ResumeError) as info:
        resume(compose_config, tmp_path, change)
    assert key in str(info.value)


def test_longer_run_is_refused_when_it_changes_done_frames(compose_config, tmp_path):
    first_run(compose_config, tmp_path, 'animation.zoom="0: (1), max_f: (1.2)"')
    with pytest.raises(ResumeError, match="animation.zoom: the new frame count"):
        resume(compose_config, tmp_path, "animation.max_frames=8")


def test_config_yaml_edited_by_hand_is_detected(compose_config, tmp_path):
    first_run(compose_config, tmp_path)
    text = (tmp_path / "config.yaml").read_text().replace("seed: 3", "seed: 9")
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(ResumeError, match="edited"):
        resume(compose_config, tmp_path)


def test_resume_is_refused_when_a_fade_in_seconds_would_change_done_frames(compose_config, tmp_path):
    """The prompt sets of frames 0-3 stay, but a fade written in seconds changes its weights with output.fps."""
    first_run(compose_config, tmp_path, 'text_prompts={0: ["a:1"], 1: ["b:1"]}', "prompt_blend=1s")
    with pytest.raises(ResumeError, match="the prompts of frame 1, already rendered"):
        resume(compose_config, tmp_path, "output.fps=6")
