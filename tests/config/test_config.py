"""The Hydra app's config: presets compose against the typed schema, typos and bad values are errors."""
from __future__ import annotations

import shutil

import pytest
from conftest import CONF_DIR, ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.presets import register_configs
from render.config.schema import Config, schedule_fields, settings_table
from render.config.settings import to_settings

ANIMATION_PRESETS = sorted(p.stem for p in (CONF_DIR / "animation").glob("*.yaml"))
OUTPUT_PRESETS = sorted(p.stem for p in (CONF_DIR / "output").glob("*.yaml"))


def test_required_presets_exist():
    assert {"none", "2d_zoom", "2d_spin", "3d_zoom", "3d_orbit"} <= set(ANIMATION_PRESETS)
    assert (CONF_DIR / "depth" / "flat.yaml").exists()


@pytest.mark.parametrize("animation", ANIMATION_PRESETS)
@pytest.mark.parametrize("output", OUTPUT_PRESETS)
def test_every_preset_composes_and_validates(compose_config, tiny_video, animation, output):
    video = [f"animation.video_init_path={tiny_video}"] if animation == "video_input" else []
    cfg = compose_config(f"animation={animation}", f"output={output}", *video)
    settings = to_settings(cfg)
    assert isinstance(settings, Config)
    plan = plan_and_resolve(settings)
    # video_input: every 2nd of the 6 source frames
    assert plan.n_frames == (3 if animation == "video_input" else settings.animation.max_frames)
    assert set(plan.schedules) == {path for path, _ in schedule_fields()}


def test_preset_sets_mode(compose_config):
    assert to_settings(compose_config("animation=3d_zoom")).animation.mode.value == "3d"
    assert to_settings(compose_config("animation=2d_spin")).animation.mode.value == "2d"
    assert to_settings(compose_config()).animation.mode.value == "none"


def test_defaults_are_disco_diffusions(compose_config):
    s = to_settings(compose_config())
    assert s.animation.zoom == "0: (1), 10: (1.05)" and s.animation.translation_z == "0: (10.0)"
    assert (s.animation.near_plane, s.animation.far_plane, float(s.animation.fov)) == (200.0, 10000.0, 40.0)
    assert (s.animation.padding_mode.value, s.animation.sampling_mode.value) == ("border", "bicubic")
    assert (s.width, s.height, s.output.fps, s.output.crf) == (None, None, None, 17)
    assert plan_and_resolve(s).fps == 12.0  # DD's video cell
    assert s.model.width_height is None and s.model.steps == 250 and s.model.clip_guidance_scale == 5000
    assert s.model.cut_overview is None and s.model.frames_skip_steps == "60%"  # null: the model's own (DD's)
    preview = plan_and_resolve(to_settings(compose_config("generator=preview")))
    assert (preview.width, preview.height) == (1280, 768)  # the model's size when width/height are not set


@pytest.mark.parametrize("override, name", [
    ("animation.zoon=1.1", "zoon"),
    ("widht=512", "widht"),
    ("output.frame_rate=24", "frame_rate"),
])
def test_unknown_keys_are_errors_naming_the_key(compose_config, override, name):
    with pytest.raises(ConfigCompositionException) as info:
        compose_config(override)
    assert name in str(info.value) + str(info.value.__cause__)


def test_keys_added_with_plus_are_rejected_not_ignored(compose_config):
    cfg = compose_config("+animation.zoon=1.1", "+colour=red")
    with pytest.raises(ConfigErrors) as info:
        to_settings(cfg)
    issues = {i.setting: i for i in info.value.issues}
    assert set(issues) == {"animation.zoon", "colour"}
    assert "did you mean animation.zoom?" in issues["animation.zoon"].fix


def test_typo_in_a_preset_file_is_an_error(compose_config, tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "animation" / "typo.yaml").write_text("mode: 2d\nzooom: '0: (1.1)'\n")
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        with pytest.raises(ConfigCompositionException) as info:
            compose(config_name="config", overrides=["animation=typo"])
    assert "zooom" in str(info.value) + str(info.value.__cause__)


@pytest.mark.parametrize("override, fragment", [
    ("animation.mode=4d", "expected one of [none, 2d, 3d, video_input]"),
    ("animation.padding_mode=wrap", "expected one of [border, zeros, reflection]"),
    ("animation.turbo_steps=lots", "animation.turbo_steps"),  # max_frames takes auto: see test_audio_app
    ("output.crf=high", "output.crf"),
])
def test_values_of_the_wrong_type_are_errors(compose_config, override, fragment):
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        compose_config(override)
    assert fragment in str(info.value) + str(info.value.__cause__)


def test_numbers_are_accepted_as_schedules(compose_config):
    s = to_settings(compose_config("animation=2d_zoom", "animation.zoom=1.02", "animation.max_frames=3"))
    assert s.animation.zoom == "1.02"
    assert list(plan_and_resolve(s).schedules["animation.zoom"]) == [1.02, 1.02, 1.02]


def test_prompt_dict_override(compose_config):
    s = to_settings(compose_config("prompts=none", 'text_prompts={0:["a lighthouse:2","yellow"],24:["a storm"]}',
                                   "animation.max_frames=30"))
    plan = plan_and_resolve(s)
    assert [p.text for p in plan.text_prompts.at(0)] == ["a lighthouse", "yellow"]
    assert [p.text for p in plan.text_prompts.at(29)] == ["a storm"]
    added = to_settings(compose_config('+text_prompts.12=["fog"]', "animation.max_frames=30"))
    assert "lighthouse" in plan_and_resolve(added).text_prompts.at(0)[0].text
    assert [p.text for p in plan_and_resolve(added).text_prompts.at(12)] == ["fog"]


def test_prompt_presets_replace_each_other(compose_config):
    assert "lighthouse" in to_settings(compose_config()).text_prompts[0][0]
    assert dict(to_settings(compose_config("prompts=none")).text_prompts) == {}


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "README's settings table is stale: paste `python -m render.config.schema`"
