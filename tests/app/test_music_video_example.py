"""The README's complete music-video config (conf/music_video.yaml) is the file itself, and it works."""
from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import CONF_DIR, ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from support import click_times, click_track

from flow.extract import probe_video
from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.presets import register_configs
from render.config.settings import to_settings

BPM, SECONDS = 120, 15.0
FAST = ["model=tiny", "generator=preview", "depth=tiny", "width=128", "height=64", "seed=7",
        "output.preset=ultrafast"]


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return click_track(tmp_path_factory.mktemp("song") / "clicks.wav", BPM, SECONDS)


def compose_example(*overrides):
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            return compose(config_name="music_video", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


def test_readme_shows_the_example_file_verbatim():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Music videos", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    assert (CONF_DIR / "music_video.yaml").read_text() in blocks


def test_the_example_follows_the_song(song, tmp_path):
    cfg = compose_example(f"audio.path={song}", f"audio.cache_dir={tmp_path / 'cache'}", *FAST)
    plan = plan_and_resolve(to_settings(cfg))
    assert plan.n_frames == SECONDS * 24  # max_frames=auto at output.fps=24
    forward = plan.schedules["animation.translation_z"]
    clicks = np.floor(click_times(BPM, SECONDS) * 24).astype(int)
    pushed = forward[clicks] > forward[clicks - 2] + 2  # a push on every beat
    assert pushed.mean() >= 0.9, np.flatnonzero(~pushed)
    assert plan.text_prompts.change_frames == ()  # the first scene change is at beat 32, after this 15 s song


def test_the_example_renders(song, tmp_path):
    cfg = compose_example(f"audio.path={song}", f"audio.cache_dir={tmp_path / 'cache'}", "audio.duration=2", *FAST)
    result = render_animation(cfg, tmp_path / "run", progress=False)
    assert probe_video(result.video).frames == 48
    assert (result.run_dir / "music_video_contact.png").is_file()


def test_the_example_without_a_song_says_so():
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_example(*FAST)))
    assert "animation.max_frames" in str(err.value) and "audio.path" in str(err.value)
