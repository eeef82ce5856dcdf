"""A run dir's own files and the resume settings, generated: a run.json, config.yaml or state file that is garbage, and
resume_from values, each end in a resume or in a named error naming the file (or the setting) and the fix, before
anything is rendered; on the command line, exit status 2 without a traceback."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import ROOT, compose_overrides
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from render.app import render_animation
from render.run.checkpoint import MAGIC, CheckpointError, Checkpoints, FramePngChanged
from render.run.resume import ResumeError, load_resume, prepare_argv
from render.run.run_files import RunFileError

FAST = ["animation=2d_zoom", "generator=preview", "width=256", "height=192", "seed=3", "output=png",
        "animation.max_frames=3", "output.previews=false"]
GENERATED = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6)),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                max_size=3), max_leaves=8)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 3-frame run (its states hold their images as blobs: 256x192 frames)."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    render_animation(compose_overrides(*FAST), run_dir, progress=False)
    return run_dir


@pytest.fixture
def run_copy(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


_COMPOSED: dict = {}


def resume(run_dir, *extra, resume_from=None):
    """What a resume of ``run_dir`` does before anything is built: the command line, then the config and the point
    (the config composed once per command line: Hydra is slow)."""
    argv = [f"resume={run_dir}", *extra]
    prepare_argv(argv)
    if tuple(argv) not in _COMPOSED:
        _COMPOSED[tuple(argv)] = compose_overrides(*FAST, *argv)
    composed = copy.deepcopy(_COMPOSED[tuple(argv)])
    composed.resume_from = resume_from
    return load_resume(composed, run_dir, argv)


def _record_variants(record: dict):
    """The run's own record with one field replaced by generated JSON, a mapping of junk, or bytes."""
    field = st.sampled_from(sorted(record))
    return st.one_of(
        st.tuples(field, JSON).map(lambda fv: json.dumps({**record, fv[0]: fv[1]}).encode()),
        st.tuples(field, st.lists(JSON, max_size=3)).map(lambda fv: json.dumps({**record, fv[0]: fv[1]}).encode()),
        JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=48))


@GENERATED
@given(data=st.data())
def test_a_malformed_run_json_is_named_on_resume(finished, run_copy, data):
    run_dir = run_copy  # a resume only reads it: each case writes its own run.json
    record = json.loads((finished / "run.json").read_text())
    (run_dir / "run.json").write_bytes(data.draw(_record_variants(record)))
    try:
        _, point = resume(run_dir)
    except RunFileError as exc:
        assert str(run_dir / "run.json") in str(exc) and "fix:" in str(exc)
        return
    except ResumeError as exc:  # a record whose frames contradict the config (its branch hash)
        assert "config.yaml" in str(exc) or "run.json" in str(exc)
        return
    assert point.record.summary() and point.record.write(run_dir / "run.json") is None  # usable as it was read


SETTING_PATHS = ["seed", "width", "animation", "animation.mode", "animation.zoom", "model.steps", "output",
                 "text_prompts", "bogus", "model.custom_model.num_heads", "resume"]


