"""CLIP models through open_clip, each loaded from a local file, plus tiny random ones for offline runs.

A model is named ``ARCH:TAG`` as in open_clip: ``ViT-B-32:openai`` (OpenAI's checkpoint, a TorchScript archive or a
state dict), ``ViT-B-32:laion2b_e16`` (an OpenCLIP checkpoint), or ``tiny-vit-32:random`` (a small CLIP of the real
architecture with seeded random weights, no file). Every model uses OpenAI's tokenizer, as DD did.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import open_clip
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from torch import nn

from render.guidance.clip_spec import (  # noqa: F401
    TINY_CLIPS,
    ClipModelError,
    ClipSpec,
    vision_cpu_precision,
)
from render.guidance.cutouts import clip_normalize, clip_stats
from render.guidance.fast_clip import set_vision_precision
from render.models.weights import WeightFileError, load_failure

TINY_TEXT = dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)


class ClipPerceptor(nn.Module):
    """A CLIP model with what guidance needs: its input size, image and text encoders returning float32.

    ``precision`` is the image encoder's (what guidance runs, forward and backward, every step): its weights are
    stored in that dtype (see :func:`set_vision_precision`). The text encoder stays float32: it runs once per prompt
    change, and its output is the target every step is measured against."""

    def __init__(self, spec: ClipSpec, model: CLIP, precision: str = "fp32"):
        super().__init__()
        self.spec = spec
        self.model = model.eval().requires_grad_(False)
        size = model.visual.image_size
        self.input_resolution = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32")  # OpenAI's BPE, for every model (as DD)
        self.precision = precision
        self.image_encoder = set_vision_precision(model.visual, precision)
        self._stats: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_image(self, images01: torch.Tensor) -> torch.Tensor:
        """Embed a batch of [0,1] images already at ``input_resolution``."""
        key = (images01.device, images01.dtype)
        if key not in self._stats:  # made once: a copy to the GPU per call would be two synchronous transfers
            self._stats[key] = clip_stats(*key)
        return self.image_encoder(clip_normalize(images01, self._stats[key]))

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts).to(self.device)
        return self.model.encode_text(tokens).float()


def auto_cpu_precision(spec: ClipSpec) -> str:
    """The image encoder's precision that ``clip_precision=auto`` picks on CPU (:func:`vision_cpu_precision` of the
    architecture's vision config)."""
    if spec.is_tiny:
        return vision_cpu_precision(TINY_CLIPS[spec.arch][0])
    return vision_cpu_precision((open_clip.get_model_config(spec.arch) or {}).get("vision_cfg", {}))


def build_tiny_clip(arch: str, seed: int = 0) -> CLIP:
    """A small CLIP of the real open_clip architecture with seeded random weights."""
    if arch not in TINY_CLIPS:
        raise ClipModelError(f"unknown tiny CLIP {arch!r}; choose from {', '.join(TINY_CLIPS)}")
    vision, embed_dim = TINY_CLIPS[arch]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CLIP(embed_dim=embed_dim, vision_cfg=CLIPVisionCfg(**vision), text_cfg=CLIPTextCfg(**TINY_TEXT))


def _load_clip_file(spec: ClipSpec, path: Path):
    """open_clip's model from a local file; a file it cannot read is a :class:`WeightFileError`."""
    if path.stat().st_size == 0:
        raise WeightFileError(path, "is empty (0 bytes; an interrupted download?)")
    try:
        if spec.tag == "openai":
            with warnings.catch_warnings():  # open_clip tries torch.jit.load first (deprecated, the archive format)
                warnings.simplefilter("ignore", FutureWarning)
                return open_clip.load_openai_model(str(path), precision="fp32", device="cpu")
        return open_clip.create_model(spec.arch, pretrained=str(path), device="cpu", precision="fp32")
    except Exception as exc:  # noqa: BLE001 - torch.jit and torch.load report unreadable files with many types
        raise WeightFileError(path, f"cannot be read as CLIP {spec.name} ({load_failure(exc)})") from None


def load_clip(spec: ClipSpec, path: Path | None, device: torch.device, precision: str = "fp32") -> ClipPerceptor:
    """Load ``spec`` from ``path`` (OpenAI archive/state dict or OpenCLIP checkpoint); tiny models need no file."""
    if spec.is_tiny:
        model = build_tiny_clip(spec.arch)
    elif path is None or not Path(path).is_file():
        raise ClipModelError(f"CLIP model {spec.name}: weights file {path} not found")
    else:
        model = _load_clip_file(spec, Path(path))
    return ClipPerceptor(spec, model.to(device=device), precision)
