"""The GPU check: in one short run on a CUDA machine, the tests marked ``cuda``, a DD-default animation frame's guided
step part by part against the GPU's peak (``bench_parts``: FLOPs, TFLOP/s and fraction of peak per part, peak
memory, the frame estimate), and one guided step at 512x512 against guided-diffusion + DD's cond_fn in DD's own GPU
precision and in the same precisions (``bench_step``); written to ``gpu_report.md`` and printed.

    python -m benchmarks.gpu_check                       # under 8 minutes on one GPU, wheels included
    python -m benchmarks.gpu_check --wheels .whl         # first install what the machine lacks from local wheels
    python -m benchmarks.gpu_check --device cpu --size 64   # the same check on a CPU, at 64x64 (a smoke run)

Every part runs in its own process under a share of the time budget (``--budget``, 420 s after the wheels): a part
that fails or runs out of time is reported with its output, and the report is still written. A machine without
CUDA gets one line saying so and exit status 2 (unless ``--device cpu``). The wheels: on a machine with a package
index, ``bash benchmarks/gpu_wheels.sh`` downloads the packages a bare GPU machine with its own torch usually lacks
(hydra-core, omegaconf, open_clip_torch, imageio-ffmpeg, lpips, guided-diffusion-sdk, ...) into ``.whl/`` (ignored by
git); ``--wheels .whl`` installs them with ``pip --no-index`` into a temporary folder first.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_PREFIXES = ("Estimated DD frame", "Peak memory", "Same precision", "DD on this device")


@dataclass
class Section:
    title: str
    command: list[str]
    share: float  # of the budget, at most (the shares add up to more: a part may use what earlier ones left)


def install_wheels(folder: Path) -> dict[str, str]:
    """``pip install --no-index`` the wheels into a temporary folder; returns the environment that sees them."""
    wheels = sorted(str(p) for p in folder.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"gpu_check: no wheels in {folder}: run `bash benchmarks/gpu_wheels.sh` where pip works")
    target = Path(tempfile.mkdtemp(prefix="gpu-check-site-"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--target", str(target), *wheels], check=True)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), str(ROOT),
                                                                       os.environ.get("PYTHONPATH")]))}


def device_section(device_name: str, threads: int) -> str:
    import torch

    from benchmarks.flops import CpuInfo, device_peak, peak_line
    from render.config import precision

    device = torch.device(device_name)
    hw = precision.probe(device)
    choice = precision.choose_unet("auto", hw)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else CpuInfo.read().name
    cuda = f", CUDA {torch.version.cuda}" if device.type == "cuda" else ""
    return "\n".join([
        "## Device", "",
        f"- {device.type}: {name} ({hw.detail}, native bf16: {hw.native_bf16})",
        f"- torch {torch.__version__}{cuda}, Python {platform.python_version()}",
        f"- model.precision=auto here: {choice.value} ({choice.reason})",
        f"- {peak_line(device_peak(device, threads))}"])


def run_section(title: str, command: list[str], env: dict[str, str], timeout: float) -> str:
    """Run one part, keep its output's tail (stdout; stderr too when it fails); a part that fails or runs out of
    time is reported, not fatal. The part runs in its own process group, all of which is stopped at the timeout
    (the benchmarks' worker processes too: left running, they would load the device under the next part)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        status, output = f"exit {process.returncode}", stdout + (stderr if process.returncode else "")
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        status, output = f"stopped after {timeout:.0f} s", stdout + stderr
    seconds = time.perf_counter() - start
    tail = "\n".join(output.strip().splitlines()[-80:])
    return f"## {title}\n\n`{' '.join(command[1:])}`: {status} in {seconds:.0f} s\n\n{tail}"


def summary(sections: list[str]) -> str:
    """The lines that answer the check's questions, gathered from the parts' output."""
    found = [line.strip() for text in sections for line in text.splitlines() if line.startswith(SUMMARY_PREFIXES)]
    return "## Summary\n\n" + ("\n".join(f"- {line}" for line in found) or "- no part finished (see below)")


def report(sections: list[str]) -> str:
    return "# GPU check\n\n" + "\n\n".join(sections) + "\n"


def plan(args) -> list[Section]:
    """The parts, in order, with their shares of the time budget."""
    py = sys.executable
    common = ["--device", args.device, "--repeats", str(args.repeats), "--threads", str(args.threads)]
    parts_size = ["--size", f"{args.size}x{args.size}"] if args.size else []
    step_size = ["--size", str(args.size or 512)]
    sections = []
    if args.device == "cuda":
        sections.append(Section("Tests marked cuda", [py, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                                                      "tests"], 0.3))
    tiny = (["--tiny"] if args.tiny else []) + (["--compile"] if args.compile else [])
    sections.append(Section("A DD-default frame's guided step, part by part (bench_parts)",
                            [py, "-m", "benchmarks.bench_parts", *common, *parts_size, *tiny],
                            1.0 if args.compile else 0.45))
    if not args.tiny:
        sections.append(Section("One guided step against DD's code (bench_step)",
                                [py, "-m", "benchmarks.bench_step", *common, *step_size, "--skip-memory"], 0.6))
    return sections


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "gpu_report.md")
    parser.add_argument("--wheels", type=Path, help="a folder of wheels to install first (pip --no-index)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--size", type=int, help="frame side of both benchmarks (default: DD's 1280x768 for the "
                                                 "parts, 512x512 for the step against DD's code)")
    parser.add_argument("--repeats", type=int, help="timed calls per row (default 5 on CUDA, 1 on a CPU)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="CPU threads of the parts")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for all parts after the wheels")
    parser.add_argument("--compile", action="store_true", help="also time the step with model.compile (compiling "
                                                               "takes minutes: raise --budget)")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the report's format, for tests
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (5 if args.device == "cuda" else 1)
    env = install_wheels(args.wheels) if args.wheels else {**os.environ}
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"], env=env,
                           capture_output=True, text=True)
    if args.device == "cuda" and probe.stdout.strip() != "True":
        print("gpu_check: no CUDA device on this machine (torch.cuda.is_available() is False); run it on a GPU "
              "machine, or pass --device cpu", file=sys.stderr)
        return 2
    sys.path[:0] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    deadline = time.perf_counter() + args.budget
    sections = [device_section(args.device, args.threads)]
    for part in plan(args):
        left = deadline - time.perf_counter()
        if left < 10:
            sections.append(f"## {part.title}\n\nnot run: the time budget ({args.budget:.0f} s) was spent")
            continue
        sections.append(run_section(part.title, part.command, env, timeout=min(part.share * args.budget, left)))
    sections.insert(0, summary(sections))
    text = report(sections) + f"\nThe check took {time.perf_counter() - started:.0f} s.\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    print(f"gpu_check: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
