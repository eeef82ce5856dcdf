"""Helpers several test rooms share: click tracks, an mp4's stream list, running main.py, frame hashes, sweep job
directories as a sweep leaves them."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import yaml
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


def make_job(sweep: Path, num: int, *, config: dict | None = None, overrides: list[str] = (), status="completed",
             metrics: dict | None = None, frames: int = 3, record: bool = True, log: str = "") -> Path:
    """A job directory as a sweep leaves it: .hydra/ files, main.log and (unless ``record=False``) run.json."""
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    config = config or {"animation": {"mode": "2d", "zoom": "0: (1)"}, "seed": 1, "resume": None}
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    (job / "main.log").write_text(log)
    if record:
        video = job / "TimeToDisco.mp4"
        video.write_bytes(b"mp4")
        run = {"config": config, "status": status, "frames": [{"frame": i} for i in range(frames)],
               "video": str(video) if status == "completed" else None, "metrics": metrics or {},
               "started": 100.0, "finished": 112.5 if status == "completed" else None, "peak_rss_mb": 900.0}
        (job / "run.json").write_text(json.dumps(run))
    return job


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
