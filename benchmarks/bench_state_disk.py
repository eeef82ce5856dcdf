"""Benchmark: the disk a run's kept states take per frame (what lets a run be branched at any frame), at 1280x768.

Renders a few frames of each mode with the tiny diffusion model (random weights, 2 steps: what makes the frames does
not change what a state holds, but the preview generator's frames equal their inits, which would let turbo's chain
share images it does not share in a real run) and reports the bytes of ``state/`` per frame against the frames' PNGs.
The reference, in the same run: the same states written as every run wrote them before (format 1: each image raw in
``state/blobs/``, stored once), by a store with no frame PNGs beside it; and the time to write one state both ways.

    python -m benchmarks.bench_state_disk                 # 1280x768, 8 frames per mode (a few minutes)
    python -m benchmarks.bench_state_disk --frames 16 --size 640x384
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from benchmarks.common import ROOT

CASES = {
    "2d": ["animation=2d_zoom"],
    "2d + colour coherence": ["animation=2d_zoom", "color_coherence=lab"],
    "3d": ["animation=3d_zoom", "depth=flat"],
    "3d + turbo (steps 3)": ["animation=3d_zoom", "depth=flat", "animation.turbo_mode=true",
                             "animation.turbo_steps=3", "animation.turbo_preroll=1"],
    "2d + seamless loop + colour coherence": ["animation=2d_zoom", "animation.loop=true", "animation.loop_frames=4",
                                              "color_coherence=lab"],
}


def folder_bytes(folder: Path, pattern: str = "**/*") -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern) if p.is_file())


def rewrite(states: list, root: Path, frames: Path | None) -> float:
    """Write ``states`` into ``root/state`` (with ``root/frames`` linked to ``frames``, or none: format 1's raw
    blobs); the seconds per state."""
    from render.run.checkpoint import Checkpoints

    if frames is not None:
        root.mkdir(parents=True)
        (root / "frames").symlink_to(frames)
    store = Checkpoints(root / "state")
    start = time.perf_counter()
    for state in states:
        store.save(state)
    return (time.perf_counter() - start) / len(states)


def measure(case: list[str], width: int, height: int, frames: int, workdir: Path) -> dict[str, float]:
    from render.app import render_animation
    from render.config.presets import register_configs
    from render.run.checkpoint import Checkpoints

    register_configs()
    GlobalHydra.instance().clear()
    overrides = [*case, "model=tiny", "model.steps=2", f"width={width}", f"height={height}",
                 f"animation.max_frames={frames}", "seed=1", "output=png", "output.previews=false",
                 "output.quality=false", "perlin_init=true"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose(config_name="config", overrides=overrides)
    GlobalHydra.instance().clear()
    run_dir = workdir / "run"
    render_animation(cfg, run_dir, progress=False)
    states = [Checkpoints.read(p) for p in Checkpoints(run_dir / "state").files()]
    old_seconds = rewrite(states, workdir / "format1", None)
    new_seconds = rewrite(states, workdir / "format2", run_dir / "frames")
    png = folder_bytes(run_dir / "frames", "*.png") / frames
    result = {"state": folder_bytes(run_dir / "state") / frames, "png": png,
              "format 1": folder_bytes(workdir / "format1" / "state") / frames,
              "write s": new_seconds, "format 1 write s": old_seconds}
    for folder in ("run", "format1", "format2"):
        shutil.rmtree(workdir / folder)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x768", help="WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(f"| mode ({width}x{height}, {args.frames} frames) | state/ MB per frame | frames/ PNG MB per frame "
          f"| state / PNG | format 1 MB per frame | format 1 / PNG | ms to write a state (format 1) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in CASES.items():
            r = measure(case, width, height, args.frames, Path(tmp))
            print(f"| {name} | {r['state'] / 1e6:.3f} | {r['png'] / 1e6:.2f} | {r['state'] / r['png']:.1%} | "
                  f"{r['format 1'] / 1e6:.2f} | {r['format 1'] / r['png']:.0%} | {r['write s'] * 1e3:.0f} "
                  f"({r['format 1 write s'] * 1e3:.0f}) |", flush=True)


if __name__ == "__main__":
    main()
