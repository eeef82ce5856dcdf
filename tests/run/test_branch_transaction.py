"""A branch is a transaction: everything it needs is checked before anything moves, and a failure at any step of
setting the frames aside (a fault between each move, a full disk, SIGKILL) leaves a run that a plain resume or the
same branch again continues, with no finished frame lost."""
from __future__ import annotations

import shutil

import pytest
from support import frame_hashes, run_main

from render.app import render_animation
from render.run.branch import JOURNAL, RETAINED
from render.run.checkpoint import CheckpointError

FAST = ["animation=2d_zoom", "generator=preview", "width=64", "height=64", "seed=3", "output=png",
        "animation.max_frames=6"]
CHANGE = ["resume_from=3", "animation.zoom='0: (1), 3: (1.2)'"]


def render(compose_config, run_dir, *args):
    return render_animation(compose_config(*args), run_dir, progress=False, overrides=list(args))


def branch(compose_config, run_dir, *extra):
    return render(compose_config, run_dir, f"resume={run_dir}", *CHANGE, *extra)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run, and the same run branched at frame 3 without a fault."""
    from conftest import ROOT
    from hydra import compose, initialize_config_dir

    from render.config.presets import register_configs

    register_configs()

    def compose_config(*overrides):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
            return compose(config_name="config", overrides=list(overrides))

    base = tmp_path_factory.mktemp("base")
    render(compose_config, base, *FAST)
    branched = tmp_path_factory.mktemp("branched") / "run"
    shutil.copytree(base, branched)
    branch(compose_config, branched)
    return base, frame_hashes(base), frame_hashes(branched)


def _steps(base) -> int:
    """How many files a branch at frame 3 moves (frames 3-5 and their states)."""
    return sum(1 for p in (base / "frames").glob("*.png") if int(p.stem) >= 3) + \
        sum(1 for p in (base / "state").glob("*.state") if int(p.stem) >= 3)


def test_a_fault_at_every_step_leaves_the_run_whole(compose_config, runs, tmp_path, monkeypatch):
    base, before, after = runs
    for step in [*(str(i) for i in range(_steps(base))), "commit"]:
        run_dir = tmp_path / f"step{step}"
        shutil.copytree(base, run_dir)
        monkeypatch.setenv("DISCO_ANIM_FAULT", f"bug:branch:{step}")
        with pytest.raises(RuntimeError, match="injected fault"):
            branch(compose_config, run_dir)
        monkeypatch.delenv("DISCO_ANIM_FAULT")
        assert (run_dir / JOURNAL).is_file()
        if step == "commit":  # the new config and record were written: a plain resume finishes the branch
            result = render(compose_config, run_dir, f"resume={run_dir}")
            assert result.frames == [3, 4, 5], step
            assert frame_hashes(run_dir) == after
        else:  # undone: every finished frame back, and the same branch again works
            render(compose_config, run_dir, f"resume={run_dir}")
            assert frame_hashes(run_dir) == before, step
            assert not any((run_dir / RETAINED).glob("*")), step
            branch(compose_config, run_dir)
            assert frame_hashes(run_dir) == after, step
        assert not (run_dir / JOURNAL).exists()


def test_a_full_disk_while_setting_aside_leaves_the_run_whole(compose_config, runs, tmp_path, monkeypatch):
    base, before, after = runs
    shutil.copytree(base, tmp_path / "run")
    monkeypatch.setenv("DISCO_ANIM_FAULT", "enospc:branch:1")
    with pytest.raises(OSError):
        branch(compose_config, tmp_path / "run")
    monkeypatch.delenv("DISCO_ANIM_FAULT")
    branch(compose_config, tmp_path / "run")  # the same branch again
    assert frame_hashes(tmp_path / "run") == after


def test_a_damaged_frame_zero_is_named_before_anything_moves(compose_config, runs, tmp_path):
    base, before, _ = runs
    run_dir = tmp_path / "run"
    shutil.copytree(base, run_dir)
    (run_dir / "frames" / "00000.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(CheckpointError, match="00000.png"):
        branch(compose_config, run_dir, "color_coherence=lab")  # colour coherence matches to frame 0
    assert sorted(p.name for p in (run_dir / "frames").glob("*.png")) == [f"{f:05d}.png" for f in range(6)]
    assert not (run_dir / RETAINED).exists() or not any((run_dir / RETAINED).iterdir())
    assert not (run_dir / JOURNAL).exists()


@pytest.mark.slow  # subprocesses: SIGKILL in the middle of setting frames aside
def test_sigkill_while_setting_aside_then_resume(runs, tmp_path):
    base, before, after = runs
    run_dir = tmp_path / "run"
    shutil.copytree(base, run_dir)
    killed = run_main(f"resume={run_dir}", *CHANGE, env={"DISCO_ANIM_FAULT": "branch:2"})
    assert killed.returncode == -9, killed.stderr
    resumed = run_main(f"resume={run_dir}")
    assert resumed.returncode == 0, resumed.stderr
    assert frame_hashes(run_dir) == before
    again = run_main(f"resume={run_dir}", *CHANGE)
    assert again.returncode == 0, again.stderr
    assert frame_hashes(run_dir) == after
