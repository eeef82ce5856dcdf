"""Benchmark: how many operations one guided step issues, DD's loop against ``batch_cutouts`` and ``compile``.

On a big GPU a step at DD's defaults is launch-bound long before it is compute-bound: every ATen operation is at
least one kernel launch (~5 us), and the step's FLOPs take ~25 ms at an H100's bf16 peak. Counted here, on one step
of a DD animation frame as ``bench_parts`` builds it (DD's networks re-randomised, LPIPS on, auto precisions):

- ATen ops dispatched: every operator call below autograd, counted with a ``TorchDispatchMode`` (eager rows only:
  torch.compile's graphs run their own kernels);
- of which in the networks: the same count over each network's own call (the UNet's forward, the secondary model,
  each CLIP tower on its 4 x 16 cutouts or 64 in one call, LPIPS; forward and backward) run alone; the rest is the
  cutouts, their augmentations, the losses and the sampler;
- kernels: from the profiler, the operator calls that do work (views, allocations and other metadata-only calls
  left out) plus each fused kernel of a compiled graph.

The count hardly depends on the frame size (the cutouts are 224x224 whatever the frame), so the default frame is
small. Compiling DD's networks on a CPU takes minutes (``--compile``).

    python -m benchmarks.bench_ops                          # 128x128, DD's loop and batch_cutouts
    python -m benchmarks.bench_ops --compile                # and both with torch.compile
    python -m benchmarks.bench_ops --tiny --compile         # tiny random networks (a quick check)
"""
from __future__ import annotations

import argparse
import collections
import sys
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from benchmarks.bench_parts import Step, build, compiled_step, parts, whole_step

METADATA = {f"aten::{name}" for name in (
    "empty", "empty_strided", "empty_like", "as_strided", "view", "_unsafe_view", "reshape", "_reshape_alias",
    "resolve_conj", "resolve_neg", "detach", "alias", "t", "transpose", "permute", "expand", "expand_as", "unsqueeze",
    "squeeze", "select", "slice", "unbind", "split", "split_with_sizes", "chunk", "narrow", "set_", "lift_fresh",
    "view_as", "contiguous", "to", "item", "_local_scalar_dense", "is_nonzero", "flatten", "unflatten", "result_type",
    "size", "stride", "dim", "numel", "is_same_size", "_has_compatible_shallow_copy_type")}


class DispatchCount(TorchDispatchMode):
    """Counts every ATen operator call that reaches the dispatcher below autograd."""

    def __init__(self):
        super().__init__()
        self.calls: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def dispatched(run) -> int:
    with DispatchCount() as counter:
        run()
    return sum(counter.calls.values())


def kernels(run) -> int:
    """Working operator calls and fused compiled kernels: the leaves of the profiler's tree that are not metadata."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    leaves = [e.name for e in prof.events() if not e.cpu_children]
    return sum(1 for name in leaves if (name.startswith("aten::") and name not in METADATA)
               or "cpp_fused" in name or name.startswith("triton_"))


def network_ops(step: Step, batch_cutouts: bool) -> int:
    """ATen ops of the networks' own calls in a step (``bench_parts``' parts of DD's loop, or of batch_cutouts)."""
    total = 0
    for part in parts(step):
        if "cutouts" in part.name and ("one call" in part.name) != batch_cutouts:
            continue
        inputs = part.make()
        total += dispatched(lambda: part.run(*inputs))
    return total


def count_row(step: Step, batch_cutouts: bool, eager: bool) -> dict:
    run = whole_step(step, batch_cutouts)
    start = time.perf_counter()
    run()  # warm-up (and, compiled, the compilation)
    row = {"first_s": time.perf_counter() - start, "kernels": kernels(run)}
    if eager:
        row["aten"], row["networks"] = dispatched(run), network_ops(step, batch_cutouts)
    return row


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="128x128", help="frame HEIGHTxWIDTH")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also the rows with torch.compile (slow on a CPU)")
    parser.add_argument("--tiny", action="store_true", help="tiny random networks")
    parser.add_argument("--rows", nargs="+", choices=["loop", "batched"], default=["loop", "batched"],
                        help="DD's loop and/or batch_cutouts (code before batch_cutouts: --rows loop)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    h, _, w = args.size.lower().partition("x")
    step = build(torch.device("cpu"), int(h), int(w), args.tiny)
    rows = {}
    variants = [batched for batched in (False, True) if ("loop", "batched")[batched] in args.rows]
    for batched in variants:
        rows[("DD's loop", "batch_cutouts")[batched]] = count_row(step, batched, eager=True)
        print(rows, file=sys.stderr, flush=True)
    if args.compile:
        from torch._inductor import config as inductor

        inductor.cpp.enable_kernel_profile = True  # fused CPU kernels appear in the profiler
        step = compiled_step(step)
        for batched in variants:
            rows[("compile", "batch_cutouts + compile")[batched]] = count_row(step, batched, eager=False)
            print(rows, file=sys.stderr, flush=True)
    what = "tiny random networks" if args.tiny else "DD's networks (ViT-B/32, ViT-B/16, RN50, secondary, 512x512 UNet)"
    lines = [f"One guided step of a DD animation frame, {w}x{h}, {what}, LPIPS on, CPU, torch {torch.__version__}",
             "", "| configuration | ATen ops dispatched | of which in the networks | kernels | first call s |",
             "|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row.get('aten', '-')} | {row.get('networks', '-')} | {row['kernels']} | "
                     f"{row['first_s']:.1f} |")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
