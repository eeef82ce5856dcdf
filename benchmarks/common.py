"""What the benchmarks share: timing, the seeded weight randomiser, errors between outputs, child-process workers."""
from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def revision_tree(rev: str) -> Iterator[Path]:
    """Revision ``rev`` of this repository checked out in a temporary worktree: a benchmark's reference."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "reference"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), rev], check=True,
                       capture_output=True)
        try:
            yield folder
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=False)


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after one untimed warm-up call."""
    fn()
    return [time_once(fn) for _ in range(repeats)]


def time_once(fn: Callable[[], object]) -> float:
    """Seconds of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@torch.no_grad()
def fill_(module: torch.nn.Module) -> torch.nn.Module:
    """Every parameter re-randomised, seeded by its name: N(0, 1/fan_in) matrices and kernels, 1 + N(0, 0.05) norm
    scales, N(0, 0.05) vectors; batch-norm statistics too (mean N(0, 0.05), variance 1 + U(0, 0.1)).

    A default-initialised guided-diffusion UNet has zero output convolutions, so comparisons need this."""
    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
        if not p.is_floating_point():
            continue
        gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        value = torch.randn(p.shape, generator=gen)
        if name.endswith("running_var"):
            value = 1 + torch.rand(p.shape, generator=gen) * 0.1
        elif name.endswith("running_mean"):
            value = value * 0.05
        elif name.endswith("attn_mask"):
            continue  # the text tower's causal mask is a constant, not a weight
        elif p.ndim > 1:
            value = value * p[0].numel() ** -0.5
        elif p.ndim == 1:
            value = value * 0.05 + (1.0 if name.endswith("weight") else 0.0)
        else:
            value = torch.tensor(math.log(100.0))  # logit_scale
        p.copy_(value)
    return module


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``|a - b| / |b|`` in float32."""
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def peak_rss() -> int:
    """This process's peak resident set in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_worker(module: str, argv: list[str], threads: int, what: str) -> dict:
    """Run ``python -m <module> <argv>`` in a fresh process with ``threads`` OpenMP threads (so each measurement
    has its own allocator and peak RSS) and return the JSON object its last stdout line holds."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-m", module, *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
