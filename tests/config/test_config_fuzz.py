"""Generated configs: every invalid one ends in a named validation error before any model is built; hostile
schedule and cut-schedule strings are rejected quickly without evaluation."""
from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf.errors import OmegaConfBaseException

from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.schema import schedule_fields
from render.guidance.cut_schedules import CutScheduleError, parse_cut_schedule

SCHEDULES = [path for path, _ in schedule_fields()]
CUTS = ["model.cut_overview", "model.cut_innercut", "model.cut_ic_pow", "model.cut_icgray_p"]
_text = st.text(alphabet="0123456789:(),.+-*/ tsmaxf_[]e", max_size=30)


class ModelWouldBeBuilt(Exception):
    pass


@st.composite
def config_changes(draw):
    changes = {}
    for path in draw(st.lists(st.sampled_from(SCHEDULES + CUTS), max_size=3, unique=True)):
        changes[path] = draw(_text)
    numbers = {"animation.max_frames": st.integers(-3, 40), "width": st.integers(-64, 700),
               "output.fps": st.floats(-5, 60, allow_nan=False), "output.crf": st.integers(-5, 60),
               "model.steps": st.integers(-2, 40), "model.skip_steps": st.integers(-2, 40),
               "model.cutn_batches": st.integers(-1, 3), "seed": st.integers(-5, 2**33)}
    for path in draw(st.lists(st.sampled_from(sorted(numbers)), max_size=3, unique=True)):
        changes[path] = draw(numbers[path])
    if draw(st.booleans()):
        changes["model.frames_skip_steps"] = draw(st.sampled_from(["60%", "100%", "abc", "-5", "7", "120%"]))
    return changes


@pytest.fixture
def no_models(monkeypatch):
    def refuse(*args, **kwargs):
        raise ModelWouldBeBuilt

    monkeypatch.setattr("render.generators.networks.load_networks", refuse)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(changes=config_changes())
def test_invalid_configs_fail_with_named_errors_before_models(compose_config, no_models, tmp_path, changes):
    cfg = compose_config("animation=3d_zoom", "model=tiny", "animation.max_frames=12")
    try:
        for path, value in changes.items():
            node, _, key = path.rpartition(".")
            (cfg[node] if node else cfg)[key] = value
    except OmegaConfBaseException as exc:  # a value of the wrong type: OmegaConf names the key
        assert path.split(".")[-1] in str(exc)
        return
    try:
        render_animation(cfg, tmp_path, progress=False)
    except ConfigErrors as exc:
        named = {issue.setting.split("[")[0] for issue in exc.issues}
        assert named, "a validation error must name its setting"
        assert all(any(n == p or n.startswith(p) or p.startswith(n) for p in
                       [*changes, "model.name", "animation.max_frames", "model.frames_skip_steps"]) for n in named), \
            (named, changes)
    except ModelWouldBeBuilt:
        pass  # a valid config: it got as far as building the networks
    assert not list(tmp_path.glob("frames/*.png")), "nothing may be rendered for an invalid config"


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch /tmp/pwned')", "[1]*1000 if __import__('os') else 0", "().__class__",
    "[x for x in range(1000)]", "(lambda: [1]*1000)()", "[12]*10**100", "[12]*999999999999999999999999",
    "[1e308]*1000", "[" + "1," * 100000 + "]",
])
def test_hostile_cut_schedules_are_rejected_quickly(text):
    start = time.perf_counter()
    with pytest.raises(CutScheduleError):
        parse_cut_schedule(text)
    assert time.perf_counter() - start < 1.0
