"""Benchmark: seconds per frame of the 3D mode's depth estimators on this machine.

Each model is the real architecture with seeded random weights (the time does not depend on the weights), run
through the estimator the renderer uses (``MidasDepth`` / ``AdabinsDepth``: DD's resize, normalisation, network,
upsampling), on a random frame, one warm-up call then ``--repeats`` timed calls; the median is reported.

    python -m benchmarks.bench_depth                                  # all models, 512x512 and 1280x768, fp32 + bf16
    python -m benchmarks.bench_depth --repeats 1 --models tiny midas_small    # a smoke run
    python -m benchmarks.bench_depth --sizes 768x1280 --precisions bf16 --threads 4

Sizes are HEIGHTxWIDTH. See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("dpt_large", "dpt_hybrid", "midas_small", "adabins", "tiny")
SIZES = ("512x512", "768x1280")
PRECISIONS = ("fp32", "bf16")


def parse_size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return int(h), int(w)


def make_estimator(model: str, precision: str, net: torch.nn.Module):
    from depth.estimators import AdabinsDepth, MidasDepth

    if model == "adabins":
        return AdabinsDepth(net, "cpu", precision)
    return MidasDepth(net, model, "cpu", precision)


def network_input(model: str, h: int, w: int) -> str:
    from depth.estimators import adabins_input_size, midas_input_size

    nh, nw = adabins_input_size(h, w) if model == "adabins" else midas_input_size(h, w, model)
    return f"{nh}x{nw}"


def count_flops(model: str, estimator, size: tuple[int, int]) -> int:
    """The counted FLOPs of the network's work for one frame (AdaBins: the frame and its mirror image); the resizes
    around it are elementwise (not counted)."""
    from benchmarks import flops
    from depth import adabins, estimators, midas

    nh, _, nw = network_input(model, *size).partition("x")

    def prepare():
        x = torch.rand(1, 3, int(nh), int(nw))
        if model == "adabins":
            return lambda: adabins.predict(estimator.net, x)
        x = x.to(estimator.dtype).contiguous(memory_format=torch.channels_last)
        return lambda: estimator.net(x)

    digest = flops.code_digest(adabins, estimators, midas)
    with torch.inference_mode():
        return flops.cached_count(f"depth {model} {nh}x{nw} {digest}", prepare)


def time_estimator(estimator, size: tuple[int, int], repeats: int) -> list[float]:
    frame = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    estimator(frame)  # warm-up: oneDNN picks its kernels for this shape
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        estimator(frame)
        times.append(time.perf_counter() - t0)
    return times


def run(models, sizes, precisions, repeats: int) -> list[dict]:
    from depth.estimators import build_adabins, build_midas

    rows = []
    for model in models:
        t0 = time.perf_counter()
        net = build_adabins(None) if model == "adabins" else build_midas(model, None)
        build_s = time.perf_counter() - t0
        params = sum(p.numel() for p in net.parameters()) / 1e6
        for precision in precisions:  # fp32 first: each estimator converts the same net in place
            estimator = make_estimator(model, precision, net)
            row = {"model": model, "precision": precision, "params_m": params, "build_s": build_s, "sizes": {}}
            for size in sizes:
                times = time_estimator(estimator, size, repeats)
                row["sizes"][size] = (statistics.median(times), min(times), max(times))
                row.setdefault("flops", {})[size] = count_flops(model, estimator, size)
                print(f"  {model} {precision} {size[0]}x{size[1]}: {statistics.median(times):.3f} s/frame",
                      file=sys.stderr, flush=True)
            rows.append(row)
        del net, estimator
        gc.collect()
    return rows


def table(rows: list[dict], sizes, peak) -> str:
    from benchmarks import flops

    head = ["model", "params (M)", "precision"]
    for h, w in sizes:
        head += [f"{w}x{h} input to net", f"{w}x{h} s/frame (min-max)", "FLOP", "TFLOP/s", "of peak"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], f"{r['params_m']:.1f}", r["precision"]]
        for h, w in sizes:
            med, lo, hi = r["sizes"][(h, w)]
            nh, _, nw = network_input(r["model"], h, w).partition("x")
            counted = [flops.Work(r["model"], r["flops"][(h, w)], r["precision"])]
            cells += [f"{nw}x{nh}", f"{med:.3f} ({lo:.3f}-{hi:.3f})", *flops.cells(counted, med, peak)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), help="frame sizes, HEIGHTxWIDTH")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS + ("fp16",), default=list(PRECISIONS))
    parser.add_argument("--repeats", type=int, default=5, help="timed frames per configuration, after a warm-up")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    torch.set_num_threads(args.threads)
    sizes = [parse_size(s) for s in args.sizes]
    rows = run(args.models, sizes, args.precisions, args.repeats)
    cpu = _cpu_name()
    from benchmarks.flops import cpu_peak, peak_line

    peak = cpu_peak(args.threads)
    print(f"{cpu}, {args.threads} threads, torch {torch.__version__}, median of {args.repeats} frames after a "
          f"warm-up (sizes are WIDTHxHEIGHT). FLOPs of the network counted on fake tensors; {peak_line(peak)}\n")
    print(table(rows, sizes, peak))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


if __name__ == "__main__":
    main()
