"""Audio analysis (audio/): bpm, beat frames, beat clock, offset/duration, band energies, ffmpeg decoding, errors
and the feature cache, on click tracks and tones written by the tests."""
import math
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from support import SECONDS, SR, click_times, click_track, write_wav

from audio import (
    AudioError,
    AudioFeatures,
    FeatureCache,
    analysis,
    analyze,
    analyze_cached,
    load_audio,
)


def to_m4a(src, dst):
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error", "-i", str(src),
                    "-c:a", "aac", "-b:a", "128k", str(dst)], check=True)
    return dst


@pytest.fixture(scope="module")
def clicks(tmp_path_factory):
    root = tmp_path_factory.mktemp("clicks")
    files = {bpm: click_track(root / f"click{bpm}.wav", bpm) for bpm in (120, 128)}
    files["m4a"] = to_m4a(files[128], root / "click128.m4a")
    return files


def nearest_offsets(found, expected):
    found = np.asarray(found)
    return np.array([found[np.argmin(np.abs(found - e))] - e for e in expected])


@pytest.mark.parametrize("bpm", [120, 128])
def test_bpm_and_beat_frames(clicks, bpm):
    fps = 24
    f = analyze(clicks[bpm], fps)
    assert f.n_frames == math.ceil(SECONDS * fps) and f.fps == fps and f.duration == pytest.approx(SECONDS)
    assert abs(f.bpm - bpm) / bpm < 0.02
    expected = np.floor(click_times(bpm) * fps).astype(int)
    peaks = np.flatnonzero(f.beat == 1.0)
    np.testing.assert_array_equal(peaks, f.beat_frames)
    hits = np.abs(nearest_offsets(peaks, expected)) <= 1
    assert hits.mean() >= 0.9
    # between beats the pulse decays by beat_decay a frame
    p = peaks[len(peaks) // 2]
    np.testing.assert_allclose(f.beat[p:p + 4], 0.8 ** np.arange(4))
    assert np.all(f.beat[: peaks[0]] == 0)


@pytest.mark.parametrize("bpm", [120, 128])
def test_beat_clock(clicks, bpm):
    fps = 24
    f = analyze(clicks[bpm], fps)
    ct = click_times(bpm)
    first, last = np.floor(ct[[0, -1]] * fps).astype(int)
    assert f.b[last] - f.b[first] == pytest.approx(len(ct) - 1, abs=0.5)
    assert np.all(np.diff(f.b) > 0)  # monotonic, extrapolated before the first / after the last beat
    assert f.b[1] - f.b[0] == pytest.approx(f.bpm / 60 / fps, rel=1e-6)
    assert f.b[-1] - f.b[-2] == pytest.approx(f.bpm / 60 / fps, rel=1e-6)
    assert -1 < f.b[0] <= 0  # 0 on the first beat of the grid, integer on every detected beat
    np.testing.assert_allclose(f.b[f.beat_frames], np.round(f.b[f.beat_frames]), atol=fps ** -1 * bpm / 60 + 1e-9)


def test_offset_and_duration(clicks):
    fps = 24
    y, sr = load_audio(clicks[120], offset=2.0, duration=5.0)
    assert sr == 22050 and y.dtype == np.float32 and y.ndim == 1 and y.size == 5 * 22050
    f = analyze(clicks[120], fps, offset=2.0, duration=5.0)
    assert f.n_frames == 120 and f.duration == pytest.approx(5.0)
    ct = click_times(120)
    expected = np.floor((ct[(ct >= 2.0) & (ct < 7.0)] - 2.0) * fps).astype(int)
    assert np.mean(np.abs(nearest_offsets(f.beat_frames, expected)) <= 1) >= 0.8
    g = analyze(clicks[120], fps, offset=1.0, duration=4.3)
    assert g.n_frames == math.ceil(4.3 * fps) == 104
    assert all(v.shape == (104,) for v in g.variables().values())
    h = analyze(clicks[120], 30, duration=2.0, n_frames=90)  # longer than the audio: silent tail
    assert h.n_frames == 90 and np.all(h.rms[61:] == 0)


def test_band_energies(tmp_path):
    t = np.arange(int(3.0 * SR)) / SR
    y = np.concatenate([0.5 * np.sin(2 * np.pi * 80 * t), 0.5 * np.sin(2 * np.pi * 1000 * t),
                        0.5 * np.sin(2 * np.pi * 6000 * t)])
    f = analyze(write_wav(tmp_path / "tones.wav", y), 24)
    low, mid, high = slice(6, 66), slice(78, 138), slice(150, 210)  # frames well inside each 3 s section
    for feat in (f.lo, f.mid, f.hi, f.rms):
        assert feat.min() >= 0 and feat.max() == pytest.approx(1.0)
    assert f.lo[low].mean() > 0.9 and f.hi[low].mean() < 0.02 and f.mid[low].mean() < 0.05
    assert f.hi[high].mean() > 0.9 and f.lo[high].mean() < 0.02 and f.mid[high].mean() < 0.05
    assert f.mid[mid].mean() > 0.9 and f.lo[mid].mean() < 0.02 and f.hi[mid].mean() < 0.02
    assert f.rms[low].mean() > 0.8 and f.rms[high].mean() > 0.8


def test_m4a_decodes_through_ffmpeg(clicks, monkeypatch):
    def no_soundfile(*a, **k):
        raise AssertionError("m4a must not go through soundfile")

    monkeypatch.setattr(analysis, "_load_soundfile", no_soundfile)
    y, sr = load_audio(clicks["m4a"])
    assert sr == 22050 and y.dtype == np.float32 and abs(y.size / sr - SECONDS) < 0.05
    f = analyze(clicks["m4a"], 24)
    assert abs(f.bpm - 128) / 128 < 0.02
    monkeypatch.undo()
    w = analyze(clicks[128], 24)
    assert f.bpm == pytest.approx(w.bpm, rel=0.005)
    assert np.mean(np.abs(nearest_offsets(f.beat_frames, w.beat_frames)) <= 1) >= 0.9


def test_ffmpeg_fallback_matches_soundfile(clicks):
    a = analysis._load_soundfile(clicks[120], 1.0, 3.0, 22050)
    b = analysis._load_ffmpeg(clicks[120], 1.0, 3.0, 22050)
    assert abs(a.size - b.size) <= 2
    n = min(a.size, b.size)
    assert np.sqrt(np.mean((a[:n] - b[:n]) ** 2)) < 0.05 * np.sqrt(np.mean(a[:n] ** 2))


@pytest.mark.parametrize("name,content", [("song.wav", b"RIFF\x00\x00garbage" * 50), ("song.mp3", b"\x00\x01" * 500),
                                          ("empty.flac", b"")])
def test_errors_name_the_setting(tmp_path, name, content):
    bad = tmp_path / name
    bad.write_bytes(content)
    for p in (bad, tmp_path / "missing.wav", tmp_path):
        with pytest.raises(AudioError) as e:
            analyze(p, 24)
        assert isinstance(e.value, ValueError)
        assert "audio.path" in str(e.value) and str(p) in str(e.value) and "fix" in str(e.value)


def test_window_errors(clicks):
    with pytest.raises(AudioError, match="audio.offset"):
        load_audio(clicks[120], offset=100.0)
    with pytest.raises(AudioError, match="audio.offset"):
        load_audio(clicks[120], offset=-1.0)
    with pytest.raises(AudioError, match="audio.duration"):
        load_audio(clicks[120], duration=0)


def test_silence(tmp_path):
    f = analyze(write_wav(tmp_path / "silence.wav", np.zeros(2 * SR)), 12)
    assert f.n_frames == 24 and f.bpm == 0 and f.beat_frames.size == 0
    for name, v in f.variables().items():
        assert v.shape == (24,) and np.all(v == 0), name


def test_variables(clicks):
    f = analyze(clicks[120], 12, duration=3.0)
    v = f.variables()
    assert set(v) == {"rms", "onset", "beat", "lo", "mid", "hi", "b", "bpm"}
    assert all(a.shape == (36,) and a.dtype == np.float64 for a in v.values())
    assert np.all(v["bpm"] == f.bpm)
    assert f.beat_frames.dtype.kind == "i"


def test_cache(clicks, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = []
    real = analysis.analyze

    def counting(*a, **k):
        calls.append(a)
        if len(calls) > 1:
            raise AssertionError("recomputed despite the cache")
        return real(*a, **k)

    monkeypatch.setattr(analysis, "analyze", counting)
    first = analyze_cached(clicks[120], 24, cache, duration=4.0)
    second = analyze_cached(clicks[120], 24, cache, duration=4.0)
    assert isinstance(second, AudioFeatures) and second == first and second is not first
    assert len(calls) == 1 and len(list(cache.glob("*.npz"))) == 1
    # the key is the file's bytes, not its name; any setting changes it
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(clicks[120].read_bytes())
    assert analyze_cached(copy, 24, cache, duration=4.0) == first
    c = FeatureCache(cache)
    keys = {c.key(clicks[120], 24, duration=4.0), c.key(clicks[120], 25, duration=4.0),
            c.key(clicks[120], 24, duration=4.0, offset=1.0), c.key(clicks[120], 24, duration=4.0, beat_decay=0.5),
            c.key(clicks[120], 24, duration=4.0, n_frames=50), c.key(clicks[128], 24, duration=4.0)}
    assert len(keys) == 6
    # a damaged cache file is recomputed and rewritten
    calls.clear()
    c.path_for(c.key(clicks[120], 24, duration=4.0)).write_bytes(b"not an npz")
    assert analyze_cached(clicks[120], 24, cache, duration=4.0) == first
    assert len(calls) == 1
    with pytest.raises(AudioError, match="audio.path"):
        analyze_cached(tmp_path / "missing.wav", 24, cache)
