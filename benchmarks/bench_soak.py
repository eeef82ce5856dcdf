"""Benchmark: a long run's memory and open files stay flat (RSS and descriptors every 10 frames).

Two runs through the command line's own entry (Hydra's logging, run.json and report.html after every frame, the
progress bar), each in a fresh process: 2,000 preview frames and 200 tiny-diffusion frames, both 3D with turbo, a
tiny depth network, colour coherence and a song driving the camera; the diffusion run also writes progress.png and
partials. Every 10th finished frame the process's resident set (``VmRSS`` of /proc/self/status) and its open file
descriptors (/proc/self/fd) are sampled. Goal: from frame 50 on, RSS grows by at most 5% and descriptors not at all.

    python -m benchmarks.bench_soak                          # both runs (preview 256x256, diffusion 128x128)
    python -m benchmarks.bench_soak --runs preview --frames 300 --csv soak.csv
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from benchmarks.common import ROOT

SAMPLE_EVERY = 10
SETTLED = 50  # the frame the growth is measured from (caches, the allocator and the first turbo chain settled)
FPS = 24
COMMON = ["animation=3d_zoom", "depth=tiny", "animation.turbo_mode=true", "animation.turbo_steps=3",
          "animation.turbo_preroll=2", "color_coherence=lab", f"output.fps={FPS}", "output=png",
          "output.previews=false", "output.quality=false", "seed=1",
          "animation.translation_z='0: (2 + 8 * beat)'", "animation.rotation_3d_y='0: (0.5 * (mid - 0.5))'"]
RUNS = {
    "preview": (2000, ["generator=preview", "width=256", "height=256"]),
    "tiny diffusion": (200, ["model=tiny", "model.steps=10", "width=128", "height=128", "output.progress_every=2",
                             "output.intermediate_saves=2"]),
}


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        line = next(row for row in fh if row.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def write_song(path: Path, seconds: float, bpm: float = 120.0, rate: int = 22050) -> Path:
    """Clicks on every beat over a low hum: beat, onset and band variables that move."""
    t = np.arange(int(seconds * rate)) / rate
    y = 0.2 * np.sin(2 * np.pi * 110 * t)
    for beat in np.arange(0.25, seconds, 60.0 / bpm):
        i = int(beat * rate)
        n = min(int(0.03 * rate), len(y) - i)
        y[i:i + n] += 0.7 * np.sin(2 * np.pi * 1000 * t[:n]) * np.exp(-t[:n] / 0.005)
    wavfile.write(path, rate, (np.clip(y, -1, 1) * 32767).astype(np.int16))
    return path


def worker(name: str, frames: int, workdir: Path) -> list[dict]:
    """Run ``name`` through main.py's entry in this process, sampling after every 10th finished frame."""
    import main as cli
    from render.errors import run_cli
    from render.run import session
    from render.run.resume import prepare_argv

    samples: list[dict] = []
    started = time.perf_counter()
    frame_done = session.RunSession.frame_done

    def sampled(self, mode):  # the session's per-frame callback, then a sample
        on_frame = frame_done(self, mode)

        def on_frame_sampled(done):
            on_frame(done)
            if (done.frame + 1) % SAMPLE_EVERY == 0:
                samples.append({"frame": done.frame + 1, "rss": rss_bytes(), "fds": open_descriptors(),
                                "seconds": time.perf_counter() - started})
        return on_frame_sampled

    session.RunSession.frame_done = sampled
    song = write_song(workdir / "song.wav", frames / FPS + 1.0)
    _, overrides = RUNS[name]
    sys.argv = ["main.py", f"--config-path={ROOT / 'conf'}", *COMMON, *overrides, f"animation.max_frames={frames}",
                f"audio.path={song}",
                f"audio.cache_dir={workdir / 'audio'}", f"hydra.run.dir={workdir / 'run'}"]
    code = run_cli(cli.main, prepare_argv)
    if code:
        raise SystemExit(f"{name}: main.py exited {code}")
    return samples


def summary(samples: list[dict]) -> dict:
    base = next(s for s in samples if s["frame"] >= SETTLED)
    after = [s for s in samples if s["frame"] >= base["frame"]]
    rss = [s["rss"] for s in after]
    return {"frames": samples[-1]["frame"], "rss_settled_mb": base["rss"] / 2**20, "rss_end_mb": rss[-1] / 2**20,
            "rss_growth_end": rss[-1] / base["rss"] - 1, "rss_growth_max": max(rss) / base["rss"] - 1,
            "fds_settled": base["fds"], "fds_end": after[-1]["fds"], "fds_max": max(s["fds"] for s in after),
            "seconds_per_frame": (samples[-1]["seconds"] - base["seconds"]) / (samples[-1]["frame"] - base["frame"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=list(RUNS))
    parser.add_argument("--frames", type=int, help="frames of each run (default: 2000 preview, 200 diffusion)")
    parser.add_argument("--csv", type=Path, help="write every sample here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            samples = worker(args.worker, args.frames or RUNS[args.worker][0], Path(tmp))
        print(json.dumps(samples))
        return
    rows = []
    print(f"| run | frames | RSS at frame {SETTLED} MB | RSS at the end MB | growth (end / max) | descriptors at "
          f"{SETTLED} / end / max | s per frame |")
    print("|---|---|---|---|---|---|---|")
    for name in args.runs:
        frames = args.frames or RUNS[name][0]
        done = subprocess.run([sys.executable, "-m", "benchmarks.bench_soak", "--worker", name, "--frames",
                               str(frames)], cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
        samples = json.loads(done.stdout.strip().splitlines()[-1])
        rows += [{"run": name, **s} for s in samples]
        s = summary(samples)
        print(f"| {name} | {s['frames']} | {s['rss_settled_mb']:.0f} | {s['rss_end_mb']:.0f} | "
              f"{s['rss_growth_end']:+.1%} / {s['rss_growth_max']:+.1%} | {s['fds_settled']} / {s['fds_end']} / "
              f"{s['fds_max']} | {s['seconds_per_frame']:.3f} |", flush=True)
    if args.csv:
        args.csv.write_text("run,frame,rss_bytes,fds,seconds\n" + "".join(
            f"{r['run']},{r['frame']},{r['rss']},{r['fds']},{r['seconds']:.2f}\n" for r in rows))


if __name__ == "__main__":
    main()