@st.composite
def config_files(draw, saved: dict):
    """config.yaml written as a user's editor or a broken disk might leave it."""
    kind = draw(st.sampled_from(["value", "bytes", "json", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=48))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    if kind == "deep":
        return ("a: " + "[" * draw(st.integers(100, 3000)) + "]" * draw(st.integers(0, 3000))).encode()
    config = json.loads(json.dumps(saved))
    for path in draw(st.lists(st.sampled_from(SETTING_PATHS), min_size=1, max_size=3)):
        node, *_, key = [config, *path.split(".")]
        for part in path.split(".")[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[key] = draw(JSON)
    return yaml.safe_dump(config).encode()


@GENERATED
@given(data=st.data())
def test_a_garbage_config_yaml_is_named_on_resume(finished, run_copy, data):
    run_dir = run_copy
    saved = yaml.safe_load((finished / "config.yaml").read_text())
    (run_dir / "config.yaml").write_bytes(data.draw(config_files(saved)))
    try:
        resume(run_dir)
    except (ResumeError, RunFileError) as exc:
        assert "config.yaml" in str(exc) and ("fix" in str(exc) or "start a new run" in str(exc)), exc
    # else: the change is one a resume may make (the settings that do not alter frames)


@GENERATED
@given(garbage=st.one_of(st.binary(max_size=64), st.binary(max_size=64).map(lambda b: MAGIC + b),
                         st.binary(max_size=64).map(lambda b: MAGIC + b"0" * 64 + b"\n" + b)))
def test_garbage_state_files_are_skipped_or_named(finished, run_copy, garbage):
    run_dir = run_copy
    for path in (finished / "state").glob("*.state"):  # each case starts from the intact states
        shutil.copy(path, run_dir / "state" / path.name)
    states = Checkpoints(run_dir / "state")
    states.path(2).write_bytes(garbage)
    assert states.latest().frame == 1  # the newest is garbage: the one before it is used (and named in the log)
    with pytest.raises(CheckpointError, match="00002.state"):
        states.read(states.path(2))
    for frame in (0, 1):
        states.path(frame).write_bytes(garbage)
    with pytest.raises(CheckpointError, match="no intact state file"):
        resume(run_dir)


@GENERATED
@given(frame=st.one_of(st.integers(-5, 8), st.integers(-(10**30), 10**30)))
def test_generated_branch_points_are_named_or_taken(run_copy, frame):
    try:
        _, point = resume(run_copy, "seed=4", resume_from=frame)
    except ResumeError as exc:
        assert f"resume_from={frame}" in str(exc) and "fix:" in str(exc)
        assert not 0 <= frame <= 3  # frames 0..3 are branch points of a finished 3-frame run
        return
    assert 0 <= frame <= 3 and point.branch.frame == frame
    assert (point.state is None) == (frame == 0) and (frame == 0 or point.state.frame == frame - 1)


@pytest.mark.parametrize("case", ["run.json", "custom model", "launcher"])
def test_the_command_line_exits_2_naming_the_input(finished, tmp_path, case):
    """The exit status, where it matters: a broken run dir, a custom UNet of zero heads, a launcher of no jobs."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    (run_dir / "run.json").write_text('{"frames": 5')
    checkpoint = tmp_path / "custom.pt"
    checkpoint.write_bytes(b"not read: the settings are refused first")
    args = {"run.json": [f"resume={run_dir}"],
            "custom model": [*FAST, f"hydra.run.dir={tmp_path / 'new'}", "generator=diffusion", "model=tiny",
                             "model.diffusion_model=custom", f"model.custom_path={checkpoint}",
                             "model.custom_model.num_heads=0"],
            "launcher": ["-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=0", *FAST, "seed=1,2",
                         f"hydra.sweep.dir={tmp_path / 'sweep'}"]}[case]
    named = {"run.json": str(run_dir / "run.json"), "custom model": "model.custom_model.num_heads",
             "launcher": "hydra.launcher.n_jobs"}[case]
    result = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 2, result.stderr[-2000:]
    assert named in result.stderr and "fix:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "new" / "frames").exists() and not (tmp_path / "sweep" / "0").exists()
    assert (run_dir / "run.json").read_text() == '{"frames": 5'  # left as it was, for the user to restore


@pytest.mark.parametrize("branch_at", [None, 3, 2])
def test_a_changed_frame_png_is_named_on_resume_and_branch(run_copy, branch_at):
    """A frame PNG edited after its state was saved: a resume from it, or a branch after it, is refused by name (its
    state refers to the PNG); a branch at that frame renders it anew."""
    from render.disk.images import save_png_atomic
    from render.errors import classify

    edited = np.asarray(Image.open(run_copy / "frames" / "00001.png").convert("RGB"))
    save_png_atomic(edited, run_copy / "frames" / "00002.png")
    if branch_at == 2:
        _, point = resume(run_copy, "seed=4", resume_from=2)
        assert point.state.frame == 1
        return
    with pytest.raises(FramePngChanged, match=r"(?s)00002\.png changed since.*fix:") as info:
        resume(run_copy, *(("seed=4",) if branch_at else ()), resume_from=branch_at)
    assert classify(info.value).code == 2
