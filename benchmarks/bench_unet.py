"""Benchmark: our UNet against guided-diffusion-sdk's (the code DD runs) on DD's 512x512 model.

Both get the same re-randomised weights (every parameter, seeded by its name), the same input and thread count.
Timings: for each pass and precision, one child process holds both models and alternates them, so that load from
other processes on the machine hits both alike. Peak memory: every configuration alone in its own child process
(warm-up plus one run), so that one configuration's peak does not hide another's. Children run one at a time.

    python -m benchmarks.bench_unet                      # 256x256 input, 5 timed runs, 2 threads
    python -m benchmarks.bench_unet --size 512 --repeats 5
    python -m benchmarks.bench_unet --only fwd           # forward rows only

See benchmarks/README.md for what each row means.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from benchmarks import flops
from benchmarks.common import ROOT, fill_, peak_rss, rel_error, run_worker, time_once

MODEL = "512x512_diffusion_uncond_finetune_008100"
PASSES = [("fwd", "fp32"), ("fwd", "bf16"), ("fwdbwd", "fp32"), ("fwdbwd", "bf16")]
LABELS = {"fwd": "forward", "fwdbwd": "forward+backward", "ref-bf16": "autocast bf16, channels_last"}


def construct(impl: str, precision: str) -> torch.nn.Module:
    """The model, constructed (on the meta device when called under ``torch.device("meta")``)."""
    sys.path.insert(0, str(ROOT))
    from render.diffusion.unet import UNET_CONFIGS, UNetModel

    cfg = UNET_CONFIGS[MODEL]
    if impl == "ours":
        return UNetModel(cfg, precision=precision, channels_last=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from guided_diffusion.script_util import create_model
    model = create_model(cfg.image_size, cfg.model_channels, cfg.num_res_blocks, learn_sigma=True,
                         attention_resolutions="32,16,8", num_head_channels=cfg.num_head_channels,
                         resblock_updown=True, use_scale_shift_norm=True)
    return model.to(memory_format=torch.channels_last) if precision == "bf16" else model


def build(impl: str, precision: str) -> torch.nn.Module:
    """The model on the meta device, materialised empty, then filled with the shared random weights."""
    with torch.device("meta"):
        model = construct(impl, precision)
    model = model.to_empty(device="cpu").eval().requires_grad_(False)
    fill_(model)
    return model


def work(impl: str, mode: str, precision: str, size: int) -> list[flops.Work]:
    """The counted FLOPs of a row's run (the same network at either precision: counted in float32)."""
    from render.diffusion import unet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import guided_diffusion.unet
    def prepare():
        model = flops.on_meta(lambda: construct(impl, "fp32"))
        x, t = torch.randn(1, 3, size, size), torch.tensor([500.0])
        if mode == "fwd":
            return lambda: _forward(model, x, t)
        x.requires_grad_()
        return lambda: (model(x, t).float() ** 2).mean().backward()

    digest = flops.code_digest(unet if impl == "ours" else guided_diffusion.unet)
    return [flops.Work(f"UNet {mode}", flops.cached_count(f"bench_unet {impl} {mode} {size} {digest}", prepare),
                       precision)]


@torch.no_grad()
def _forward(model, x, t):
    return model(x, t)


def make_step(model, impl: str, mode: str, precision: str, size: int):
    """A closure running one forward (no grad) or forward+backward w.r.t. the input; returns its result."""
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([500.0])
    ref_bf16 = impl == "ref" and precision == "bf16"
    if ref_bf16:
        x = x.contiguous(memory_format=torch.channels_last)

    def step():
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=ref_bf16)
        if mode == "fwd":
            with torch.no_grad(), autocast:
                return model(x, t).float()
        xg = x.detach().requires_grad_()
        with autocast:
            out = model(xg, t)
        (out.float() ** 2).mean().backward()  # a scalar loss, as a guidance loss would be
        return xg.grad

    return step


def time_worker(args) -> dict:
    """Both implementations in this process, alternated after a warm-up each."""
    steps, times = {}, {"ref": [], "ours": []}
    for impl in times:
        steps[impl] = make_step(build(impl, args.precision), impl, args.mode, args.precision, args.size)
        torch.save(steps[impl](), Path(args.out) / f"{impl}-{args.mode}-{args.precision}.pt")  # warm-up
    for _ in range(args.repeats):
        for impl in times:
            times[impl].append(time_once(steps[impl]))
    return times


