"""Helpers several test rooms share: click tracks, an mp4's stream list, running main.py, frame hashes."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import wave

import imageio_ffmpeg
import numpy as np

from conftest import ROOT

SR = 44100
SECONDS = 15.0
FIRST = 0.25  # first click (s)


def write_wav(path, y, sr=SR):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def click_times(bpm, seconds=SECONDS):
    return np.arange(FIRST, seconds - 0.05, 60.0 / bpm)


def click_track(path, bpm, seconds=SECONDS):
    """Short decaying 1 kHz clicks at ``bpm`` from ``FIRST`` seconds on."""
    y = np.zeros(int(seconds * SR))
    t = np.arange(int(0.03 * SR)) / SR
    click = 0.8 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.005)
    for c in click_times(bpm, seconds):
        i = int(round(c * SR))
        y[i:i + click.size] += click[: y.size - i]
    return write_wav(path, y)


def streams(path) -> str:
    return subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr


def run_main(*args, env=None, cwd=ROOT):
    environment = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "main.py", *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=environment)


def frame_hashes(run_dir):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((run_dir / "frames").glob("*.png"))}
