"""Benchmark: the cost of watching a frame form (``output.progress_every``, ``output.intermediate_saves``) at
512x512, against one CLIP-guided step.

Timed, each ``--repeats`` times after a warm-up, on a smooth random 512x512 predicted image:

- ``on the sampling thread``: what the sampler waits for when a step writes progress.png: the 8-bit conversion of
  the step's ``pred_xstart`` and the hand-off to the writer thread (``StepImages.__call__``);
- ``conversion + PNG write``: the whole job done synchronously (``frame_to_image`` + ``save_png_atomic`` into a run dir:
  encode, fsync, rename), which the writer thread does while the next step runs;

and, with ``--step``, one guided DDIM step as ``bench_step.py`` builds "ours" (DD's 512x512 UNet, secondary
model, ViT-B/32 + ViT-B/16 + RN50, re-randomised weights, ``auto`` precisions) at 512x512; without it, the step time
given by ``--step-seconds``.

    python -m benchmarks.bench_progress --step             # also times one guided 512x512 step (minutes on a CPU)
    python -m benchmarks.bench_progress --step-seconds 40  # against a step time measured elsewhere
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.common import ROOT, time_once, timed

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def predicted_image(size: int) -> torch.Tensor:
    """A smooth random image in [-1, 1] (PNG compresses noise and flat colour unrealistically)."""
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, size // 16, size // 16, generator=gen)
    smooth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return (smooth + 0.05 * torch.randn(1, 3, size, size, generator=gen)).clamp(0, 1) * 2 - 1


def guided_step_seconds(size: int, repeats: int) -> float:
    from benchmarks.bench_step import build, start_image

    step = build("ours auto", torch.device("cpu"))
    x = start_image(size)
    return statistics.median(timed(lambda: step(x), repeats))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=20, help="timed writes of each kind (at least 5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--step", action="store_true", help="time one guided step here (bench_step.py's 'ours')")
    parser.add_argument("--step-repeats", type=int, default=1)
    parser.add_argument("--step-seconds", type=float, help="a guided step's seconds measured elsewhere")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    torch.set_num_threads(args.threads)
    from render.disk.images import save_png_atomic
    from render.disk.quantize import frame_to_image
    from render.run.progress import StepImages
    from render.run.run_dir import RunDir

    x0 = predicted_image(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp), "bench").create()
        images = StepImages(run.save_extra, progress_every=1)

        def on_thread():
            images(0, 0, 10, x0)

        on_thread()
        images.flush()
        hand_off = []
        for _ in range(args.repeats):
            hand_off.append(time_once(on_thread))
            images.flush()  # the writer's work is not on the sampling thread; keep the queue empty between calls
        images.close()
        progress_png = run.root / "progress.png"
        whole = timed(lambda: save_png_atomic(frame_to_image(x0.add(1).div(2)), progress_png), args.repeats)
        png_bytes = progress_png.stat().st_size
    step = guided_step_seconds(args.size, args.step_repeats) if args.step else args.step_seconds
    rows = [("on the sampling thread (conversion + hand-off)", hand_off),
            ("conversion + PNG write (writer thread)", whole)]
    print(f"{args.size}x{args.size}, {args.threads} threads, {args.repeats} repeats, PNG {png_bytes / 1e3:.0f} kB")
    print("| part | median ms | min ms | max ms | share of a guided step |")
    print("|---|---|---|---|---|")
    for name, times in rows:
        share = f"{100 * statistics.median(times) / step:.4f}%" if step else "n/a"
        print(f"| {name} | {1e3 * statistics.median(times):.2f} | {1e3 * min(times):.2f} | {1e3 * max(times):.2f} "
              f"| {share} |")
    if step:
        print(f"| one guided step ({'measured here' if args.step else 'given'}) | {1e3 * step:.0f} | | | |")


if __name__ == "__main__":
    main()
