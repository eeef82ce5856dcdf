"""Benchmark: seconds per depth map at 1280x768 for every depth family the renderer offers, and what
``depth.stabilize`` adds per frame.

Each family is its real architecture with seeded random weights (the time does not depend on the weights), run through
the estimator the renderer builds for its preset (``depth.estimators.relative_depth``, ``AdabinsDepth``: resize,
normalisation, network, upsampling and depth conversion at frame size), on a random frame: one warm-up call, then
``--repeats`` timed calls (median, min, max). The stabiliser row times one frame of the 3D mode's depth bookkeeping
at that size with a stabiliser: hold the depth to the moved previous one, measure the flicker, move the result on.

    python -m benchmarks.bench_depth_families                         # every family, fp32, 5 timed maps each
    python -m benchmarks.bench_depth_families --families depth_anything_v2_small midas_small --repeats 7
    python -m benchmarks.bench_depth_families --device cuda --precision fp16

See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys

import torch

from benchmarks.common import ROOT, timed

FAMILIES = ("dpt_large", "dpt_hybrid", "midas_v21", "midas_small", "adabins_nyu", "depth_anything_v2_small",
            "depth_anything_v2_base", "depth_anything_v2_large")
STABILIZER = "depth.stabilize"
SIZE = (768, 1280)


def build(family: str, device: str, precision: str):
    """The renderer's estimator for ``family`` with random weights, and its network."""
    from depth.estimators import AdabinsDepth, build_adabins, relative_depth

    if family == "adabins_nyu":
        estimator = AdabinsDepth(build_adabins(None), device, precision)
    else:
        estimator = relative_depth(family, None, device, precision)
    return estimator, estimator.net


def network_input(family: str, h: int, w: int) -> tuple[int, int]:
    from depth.estimators import DEPTH_ANYTHING_KINDS, adabins_input_size, depth_anything_input_size, midas_input_size

    if family == "adabins_nyu":
        return adabins_input_size(h, w)
    if family in DEPTH_ANYTHING_KINDS:
        return depth_anything_input_size(h, w)
    return midas_input_size(h, w, family)


def stabilizer_step(device: str):
    """One frame of the 3D mode's depth bookkeeping with ``depth.stabilize=true`` at 1280x768."""
    from depth.stabilize import DepthStabilizer, depth_flicker, move_depth

    g = torch.Generator().manual_seed(0)
    depth = (1 + torch.rand(1, 1, *SIZE, generator=g)).to(device)
    step = dict(translation=(2.0, 0.0, 3.0), rotation_deg=(0.0, 0.5, 0.2))
    prior = move_depth(depth, **step).half().float()
    stabilizer = DepthStabilizer(0.7)
    estimate = 1.1 * depth + 0.05

    def once():
        held = stabilizer(estimate, prior)
        depth_flicker(held, prior)
        return move_depth(held, **step).half()

    return once


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(family: str, device: str, precision: str, repeats: int) -> dict:
    frame = torch.rand(1, 3, *SIZE, generator=torch.Generator().manual_seed(1)).to(device)
    if family == STABILIZER:
        once, params, net_in = stabilizer_step(device), 0.0, SIZE
    else:
        estimator, net = build(family, device, precision)
        params = sum(p.numel() for p in net.parameters()) / 1e6
        net_in = network_input(family, *SIZE)

        def once():
            estimator(frame)
    times = timed(lambda: (once(), sync(device)), repeats)
    print(f"  {family}: {statistics.median(times):.3f} s", file=sys.stderr, flush=True)
    return {"family": family, "params_m": params, "input": net_in, "median": statistics.median(times),
            "min": min(times), "max": max(times)}


def licence(family: str) -> str:
    from render.models import registry

    if family == STABILIZER:
        return "-"
    return registry.lookup(family).license or "see its source"


def table(rows: list[dict]) -> str:
    lines = ["| family | params (M) | licence | network input (WxH) | s per depth map: median (min-max) |",
             "|---|---|---|---|---|"]
    for r in rows:
        h, w = r["input"]
        params = f"{r['params_m']:.1f}" if r["params_m"] else "-"
        lines.append(f"| {r['family']} | {params} | {licence(r['family'])} | {w}x{h} | "
                     f"{r['median']:.3f} ({r['min']:.3f}-{r['max']:.3f}) |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", choices=FAMILIES + (STABILIZER,),
                        default=list(FAMILIES) + [STABILIZER])
    parser.add_argument("--repeats", type=int, default=5, help="timed depth maps per family, after a warm-up")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    sys.path.insert(0, str(ROOT))
    torch.set_num_threads(args.threads)
    rows = []
    for family in args.families:
        rows.append(measure(family, args.device, args.precision, args.repeats))
        gc.collect()
    from render.run.record import describe_device

    print(f"{describe_device(torch.device(args.device))}, torch {torch.__version__}, {args.precision}, 1280x768 "
          f"frames, median of {args.repeats} after a warm-up\n")
    print(table(rows))


if __name__ == "__main__":
    main()
