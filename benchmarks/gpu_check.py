"""The GPU check: on a CUDA machine, the tests marked ``cuda`` and the guided-step benchmark at DD's 512x512 against
guided-diffusion + DD's cond_fn in DD's own GPU precision, written to ``gpu_report.md``.

    python -m benchmarks.gpu_check                       # about 8 minutes on one GPU
    python -m benchmarks.gpu_check --wheels .whl         # first install what the machine lacks from local wheels
    python -m benchmarks.gpu_check --out report.md --quick

A machine without CUDA gets one line saying so and exit status 2. The wheels: on a machine with a package index,
``bash benchmarks/gpu_wheels.sh`` downloads the packages a bare GPU machine with its own torch usually lacks
(hydra-core, omegaconf, open_clip_torch, imageio-ffmpeg, lpips, guided-diffusion-sdk, ...) into ``.whl/`` (ignored
by git); ``--wheels .whl`` installs them with ``pip --no-index`` into a temporary folder first.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEP_ARGS = ["--device", "cuda", "--size", "512", "--repeats", "5", "--threads", "8"]


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


def device_section() -> str:
    import torch

    from render.config import precision

    device = torch.device("cuda")
    hw = precision.probe(device)
    choice = precision.choose_unet("auto", hw)
    return "\n".join([
        "## Device", "",
        f"- GPU: {torch.cuda.get_device_name(device)} ({hw.detail}, native bf16: {hw.native_bf16})",
        f"- torch {torch.__version__}, CUDA {torch.version.cuda}, Python {platform.python_version()}",
        f"- model.precision=auto here: {choice.value} ({choice.reason})"])


def run_section(title: str, command: list[str], env: dict[str, str], timeout: float) -> str:
    """Run one part, keep its output's tail; a part that fails or runs out of time is reported, not fatal."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        status, output = f"exit {done.returncode}", done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        status = f"stopped after {timeout:.0f} s"
        output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
    seconds = time.perf_counter() - start
    tail = "\n".join(output.strip().splitlines()[-60:])
    return f"## {title}\n\n`{' '.join(command[1:])}`: {status} in {seconds:.0f} s\n\n```\n{tail}\n```"


def report(sections: list[str]) -> str:
    return "# GPU check\n\n" + "\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "gpu_report.md")
    parser.add_argument("--wheels", type=Path, help="a folder of wheels to install first (pip --no-index)")
    parser.add_argument("--quick", action="store_true", help="the benchmark at 256x256 with 3 repeats")
    args = parser.parse_args(argv)
    env = install_wheels(args.wheels) if args.wheels else {**os.environ}
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"], env=env,
                           capture_output=True, text=True)
    if probe.stdout.strip() != "True":
        print("gpu_check: no CUDA device on this machine (torch.cuda.is_available() is False); run it on a GPU "
              "machine", file=sys.stderr)
        return 2
    sys.path[:0] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    step_args = ["--device", "cuda", "--size", "256", "--repeats", "3", "--threads", "8"] if args.quick else STEP_ARGS
    sections = [device_section(),
                run_section("Tests marked cuda", [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p",
                                                  "no:cacheprovider", "tests"], env, timeout=240),
                run_section("One guided step (bench_step)", [sys.executable, "-m", "benchmarks.bench_step",
                                                             *step_args], env, timeout=300)]
    args.out.write_text(report(sections), encoding="utf-8")
    print(f"gpu_check: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
