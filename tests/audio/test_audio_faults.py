"""A damaged song is refused before rendering; two jobs analysing one song at once analyse it once; librosa's numba
cache stays out of the virtualenv."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from support import click_track

import audio.analysis as analysis
from audio.analysis import AudioError, FeatureCache, load_audio
from render.errors import EXIT_USER, classify


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_float_wav_with_non_finite_samples_is_refused(tmp_path, bad):
    y = np.sin(np.linspace(0, 100, 22050)).astype(np.float32)
    y[1000:1010] = bad
    path = tmp_path / "damaged.wav"
    sf.write(path, y, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="10 samples are NaN or infinite") as info:
        load_audio(path)
    assert "audio.path" in str(info.value) and classify(info.value).code == EXIT_USER


def test_the_numba_cache_is_outside_the_virtualenv():
    cache = Path(os.environ["NUMBA_CACHE_DIR"]).resolve()
    assert not cache.is_relative_to(Path(sys.prefix).resolve())


def test_jobs_starting_together_analyse_a_song_once(tmp_path, monkeypatch):
    song = click_track(tmp_path / "song.wav", 120, seconds=2.0)
    real, calls = analysis.analyze, []

    def slow_analyze(*args, **kwargs):
        calls.append(threading.get_ident())
        time.sleep(0.5)  # both jobs are past the cache miss before the first one finishes
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis, "analyze", slow_analyze)
    results = []
    jobs = [threading.Thread(target=lambda: results.append(FeatureCache(tmp_path / "cache").analyze(song, 12.0)))
            for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert len(calls) == 1 and len(results) == 2
    assert np.array_equal(results[0].rms, results[1].rms)
