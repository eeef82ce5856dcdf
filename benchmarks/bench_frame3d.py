"""Benchmark: the share of a 3D frame that is not diffusion, against a real ``disco512`` frame, at the same size.

A ``disco512`` 3D frame (DD's defaults: 250 steps, ``frames_skip_steps=60%``) runs 100 guided steps. One guided step
is timed here as the renderer runs it (``benchmarks.bench_step``'s "ours": the 512x512 UNet of DD's config, the
secondary model, ViT-B/32 + ViT-B/16 + RN50 with DD's cutouts, re-randomised weights, precisions chosen by
``auto``) and multiplied by 100. The rest of the frame is timed through the real code: depth of the previous frame
(``MidasDepth``, DPT-Large or the model given, random weights), ``warp3d``, turbo's blend, the 8-bit conversion
and the atomic PNG write.

    python -m benchmarks.bench_frame3d                     # 1280x768 (DD's default size), DPT-Large
    python -m benchmarks.bench_frame3d --size 768x1280 --depth midas_small --repeats 3

Sizes are HEIGHTxWIDTH. See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import timed  # noqa: E402

GUIDED_STEPS_PER_FRAME = 100  # 250 steps, 60% skipped


def non_diffusion(h: int, w: int, depth_kind: str, repeats: int) -> dict[str, float]:
    from depth.estimators import MidasDepth, build_midas
    from render.disk.images import save_png_atomic
    from render.disk.quantize import frame_to_image
    from render.modes.mode3d import blend
    from transforms.camera3d import warp3d

    estimator = MidasDepth(build_midas(depth_kind, None), depth_kind, "cpu", "fp32")
    frame = torch.rand(1, 3, h, w)
    depth = estimator(frame)
    warped = warp3d(frame, depth, (0.0, 0.0, 10.0), (0.0, 1.0, 0.0))
    folder = Path(tempfile.mkdtemp())
    parts = {
        "depth": lambda: estimator(frame),
        "warp": lambda: warp3d(frame, depth, (0.0, 0.0, 10.0), (0.0, 1.0, 0.0)),
        "blend": lambda: blend(frame, 1 / 3, warped),
        "save": lambda: save_png_atomic(frame_to_image(frame), folder / "00000.png"),
    }
    return {name: statistics.median(timed(fn, repeats)) for name, fn in parts.items()}


def guided_step(h: int, w: int) -> float:
    from benchmarks.bench_step import build

    step = build("ours auto", torch.device("cpu"))
    x = torch.randn(1, 3, h, w)
    return statistics.median(timed(lambda: step(x), 1))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="768x1280")
    parser.add_argument("--depth", default="dpt_large")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.lower().split("x"))
    parts = non_diffusion(h, w, args.depth, args.repeats)
    step = guided_step(h, w)
    frame = step * GUIDED_STEPS_PER_FRAME
    rest = sum(parts.values())
    print(f"{w}x{h}, depth={args.depth} (fp32), the step in auto precision, {args.threads} threads, "
          f"torch {torch.__version__}\n")
    print("| part | seconds | share of the frame |\n|---|---|---|")
    for name, seconds in parts.items():
        print(f"| {name} | {seconds:.3f} | {seconds / (frame + rest):.3%} |")
    print(f"| non-diffusion total | {rest:.3f} | {rest / (frame + rest):.3%} |")
    print(f"| one guided step | {step:.2f} | |")
    print(f"| {GUIDED_STEPS_PER_FRAME} guided steps (a disco512 frame) | {frame:.1f} | {frame / (frame + rest):.3%} |")


if __name__ == "__main__":
    main()
