"""Which precision each model runs in: ``auto`` asks the hardware (native bf16 or not), and every choice has a reason.

On CUDA, bf16 is used only where the GPU computes it natively (compute capability 8.0 and up: A100, RTX 30xx/40xx,
H100); a T4 or V100 gets fp16 for the UNet, as Disco Diffusion runs it (norms and the timestep embedding stay fp32).
On a CPU, bf16 is used only where the CPU has AMX-BF16 or AVX512-BF16; elsewhere it is emulated and several times
slower than fp32, so ``auto`` picks fp32. The probes are small functions so that tests can fake any machine.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
NATIVE_BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}


@dataclass(frozen=True)
class Hardware:
    """What the precision choice needs to know about the device."""

    kind: str  # "cpu" or "cuda"
    native_bf16: bool
    detail: str  # why native_bf16 is what it is, e.g. "AMX-BF16" or "compute capability 7.5"


@dataclass(frozen=True)
class PrecisionChoice:
    value: str  # fp32, bf16 or fp16
    reason: str
    warning: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports (empty where /proc/cpuinfo is not there)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cuda_capability(device: "torch.device") -> tuple[int, int]:
    import torch

    return torch.cuda.get_device_capability(device)


def cuda_native_bf16(device: "torch.device") -> bool:
    """True where the GPU computes bf16 natively (not through fp32 emulation)."""
    import torch

    with torch.cuda.device(device):
        return torch.cuda.is_bf16_supported(including_emulation=False)


def probe(device: "torch.device") -> Hardware:
    """Ask the device whether it has native bf16."""
    if device.type == "cuda":
        major, minor = cuda_capability(device)
        return Hardware("cuda", cuda_native_bf16(device), f"compute capability {major}.{minor}")
    found = [label for flag, label in NATIVE_BF16_FLAGS.items() if flag in cpu_flags()]
    if found:
        return Hardware("cpu", True, " and ".join(found))
    return Hardware("cpu", False, "no AMX-BF16 or AVX512-BF16")


def _explicit(value: str, hw: Hardware, what: str) -> PrecisionChoice:
    """A precision the user chose: kept, with a warning where the hardware makes it slow."""
    warning = None
    if value == "bf16" and not hw.native_bf16:
        other = "fp16" if hw.kind == "cuda" else "fp32"
        warning = (f"{what}: precision bf16 on this {hw.kind.upper()} ({hw.detail}) is emulated: expect it to run "
                   f"several times slower than {other}; precision=auto picks {other} here")
    return PrecisionChoice(value, "set in the config", warning)


def choose_unet(value: str, hw: Hardware) -> PrecisionChoice:
    """The UNet's precision (the secondary model always runs fp32)."""
    if value != "auto":
        return _explicit(value, hw, "UNet")
    if hw.native_bf16:
        return PrecisionChoice("bf16", f"native bf16 on this {hw.kind.upper()} ({hw.detail})")
    if hw.kind == "cuda":
        return PrecisionChoice("fp16", f"no native bf16 on this GPU ({hw.detail}): fp16, as Disco Diffusion runs it")
    return PrecisionChoice("fp32", f"this CPU has {hw.detail}: bf16 would be emulated and slower than fp32")


def choose_clip(value: str, hw: Hardware, cpu_bf16_choice: str) -> PrecisionChoice:
    """A CLIP image encoder's precision; ``cpu_bf16_choice`` is what this architecture runs fastest in on a CPU
    with native bf16 (measured per architecture: :func:`render.guidance.clip_models.auto_cpu_precision`)."""
    if value != "auto":
        return _explicit(value, hw, "CLIP")
    if hw.kind == "cuda":
        return PrecisionChoice("fp16", "CUDA: fp16, as Disco Diffusion runs the OpenAI CLIPs")
    if not hw.native_bf16:
        return PrecisionChoice("fp32", f"this CPU has {hw.detail}: bf16 would be emulated and slower than fp32")
    if cpu_bf16_choice == "bf16":
        return PrecisionChoice("bf16", f"native bf16 on this CPU ({hw.detail}), fastest for this architecture")
    return PrecisionChoice("fp32", "this architecture's bf16 forward is slower than fp32 on a CPU (measured)")


def choose_depth(value: str, hw: Hardware) -> PrecisionChoice:
    if value != "auto":
        return _explicit(value, hw, "depth model")
    if hw.kind == "cuda":
        return PrecisionChoice("fp16", "CUDA: fp16, as Disco Diffusion runs MiDaS")
    return PrecisionChoice("fp32", "CPU: fp32 keeps the depth accurate")


def choose_flow(value: str, hw: Hardware) -> PrecisionChoice:
    if value != "auto":
        return _explicit(value, hw, "RAFT")
    if hw.kind == "cuda":
        if hw.native_bf16:
            return PrecisionChoice("bf16", f"native bf16 on this GPU ({hw.detail})")
        return PrecisionChoice("fp16", f"no native bf16 on this GPU ({hw.detail}): fp16")
    return PrecisionChoice("fp32", "CPU: fp32")


def describe(choices: dict[str, PrecisionChoice]) -> str:
    """One log line: every model's precision and why."""
    return "precision: " + "; ".join(f"{name} {c.value} ({c.reason})" for name, c in choices.items())
