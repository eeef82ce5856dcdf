"""The pure planner: ``plan_run(settings)`` reads no song, video, URL or weight file and loads no torch; the assets
are resolved once; the same settings and assets give the same plan; one rule says when LPIPS guides a run."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from support import click_track

from render.config.assets import resolve_assets
from render.config.diffusion_plan import needs_lpips
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve, plan_run
from render.config.presets import model_preset
from render.config.settings import to_settings


def _refuse(name):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the draft plan called {name}")
    return refuse


@pytest.fixture
def no_io(monkeypatch):
    """Every side effect the draft must not have fails the test."""
    monkeypatch.setattr("urllib.request.urlopen", _refuse("urlopen"))
    monkeypatch.setattr("audio.analysis.analyze_cached", _refuse("the song analysis"))
    monkeypatch.setattr("flow.extract.probe_video", _refuse("the video probe"))
    monkeypatch.setattr("render.disk.hashing.sha256_file", _refuse("sha256 of a file"))
    monkeypatch.setattr("render.models.registry.sha256_file", _refuse("sha256 of a weight file"))
    monkeypatch.setattr("render.disk.images._decode_problem", _refuse("an image decode"))


def test_the_draft_reads_no_song_video_url_or_weights(compose_config, tmp_path, no_io):
    song = click_track(tmp_path / "song.wav", 120)
    settings = to_settings(compose_config("animation=3d_zoom", f"audio.path={song}", "animation.max_frames=auto",
                                          "init_image=http://127.0.0.1:9/x.png", "model=tiny",
                                          "animation.translation_z='0: (2 + 8*beat)'"))
    draft = plan_run(settings)
    assert draft.assets is None and draft.schedules == {}  # the values wait for the song
    assert draft.diffusion.model.diffusion_model == "tiny" and (draft.width, draft.height) == (256, 128)


def test_the_draft_names_schedule_errors_of_a_song_run(compose_config, tmp_path, no_io):
    song = click_track(tmp_path / "song.wav", 120)
    settings = to_settings(compose_config("animation=3d_zoom", f"audio.path={song}",
                                          "animation.translation_z='0: (2 + 8*beet)'"))
    with pytest.raises(ConfigErrors) as info:
        plan_run(settings)
    assert [i.setting for i in info.value.issues] == ["animation.translation_z"]
    assert "beet" in str(info.value)


def test_a_draft_without_a_song_has_every_frame(compose_config, no_io):
    draft = plan_run(to_settings(compose_config("animation=2d_zoom", "animation.max_frames=30")))
    assert draft.n_frames == 30 and draft.schedules["animation.zoom"].shape == (30,)
    assert len(draft.text_prompts.frames) == 30


def test_the_same_settings_and_assets_give_the_same_plan(compose_config, tmp_path):
    song = click_track(tmp_path / "song.wav", 120)
    settings = to_settings(compose_config("animation=3d_zoom", f"audio.path={song}", "animation.max_frames=auto",
                                          "model=tiny", "animation.translation_z='0: (2 + 8*beat)'"))
    assets = resolve_assets(plan_run(settings), settings)
    one, two = plan_run(settings, assets), plan_run(settings, assets)
    assert one.n_frames == assets.audio.n_frames == two.n_frames
    for name, values in one.schedules.items():
        assert np.array_equal(values, two.schedules[name]), name
    assert one.seed == two.seed == assets.seed
    assert [one.prompt_mix(f) for f in range(one.n_frames)] == [two.prompt_mix(f) for f in range(two.n_frames)]


def test_inputs_only_resolves_the_song_and_reads_no_url_or_weight_file(compose_config, tmp_path, monkeypatch):
    """The studio's plan resolves what the schedules wait on with the run's own function, and nothing else."""
    song = click_track(tmp_path / "song.wav", 120)
    settings = to_settings(compose_config("animation=2d_zoom", f"audio.path={song}", "animation.max_frames=auto",
                                          "model=tiny", "init_image=http://127.0.0.1:9/x.png"))
    draft = plan_run(settings)
    with pytest.raises(ConfigErrors, match="init_image"):
        resolve_assets(draft, settings)  # the run fetches the URL (nothing listens on port 9)
    monkeypatch.setattr("urllib.request.urlopen", _refuse("urlopen"))
    monkeypatch.setattr("render.models.registry.sha256_file", _refuse("sha256 of a weight file"))
    assets = resolve_assets(draft, settings, inputs_only=True)
    assert assets.audio is not None and assets.audio.n_frames == plan_run(settings, assets).n_frames
    assert assets.seed == draft.seed and not assets.fetched and not assets.weight_sha256


def test_a_seed_is_drawn_once_when_the_assets_are_resolved(compose_config):
    settings = to_settings(compose_config("animation=2d_zoom", "seed=null", "animation.max_frames=2"))
    plan = plan_and_resolve(settings)
    assert plan.seed == plan.assets.seed and 0 <= plan.seed < 2**32


@pytest.mark.parametrize("overrides", [
    ["animation=none", "perlin_init=true"],  # Perlin noise is frame 0's init
    ["animation=video_input"],  # the source's first frame is frame 0's init
    ["animation=none", "init_image=x.png"],
])
def test_lpips_guides_a_first_init_even_without_frames_scale(overrides):
    settings = {o.split("=")[0]: o.split("=")[1] for o in overrides}
    model = model_preset("disco512")
    model.frames_scale, model.init_scale = 0.0, 1000.0
    first_init = bool(settings.get("init_image")) or settings.get("perlin_init") == "true" or \
        settings["animation"] == "video_input"
    assert needs_lpips(model, first_init, chained=settings["animation"] != "none")


def test_the_plan_asks_for_lpips_weights_with_perlin_and_video_input(compose_config, tiny_video):
    for extra in (["animation=none", "perlin_init=true"],
                  ["animation=video_input", f"animation.video_init_path={tiny_video}",
                   "animation.video_init_frames_scale=null"]):  # model.init_scale and frames_scale apply
        settings = to_settings(compose_config(*extra, "model=disco512", "model.frames_scale=0",
                                              "model.init_scale=1000", "model.download=true"))
        draft = plan_run(settings)
        assert draft.diffusion.lpips and "vgg16" in draft.diffusion.files, extra  # the real LPIPS, never random
        settings = to_settings(compose_config(*extra, "model=disco512", "model.frames_scale=0", "model.init_scale=0",
                                              "model.download=true"))
        assert not plan_run(settings).diffusion.lpips and "vgg16" not in plan_run(settings).diffusion.files


def test_the_network_builder_follows_the_plans_lpips_rule(compose_config):
    from render.builders import load_networks

    for scale, expect in ((0.0, False), (1000.0, True)):
        settings = to_settings(compose_config("animation=none", "perlin_init=true", "model=tiny",
                                              "model.frames_scale=0", f"model.init_scale={scale}"))
        plan = plan_and_resolve(settings)
        assert plan.diffusion.lpips is expect
        assert (load_networks(plan, progress=False).lpips is not None) is expect


def _python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_app_loads_no_torch():
    loaded = _python("import sys, json, render.app, main\n"
                     "print(json.dumps([m for m in ('torch', 'open_clip', 'timm', 'cv2', 'matplotlib') "
                     "if m in sys.modules]))")
    assert json.loads(loaded) == []


def test_a_broken_config_is_named_without_loading_torch(tmp_path):
    code = f"""
