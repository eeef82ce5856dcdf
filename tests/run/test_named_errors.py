"""Broken resumes, a full disk, signals while stitching, two processes on one run dir: each ends in a named error
(or a correct render), nothing finished is lost; and how render/errors.py tells a user's failure from a bug."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import frame_hashes

from render.app import render_animation
from render.config.issues import ConfigErrors
from render.errors import EXIT_BUG, EXIT_USER, classify
from render.models import registry
from render.models.files import MissingModelFiles
from render.run.lock import LOCK_NAME, RunLock, RunLocked
from render.run.resume import ResumeError, prepare_argv, quote
from render.run.run_dir import DiskFull
from render.run.signals import GracefulStop

FAST = ["animation=2d_zoom", "generator=preview", "width=128", "height=64", "seed=3", "output=png",
        "animation.max_frames=5"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A finished 5-frame run (in-process) and its frame hashes."""
    from conftest import CONF_DIR
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from render.config.presets import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose(config_name="config", overrides=FAST)
    GlobalHydra.instance().clear()
    run_dir = tmp_path_factory.mktemp("reference")
    render_animation(cfg, run_dir, progress=False)
    return run_dir, frame_hashes(run_dir)


def _resume(compose_config, run_dir, *overrides):
    return render_animation(compose_config(f"resume={run_dir}", *overrides), run_dir, progress=False,
                            overrides=[f"resume={run_dir}", *overrides])


# --- the classification ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("exc", [
    ConfigErrors([]), ResumeError("resume=x: no"), RunLocked("/tmp/r", 1),
    OSError(errno.EROFS, "Read-only file system", "/ro/run"), NotADirectoryError(errno.ENOTDIR, "Not a directory",
                                                                                 "/etc/hostname/run"),
    PermissionError(errno.EACCES, "Permission denied", "/proc/run"), OSError(errno.ENOSPC, "No space left"),
    MissingModelFiles([registry.lookup("secondary")], Path("/models"), {"secondary": "no network"}),
])
def test_user_failures_are_named_with_exit_2(exc, tmp_path):
    outcome = classify(exc, tmp_path)
    assert outcome.code == EXIT_USER and "Traceback" not in outcome.message and "please report" not in outcome.message


def test_a_bug_is_reported_with_its_traceback_and_the_run_dir(tmp_path):
    try:
        {}["missing"]
    except KeyError as exc:
        outcome = classify(exc, tmp_path)
    assert outcome.code == EXIT_BUG
    assert "Traceback" in outcome.message and "please report" in outcome.message and str(tmp_path) in outcome.message


@pytest.mark.parametrize("where", ["/proc/disco-anim-test/run", "{tmp}/file/run", "/sys/disco-anim-test"])
def test_a_run_dir_that_cannot_be_created_is_named(compose_config, tmp_path, where):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError) as info:
        render_animation(compose_config(*FAST), Path(where.format(tmp=tmp_path)), progress=False)
    outcome = classify(info.value, None)
    assert outcome.code == EXIT_USER and "fix:" in outcome.message and "Traceback" not in outcome.message


# --- resume ---------------------------------------------------------------------------------------------------------

def test_resume_arguments_are_checked_before_hydra(tmp_path, monkeypatch, reference):
    monkeypatch.chdir(tmp_path)
    cases = {
        "does not exist": [f"resume={tmp_path / 'nope'}"],
        "is not a directory": [f"resume={(tmp_path / 'file').write_text('x') and tmp_path / 'file'}"],
        "is not a run directory": [f"resume={tmp_path}"],
        "no run of batch_name=Nobody": ["resume=latest", "batch_name=Nobody"],
        "name different folders": [f"resume={reference[0]}", f"hydra.run.dir={tmp_path}"],
    }
    for message, argv in cases.items():
        with pytest.raises(ResumeError, match=message):
            prepare_argv(argv)
    assert prepare_argv([f"resume={reference[0]}", f"hydra.run.dir={reference[0]}"])  # the same folder
    assert prepare_argv(["animation=2d_zoom"]) == ["animation=2d_zoom"]


@pytest.mark.parametrize("content, message", [("a: [unclosed", "not a readable YAML config"),
                                              ("- just\n- a list\n", "does not hold a mapping"),
                                              (None, "is missing")])
