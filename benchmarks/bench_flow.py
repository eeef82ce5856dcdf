"""Benchmark: video input's optical flow on this machine.

1. Seconds per frame pair (forward + backward flow, what the renderer computes) for each backend: OpenCV DIS at its
   presets, Farneback, and torchvision's RAFT small/large (random weights: the time does not depend on them), at
   512x512 and 1280x720, on two frames of a smooth random texture shifted by a few pixels.
2. The per-frame work that is not flow: the consistency mask (forward-backward check, frame exits, motion edges,
   blur), the warp of the previous output and the init blend, at 512x512. Goal: at most 20 ms.
3. A sweep of 4 runs over one 12-frame clip at 512x512 with DIS: flow computed 4 times against once plus 3 cache
   reads (``flow.cache.FlowCache``).

    python -m benchmarks.bench_flow                       # everything, 3 repeats
    python -m benchmarks.bench_flow --repeats 1 --backends dis-fine raft-small --sizes 512x512

Sizes are HEIGHTxWIDTH. See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import timed  # noqa: E402

BACKENDS = ("dis-ultrafast", "dis-fast", "dis-medium", "dis-fine", "farneback", "raft-small", "raft-large")
SIZES = ("512x512", "720x1280")


def texture(h: int, w: int, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.random((h, w + 16, 3)), (3, 3, 0))
    base = (base - base.min()) / (base.max() - base.min())
    moved = ndimage.shift(base, (0, shift, 0), order=1, mode="nearest")[:, 8:8 + w]
    return (moved * 255).astype(np.uint8)


def estimator(name: str):
    from flow.estimators import create_estimator

    if name.startswith("raft"):
        from flow.raft import RaftFlow, build_raft
        from render.generators.networks import rerandomize_

        variant = name.split("-")[1]
        model = rerandomize_(build_raft(variant), seed=0, std=0.02)
        return RaftFlow(variant, device="cpu", precision="fp32", model=model)
    return create_estimator(name)


def pair_rows(backends, sizes, repeats: int) -> list[str]:
    from flow.estimators import forward_backward

    rows = []
    for size in sizes:
        h, w = (int(v) for v in size.split("x"))
        a, b = texture(h, w), texture(h, w, shift=3.3)
        for name in backends:
            est = estimator(name)
            fn = (lambda: est.pair(a, b)) if hasattr(est, "pair") else (lambda: forward_backward(est, a, b))
            rows.append(_row(f"{name} {w}x{h}", timed(fn, repeats)))
    return rows


def per_frame_rows(repeats: int) -> list[str]:
    from flow.consistency import blend_init, consistency_layers, reliability_mask
    from flow.estimators import DisFlow, forward_backward
    from flow.warp import warp_with_flow

    a, b = texture(512, 512), texture(512, 512, shift=3.3)
    fwd, bwd = forward_backward(DisFlow("fine"), a, b)
    previous = texture(512, 512, seed=1)

    def mask():
        return reliability_mask(consistency_layers(bwd, fwd), blur_sigma=2.0)

    def all_of_it():
        warped = warp_with_flow(previous, bwd)
        init = blend_init(b / 255.0, warped / 255.0, mask(), 0.999)
        return (init * 255).round().astype(np.uint8)

    return [_row("mask 512x512", timed(mask, repeats)), _row("mask+warp+blend 512x512", timed(all_of_it, repeats))]


def sweep_rows(runs: int = 4, frames: int = 12) -> list[str]:
    from flow.cache import FlowCache, FlowKey
    from flow.estimators import DisFlow, forward_backward

    clip = [texture(512, 512, shift=1.7 * k) for k in range(frames)]
    est = DisFlow("fine")

    def run(cache: FlowCache | None, key: FlowKey) -> None:
        for i in range(1, frames):
            compute = lambda: forward_backward(est, clip[i - 1], clip[i])  # noqa: E731
            cache.get_or_compute(key, i - 1, compute) if cache else compute()

    start = time.perf_counter()
    for _ in range(runs):
        run(None, None)
    uncached = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        key = FlowKey("0" * 64, (512, 512), est.name)
        start = time.perf_counter()
        for _ in range(runs):
            run(FlowCache(folder), key)
        cached = time.perf_counter() - start
    return [_row(f"sweep of {runs} runs, {frames} frames, no cache", [uncached]),
            _row(f"sweep of {runs} runs, {frames} frames, cache", [cached]),
            f"| cache saving | {uncached / cached:.2f}x less time | | |"]


def _row(label: str, times: list[float]) -> str:
    return (f"| {label} | {statistics.median(times) * 1000:.1f} | {min(times) * 1000:.1f} | "
            f"{max(times) * 1000:.1f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    print(f"torch {torch.__version__}, opencv {cv2.__version__}, {args.threads} threads\n")
    print("| what | median ms | min ms | max ms |\n|---|---|---|---|")
    for row in pair_rows(args.backends, args.sizes, args.repeats) + per_frame_rows(max(args.repeats, 5)):
        print(row, flush=True)
    for row in sweep_rows():
        print(row, flush=True)


if __name__ == "__main__":
    main()