import sys, json, pathlib
from hydra import compose, initialize_config_dir
from render.config.presets import register_configs
from render.app import render_animation
from render.config.issues import ConfigErrors
register_configs()
with initialize_config_dir(config_dir={str(ROOT / "conf")!r}, version_base=None):
    cfg = compose(config_name="config", overrides=["animation=2d_zoom", "animation.zoom='0: (1'"])
try:
    render_animation(cfg, pathlib.Path({str(tmp_path / "run")!r}), progress=False)
except ConfigErrors as exc:
    print(json.dumps([[i.setting for i in exc.issues], "torch" in sys.modules]))
"""
    assert json.loads(_python(code)) == [["animation.zoom"], False]


def test_auto_falling_back_to_tiny_keeps_the_users_model_settings(compose_config):
    """Only the networks fall back: a step count, a scale or a cut schedule set with model=auto is kept."""
    from render.config.planner import plan_run
    from render.config.settings import to_settings

    plain = plan_run(to_settings(compose_config("animation=3d_zoom"))).diffusion.model
    mine = plan_run(to_settings(compose_config("animation=3d_zoom", "model.steps=7", "model.clip_guidance_scale=900",
                                               "model.clip_models=[ViT-B-32:openai]"))).diffusion.model
    assert plain.name == mine.name == "tiny (auto fallback)"
    assert (mine.steps, mine.clip_guidance_scale) == (7, 900) and (plain.steps, plain.clip_guidance_scale) != (7, 900)
    assert mine.clip_models == plain.clip_models and mine.diffusion_model == "tiny"  # the networks are tiny's
