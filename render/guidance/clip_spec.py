"""A CLIP model's name, ``ARCH:TAG`` as open_clip spells it, and the tiny random CLIPs: parsed without loading anything."""
from __future__ import annotations

from dataclasses import dataclass

from render.user_error import UserError

TINY_CLIPS = {
    # name: (vision cfg, embed dim); ViT and ResNet variants so both vision towers are exercised offline
    "tiny-vit-32": (dict(image_size=64, layers=2, width=64, patch_size=32, head_width=32), 32),
    "tiny-vit-16": (dict(image_size=64, layers=2, width=64, patch_size=16, head_width=32), 32),
    "tiny-rn": (dict(image_size=64, layers=(1, 1, 1, 1), width=16, head_width=16), 32),
}


class ClipModelError(UserError, ValueError):
    pass


@dataclass(frozen=True)
class ClipSpec:
    arch: str
    tag: str

    @classmethod
    def parse(cls, name: str) -> "ClipSpec":
        arch, sep, tag = str(name).partition(":")
        if not sep or not arch or not tag:
            raise ClipModelError(f"CLIP model {name!r} must be written ARCH:TAG, e.g. ViT-B-32:openai")
        return cls(arch, tag)

    @property
    def name(self) -> str:
        return f"{self.arch}:{self.tag}"

    @property
    def is_tiny(self) -> bool:
        return self.arch in TINY_CLIPS


def vision_cpu_precision(vision: dict) -> str:
    """The image encoder's precision ``clip_precision=auto`` picks on a CPU with native bf16, measured per
    architecture (see benchmarks/README.md, "bench_step.py"): bf16 where the weights can be used as GEMM/convolution
    operands in bf16 without a cast per call, i.e. ViTs that :class:`~render.guidance.fast_clip.VisionTransformerEncoder`
    runs and ModifiedResNets (channels-last); fp32 for anything else (open_clip's own bf16 ViT forward is slower than
    fp32)."""
    if isinstance(vision.get("layers"), (tuple, list)):
        return "bf16"  # ModifiedResNet
    unsupported = ("timm_model_name", "hf_model_name", "attentional_pool", "final_ln_after_pool", "ls_init_value")
    if any(vision.get(key) for key in unsupported) or vision.get("pool_type", "tok") != "tok":
        return "fp32"
    return "bf16" if vision.get("patch_size") else "fp32"
