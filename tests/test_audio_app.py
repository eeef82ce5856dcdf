"""The song drives the schedules and is in the video: the issue's click-track case, end to end."""
from __future__ import annotations

import numpy as np
import pytest

from audio.analysis import load_audio
from conftest import TINY
from render.app import render_animation
from render.validate import ConfigErrors, check_inputs, to_settings
from render.video import probe_video
from test_audio import click_times, click_track

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
    plan = check_inputs(to_settings(compose_config(*song_args(song, tmp_path))))
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
    sound, sr = load_audio(result.video)
    assert abs(len(sound) / sr - 48 / FPS) <= 1 / FPS  # audio and video agree within one frame
    assert np.abs(sound).max() > 0.1  # the clicks, not silence


def test_unreadable_song_is_a_named_error(compose_config, tmp_path):
    bad = tmp_path / "song.mp3"
    bad.write_bytes(b"not audio" * 100)
    with pytest.raises(ConfigErrors) as err:
        check_inputs(to_settings(compose_config(*song_args(bad, tmp_path))))
    assert "audio.path" in str(err.value)
