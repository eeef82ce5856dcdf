"""FLOPs counted on fake tensors (no memory, no arithmetic), the peak of the device per precision, and the fraction
of that peak a measured time reaches.

What is counted: ``torch.utils.flop_counter.FlopCounterMode``'s formulas (matrix products, convolutions, attention,
forward and backward); elementwise work (norms, activations, resizes, augmentations) counts zero, as in the usual
model-FLOPs accounting. A multiply-add is 2 FLOPs. Models are built on the meta device and materialised with
``to_empty`` (address space only: no page is touched), then run under ``FakeTensorMode``, so counting DD's full-size
step takes seconds on any machine. Counts are cached in ``benchmarks/.flop_counts.json`` (ignored by git), keyed by
what was counted, the torch version and a digest of the code that ran.

Peaks are dense (no sparsity) from the vendors' datasheets; a CPU's is ``threads x clock x FLOP/cycle/core`` from
its SIMD width and FMA units (``cpu_peak``, which states its assumption).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable

import torch
from torch._subclasses.fake_tensor import FakeTensorMode, unset_fake_temporarily
from torch.utils.flop_counter import FlopCounterMode

CACHE = Path(__file__).resolve().parent / ".flop_counts.json"
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")

# Dense TFLOP/s from NVIDIA's datasheets and architecture whitepapers (tensor cores with float32 accumulation for
# bf16/fp16; TF32 tensor cores; CUDA cores for fp32). Matched against torch.cuda.get_device_name in this order.
# Turing and Volta have no bf16 (nor tf32) tensor cores: those run at the fp32 rate.
GPU_PEAKS: tuple[tuple[str, str, dict[str, float]], ...] = (
    ("H200 NVL", "H200 NVL", dict(fp32=60.0, tf32=417.5, bf16=835.5, fp16=835.5)),
    ("H200", "H200 SXM", dict(fp32=67.0, tf32=494.7, bf16=989.4, fp16=989.4)),
    ("H100 NVL", "H100 NVL", dict(fp32=60.0, tf32=417.5, bf16=835.5, fp16=835.5)),
    ("H100 PCIe", "H100 PCIe", dict(fp32=51.2, tf32=378.0, bf16=756.0, fp16=756.0)),
    ("H100", "H100 SXM", dict(fp32=67.0, tf32=494.7, bf16=989.4, fp16=989.4)),
    ("A100", "A100", dict(fp32=19.5, tf32=156.0, bf16=312.0, fp16=312.0)),
    ("L40S", "L40S", dict(fp32=91.6, tf32=183.0, bf16=362.1, fp16=362.1)),
    ("L4", "L4", dict(fp32=30.3, tf32=60.0, bf16=121.0, fp16=121.0)),
    ("A10", "A10", dict(fp32=31.2, tf32=62.5, bf16=125.0, fp16=125.0)),
    ("RTX A6000", "RTX A6000", dict(fp32=38.7, tf32=77.4, bf16=154.8, fp16=154.8)),
    ("RTX 4090", "GeForce RTX 4090", dict(fp32=82.6, tf32=82.6, bf16=165.2, fp16=165.2)),
    ("RTX 3090", "GeForce RTX 3090", dict(fp32=35.6, tf32=35.6, bf16=71.0, fp16=71.0)),
    ("T4", "T4", dict(fp32=8.1, tf32=8.1, bf16=8.1, fp16=65.0)),
    ("V100-PCIE", "V100 PCIe", dict(fp32=14.0, tf32=14.0, bf16=14.0, fp16=112.0)),
    ("V100", "V100 SXM2", dict(fp32=15.7, tf32=15.7, bf16=15.7, fp16=125.0)),
)


# ------------------------------------------------------------------------------------------------ counting

class _WholeProgram:
    """FlopCounterMode's module tracker, replaced: its backward hooks reject ``torch.autograd.grad`` inside the
    counted code (DD's guidance and ``fast_clip``'s recomputing MLP call it), and only the total is wanted."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def count_flops(prepare: Callable[[], Callable[[], object]]) -> int:
    """FLOPs of the function ``prepare()`` returns, both run on fake tensors: tensors they create are fake, real
    ones they touch (parameters materialised with ``to_empty``) are read as fake without their data. What
    ``prepare`` computes (models, inputs, per-frame constants) is not counted. Count after any real use of
    objects that cache tensors on first use (a schedule's tables): counted first, they would keep fake ones."""
    with FakeTensorMode(allow_non_fake_inputs=True):
        fn = prepare()
        counter = FlopCounterMode(display=False)
        counter.mod_tracker = _WholeProgram()
        with counter:
            fn()
    return counter.get_total_flops()