def memory_worker(args) -> dict:
    """One implementation alone: a warm-up and one more run; the process's peak resident set."""
    step = make_step(build(args.impl, args.precision), args.impl, args.mode, args.precision, args.size)
    step()
    step()
    return {"peak_rss": peak_rss()}


def child(args, role: str, mode: str, precision: str, impl: str = "", out: str = "") -> dict:
    argv = ["--worker", role, "--impl", impl, "--mode", mode, "--precision", precision, "--size", str(args.size),
            "--repeats", str(args.repeats), "--threads", str(args.threads), "--out", out]
    return run_worker("benchmarks.bench_unet", argv, args.threads, f"{role} {impl} {mode} {precision}")


def _row(name, times, base, same, rss, base_rss, err, counted: list[flops.Work], peak: flops.Peak) -> str:
    med = statistics.median(times)
    speed = lambda other: f"{statistics.median(other) / med:.2f}x" if other else "-"
    return (f"| {name} | {med:.2f} | {min(times):.2f} | {max(times):.2f} | {speed(base)} | {speed(same)} | "
            f"{rss / 1e9:.2f} | {rss / base_rss:.2f} | {err} | {' | '.join(flops.cells(counted, med, peak))} |")


def table(times: dict, rss: dict, outputs: dict, size: int, peak: flops.Peak) -> str:
    """Markdown: timings; speed-ups against the fp32 reference and against the reference at the same precision
    (the latter measured alternately in one process); peak RSS; relative error against the fp32 reference; the
    counted FLOPs of the run, achieved TFLOP/s and fraction of ``peak`` at the row's precision."""
    lines = ["| configuration | median s | min s | max s | speed-up vs ref fp32 | vs ref same precision "
             "| peak RSS GB | RSS vs ref fp32 | rel. error vs ref fp32 | FLOP | TFLOP/s | of peak |", "|" + "---|" * 12]
    for mode, precision in PASSES:
        if (mode, precision) not in times:
            continue
        base = times.get((mode, "fp32"), {}).get("ref")
        base_rss, ref_out = rss[("ref", mode, "fp32")], outputs.get(("ref", mode, "fp32"))
        for impl in ("ref", "ours"):
            label = f"{impl} {LABELS[mode]} {precision}"
            if impl == "ref" and precision == "bf16":
                label += f" ({LABELS['ref-bf16']})"
            err = "-" if ref_out is None else f"{rel_error(outputs[(impl, mode, precision)], ref_out):.1e}"
            lines.append(_row(label, times[(mode, precision)][impl], base, times[(mode, precision)]["ref"],
                              rss[(impl, mode, precision)], base_rss, err, work(impl, mode, precision, size), peak))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="input side in pixels (256 or 512)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration, after a warm-up")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["fwd", "fwdbwd"], help="run the rows of one pass only")
    parser.add_argument("--worker", choices=["time", "memory"], help=argparse.SUPPRESS)
    for hidden in ("--impl", "--mode", "--precision", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        torch.set_num_threads(args.threads)
        print(json.dumps((time_worker if args.worker == "time" else memory_worker)(args)))
        return
    times, rss, outputs = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, precision in PASSES:
            if args.only and mode != args.only:
                continue
            times[(mode, precision)] = child(args, "time", mode, precision, out=tmp)
            for impl in ("ref", "ours"):
                outputs[(impl, mode, precision)] = torch.load(Path(tmp) / f"{impl}-{mode}-{precision}.pt")
                rss[(impl, mode, precision)] = child(args, "memory", mode, precision, impl)["peak_rss"]
            print(f"{mode} {precision}: {times[(mode, precision)]}", file=sys.stderr, flush=True)
    peak = flops.cpu_peak(args.threads)
    print(f"\nDD 512x512 UNet ({MODEL}, 558M parameters), input {args.size}x{args.size}, batch 1, "
          f"{args.threads} threads, torch {torch.__version__}; times in seconds over {args.repeats} runs. FLOPs "
          f"counted on fake tensors; {flops.peak_line(peak)}\n")
    print(table(times, rss, outputs, args.size, peak))


if __name__ == "__main__":
    main()
