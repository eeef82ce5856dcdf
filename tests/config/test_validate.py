"""The planner (plan_run, plan_and_resolve): every problem found before anything heavy, all reported together, each naming setting and fix."""
from __future__ import annotations

import pytest

from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings


def issues_of(compose_config, *overrides):
    with pytest.raises(ConfigErrors) as info:
        plan_and_resolve(to_settings(compose_config(*overrides)))
    return {issue.setting: issue for issue in info.value.issues}, str(info.value)


def test_all_problems_are_reported_together(compose_config, tmp_path):
    issues, text = issues_of(compose_config, "animation=2d_zoom", 'animation.zoom="0: (1/(t-12))"',
                             'animation.angle="0: (1), 5: (oops)"', f"init_image={tmp_path / 'missing.png'}",
                             "output.crf=99", "animation.max_frames=20")
    assert set(issues) == {"animation.zoom", "animation.angle", "init_image", "output.crf"}
    assert text.startswith("4 problems in the config")
    assert "fix:" in str(issues["output.crf"]) and "file not found" in issues["init_image"].problem


def test_schedule_error_names_setting_frame_and_expression(compose_config):
    issues, text = issues_of(compose_config, "animation=2d_zoom", 'animation.zoom="1/(t-12)"',
                             "animation.max_frames=20")
    assert 'animation.zoom: frame 12: division by zero in "1/(t-12)"' in text
    assert issues["animation.zoom"].value == "1/(t-12)"


def test_unreadable_init_image(compose_config, tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"hello")
    issues, _ = issues_of(compose_config, f"init_image={bad}")
    assert "cannot be read as an image" in issues["init_image"].problem


@pytest.mark.parametrize("overrides, setting", [
    (["animation.max_frames=0"], "animation.max_frames"),
    (["width=32"], "width"),
    (["output.fps=0"], "output.fps"),
    (["seed=-1"], "seed"),
    (["animation=3d_zoom", 'animation.fov="0: (40), 10: (190)"', "animation.max_frames=12"], "animation.fov"),
    (["animation.near_plane=0"], "animation.near_plane"),
    (["device=tpu"], "device"),
    (['text_prompts={0:["a:1","b:-1"]}'], "text_prompts[0]"),
    (["depth=flat", "depth.flat_value=0"], "depth.flat_value"),
    (["animation=2d_zoom", 'animation.zoom="0: (1), 4: (0)"', "animation.max_frames=8"], "animation.zoom"),
])
def test_single_problems(compose_config, overrides, setting):
    issues, _ = issues_of(compose_config, *overrides)
    assert setting in issues


def test_size_is_floored_to_multiples_of_64_with_a_warning(compose_config):
    plan = plan_and_resolve(to_settings(compose_config("width=1000", "height=700")))
    assert (plan.width, plan.height) == (960, 640)
    assert any("width=1000 is not a multiple of 64; using 960" in w for w in plan.warnings)


def test_seed_sequence(compose_config):
    plan = plan_and_resolve(to_settings(compose_config("seed=41", "animation.max_frames=3")))
    assert [plan.params(f).seed for f in range(3)] == [41, 42, 43]
    drawn = plan_and_resolve(to_settings(compose_config("seed=null"))).seed
    assert 0 <= drawn < 2**32


@pytest.mark.parametrize("overrides, setting, problem", [
    (["output.interpolate_fps=12"], "output.interpolate_fps", "above the video's 12 fps"),
    (["output.fps=24", "output.interpolate_fps=20"], "output.interpolate_fps", "above the video's 24 fps"),
    (["output.interpolate_fps=inf"], "output.interpolate_fps", "above the video's 12 fps and at most 1000"),
    (["output.interpolate_fps=nan"], "output.interpolate_fps", "above the video's 12 fps"),
    (["output.upscale=3"], "output.upscale", "must be 1 (off), 2 or 4"),
    (["output.video=false", "output.upscale=2"], "output.upscale", "output.video=false"),
    (["output.video=false", "output.interpolate_fps=24"], "output.interpolate_fps", "output.video=false"),
])
def test_smoother_and_larger_exports_are_checked(compose_config, overrides, setting, problem):
    issues, text = issues_of(compose_config, "animation.max_frames=4", *overrides)
    assert set(issues) == {setting} and problem in issues[setting].problem and "fix:" in text


def test_interpolating_to_a_higher_rate_and_upscaling_by_2_or_4_pass(compose_config):
    for overrides in (["output.interpolate_fps=24", "output.upscale=4"], ["output.fps=10", "output.interpolate_fps=25"]):
        plan = plan_and_resolve(to_settings(compose_config("animation.max_frames=4", *overrides)))
        assert plan.n_frames == 4
