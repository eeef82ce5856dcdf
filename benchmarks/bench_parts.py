"""Benchmark: one guided step of a DD-default animation frame, part by part, against the device's peak.

The step is the first of the 100 guided steps of a DD animation frame (250 steps, ``frames_skip_steps`` 60%: index
99, 4 overviews + 12 inner crops) at DD's defaults, run by our code: the 512x512 UNet's forward, the secondary
model, ViT-B/32 + ViT-B/16 + RN50 on 4 batches of 16 cutouts with the 3D augmentations, LPIPS-VGG16 to the previous
frame (``frames_scale``; its features made once a frame), every parameter re-randomised (``benchmarks.common.fill_``),
with the precisions ``auto`` picks on the device. Each part is timed alone (a warm-up, then ``--repeats`` calls), then
the whole step with DD's loop and with ``batch_cutouts``. Every row: FLOPs counted on fake tensors from the very
modules timed (``benchmarks/flops.py``), the median time, TFLOP/s and the fraction of the device's peak at the
part's precision. The frame estimate is the whole step's median times 100; the peak memory is CUDA's
``max_memory_allocated`` over the run (on a CPU, the process's peak resident set).

    python -m benchmarks.bench_parts --device cuda                 # 1280x768 (benchmarks/gpu_check.py runs it)
    python -m benchmarks.bench_parts --device cpu --size 64x64 --repeats 1
    python -m benchmarks.bench_parts --tiny --size 64x64           # tiny random networks: the report's format only
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch

from benchmarks import flops
from benchmarks.bench_step import CLIPS, ETA, build_clip, build_secondary, build_unet, our_guidance, random_targets
from benchmarks.common import ROOT, fill_, peak_rss
from benchmarks.step_flops import BATCHES, CUTOUTS, GUIDED_STEPS

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

INDEX = 99  # the first guided step of a DD animation frame
FRAMES_SCALE = 1500.0
TINY_CLIPS = ("tiny-vit-32", "tiny-vit-16", "tiny-rn")


@dataclass
class Part:
    """A timed piece of the step: ``make()`` returns its inputs (fake ones when counting), ``run(*inputs)`` works."""

    name: str
    precision: str
    make: Callable[[], tuple]
    run: Callable[..., object]


@dataclass
class Step:
    unet: torch.nn.Module
    guidance: object
    schedule: object
    device: torch.device
    shape: tuple[int, int, int, int]
    unet_precision: str
    settings: object  # the guidance settings built (DD's loop)


def build(device: torch.device, h: int, w: int, tiny: bool) -> Step:
    """Ours at DD's defaults (or tiny random networks of the same classes), LPIPS on, targets random."""
    from render.config import precision
    from render.generators.networks import TINY_UNET
    from render.guidance.clip_models import build_tiny_clip
    from render.guidance.lpips_loss import build_lpips
    from render.guidance.targets import Targets

    unet_precision = precision.choose_unet("auto", precision.probe(device)).value
    if tiny:
        from render.diffusion.secondary import SecondaryDiffusionImageNet2
        from render.diffusion.unet import UNetModel

        unet = fill_(UNetModel(TINY_UNET, precision=unet_precision, channels_last=True)).to(device)
        secondary = fill_(SecondaryDiffusionImageNet2(8)).to(device).eval().requires_grad_(False)
        clips, archs = [fill_(build_tiny_clip(a)).to(device).eval() for a in TINY_CLIPS], TINY_CLIPS
    else:
        unet = build_unet("ours", unet_precision, device)
        secondary, clips, archs = build_secondary(device), [build_clip(a, device) for a in CLIPS], CLIPS
    schedule, guidance = our_guidance(secondary, clips, archs=archs)
    guidance.lpips = build_lpips(None, device)
    targets = [Targets(*random_targets(p.model.visual.output_dim, i, device))
               for i, p in enumerate(guidance.perceptors)]
    init = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(3)).to(device) * 2 - 1
    guidance.set_frame(targets, init, FRAMES_SCALE)
    return Step(unet.eval().requires_grad_(False), guidance, schedule, device, (1, 3, h, w), unet_precision,
                guidance.settings)


def parts(step: Step) -> list[Part]:
    """The step's parts, in the order the step runs them."""
    g, device, shape = step.guidance, step.device, step.shape
    index = torch.tensor([INDEX], device=device)
    noisy = lambda: (torch.randn(shape, device=device).requires_grad_(),)  # noqa: E731

    def unet_forward():
        with torch.no_grad():
            return step.unet(torch.randn(shape, device=device), step.schedule.model_time(index))

    found = [Part("UNet forward", step.unet_precision, tuple, unet_forward),
             Part("secondary fwd+bwd", "fp32", noisy, lambda x: _input_grad(g.predict_x0(x, index), x))]
    for perceptor, encode in zip(g.perceptors, g.encoders):
        side = perceptor.input_resolution
        cuts = lambda n=CUTOUTS, s=side: (torch.rand(n, 3, s, s, device=device).requires_grad_(),)  # noqa: E731
        name = perceptor.spec.arch
        found.append(Part(f"{name} fwd+bwd, {BATCHES}x{CUTOUTS} cutouts (DD's loop)", perceptor.precision, cuts,
                          lambda c, e=encode: [_input_grad(e(c), c) for _ in range(BATCHES)]))
        found.append(Part(f"{name} fwd+bwd, {BATCHES * CUTOUTS} cutouts in one call (batch_cutouts)",
                          perceptor.precision, lambda f=cuts: f(BATCHES * CUTOUTS),
                          lambda c, e=encode: _input_grad(e(c), c)))
    found.append(Part("LPIPS-VGG16 fwd+bwd (init features once a frame)", "fp32", noisy,
                      lambda x: _input_grad(g.lpips_to_init(x), x)))
    return found