def on_meta(build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """A module built on the meta device and given uninitialised CPU storage (never touched, so never resident);
    built outside any fake-tensor mode, so its parameters are real tensors that fake mode reads without data."""
    with unset_fake_temporarily(), torch.device("meta"):
        module = build()
    with unset_fake_temporarily():
        return module.to_empty(device="cpu").eval().requires_grad_(False)


def code_digest(*modules: ModuleType) -> str:
    """A short digest of the source files of ``modules``: a cached count is recounted when the code changes."""
    digest = hashlib.sha1()
    for module in modules:
        digest.update(Path(inspect.getfile(module)).read_bytes())
    return digest.hexdigest()[:12]


def cached_count(key: str, prepare: Callable[[], Callable[[], object]], cache: Path = CACHE) -> int:
    """``count_flops(prepare)``, remembered in ``cache`` under ``key`` and the torch version."""
    full_key = f"{key} | torch {torch.__version__}"
    counts = _read(cache)
    if full_key not in counts:
        counts = {**_read(cache), full_key: count_flops(prepare)}  # re-read: another process may have added counts
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(counts, indent=1, sort_keys=True))
        tmp.replace(cache)
    return int(counts[full_key])


def _read(cache: Path) -> dict[str, int]:
    try:
        return json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------------------------------------ peaks

@dataclass(frozen=True)
class Peak:
    """Dense peak TFLOP/s per precision of the device a benchmark ran on; ``tflops`` is empty when unknown."""

    device: str
    tflops: dict[str, float]
    basis: str  # where the figures come from

    def of(self, precision: str) -> float | None:
        return self.tflops.get(precision)


def gpu_peak(name: str) -> Peak:
    """The datasheet peaks of a GPU by its CUDA device name (e.g. ``NVIDIA H100 80GB HBM3``)."""
    for pattern, label, tflops in GPU_PEAKS:
        if pattern.lower() in name.lower():
            return Peak(name, dict(tflops), f"NVIDIA {label} datasheet, dense")
    return Peak(name, {}, "not in benchmarks/flops.py's GPU_PEAKS: no fraction of peak")


@dataclass(frozen=True)
class CpuInfo:
    vendor: str
    family: int
    model: int
    name: str
    mhz: float
    flags: frozenset[str]
    cpus: int

    @classmethod
    def read(cls, text: str | None = None) -> "CpuInfo":
        """From ``/proc/cpuinfo`` (its first processor block; ``cpus`` counts the blocks)."""
        text = Path("/proc/cpuinfo").read_text() if text is None else text
        first = text.split("\n\n")[0]
        field = dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in first.splitlines()))
        return cls(vendor=field.get("vendor_id", ""), family=int(field.get("cpu family", "0") or 0),
                   model=int(field.get("model", "0") or 0), name=field.get("model name", "CPU"),
                   mhz=float(field.get("cpu MHz", "0") or 0), flags=frozenset(field.get("flags", "").split()),
                   cpus=max(1, len(re.findall(r"^processor\s*:", text, re.M))))


def fp32_per_cycle(cpu: CpuInfo) -> tuple[int, str]:
    """float32 FLOP per cycle per core (2 per lane of a fused multiply-add, times lanes, times FMA pipes) and the
    microarchitecture assumed."""
    f = cpu.flags
    if cpu.vendor == "AuthenticAMD":
        if cpu.family >= 26 and "avx512f" in f:
            return 64, "Zen 5: 2 FMA pipes x 512 bit (16 fp32 lanes)"
        if cpu.family == 25:
            return 32, "Zen 3/4: 2 FMA pipes x 256 bit (Zen 4 runs AVX-512 as two halves)"
        if cpu.family == 23:
            return (32, "Zen 2: 2 FMA pipes x 256 bit") if cpu.model >= 0x30 else (16, "Zen 1: 2 FMA pipes x 128 bit")
    if "avx512f" in f:
        return 64, "2 FMA pipes x 512 bit (Xeon Scalable Gold/Platinum and later)"
    if "fma" in f and "avx2" in f:
        return 32, "2 FMA pipes x 256 bit (AVX2)"
    if "avx" in f:
        return 16, "AVX without FMA: 1 add + 1 multiply x 256 bit"
    return 8, "SSE: 1 add + 1 multiply x 128 bit"


