"""The song drives the schedules and is in the video: the issue's click-track case, end to end."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY
from support import click_times, click_track, streams

from audio.analysis import load_audio
from flow.extract import probe_video
from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings

BPM, SECONDS, FPS = 120, 15.0, 12


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return click_track(tmp_path_factory.mktemp("song") / "clicks.wav", BPM, SECONDS)


def song_args(song, tmp_path, *extra):
    frames = int(SECONDS * FPS)
    return ["animation=2d_zoom", *TINY, f"animation.max_frames={frames}", f"output.fps={FPS}",
            f"audio.path={song}", f"audio.cache_dir={tmp_path / 'cache'}", 'animation.zoom="0: (1.0 + 0.04*beat)"',
            'animation.angle="0: (2*sin(2*pi*b/4))"', *extra]


def test_beat_drives_zoom_on_the_click_frames(compose_config, song, tmp_path):
    plan = plan_and_resolve(to_settings(compose_config(*song_args(song, tmp_path))))
    assert plan.audio.bpm == pytest.approx(BPM, rel=0.02)
    zoom = plan.schedules["animation.zoom"]
    peaks = np.flatnonzero(np.isclose(zoom, 1.04))
    clicks = np.floor(click_times(BPM, SECONDS) * FPS).astype(int)
    hits = [np.min(np.abs(peaks - c)) <= 1 for c in clicks]
    assert np.mean(hits) >= 0.9, (peaks, clicks)
    assert zoom.min() >= 1.0 and zoom.max() == pytest.approx(1.04)
    angle = plan.schedules["animation.angle"]  # one turn of the sine every 4 beats: 2 s at 120 bpm
    assert np.ptp(angle) == pytest.approx(4.0, abs=0.1)


def test_the_video_carries_the_song_cut_to_its_length(compose_config, song, tmp_path):
    cfg = compose_config(*song_args(song, tmp_path, "animation.max_frames=48", "audio.offset=1.0"))
    result = render_animation(cfg, tmp_path / "run", progress=False)
    video = probe_video(result.video)
    assert video.frames == 48 and video.fps == FPS
    info = streams(result.video)
    assert "Video: h264" in info and "Audio: aac" in info
    sound, sr = load_audio(result.video)
    assert abs(len(sound) / sr - 48 / FPS) <= 1 / FPS  # audio and video agree within one frame
    assert np.abs(sound).max() > 0.1  # the clicks, not silence


def test_unreadable_song_is_a_named_error(compose_config, tmp_path):
    bad = tmp_path / "song.mp3"
    bad.write_bytes(b"not audio" * 100)
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config(*song_args(bad, tmp_path))))
    assert "audio.path" in str(err.value)


def test_max_frames_auto_takes_the_length_of_the_song(compose_config, song, tmp_path):
    cfg = compose_config(*song_args(song, tmp_path, "animation.max_frames=auto", "audio.offset=10.0",
                                    "output.previews=false", "output.quality=false"))
    plan = plan_and_resolve(to_settings(cfg))
    assert plan.n_frames == 60  # the 5 s left of the song after the offset, at 12 fps
    result = render_animation(cfg, tmp_path / "run", progress=False)  # a preview run: beat sync in seconds
    assert probe_video(result.video).frames == 60
    sound, sr = load_audio(result.video)
    assert abs(len(sound) / sr - 60 / FPS) <= 1 / FPS


@pytest.mark.parametrize("value, problem", [("auto", "neither is set"), ("abc", "whole number"),
                                            ("2.5", "whole number"), ("0", "at least 1")])
def test_bad_max_frames_is_a_named_error(compose_config, value, problem):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config("animation=2d_zoom", f"animation.max_frames={value}")))
    assert "animation.max_frames" in str(err.value) and problem in str(err.value)


def test_schedules_plot_shows_the_song(compose_config, song, tmp_path):
    from PIL import Image

    from render.output.plots import plot_schedules

    plan = plan_and_resolve(to_settings(compose_config(*song_args(song, tmp_path))))
    schedules = {"animation.zoom": plan.schedules["animation.zoom"]}
    plain = plot_schedules(schedules, tmp_path / "plain.png", fps=FPS)
    with_song = plot_schedules(schedules, tmp_path / "song.png", fps=FPS, audio=plan.audio)
    with Image.open(plain) as a, Image.open(with_song) as b:
        assert b.height > 1.5 * a.height  # the beat, level and band panels below the schedules


def test_keys_in_beats_for_schedules_and_prompts(compose_config, song, tmp_path):
    cfg = compose_config(*song_args(song, tmp_path, 'animation.zoom="0b: (1.0), 4b: (1.1)"',
                                    "text_prompts={0: [a calm sea], 8b: [a storm]}"))
    plan = plan_and_resolve(to_settings(cfg))
    first = int(np.floor(click_times(BPM, SECONDS)[0] * FPS))
    frames_per_beat = FPS * 60 / BPM  # 6
    assert plan.text_prompts.change_frames == pytest.approx((first + 8 * frames_per_beat,), abs=1)
    zoom = plan.schedules["animation.zoom"]
    top = int(np.argmax(zoom >= 1.1 - 1e-9))
    assert abs(top - (first + 4 * frames_per_beat)) <= 1
    assert zoom[first] == pytest.approx(1.0, abs=0.01)


def test_keys_in_beats_without_a_song_are_a_named_error(compose_config):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config("animation=2d_zoom", 'animation.zoom="0: (1.0), 16b: (1.1)"')))
    assert "animation.zoom" in str(err.value) and "set audio.path" in str(err.value)