def _input_grad(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.autograd.grad(y.float().sum(), x)[0]


def whole_step(step: Step, batch_cutouts: bool) -> Callable[[], torch.Tensor]:
    from render.diffusion.samplers import EpsDenoiser, ScoreGuidance, sample_ddim

    guidance = step.guidance
    settings = dataclasses.replace(step.settings, batch_cutouts=True) if batch_cutouts else step.settings
    guided = ScoreGuidance(EpsDenoiser(step.unet, step.schedule, clip_denoised=False), step.schedule, guidance)
    x = torch.randn(step.shape, generator=torch.Generator().manual_seed(7)).to(step.device)

    def run():
        guidance.settings = settings
        torch.manual_seed(0)  # the same cutouts and augmentations every call
        return next(sample_ddim(guided, step.schedule, x, [INDEX], eta=ETA)).sample

    return run


def compiled_step(step: Step) -> Step:
    """The step's networks through ``model.compile``'s wrapper, as the generator and the guidance apply it."""
    from render.guidance.compiled import compile_static

    g = step.guidance
    g.encoders = [compile_static(p.encode_image) for p in g.perceptors]
    g.predict_x0.model = compile_static(g.predict_x0.model)
    return dataclasses.replace(step, unet=compile_static(step.unet))


def time_it(fn: Callable[[], object], repeats: int, device: torch.device) -> list[float]:
    """Seconds of ``repeats`` calls after one warm-up, each synchronised on CUDA."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def measure(step: Step, repeats: int, compile: bool = False) -> tuple[list[tuple[str, list[flops.Work],
                                                                              list[float]]], float]:
    """Rows of (name, counted work, times): every part, then the whole step both ways (and, with ``compile``,
    with batch_cutouts and the networks compiled, timed after the compiling call); and the peak memory.
    FLOPs are counted after every timing: what caches tensors on first use (the schedule's tables, the
    perceptors' normalisation) then holds real ones, which fake-tensor counting reads without harm."""
    timed = []
    if step.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(step.device)
    for part in parts(step):
        inputs = part.make()
        timed.append((part, time_it(lambda: part.run(*inputs), repeats, step.device)))
        print(f"  {part.name}: {statistics.median(timed[-1][1]):.3f} s", file=sys.stderr, flush=True)
    steps = []
    for batched in (False, True):
        steps.append(("whole guided step, " + ("batch_cutouts" if batched else "DD's loop"),
                      time_it(whole_step(step, batched), repeats, step.device)))
        print(f"  {steps[-1][0]}: {statistics.median(steps[-1][1]):.3f} s", file=sys.stderr, flush=True)
    if compile:
        start = time.perf_counter()
        run = whole_step(compiled_step(step), True)
        run()
        name = f"whole guided step, batch_cutouts + compile (compiling: {time.perf_counter() - start:.0f} s)"
        steps.append((name, time_it(run, repeats, step.device)))
    memory = torch.cuda.max_memory_allocated(step.device) if step.device.type == "cuda" else peak_rss()
    rows = [(part.name, [flops.Work(part.name, flops.count_flops(lambda p=part: _bound(p)), part.precision)], times)
            for part, times in timed]
    loop_work = [w for name, work, _ in rows if "one call" not in name for w in work]
    return rows + [(name, loop_work, times) for name, times in steps], memory


def _bound(part: Part) -> Callable[[], object]:
    inputs = part.make()
    return lambda: part.run(*inputs)


def report(rows, memory: int, peak: flops.Peak, device: torch.device, size: tuple[int, int], repeats: int,
           tiny: bool) -> str:
    h, w = size
    what = "tiny random networks (the format only)" if tiny else "DD's default networks, re-randomised"
    lines = [f"One guided step of a DD animation frame (index {INDEX} of 250), {w}x{h}, {what}, on {device.type}; "
             f"median of {repeats} after a warm-up. {flops.peak_line(peak)}", "",
             "| part | precision | FLOP | median ms | min ms | TFLOP/s | of peak |", "|---|---|---|---|---|---|---|"]
    for name, work, times in rows:
        med = statistics.median(times)
        counted, rate, fraction = flops.cells(work, med, peak)
        precision = "+".join(sorted({x.precision for x in work}))
        lines.append(f"| {name} | {precision} | {counted} | {med * 1e3:.1f} | {min(times) * 1e3:.1f} | {rate} | "
                     f"{fraction} |")
    whole = {name.split(", ", 1)[1].split(" (")[0]: statistics.median(t) for name, _, t in rows
             if name.startswith("whole guided step")}
    floor = flops.floor_seconds(rows[-1][1], peak)
    memory_kind = "max_memory_allocated" if device.type == "cuda" else "peak RSS"
    estimates = ", ".join(f"{seconds * GUIDED_STEPS:.1f} s with {name}" for name, seconds in whole.items())
    lines += ["", f"Estimated DD frame ({GUIDED_STEPS} guided steps): {estimates}"
                  + ("" if floor is None else f"; at the device's peak: {floor * GUIDED_STEPS:.1f} s") + ".",
              f"Peak memory ({memory_kind}): {memory / 1e9:.2f} GB."]
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="768x1280", help="frame HEIGHTxWIDTH (DD's default 768x1280)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per row, after a warm-up")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--tiny", action="store_true", help="tiny random networks: checks the report's format")
    parser.add_argument("--compile", action="store_true", help="also the step with model.compile (compiles first)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    h, _, w = args.size.lower().partition("x")
    size = (int(h), int(w))
    rows, memory = measure(build(device, *size, args.tiny), args.repeats, args.compile)
    text = report(rows, memory, flops.device_peak(device, args.threads), device, size, args.repeats, args.tiny)
    print(text)
    return text


if __name__ == "__main__":
    main()