def cpu_peak(threads: int, cpu: CpuInfo | None = None) -> Peak:
    """``min(threads, cpus) x clock x FLOP/cycle/core`` per precision. bf16: AMX tiles (1024 FLOP/cycle/core),
    else AVX512-BF16 dot products (twice the fp32 rate), else the fp32 rate (converted to fp32); fp16 likewise
    with AMX-FP16 / AVX512-FP16. The clock is /proc/cpuinfo's (the nominal one on a virtual machine): turbo clocks
    are higher, so a fraction near or above 1 means the clock assumption is low."""
    cpu = cpu or CpuInfo.read()
    if cpu.mhz <= 0 or not cpu.flags:
        return Peak(cpu.name, {}, "no clock or SIMD flags in /proc/cpuinfo: no fraction of peak")
    cores = min(threads, cpu.cpus)
    fp32, arch = fp32_per_cycle(cpu)
    bf16 = 1024 if "amx_bf16" in cpu.flags else 2 * fp32 if "avx512_bf16" in cpu.flags else fp32
    fp16 = 1024 if "amx_fp16" in cpu.flags else 2 * fp32 if "avx512_fp16" in cpu.flags else fp32
    per_cycle = dict(fp32=fp32, tf32=fp32, bf16=bf16, fp16=fp16)
    hz = cores * cpu.mhz * 1e6
    basis = (f"{cores} core(s) x {cpu.mhz / 1000:.2f} GHz x FLOP/cycle/core fp32 {fp32}, bf16 {bf16}, fp16 {fp16} "
             f"({arch}; clock from /proc/cpuinfo)")
    return Peak(f"{cpu.name}, {cores} thread(s)", {k: hz * v / 1e12 for k, v in per_cycle.items()}, basis)


def device_peak(device: torch.device | str, threads: int) -> Peak:
    device = torch.device(device)
    if device.type == "cuda":
        return gpu_peak(torch.cuda.get_device_name(device))
    return cpu_peak(threads)


# ------------------------------------------------------------------------------------------------ work and time

@dataclass(frozen=True)
class Work:
    """FLOPs of one timed part and the precision its arithmetic runs in."""

    part: str
    flops: int
    precision: str


def total(work: Iterable[Work]) -> int:
    return sum(w.flops for w in work)


def floor_seconds(work: Iterable[Work], peak: Peak) -> float | None:
    """The time the work takes at the device's peak (each part at its own precision's), or None if unknown."""
    seconds = 0.0
    for w in work:
        rate = peak.of(w.precision)
        if not rate:
            return None
        seconds += w.flops / (rate * 1e12)
    return seconds


def fraction_of_peak(work: Iterable[Work], seconds: float, peak: Peak) -> float | None:
    """The floor time over the measured time: 1.0 is the device's peak for the mix of precisions used."""
    floor = floor_seconds(list(work), peak)
    return None if floor is None or seconds <= 0 else floor / seconds


def cells(work: list[Work], seconds: float, peak: Peak) -> list[str]:
    """The three cells every benchmark row shows: GFLOP (or TFLOP), achieved TFLOP/s, fraction of peak."""
    flops = total(work)
    fraction = fraction_of_peak(work, seconds, peak)
    return [fmt_flops(flops), f"{flops / seconds / 1e12:.3f}" if seconds > 0 else "-",
            "-" if fraction is None else f"{fraction:.0%}"]


def fmt_flops(flops: float) -> str:
    """``25.6 T`` / ``812 G``: FLOPs with an SI prefix."""
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M")):
        if flops >= scale:
            value = flops / scale
            return f"{value:.1f} {prefix}" if value < 100 else f"{value:.0f} {prefix}"
    return f"{flops:.0f}"


def peak_line(peak: Peak, precisions: Iterable[str] = ("fp32", "bf16", "fp16")) -> str:
    """One line naming the peak used for the fraction-of-peak column."""
    if not peak.tflops:
        return f"Peak of {peak.device}: unknown ({peak.basis})."
    shown = ", ".join(f"{p} {peak.tflops[p]:.3g}" for p in precisions if p in peak.tflops)
    return f"Peak of {peak.device} (dense TFLOP/s): {shown}; {peak.basis}."