def test_a_broken_config_yaml_is_named(compose_config, reference, tmp_path, content, message):
    run_dir = tmp_path / "run"
    subprocess.run(["cp", "-r", str(reference[0]), str(run_dir)], check=True)
    if content is None:
        (run_dir / "config.yaml").unlink()
        with pytest.raises(ResumeError, match="no config.yaml"):
            prepare_argv([f"resume={run_dir}"])
        return
    (run_dir / "config.yaml").write_text(content)
    with pytest.raises(ResumeError, match=message):
        prepare_argv([f"resume={run_dir}"])


def test_a_run_killed_before_its_config_is_started_with_its_own_command_line(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- animation=2d_zoom\n- seed=5\n- output.crf=20\n")
    argv = prepare_argv([f"resume={run_dir}", "output.crf=30"])
    assert argv == ["animation=2d_zoom", "seed=5", "output.crf=30", f"hydra.run.dir={quote(str(run_dir))}"]


@pytest.mark.parametrize("deleted", [["00001.png"], ["00004.png"], ["00000.png", "00003.png"]])
def test_a_deleted_finished_frame_is_rendered_again(compose_config, reference, tmp_path, deleted):
    run_dir = tmp_path / "run"
    subprocess.run(["cp", "-r", str(reference[0]), str(run_dir)], check=True)
    for name in deleted:
        (run_dir / "frames" / name).unlink()
    result = _resume(compose_config, run_dir)
    assert min(result.frames) <= min(int(n[:5]) for n in deleted)
    assert frame_hashes(run_dir) == reference[1]


# --- disk full, signals, the lock -----------------------------------------------------------------------------------

def test_a_full_disk_keeps_the_finished_frames_and_says_what_is_needed(compose_config, reference, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("DISCO_ANIM_FAULT", "enospc:write:00003.png")
    with pytest.raises(DiskFull) as info:
        render_animation(compose_config(*FAST), tmp_path, progress=False)
    message = str(info.value)
    assert "disk is full" in message and "need: about" in message and f"python main.py resume={tmp_path}" in message
    assert classify(info.value, tmp_path).code == EXIT_USER
    assert sorted(p.name for p in (tmp_path / "frames").glob("*.png")) == [f"{f:05d}.png" for f in range(3)]
    assert not list((tmp_path / "frames").glob(".*.tmp"))
    monkeypatch.delenv("DISCO_ANIM_FAULT")
    assert _resume(compose_config, tmp_path).frames == [3, 4]
    assert frame_hashes(tmp_path) == reference[1]


@pytest.mark.parametrize("point, signum, code", [("stitch", "sigterm", 143), ("measure", "sigint", 130)])
def test_a_signal_while_stitching_or_measuring_stops_and_records_it(compose_config, tmp_path, monkeypatch, point,
                                                                    signum, code):
    monkeypatch.setenv("DISCO_ANIM_FAULT", f"{signum}:{point}")
    stop = GracefulStop()
    with pytest.raises(KeyboardInterrupt):
        render_animation(compose_config(*FAST, "output.quality=true"), tmp_path, progress=False, stop=stop)
    assert stop.exit_code == code
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "stopped"
    assert signal.getsignal(signal.SIGTERM) != stop._handle  # handlers restored
    monkeypatch.delenv("DISCO_ANIM_FAULT")
    result = _resume(compose_config, tmp_path)
    assert result.frames == [] and json.loads((tmp_path / "run.json").read_text())["status"] == "completed"


def test_the_run_lock_refuses_a_second_holder_and_takes_over_a_stale_one(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); "
                               "from render.run.lock import RunLock; RunLock(sys.argv[2]).acquire(); print('held', "
                               "flush=True); time.sleep(60)", str(ROOT), str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=f"process {holder.pid} is rendering"):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    (tmp_path / LOCK_NAME).write_text(f"{holder.pid}\n")  # the dead holder's pid is still in the file
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
        with pytest.raises(RunLocked):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_render_of_a_locked_run_dir_is_refused_before_anything_is_written(compose_config, tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunLocked):
            render_animation(compose_config(*FAST), tmp_path, progress=False)
    assert not (tmp_path / "frames").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(resume=st.one_of(st.text(alphabet="ab/._~-", min_size=1, max_size=12), st.just("latest")),
       batch=st.text(alphabet="ab._-", min_size=1, max_size=6))
def test_generated_resume_arguments_end_in_a_named_error_or_a_run(tmp_path_factory, resume, batch):
    root = tmp_path_factory.mktemp("cwd")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        prepare_argv([f"resume={resume}", f"batch_name={batch}"])
    except ResumeError as exc:
        assert "resume=" in str(exc) or "config.yaml" in str(exc)
    finally:
        os.chdir(cwd)
