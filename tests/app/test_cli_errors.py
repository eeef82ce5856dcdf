"""``python main.py`` as a user runs it: a wrong resume folder, a run dir under a file, an interpolation that does
not resolve, SIGTERM while the video is stitched, a bug (read-only, /proc and full-disk run dirs: tests/run). The
commands run at once (each process spends most of its time importing), and each ends in a named error with exit 2 and no traceback, or its own exit status."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, TINY


def _start(*args, env=None):
    return subprocess.Popen([sys.executable, "main.py", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, **(env or {})))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every command started together; name -> (process, stdout, stderr, run dir)."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "file").write_text("x")
    cases = {
        "missing_resume": ([f"resume={tmp / 'no_such_run'}"], None, None),
        "under_a_file": ([*TINY, f"hydra.run.dir={tmp / 'file' / 'run'}"], None, None),
        "interpolation": ([*TINY, "animation=2d_zoom", "animation.zoom=${nope}", f"hydra.run.dir={tmp / 'interp'}"],
                          None, tmp / "interp"),
        "sigterm_stitch": ([*TINY, "animation=2d_zoom", f"hydra.run.dir={tmp / 'stitch'}"],
                           {"DISCO_ANIM_FAULT": "sigterm:stitch"}, tmp / "stitch"),
        "bug": ([*TINY, f"hydra.run.dir={tmp / 'bug'}"], {"DISCO_ANIM_FAULT": "bug:frame:1"}, tmp / "bug"),
        "misspelled": (["animation=2d_zoom", "animation.zoomm=1.05", f"hydra.run.dir={tmp / 'misspelled'}"], None,
                       tmp / "misspelled"),
        "misspelled_group": (["animaton=3d_zoom", f"hydra.run.dir={tmp / 'group'}"], None, tmp / "group"),
        "broken_schedule": (["animation=2d_zoom", "animation.zoom='0: (1'", f"hydra.run.dir={tmp / 'schedule'}"],
                            None, tmp / "schedule"),
    }
    started = {name: (_start(*args, env=env), run_dir) for name, (args, env, run_dir) in cases.items()}
    done = {}
    for name, (proc, run_dir) in started.items():
        out, err = proc.communicate(timeout=600)
        done[name] = (proc.returncode, out, err, run_dir)
    return done


@pytest.mark.parametrize("name, message", [
    ("missing_resume", "no_such_run does not exist"),
    ("under_a_file", "a part of the path is a file"),
    ("interpolation", "animation.zoom: Interpolation key 'nope' not found"),
    ("misspelled", "animation.zoomm: unknown setting\n    fix: did you mean animation.zoom?"),
    ("misspelled_group", "animaton: unknown setting\n    fix: did you mean animation?"),
    ("broken_schedule", "animation.zoom: char 3: unclosed '('"),
])
def test_user_failures_exit_2_with_a_named_error(runs, name, message):
    code, _, err, _ = runs[name]
    assert code == 2, err
    assert "Traceback" not in err and "please report" not in err
    assert "fix:" in err and message in err, err


def test_sigterm_while_stitching_exits_143_with_the_resume_command(runs):
    code, _, err, run_dir = runs["sigterm_stitch"]
    assert code == 143, err
    assert f"python main.py resume={run_dir}" in err and "Traceback" not in err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"
    assert len(list((run_dir / "frames").glob("*.png"))) == 6
    assert not (run_dir / "TimeToDisco.mp4").exists()


def test_a_bug_is_reported_with_the_traceback_the_run_dir_and_please_report(runs):
    code, _, err, run_dir = runs["bug"]
    assert code == 1, err
    assert "Traceback" in err and "RuntimeError: injected fault at frame:1" in err
    assert "please report" in err and str(run_dir) in err
    assert json.loads((run_dir / "run.json").read_text())["status"].startswith("failed")


@pytest.mark.parametrize("name", ["misspelled", "broken_schedule"])
def test_a_config_error_leaves_no_run_behind(runs, name):
    """Named before anything is written: no frames, state or record in the run dir."""
    _, _, _, run_dir = runs[name]
    assert not (run_dir / "frames").exists() and not (run_dir / "state").exists()
    assert not (run_dir / "run.json").exists()
